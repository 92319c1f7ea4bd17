"""Amazon readiness: GS1 check digits, the per-variant rules, and SKU uniqueness across a whole shop."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from offamazon_ui.services.db import get_engine
from offamazon_ui.services.importer import catalog_summary, enqueue_import, readiness
from offamazon_ui.services.importer.bundles import ProductBundle
from offamazon_ui.services.importer.jobs import claim_job
from offamazon_ui.services.importer.readiness import gtin_check_digit, is_valid_gtin, rule_names
from offamazon_ui.services.importer.store import VARIANTS, Batch, complete_import, write_batch
from tests.importer_fixtures import add_connection

# Check digits worked by hand with the GS1 mod-10 rule (weights 3,1,3,… from the right of the body):
# 036000291452 is the classic UPC-A example, 6291041500213 the GTIN-13 in the GS1 General Specifications,
# 4006381333931 and 9780306406157 well-known EAN-13s, 10036000291459 the UPC with packaging indicator 1.
VALID = [
    ("036000291452", "UPC-12"),
    ("042100005264", "UPC-12"),
    ("6291041500213", "EAN-13"),
    ("4006381333931", "EAN-13"),
    ("9780306406157", "EAN-13 (ISBN)"),
    ("10036000291459", "GTIN-14"),
    ("00036000291452", "GTIN-14 (UPC padded)"),
]
INVALID = [
    ("036000291453", "UPC-12 with a wrong check digit"),
    ("6291041500214", "EAN-13 with a wrong check digit"),
    ("10036000291458", "GTIN-14 with a wrong check digit"),
    ("4006381333913", "EAN-13 with two digits swapped"),
    ("96385074", "GTIN-8, not accepted for Amazon listings here"),
    ("03600029145", "11 digits"),
    ("100360002914590", "15 digits"),
    ("03600029145A", "a letter"),
    ("0360-0029145", "a hyphen"),
    (" 036000291452", "surrounding space"),
    ("０３６０００２９１４５２", "full-width digits"),
    ("000000000000", "all zeros"),
    ("", "empty"),
    (None, "missing"),
]


@pytest.mark.parametrize(("value", "kind"), VALID)
def test_valid_gtins(value: str, kind: str) -> None:
    assert is_valid_gtin(value), kind
    assert gtin_check_digit(value[:-1]) == int(value[-1])


@pytest.mark.parametrize(("value", "kind"), INVALID)
def test_invalid_gtins(value: str | None, kind: str) -> None:
    assert not is_valid_gtin(value), kind


def test_check_digit_of_every_body_length() -> None:
    assert gtin_check_digit("03600029145") == 2
    assert gtin_check_digit("629104150021") == 3
    assert gtin_check_digit("1003600029145") == 9
    assert gtin_check_digit("0000000000000") == 0


def test_product_rules() -> None:
    assert readiness.product_problems(title="Mug", vendor="Acme", has_image=True) == 0
    assert rule_names(readiness.product_problems(title="x" * 200, vendor="Acme", has_image=True)) == ()
    assert rule_names(readiness.product_problems(title="x" * 201, vendor="Acme", has_image=True)) == ("title",)
    assert rule_names(readiness.product_problems(title="  ", vendor=" ", has_image=False)) == (
        "brand",
        "title",
        "image",
    )
    assert rule_names(readiness.product_problems(title="Mug", vendor=None, has_image=True)) == ("brand",)


@pytest.mark.parametrize(
    ("barcode", "price", "sku", "expected"),
    [
        ("036000291452", Decimal("19.99"), "MUG-1", ()),
        ("036000291453", Decimal("19.99"), "MUG-1", ("gtin",)),
        ("036000291452", Decimal("0.00"), "MUG-1", ("price",)),
        ("036000291452", Decimal("-1"), "MUG-1", ("price",)),
        ("036000291452", None, "MUG-1", ("price",)),
        ("036000291452", Decimal("0.01"), "  ", ("sku_missing",)),
        (None, None, None, ("gtin", "price", "sku_missing")),
    ],
)
def test_variant_rules(barcode: str | None, price: Decimal | None, sku: str | None, expected: tuple[str, ...]) -> None:
    assert rule_names(readiness.variant_problems(barcode=barcode, price=price, sku=sku)) == expected


def test_every_rule_has_a_distinct_bit_and_a_label() -> None:
    bits = [rule.bit for rule in readiness.RULES]
    assert len(set(bits)) == len(bits) and all(bit & (bit - 1) == 0 for bit in bits)
    assert set(readiness.RULE_LABELS) == {rule.name for rule in readiness.RULES}
    assert readiness.RULE_LABELS["gtin"] == "Missing or invalid GTIN (UPC/EAN)"


# --- SKU uniqueness is shop-wide -----------------------------------------------------------------------------


def _bundle(product: int, skus: list[str | None]) -> ProductBundle:
    gid = f"gid://shopify/Product/{product}"
    node = {"id": gid, "title": f"Product {product}", "vendor": "Acme", "status": "ACTIVE",
            "featuredMedia": {"image": {"url": f"https://cdn.example/{product}.png"}}}  # fmt: skip
    variants = [
        {"id": f"gid://shopify/ProductVariant/{product}{n}", "sku": sku, "barcode": "036000291452", "price": "5.00"}
        for n, sku in enumerate(skus)
    ]
    return ProductBundle(gid, node, variants)


def _import(shop_connection_id: int, bundles: list[ProductBundle]) -> None:
    job = claim_job(enqueue_import(shop_connection_id))
    assert job is not None
    batch = Batch(job.lease)
    for bundle in bundles:
        batch.add(bundle)
    write_batch(batch, {"page_cursor": "end"})
    complete_import(job.lease)


def _problems_by_sku(shop_connection_id: int) -> dict[str | None, list[tuple[str, ...]]]:
    found: dict[str | None, list[tuple[str, ...]]] = {}
    with get_engine().connect() as connection:
        rows = connection.execute(
            sa.select(VARIANTS.c.sku, VARIANTS.c.problems).where(
                VARIANTS.c.shop_connection_id == shop_connection_id, VARIANTS.c.removed_at.is_(None)
            )
        )
        for sku, problems in rows:
            found.setdefault(sku, []).append(rule_names(problems))
    return found


def test_a_sku_shared_by_variants_of_different_products_fails_on_both(db: sa.Engine) -> None:
    shop = add_connection("dupes.myshopify.com")
    other_shop = add_connection("elsewhere.myshopify.com")
    _import(other_shop, [_bundle(9, ["SHARED-1"])])  # another shop's SKUs never clash with this one's
    _import(shop, [_bundle(1, ["SHARED-1", "ONLY-1"]), _bundle(2, ["SHARED-1", None]), _bundle(3, ["ONLY-3"])])

    problems = _problems_by_sku(shop)
    assert problems["SHARED-1"] == [("sku_duplicate",), ("sku_duplicate",)]
    assert problems["ONLY-1"] == [()] and problems["ONLY-3"] == [()]
    assert problems[None] == [("sku_missing",)]  # a missing SKU is not a duplicate of another missing one
    assert _problems_by_sku(other_shop)["SHARED-1"] == [()]
    summary = catalog_summary(shop)
    assert summary.problems["sku_duplicate"] == 2 and summary.problems["sku_missing"] == 1
    assert (summary.ready_products, summary.attention_products) == (1, 2)

    # The merchant renames one of them: the next import clears the other's problem too.
    _import(shop, [_bundle(1, ["SHARED-1", "ONLY-1"]), _bundle(2, ["RENAMED-2", None]), _bundle(3, ["ONLY-3"])])
    problems = _problems_by_sku(shop)
    assert problems["SHARED-1"] == [()] and problems["RENAMED-2"] == [()]
    assert catalog_summary(shop).problems["sku_duplicate"] == 0


def test_a_deleted_variant_no_longer_makes_a_sku_duplicate(db: sa.Engine) -> None:
    shop = add_connection("dupes.myshopify.com")
    _import(shop, [_bundle(1, ["SKU-A"]), _bundle(2, ["SKU-A"])])
    assert _problems_by_sku(shop)["SKU-A"] == [("sku_duplicate",), ("sku_duplicate",)]
    _import(shop, [_bundle(1, ["SKU-A"])])  # product 2 was deleted in Shopify
    assert _problems_by_sku(shop)["SKU-A"] == [()]
