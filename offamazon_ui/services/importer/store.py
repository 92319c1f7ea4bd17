"""Batched, idempotent writes of imported products, and the pass that completes an import.

Rows are upserted with INSERT … ON CONFLICT (shop, Shopify id) DO UPDATE, one
executemany per table, in the same transaction as the job's progress and
checkpoint: after a crash the checkpoint never runs ahead of the stored rows,
so a resumed import neither skips nor double-counts anything. Every write also
renews the job's lease and fails with LeaseLost if another process took it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from offamazon_ui.models import ImportJob, ShopifyProduct, ShopifyProductImage, ShopifyVariant, utcnow
from offamazon_ui.services.db import get_engine
from offamazon_ui.services.importer import readiness
from offamazon_ui.services.importer.bundles import ProductBundle, image_url

BATCH_VARIANTS = 1000
FLUSH_SECONDS = 1.0
LEASE_SECONDS = 30.0

JOBS = ImportJob.__table__  # type: ignore[attr-defined]
PRODUCTS = ShopifyProduct.__table__  # type: ignore[attr-defined]
VARIANTS = ShopifyVariant.__table__  # type: ignore[attr-defined]
IMAGES = ShopifyProductImage.__table__  # type: ignore[attr-defined]


class LeaseLost(Exception):
    """Another process now runs this job (ours stopped renewing its lease in time); stop without writing."""


@dataclass(frozen=True)
class JobLease:
    job_id: int
    shop_connection_id: int
    owner: str


def lease_deadline(now: datetime) -> datetime:
    return now + timedelta(seconds=LEASE_SECONDS)


def touch_job(connection: Connection, lease: JobLease, **values: Any) -> None:
    """Update the running job we hold (and renew the lease), or raise LeaseLost."""
    now = utcnow()
    result = connection.execute(
        sa.update(JOBS)
        .where(JOBS.c.id == lease.job_id, JOBS.c.lease_owner == lease.owner, JOBS.c.status == "running")
        .values(updated_at=now, lease_expires_at=lease_deadline(now), **values)
    )
    if result.rowcount != 1:
        raise LeaseLost(f"import job {lease.job_id} is no longer held by {lease.owner}")


# --- rows ----------------------------------------------------------------------------------------------


def parse_money(value: Any) -> Decimal | None:
    """Shopify's Money scalar is a decimal string; never goes through float."""
    if value is None or value == "":
        return None
    try:
        amount = Decimal(value if isinstance(value, str) else str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def parse_timestamp(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = (moment - moment.utcoffset()).replace(tzinfo=None)  # type: ignore[operator]
    return moment


def _quantity(value: Any) -> int | None:
    return value if type(value) is int else None


@dataclass
class Batch:
    """Rows of whole bundles waiting to be written, with the progress they represent."""

    lease: JobLease
    products: list[dict[str, Any]] = field(default_factory=list)
    variants: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def __bool__(self) -> bool:
        return bool(self.products or self.variants or self.images)

    def due(self) -> bool:
        """Full, or holding rows for long enough that the dashboard should see them."""
        return len(self.variants) >= BATCH_VARIANTS or (bool(self) and time.monotonic() - self.started >= FLUSH_SECONDS)

    def add(self, bundle: ProductBundle) -> None:
        # Runs once per line of a large catalog, so it reads the JSON values as they come (str or None);
        # the values every row shares (shop, job, time) are added per statement by write_batch.
        product_id = bundle.product_id
        product = bundle.product
        featured_url = image_url(product.get("featuredMedia")) if product is not None else None
        own_problems = 0
        if product is not None:
            own_problems = readiness.product_problems(
                title=product.get("title"),
                vendor=product.get("vendor"),
                has_image=featured_url is not None or bool(bundle.images),
            )
        union = own_problems
        prices: list[Decimal] = []
        inventory = 0
        for variant in bundle.variants:
            price = parse_money(variant.get("price"))
            sku = variant.get("sku")
            quantity = _quantity(variant.get("inventoryQuantity"))
            problems = own_problems | readiness.variant_problems(barcode=variant.get("barcode"), price=price, sku=sku)
            union |= problems
            if price is not None:
                prices.append(price)
            if quantity:
                inventory += quantity
            self.variants.append(
                {
                    "shopify_id": variant["id"],
                    "product_shopify_id": product_id,
                    "title": variant.get("title") or "",
                    "sku": sku,
                    "barcode": variant.get("barcode"),
                    "price": price,
                    "compare_at_price": parse_money(variant.get("compareAtPrice")),
                    "inventory_quantity": quantity,
                    "options": variant.get("selectedOptions") or [],
                    "problems": problems,
                }
            )
        for media in bundle.images:
            image = media["image"]
            self.images.append(
                {
                    "shopify_id": media["id"],
                    "product_shopify_id": product_id,
                    "url": image["url"],
                    "alt_text": image.get("altText"),
                }
            )
        if product is None:
            return
        self.products.append(
            {
                "shopify_id": product_id,
                "title": product.get("title") or "",
                "handle": product.get("handle") or "",
                "vendor": product.get("vendor") or "",
                "product_type": product.get("productType") or "",
                "status": (product.get("status") or "").upper(),
                "tags": product.get("tags") or [],
                "description_html": product.get("descriptionHtml") or "",
                "featured_image_url": featured_url,
                "shopify_updated_at": parse_timestamp(product.get("updatedAt")),
                "variant_count": len(bundle.variants),
                "price_min": min(prices, default=None),
                "price_max": max(prices, default=None),
                "total_inventory": inventory,
                "product_problems": own_problems,
                "problems": union,
            }
        )


# --- writes --------------------------------------------------------------------------------------------


def _bitand(column: Any, mask: int) -> Any:
    return column.op("&", return_type=sa.Integer)(mask)


def _bitor(left: Any, right: Any) -> Any:
    return left.op("|", return_type=sa.Integer)(right)


@cache
def _upsert(dialect: str, table_name: str) -> Any:
    table = {t.name: t for t in (PRODUCTS, VARIANTS, IMAGES)}[table_name]
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    keys = {"id", "shop_connection_id", "shopify_id"}
    updates: dict[str, Any] = {c.name: insert.excluded[c.name] for c in table.columns if c.name not in keys}
    if "problems" in updates:
        # A duplicate SKU is only known after the whole catalog is read; keep last run's verdict until then.
        updates["problems"] = _bitor(insert.excluded.problems, _bitand(table.c.problems, readiness.SKU_DUPLICATE.bit))
    return insert.on_conflict_do_update(index_elements=["shop_connection_id", "shopify_id"], set_=updates)


def write_batch(batch: Batch, checkpoint: dict[str, Any]) -> None:
    """Upsert the batch and move the job's counts and checkpoint (bulk_offset or page_cursor) forward, atomically."""
    lease = batch.lease
    with get_engine().begin() as connection:
        if connection.dialect.name == "postgresql":
            # Without waiting for the WAL flush: a batch a server crash loses takes its checkpoint with it,
            # so the job simply reads it again. (SQLite in WAL mode with synchronous=NORMAL already works so.)
            connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
        touch_job(
            connection,
            lease,
            products_seen=JOBS.c.products_seen + len(batch.products),
            variants_seen=JOBS.c.variants_seen + len(batch.variants),
            failures=0,
            last_error=None,
            **checkpoint,
        )
        upsert_rows(connection, batch, lease.shop_connection_id, lease.job_id)


def upsert_rows(connection: Connection, batch: Batch, shop_connection_id: int, job_id: int | None) -> None:
    """Upsert the batch's rows as seen by import job `job_id` (None: seen outside any import, e.g. a webhook)."""
    dialect, now = connection.dialect.name, utcnow()
    for table, rows in ((PRODUCTS, batch.products), (VARIANTS, batch.variants), (IMAGES, batch.images)):
        if rows:
            # Values shared by the whole batch are bound once per statement rather than once per row.
            shared: dict[str, Any] = {"shop_connection_id": shop_connection_id, "last_seen_job_id": job_id}
            if table is not IMAGES:
                shared |= {"imported_at": now, "removed_at": None}
            connection.execute(_upsert(dialect, table.name).values(**shared), rows)


class SerialWriter:
    """Writes batches one after another in a worker thread while the caller fetches the next one.

    Writes stay in order, so checkpoints only move forward; at most one batch is in flight.
    """

    def __init__(self) -> None:
        self._running: asyncio.Future[None] | None = None

    async def submit(self, batch: Batch, checkpoint: dict[str, Any]) -> None:
        await self.drain()
        self._running = asyncio.ensure_future(asyncio.to_thread(write_batch, batch, checkpoint))

    async def drain(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            await running

    async def settle(self) -> None:
        """After the import failed elsewhere: let the write in flight finish, whatever its outcome."""
        running, self._running = self._running, None
        if running is not None:
            await asyncio.gather(running, return_exceptions=True)


def complete_import(lease: JobLease) -> None:
    """After a full read: mark what Shopify no longer has, settle shop-wide readiness, finish the job."""
    shop, job_id, now = lease.shop_connection_id, lease.job_id, utcnow()
    with get_engine().begin() as connection:
        touch_job(connection, lease)
        for table in (PRODUCTS, VARIANTS):
            connection.execute(
                sa.update(table)
                .where(table.c.shop_connection_id == shop, table.c.removed_at.is_(None), _not_seen_by(table, job_id))
                .values(removed_at=now)
            )
        connection.execute(sa.delete(IMAGES).where(IMAGES.c.shop_connection_id == shop, _not_seen_by(IMAGES, job_id)))
        settle_readiness(connection, shop)
        connection.execute(
            sa.update(JOBS)
            .where(JOBS.c.id == job_id)
            .values(
                status="completed",
                products_total=JOBS.c.products_seen,
                variants_total=JOBS.c.variants_seen,
                finished_at=now,
                updated_at=now,
                lease_owner=None,
                lease_expires_at=None,
                last_error=None,
            )
        )


def _not_seen_by(table: sa.Table, job_id: int) -> Any:
    return sa.or_(table.c.last_seen_job_id.is_(None), table.c.last_seen_job_id != job_id)


def settle_readiness(connection: Connection, shop: int) -> None:
    """Recompute what depends on more than one line of the export: images and variants of a product
    read apart from it, SKU duplicates across the shop, and each product's totals over its variants."""
    live_products = (PRODUCTS.c.shop_connection_id == shop, PRODUCTS.c.removed_at.is_(None))
    live_variants = (VARIANTS.c.shop_connection_id == shop, VARIANTS.c.removed_at.is_(None))
    has_image = sa.or_(
        PRODUCTS.c.featured_image_url.is_not(None),
        sa.exists().where(
            IMAGES.c.shop_connection_id == PRODUCTS.c.shop_connection_id,
            IMAGES.c.product_shopify_id == PRODUCTS.c.shopify_id,
        ),
    )
    # Each statement rewrites only rows whose value changes: most were right when their batch was stored.
    product_problems = _bitand(PRODUCTS.c.product_problems, readiness.BRAND.bit | readiness.TITLE.bit) + sa.case(
        (has_image, 0), else_=readiness.IMAGE.bit
    )
    connection.execute(
        sa.update(PRODUCTS)
        .where(*live_products, PRODUCTS.c.product_problems != product_problems)
        .values(product_problems=product_problems)
    )
    duplicate_skus = (
        sa.select(VARIANTS.c.sku)
        .where(*live_variants, VARIANTS.c.sku.is_not(None), sa.func.trim(VARIANTS.c.sku) != "")
        .group_by(VARIANTS.c.sku)
        .having(sa.func.count() > 1)
    )
    of_product = (
        sa.select(PRODUCTS.c.product_problems)
        .where(
            PRODUCTS.c.shop_connection_id == VARIANTS.c.shop_connection_id,
            PRODUCTS.c.shopify_id == VARIANTS.c.product_shopify_id,
        )
        .scalar_subquery()
    )
    variant_problems = (
        _bitand(VARIANTS.c.problems, readiness.VARIANT_RULES_MASK)
        + sa.func.coalesce(of_product, 0)
        + sa.case((VARIANTS.c.sku.in_(duplicate_skus), readiness.SKU_DUPLICATE.bit), else_=0)
    )
    connection.execute(
        sa.update(VARIANTS)
        .where(*live_variants, VARIANTS.c.problems != variant_problems)
        .values(problems=variant_problems)
    )
    # No bitwise-OR aggregate exists in SQLite: OR over variants is the sum, per rule, of MAX(problems & bit).
    problem_union: Any = sum(
        (sa.func.max(_bitand(VARIANTS.c.problems, rule.bit)) for rule in readiness.RULES), sa.literal(0)
    )
    totals = (
        sa.select(
            VARIANTS.c.product_shopify_id.label("product_shopify_id"),
            sa.func.count().label("variant_count"),
            sa.func.min(VARIANTS.c.price).label("price_min"),
            sa.func.max(VARIANTS.c.price).label("price_max"),
            sa.func.coalesce(sa.func.sum(VARIANTS.c.inventory_quantity), 0).label("total_inventory"),
            problem_union.label("problems"),
        )
        .where(*live_variants)
        .group_by(VARIANTS.c.product_shopify_id)
        .subquery()
    )
    changed = sa.or_(
        *(
            PRODUCTS.c[name].is_distinct_from(totals.c[name])
            for name in ("variant_count", "price_min", "price_max", "total_inventory", "problems")
        )
    )
    connection.execute(
        sa.update(PRODUCTS)
        .where(*live_products, PRODUCTS.c.shopify_id == totals.c.product_shopify_id, changed)
        .values(
            variant_count=totals.c.variant_count,
            price_min=totals.c.price_min,
            price_max=totals.c.price_max,
            total_inventory=totals.c.total_inventory,
            problems=totals.c.problems,
        )
    )
