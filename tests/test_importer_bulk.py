"""Bulk import against the Shopify emulator over real HTTP: exact results, faults, crash and resume, deletions."""

from __future__ import annotations

import dataclasses
import logging
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from offamazon_ui.models import utcnow
from offamazon_ui.sandbox.shopify import Catalog
from offamazon_ui.sandbox.shopify.catalog import demo_small
from offamazon_ui.services.db import get_engine
from offamazon_ui.services.importer import (
    catalog_summary,
    enqueue_import,
    list_products,
    request_resync,
    run_import_job,
    store,
)
from offamazon_ui.services.importer.readiness import is_valid_gtin
from offamazon_ui.services.importer.store import IMAGES, JOBS, PRODUCTS, VARIANTS
from tests.importer_fixtures import SMALL_SHOP, ImportSandbox, assert_imported_exactly, importer, job_row, shopify

__all__ = ["importer", "shopify"]


async def _import(shop_connection_id: int) -> int:
    job_id = enqueue_import(shop_connection_id)
    await run_import_job(job_id)
    return job_id


def _rows(table: sa.Table, shop_connection_id: int) -> list[Any]:
    with get_engine().connect() as connection:
        return list(connection.execute(sa.select(table).where(table.c.shop_connection_id == shop_connection_id)))


async def test_bulk_import_stores_exactly_the_emulators_catalog(
    importer: ImportSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    connection_id = await importer.connect()
    caplog.set_level(logging.INFO)
    job_id = await _import(connection_id)
    [export] = importer.emulator.shop(SMALL_SHOP).bulk_jobs
    assert export.token not in caplog.text and "(bulk export file)" in caplog.text  # a pre-signed URL is a secret

    assert_imported_exactly(importer, connection_id, job_id, SMALL_SHOP)
    assert job_row(job_id).strategy == "bulk"
    catalog = importer.emulator.shop(SMALL_SHOP).catalog
    products = {row.shopify_id: row for row in _rows(PRODUCTS, connection_id)}
    variants = {row.shopify_id: row for row in _rows(VARIANTS, connection_id)}
    images = _rows(IMAGES, connection_id)
    assert {row.status for row in products.values()} == {"ACTIVE", "DRAFT", "ARCHIVED", "UNLISTED"}
    assert len(images) == sum(catalog.product(i).image_count for i in range(catalog.product_count))

    source = catalog.product(7)  # 120 variants: more than any nested page
    stored = products[f"gid://shopify/Product/{source.numeric_id}"]
    assert (stored.title, stored.handle, stored.vendor, stored.product_type) == (
        source.title, source.handle, source.vendor, source.product_type,
    )  # fmt: skip
    assert stored.tags == list(source.tags) and stored.description_html == source.description_html
    assert stored.shopify_updated_at.strftime("%Y-%m-%dT%H:%M:%SZ") == source.updated_at
    assert stored.variant_count == 120
    for position in (1, 57, 120):
        expected = catalog.variant(7, position)
        row = variants[f"gid://shopify/ProductVariant/{expected.numeric_id}"]
        assert row.product_shopify_id == stored.shopify_id
        assert (row.title, row.sku, row.barcode, row.inventory_quantity) == (
            expected.title, expected.sku, expected.barcode, expected.inventory_quantity,
        )  # fmt: skip
        assert row.price == Decimal(expected.price) and isinstance(row.price, Decimal)
        assert row.compare_at_price == (Decimal(expected.compare_at_price) if expected.compare_at_price else None)
        assert row.options == [{"name": name, "value": value} for name, value in expected.selected_options]

    # Readiness agrees with the rules applied to the emulator's own data.
    every_variant = [
        catalog.variant(i, position)
        for i in range(catalog.product_count)
        for position in range(1, catalog.product(i).variant_count + 1)
    ]
    summary = catalog_summary(connection_id)
    assert summary.problems["gtin"] == sum(not is_valid_gtin(v.barcode) for v in every_variant)
    assert summary.problems["sku_missing"] == sum(not v.sku for v in every_variant)
    assert summary.problems["price"] == sum(Decimal(v.price) <= 0 for v in every_variant)
    no_image = [i for i in range(catalog.product_count) if not catalog.product(i).image_count]
    assert summary.problems["image"] == sum(catalog.product(i).variant_count for i in no_image)
    too_long = [i for i in range(catalog.product_count) if len(catalog.product(i).title) > 200]
    assert too_long and summary.problems["title"] == sum(catalog.product(i).variant_count for i in too_long)
    assert summary.products == 40 and summary.variants == len(every_variant)


async def test_faults_in_shopify_and_a_dropped_download_still_give_exact_results(importer: ImportSandbox) -> None:
    connection_id = await importer.connect()
    connecting = len(importer.requests("graphql"))
    emulator = importer.emulator
    emulator.inject_fault(SMALL_SHOP, "graphql", status=503)
    emulator.inject_fault(SMALL_SHOP, "graphql", kind="drop")
    emulator.inject_fault(SMALL_SHOP, "graphql", status=429, seconds=0.05)
    emulator.inject_fault(SMALL_SHOP, "bulk_download", kind="drop", after_bytes=70_000)
    emulator.inject_fault(SMALL_SHOP, "bulk_download", status=500)

    job_id = await _import(connection_id)

    assert_imported_exactly(importer, connection_id, job_id, SMALL_SHOP)
    outcomes = [outcome for _status, outcome in importer.requests("graphql")[connecting:]]
    assert outcomes[:4] == ["fault", "dropped", "fault", "ok"]
    downloads = importer.requests("bulk_download")
    assert downloads[0] == (200, "dropped") and downloads[1] == (500, "fault") and downloads[-1] == (206, "ok")
    assert job_row(job_id).strategy == "bulk"


async def test_a_throttling_storm_is_waited_out(importer: ImportSandbox) -> None:
    connection_id = await importer.connect()
    connecting = len(importer.requests("graphql"))
    importer.emulator.drain_bucket(SMALL_SHOP, hold_seconds=0.15)
    job_id = await _import(connection_id)
    assert_imported_exactly(importer, connection_id, job_id, SMALL_SHOP)
    assert importer.requests("graphql")[connecting] == (200, "throttled")


class Crash(BaseException):
    """Stands in for the process dying: no handler in the job runs."""


async def test_a_crashed_import_resumes_from_its_checkpoint(
    importer: ImportSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "BATCH_VARIANTS", 60)
    connection_id = await importer.connect()
    expected = importer.expected()
    written: list[int] = []
    original_write = store.write_batch

    def write_then_crash(batch: store.Batch, checkpoint: dict[str, Any]) -> None:
        original_write(batch, checkpoint)
        written.append(len(batch.variants))
        if len(written) == 2:
            raise Crash()

    monkeypatch.setattr(store, "write_batch", write_then_crash)
    job_id = enqueue_import(connection_id)
    with pytest.raises(Crash):
        await run_import_job(job_id)

    crashed = job_row(job_id)
    assert crashed.status == "running" and crashed.lease_owner is not None  # nobody cleaned up
    assert crashed.variants_seen == sum(written) and 0 < crashed.variants_seen < len(expected.variants)
    assert crashed.bulk_offset > 0 and crashed.bulk_operation_id is not None

    await run_import_job(job_id)  # another runner: the lease is still live, so it must not take the job
    assert job_row(job_id).status == "running"

    with get_engine().begin() as connection:  # the dead process's lease runs out
        connection.execute(sa.update(JOBS).where(JOBS.c.id == job_id).values(lease_expires_at=utcnow()))
    written.clear()

    def write_and_count(batch: store.Batch, checkpoint: dict[str, Any]) -> None:
        original_write(batch, checkpoint)
        written.append(len(batch.variants))

    monkeypatch.setattr(store, "write_batch", write_and_count)
    await run_import_job(job_id)

    assert_imported_exactly(importer, connection_id, job_id, SMALL_SHOP)
    assert sum(written) == len(expected.variants) - crashed.variants_seen  # nothing stored twice, nothing skipped
    assert len(importer.emulator.shop(SMALL_SHOP).bulk_jobs) == 1  # the same export, not a new one
    assert importer.requests("bulk_download")[-1] == (206, "ok")  # read from the checkpoint on
    assert job_row(job_id).attempts == 2


async def test_importing_again_changes_nothing_and_finds_deletions(importer: ImportSandbox) -> None:
    connection_id = await importer.connect()
    first_job = await _import(connection_id)
    before = {row.shopify_id: row.id for row in _rows(VARIANTS, connection_id)}

    second_job = request_resync(connection_id)
    assert second_job != first_job
    await run_import_job(second_job)
    assert_imported_exactly(importer, connection_id, second_job, SMALL_SHOP)
    assert {row.shopify_id: row.id for row in _rows(VARIANTS, connection_id)} == before

    # The merchant deletes the last five products and twenty variants of product 7 in Shopify.
    shop = importer.emulator.shop(SMALL_SHOP)
    shop.catalog = Catalog(seed="demo-small", product_count=35, variant_counts={7: 100, 23: 260})
    third_job = await _import(connection_id)
    assert_imported_exactly(importer, connection_id, third_job, SMALL_SHOP)
    removed_products = [row for row in _rows(PRODUCTS, connection_id) if row.removed_at is not None]
    assert sorted(row.shopify_id for row in removed_products) == sorted(
        f"gid://shopify/Product/{shop.catalog.product(0).numeric_id + i}" for i in range(35, 40)
    )
    product_7 = f"gid://shopify/Product/{shop.catalog.product(7).numeric_id}"
    removed_variants = [row for row in _rows(VARIANTS, connection_id) if row.removed_at is not None]
    assert len([row for row in removed_variants if row.product_shopify_id == product_7]) == 20
    assert catalog_summary(connection_id).products == 35
    assert list_products(connection_id, page_size=100).total == 35
    assert next(p for p in _rows(PRODUCTS, connection_id) if p.shopify_id == product_7).variant_count == 100

    # They come back (e.g. restored from a backup): the next import revives the same rows.
    shop.catalog = demo_small()
    fourth_job = await _import(connection_id)
    assert_imported_exactly(importer, connection_id, fourth_job, SMALL_SHOP)
    assert {row.shopify_id: row.id for row in _rows(VARIANTS, connection_id)} == before


async def test_an_empty_shop_completes_with_nothing(importer: ImportSandbox) -> None:
    importer.add_shop("empty-store.myshopify.com", Catalog("empty", 0))
    connection_id = await importer.connect("empty-store.myshopify.com")
    job_id = await _import(connection_id)
    job = job_row(job_id)
    assert (job.status, job.products_seen, job.variants_seen, job.products_total) == ("completed", 0, 0, 0)
    assert catalog_summary(connection_id).products == 0


async def test_a_shop_with_duplicate_skus_across_products(importer: ImportSandbox) -> None:
    class SharedSkus(Catalog):
        def variant(self, product_index: int, position: int) -> Any:
            found = super().variant(product_index, position)
            return dataclasses.replace(found, sku="SHARED") if position == 1 and product_index < 3 else found

    importer.add_shop("dupes.myshopify.com", SharedSkus("dupes", 12, variants_per_product=2))
    connection_id = await importer.connect("dupes.myshopify.com")
    await _import(connection_id)
    duplicates = [row for row in _rows(VARIANTS, connection_id) if row.problems & 64]
    assert sorted(row.sku for row in duplicates) == ["SHARED"] * 3
    assert catalog_summary(connection_id).problems["sku_duplicate"] == 3
