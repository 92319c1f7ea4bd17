"""Bulk JSONL: children joined to parents by __parentId whatever order Shopify writes them in."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa

from offamazon_ui.services.db import get_engine
from offamazon_ui.services.importer import enqueue_import
from offamazon_ui.services.importer.bulk import _BulkSink
from offamazon_ui.services.importer.bundles import BundleAssembler, ProductBundle
from offamazon_ui.services.importer.jobs import claim_job
from offamazon_ui.services.importer.store import PRODUCTS, VARIANTS, complete_import, write_batch
from tests.importer_fixtures import add_connection, job_row


def product(n: int, **fields: Any) -> dict[str, Any]:
    return {"id": f"gid://shopify/Product/{n}", "title": f"Product {n}", "vendor": "Acme", "status": "ACTIVE"} | fields


def variant(product_number: int, n: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"gid://shopify/ProductVariant/{product_number * 100 + n}",
        "sku": f"SKU-{product_number}-{n}",
        "barcode": "036000291452",
        "price": f"{product_number}.{n:02d}",
        "inventoryQuantity": n,
        "__parentId": f"gid://shopify/Product/{product_number}",
    } | fields


def image(product_number: int, n: int) -> dict[str, Any]:
    return {
        "id": f"gid://shopify/MediaImage/{product_number * 100 + n}",
        "image": {"url": f"https://cdn.example/{product_number}-{n}.png", "altText": None},
        "__parentId": f"gid://shopify/Product/{product_number}",
    }


def assemble(lines: list[dict[str, Any]]) -> list[ProductBundle]:
    assembler = BundleAssembler()
    bundles = [bundle for offset, line in enumerate(lines, 1) if (bundle := assembler.add(line, offset))]
    last = assembler.finish()
    return bundles + ([last] if last else [])


def shape(bundles: list[ProductBundle]) -> list[tuple[str, bool, list[str], list[str], int]]:
    return [
        (b.product_id, b.product is not None, [v["id"] for v in b.variants], [i["id"] for i in b.images], b.end_offset)
        for b in bundles
    ]


def test_children_after_their_parent_join_it() -> None:
    lines = [product(1), image(1, 1), variant(1, 1), variant(1, 2), product(2), variant(2, 1)]
    assert shape(assemble(lines)) == [
        ("gid://shopify/Product/1", True, [variant(1, 1)["id"], variant(1, 2)["id"]], [image(1, 1)["id"]], 4),
        ("gid://shopify/Product/2", True, [variant(2, 1)["id"]], [], 6),
    ]


def test_children_before_their_parent_join_it() -> None:
    lines = [variant(1, 1), image(1, 1), product(1), variant(1, 2), variant(2, 1), product(2)]
    assert shape(assemble(lines)) == [
        ("gid://shopify/Product/1", True, [variant(1, 1)["id"], variant(1, 2)["id"]], [image(1, 1)["id"]], 4),
        ("gid://shopify/Product/2", True, [variant(2, 1)["id"]], [], 6),
    ]


def test_children_away_from_their_parent_keep_its_id_and_file_order() -> None:
    lines = [product(1), variant(2, 1), product(2), variant(1, 1), variant(1, 2), variant(2, 2)]
    assert shape(assemble(lines)) == [
        ("gid://shopify/Product/1", True, [], [], 1),
        ("gid://shopify/Product/2", True, [variant(2, 1)["id"]], [], 3),
        ("gid://shopify/Product/1", False, [variant(1, 1)["id"], variant(1, 2)["id"]], [], 5),
        ("gid://shopify/Product/2", False, [variant(2, 2)["id"]], [], 6),
    ]


def test_media_without_an_image_is_skipped() -> None:
    video = {"id": "gid://shopify/Video/7", "__parentId": "gid://shopify/Product/1"}
    [bundle] = assemble([product(1), video, image(1, 1)])
    assert [i["id"] for i in bundle.images] == [image(1, 1)["id"]] and bundle.variants == []


def test_every_line_lands_in_exactly_one_bundle_in_file_order() -> None:
    rng = random.Random(7)
    lines = [product(p) for p in range(20)] + [variant(p, n) for p in range(20) for n in range(3)]
    rng.shuffle(lines)
    bundles = assemble(lines)
    offsets = [b.end_offset for b in bundles]
    assert offsets == sorted(offsets) and offsets[-1] == len(lines)
    assert sum(len(b.variants) + (b.product is not None) for b in bundles) == len(lines)


# --- stored result does not depend on the order ------------------------------------------------------------------


def catalog_lines() -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for p in range(1, 41):
        fields: dict[str, Any] = {"featuredMedia": None} if p % 5 == 0 else {}
        if p % 7 == 0:
            fields["vendor"] = ""
        lines.append(product(p, **fields))
        lines += [image(p, 1)] if p % 5 else []
        for n in range(1, 2 + p % 4):
            extra = {"barcode": "036000291453"} if n == 2 else {}
            if p % 9 == 0 and n == 1:
                extra["sku"] = "SHARED"
            lines.append(variant(p, n, **extra))
    return lines


def store_lines(shop_connection_id: int, lines: list[dict[str, Any]]) -> int:
    job_id = enqueue_import(shop_connection_id)
    job = claim_job(job_id)
    assert job is not None
    sink = _BulkSink(job.lease)
    encoded, offset = [], 0
    for line in lines:
        raw = orjson.dumps(line)
        offset += len(raw) + 1
        encoded.append((raw, offset))
    batches = sink.prepare(encoded[:37]) + sink.prepare(encoded[37:], last=True)
    assert [offset for _batch, offset in batches][-1] == offset  # the last batch checkpoints the end of the file
    for batch, resume_at in batches:
        write_batch(batch, {"bulk_offset": resume_at})
    complete_import(job.lease)
    return job_id


def stored(shop_connection_id: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with get_engine().connect() as connection:
        products = connection.execute(
            sa.select(
                PRODUCTS.c.shopify_id, PRODUCTS.c.variant_count, PRODUCTS.c.price_min, PRODUCTS.c.price_max,
                PRODUCTS.c.total_inventory, PRODUCTS.c.product_problems, PRODUCTS.c.problems,
            )
            .where(PRODUCTS.c.shop_connection_id == shop_connection_id)
            .order_by(PRODUCTS.c.shopify_id)
        ).all()  # fmt: skip
        variants = connection.execute(
            sa.select(VARIANTS.c.shopify_id, VARIANTS.c.product_shopify_id, VARIANTS.c.problems)
            .where(VARIANTS.c.shop_connection_id == shop_connection_id)
            .order_by(VARIANTS.c.shopify_id)
        ).all()
    return [tuple(row) for row in products], [tuple(row) for row in variants]


def test_shuffled_export_stores_the_same_catalog_as_a_grouped_one(db: sa.Engine) -> None:
    grouped_shop, shuffled_shop = add_connection("grouped.myshopify.com"), add_connection("shuffled.myshopify.com")
    lines = catalog_lines()
    shuffled = lines[:]
    random.Random(3).shuffle(shuffled)

    grouped_job = store_lines(grouped_shop, lines)
    shuffled_job = store_lines(shuffled_shop, shuffled)

    assert stored(grouped_shop) == stored(shuffled_shop)
    products, variants = stored(grouped_shop)
    assert len(products) == 40 and len(variants) == sum(1 + p % 4 for p in range(1, 41))
    by_id = {row[0]: row for row in products}
    assert by_id["gid://shopify/Product/3"][1:5] == (4, Decimal("3.01"), Decimal("3.04"), 10)
    for job_id in (grouped_job, shuffled_job):
        job = job_row(job_id)
        assert (job.status, job.products_seen, job.variants_seen) == ("completed", 40, len(variants))
