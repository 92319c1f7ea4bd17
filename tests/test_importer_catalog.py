"""The dashboard's read side: progress, summary, and the product list with its sorting, search and filters."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from offamazon_ui.services.importer import (
    CatalogQueryError,
    catalog_summary,
    enqueue_import,
    import_progress,
    list_products,
)
from offamazon_ui.services.importer.bundles import ProductBundle
from offamazon_ui.services.importer.jobs import claim_job
from offamazon_ui.services.importer.store import Batch, complete_import, write_batch
from tests.importer_fixtures import add_connection

VALID_UPC = "036000291452"


def _product(n: int, title: str, status: str, updated: str, variants: list[dict[str, Any]], **extra: Any) -> Any:
    gid = f"gid://shopify/Product/{n}"
    node = {"id": gid, "title": title, "vendor": "Acme", "status": status, "updatedAt": updated,
            "featuredMedia": {"image": {"url": f"https://cdn.example/{n}.png"}}} | extra  # fmt: skip
    for number, variant in enumerate(variants):
        variant.setdefault("id", f"gid://shopify/ProductVariant/{n}{number}")
        variant.setdefault("barcode", VALID_UPC)
    return ProductBundle(gid, node, variants)


def _catalog(with_removed: bool) -> list[ProductBundle]:
    bundles = [
        _product(1, "Alpha Mug", "ACTIVE", "2024-05-01T10:00:00Z", [
            {"sku": "MUG-1", "price": "10.00", "inventoryQuantity": 5},
            {"sku": "mug-2", "price": "12.50", "inventoryQuantity": 3},
        ]),
        _product(2, "beta Shirt", "DRAFT", "2024-01-01T10:00:00Z", [
            {"sku": "SHIRT-1", "price": "20.00", "inventoryQuantity": 0},
        ], featuredMedia=None),
        _product(3, "Gamma 100% Cotton_Tee", "ARCHIVED", "2024-03-01T10:00:00Z", [
            {"sku": None, "price": "0.00", "inventoryQuantity": -2, "barcode": "12345"},
        ]),
        _product(4, "Delta", "UNLISTED", "2023-12-01T10:00:00Z", [
            {"sku": "D-1", "price": "5.125", "inventoryQuantity": 10},
        ], vendor=""),
        *([_product(5, "Epsilon (deleted in Shopify)", "ACTIVE", "2024-06-01T10:00:00Z", [
            {"sku": "E-1", "price": "1.00"},
        ])] if with_removed else []),
    ]  # fmt: skip
    return bundles


def _import(shop_connection_id: int, bundles: list[ProductBundle]) -> int:
    job_id = enqueue_import(shop_connection_id)
    job = claim_job(job_id)
    assert job is not None
    batch = Batch(job.lease)
    for bundle in bundles:
        batch.add(bundle)
    write_batch(batch, {"page_cursor": "end"})
    complete_import(job.lease)
    return job_id


@pytest.fixture
def shop(db: sa.Engine) -> int:
    shop_connection_id = add_connection("catalog.myshopify.com")
    _import(shop_connection_id, _catalog(with_removed=True))
    _import(shop_connection_id, _catalog(with_removed=False))
    return shop_connection_id


def titles(shop: int, **query: Any) -> list[str]:
    return [item.title for item in list_products(shop, **query).items]


def test_default_list_is_by_title_ignoring_case_and_leaves_out_removed_products(shop: int) -> None:
    page = list_products(shop)
    assert [item.title for item in page.items] == ["Alpha Mug", "beta Shirt", "Delta", "Gamma 100% Cotton_Tee"]
    assert (page.total, page.page, page.page_size, page.pages) == (4, 1, 25, 1)


def test_items_carry_what_the_dashboard_shows(shop: int) -> None:
    alpha, beta, delta, gamma = list_products(shop).items
    assert alpha.ready and alpha.problems == () and alpha.status == "active"
    assert alpha.skus == ("MUG-1", "mug-2") and alpha.variant_count == 2 and alpha.total_inventory == 8
    assert (alpha.price_min, alpha.price_max) == (Decimal("10.00"), Decimal("12.50"))
    assert str(alpha.price_min) == "10.00" and alpha.image_url == "https://cdn.example/1.png"
    assert beta.image_url is None and [p.name for p in beta.problems] == ["image"]
    assert beta.problems[0].label == "No product image"
    assert str(delta.price_min) == "5.125" and [p.name for p in delta.problems] == ["brand"]
    assert [p.name for p in gamma.problems] == ["gtin", "price", "sku_missing"] and gamma.skus == ()
    assert gamma.updated_at is not None and gamma.updated_at.isoformat() == "2024-03-01T10:00:00"


@pytest.mark.parametrize(
    ("sort", "direction", "expected"),
    [
        ("price", "asc", ["Gamma 100% Cotton_Tee", "Delta", "Alpha Mug", "beta Shirt"]),
        ("price", "desc", ["beta Shirt", "Alpha Mug", "Delta", "Gamma 100% Cotton_Tee"]),
        ("inventory", "desc", ["Delta", "Alpha Mug", "beta Shirt", "Gamma 100% Cotton_Tee"]),
        ("updated", "desc", ["Alpha Mug", "Gamma 100% Cotton_Tee", "beta Shirt", "Delta"]),
        ("title", "desc", ["Gamma 100% Cotton_Tee", "Delta", "beta Shirt", "Alpha Mug"]),
        (" Price ", "ASC", ["Gamma 100% Cotton_Tee", "Delta", "Alpha Mug", "beta Shirt"]),
    ],
)
def test_sorting(shop: int, sort: str, direction: str, expected: list[str]) -> None:
    assert titles(shop, sort=sort, direction=direction) == expected


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("mug", ["Alpha Mug"]),
        ("  SHIRT ", ["beta Shirt"]),
        ("MUG-2", ["Alpha Mug"]),  # a SKU, whatever its case
        ("d-1", ["Delta"]),
        ("100%", ["Gamma 100% Cotton_Tee"]),  # % and _ are literal characters, not wildcards
        ("n_t", ["Gamma 100% Cotton_Tee"]),
        ("%", ["Gamma 100% Cotton_Tee"]),
        ("epsilon", []),  # removed products are never found
        ("", ["Alpha Mug", "beta Shirt", "Delta", "Gamma 100% Cotton_Tee"]),
    ],
)
def test_search_by_title_or_sku(shop: int, search: str, expected: list[str]) -> None:
    assert titles(shop, search=search) == expected


def test_filters_by_status_and_readiness(shop: int) -> None:
    assert titles(shop, status="draft") == ["beta Shirt"]
    assert titles(shop, status="UNLISTED") == ["Delta"]
    assert len(titles(shop, status="all")) == len(titles(shop, status=None)) == 4
    assert titles(shop, readiness="ready") == ["Alpha Mug"]
    assert titles(shop, readiness="needs_attention") == ["beta Shirt", "Delta", "Gamma 100% Cotton_Tee"]
    assert titles(shop, readiness="needs_attention", status="archived", search="cotton") == ["Gamma 100% Cotton_Tee"]


def test_pages_split_the_list_without_overlap(shop: int) -> None:
    first, second, third = (list_products(shop, page=n, page_size=2) for n in (1, 2, 3))
    assert [i.title for i in first.items + second.items] == titles(shop)
    assert third.items == () and third.total == 4 and first.pages == 2
    assert list_products(shop, page_size=5000).page_size == 100


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"page": 0}, "page"),
        ({"page": "1"}, "page"),
        ({"page": True}, "page"),
        ({"page": 10**9}, "page"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 2.5}, "page_size"),
        ({"sort": "vendor"}, "sort"),
        ({"sort": None}, "sort"),
        ({"direction": "up"}, "direction"),
        ({"status": "deleted"}, "status"),
        ({"status": 3}, "status"),
        ({"readiness": "maybe"}, "readiness"),
        ({"search": "x" * 201}, "search"),
        ({"search": None}, "search"),
    ],
)
def test_client_input_is_validated(shop: int, query: dict[str, Any], field: str) -> None:
    with pytest.raises(CatalogQueryError) as caught:
        list_products(shop, **query)
    assert caught.value.field == field and caught.value.message


def test_summary_counts_current_products_and_problems_by_rule(shop: int) -> None:
    summary = catalog_summary(shop)
    assert (summary.products, summary.variants) == (4, 5)
    assert (summary.ready_products, summary.attention_products) == (1, 3)
    assert (summary.ready_variants, summary.attention_variants) == (2, 3)
    assert summary.problems == {
        "gtin": 1, "brand": 1, "title": 0, "image": 1, "price": 1, "sku_missing": 1, "sku_duplicate": 0,
    }  # fmt: skip


def test_progress_of_the_latest_job(db: sa.Engine) -> None:
    shop_connection_id = add_connection("progress.myshopify.com")
    assert import_progress(shop_connection_id) is None
    queued = enqueue_import(shop_connection_id)
    progress = import_progress(shop_connection_id)
    assert progress is not None and progress.job_id == queued and progress.status == "queued"
    assert progress.percent is None and progress.rate is None and progress.active

    job_id = _import(shop_connection_id, _catalog(with_removed=False))
    assert job_id == queued
    done = import_progress(shop_connection_id)
    assert done is not None and (done.status, done.products_imported, done.variants_imported) == ("completed", 4, 5)
    assert done.products_total == 4 and done.percent == 100.0 and not done.active
    assert done.finished_at is not None and done.started_at is not None and done.last_error is None


def test_read_functions_reject_a_bad_shop_id(db: sa.Engine) -> None:
    for read in (import_progress, catalog_summary, list_products):
        with pytest.raises(CatalogQueryError):
            read(0)
