"""What the dashboard shows: import progress, a readiness summary, and one page of products.

Plain sync functions (the UI runs them with asyncio.to_thread) returning plain
dataclasses. Arguments come from the browser, so each is validated and a bad
one raises CatalogQueryError naming the field. Lists are paginated in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from offamazon_ui.services.db import get_engine
from offamazon_ui.services.importer.readiness import RULES, rules_for
from offamazon_ui.services.importer.store import JOBS, PRODUCTS, VARIANTS

MAX_PAGE_SIZE = 100
MAX_PAGE = 1_000_000
MAX_SEARCH_LENGTH = 200
SKUS_PER_ITEM = 10
SORT_KEYS = ("title", "price", "inventory", "updated")
DIRECTIONS = ("asc", "desc")
PRODUCT_STATUSES = ("active", "draft", "archived", "unlisted")
READINESS_FILTERS = ("all", "ready", "needs_attention")
CENT = Decimal("0.01")


class CatalogQueryError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ImportProgress:
    job_id: int
    status: str  # queued | running | completed | failed
    strategy: str  # bulk | paginated
    products_imported: int
    products_total: int | None
    variants_total: int | None  # once known, from Shopify's productVariantsCount
    variants_imported: int
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    last_error: str | None
    retry_at: datetime | None  # when a queued job that hit a problem will try again
    rate: float | None  # variants per second since the job started

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")

    @property
    def percent(self) -> float | None:
        if self.status == "completed":
            return 100.0
        if not self.products_total:
            return None
        return min(100.0, 100.0 * self.products_imported / self.products_total)


@dataclass(frozen=True)
class CatalogSummary:
    products: int
    variants: int
    ready_products: int
    attention_products: int
    ready_variants: int
    attention_variants: int
    problems: dict[str, int]  # readiness rule name → variants failing it (every rule, zeros included)


@dataclass(frozen=True)
class Problem:
    name: str
    label: str


@dataclass(frozen=True)
class ProductItem:
    id: int
    shopify_id: str
    title: str
    vendor: str
    image_url: str | None
    status: str  # active | draft | archived | unlisted
    skus: tuple[str, ...]  # the first SKUS_PER_ITEM
    variant_count: int
    price_min: Decimal | None
    price_max: Decimal | None
    total_inventory: int
    ready: bool
    problems: tuple[Problem, ...]
    updated_at: datetime | None


@dataclass(frozen=True)
class ProductPage:
    items: tuple[ProductItem, ...]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def problems_of(mask: int) -> tuple[Problem, ...]:
    return tuple(Problem(rule.name, rule.label) for rule in rules_for(mask))


# --- progress and summary ----------------------------------------------------------------------------------


def import_progress(shop_connection_id: int) -> ImportProgress | None:
    """The shop's latest import job, or None if it never had one."""
    _check_id(shop_connection_id)
    with get_engine().connect() as connection:
        job = connection.execute(
            sa.select(JOBS).where(JOBS.c.shop_connection_id == shop_connection_id).order_by(JOBS.c.id.desc()).limit(1)
        ).first()
    if job is None:
        return None
    rate = None
    end = job.finished_at or job.updated_at
    if job.started_at is not None and end is not None and job.variants_seen:
        seconds = (end - job.started_at).total_seconds()
        rate = job.variants_seen / seconds if seconds > 0 else None
    return ImportProgress(
        job_id=job.id,
        status=job.status,
        strategy=job.strategy,
        products_imported=job.products_seen,
        products_total=job.products_total,
        variants_total=job.variants_total,
        variants_imported=job.variants_seen,
        started_at=job.started_at,
        finished_at=job.finished_at,
        updated_at=job.updated_at,
        last_error=job.last_error,
        retry_at=job.run_after if job.status == "queued" else None,
        rate=rate,
    )


def _live(table: sa.Table, shop_connection_id: int) -> tuple[Any, Any]:
    return table.c.shop_connection_id == shop_connection_id, table.c.removed_at.is_(None)


def _count_where(condition: Any) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def catalog_summary(shop_connection_id: int) -> CatalogSummary:
    _check_id(shop_connection_id)
    rule_counts = [_count_where(VARIANTS.c.problems.op("&", return_type=sa.Integer)(rule.bit) != 0) for rule in RULES]
    with get_engine().connect() as connection:
        variants, ready_variants, *per_rule = connection.execute(
            sa.select(sa.func.count(), _count_where(VARIANTS.c.problems == 0), *rule_counts).where(
                *_live(VARIANTS, shop_connection_id)
            )
        ).one()
        products, ready_products = connection.execute(
            sa.select(sa.func.count(), _count_where(PRODUCTS.c.problems == 0)).where(
                *_live(PRODUCTS, shop_connection_id)
            )
        ).one()
    return CatalogSummary(
        products=int(products),
        variants=int(variants),
        ready_products=int(ready_products),
        attention_products=int(products) - int(ready_products),
        ready_variants=int(ready_variants),
        attention_variants=int(variants) - int(ready_variants),
        problems={rule.name: int(count) for rule, count in zip(RULES, per_rule, strict=True)},
    )


# --- the product list -----------------------------------------------------------------------------------------


def list_products(
    shop_connection_id: int,
    *,
    page: int = 1,
    page_size: int = 25,
    sort: str = "title",
    direction: str = "asc",
    search: str = "",
    status: str | None = None,
    readiness: str = "all",
) -> ProductPage:
    """One page of the shop's current products; `search` matches title or SKU, case-insensitively."""
    _check_id(shop_connection_id)
    page = _check_int("page", page, 1, MAX_PAGE)
    page_size = min(_check_int("page_size", page_size, 1, None), MAX_PAGE_SIZE)
    sort = _check_choice("sort", sort, SORT_KEYS)
    direction = _check_choice("direction", direction, DIRECTIONS)
    readiness = _check_choice("readiness", readiness, READINESS_FILTERS)
    if status is None or (isinstance(status, str) and status.strip().lower() in ("", "all")):
        status = None
    else:
        status = _check_choice("status", status, PRODUCT_STATUSES)
    if not isinstance(search, str) or len(search.strip()) > MAX_SEARCH_LENGTH:
        raise CatalogQueryError("search", f"Search for at most {MAX_SEARCH_LENGTH} characters.")

    conditions = list(_live(PRODUCTS, shop_connection_id))
    if status is not None:
        conditions.append(PRODUCTS.c.status == status.upper())
    if readiness == "ready":
        conditions.append(PRODUCTS.c.problems == 0)
    elif readiness == "needs_attention":
        conditions.append(PRODUCTS.c.problems != 0)
    if search.strip():
        pattern = "%" + _escape_like(search.strip().lower()) + "%"
        sku_match = sa.exists().where(
            VARIANTS.c.shop_connection_id == PRODUCTS.c.shop_connection_id,
            VARIANTS.c.product_shopify_id == PRODUCTS.c.shopify_id,
            VARIANTS.c.removed_at.is_(None),
            sa.func.lower(VARIANTS.c.sku).like(pattern, escape="\\"),
        )
        conditions.append(sa.or_(sa.func.lower(PRODUCTS.c.title).like(pattern, escape="\\"), sku_match))

    sort_column = {
        "title": sa.func.lower(PRODUCTS.c.title),
        "price": PRODUCTS.c.price_min,
        "inventory": PRODUCTS.c.total_inventory,
        "updated": PRODUCTS.c.shopify_updated_at,
    }[sort]
    ordered = sort_column.desc() if direction == "desc" else sort_column.asc()
    tie_breaker = PRODUCTS.c.id.desc() if direction == "desc" else PRODUCTS.c.id.asc()
    with get_engine().connect() as connection:
        total = connection.execute(sa.select(sa.func.count()).select_from(PRODUCTS).where(*conditions)).scalar_one()
        rows = connection.execute(
            sa.select(
                PRODUCTS.c.id, PRODUCTS.c.shopify_id, PRODUCTS.c.title, PRODUCTS.c.vendor,
                PRODUCTS.c.featured_image_url, PRODUCTS.c.status, PRODUCTS.c.variant_count, PRODUCTS.c.price_min,
                PRODUCTS.c.price_max, PRODUCTS.c.total_inventory, PRODUCTS.c.problems, PRODUCTS.c.shopify_updated_at,
            )
            .where(*conditions)
            .order_by(ordered.nulls_last(), tie_breaker)
            .limit(page_size)
            .offset((page - 1) * page_size)
        ).all()  # fmt: skip
        skus = _first_skus(connection, shop_connection_id, [row.shopify_id for row in rows])
    items = tuple(
        ProductItem(
            id=row.id,
            shopify_id=row.shopify_id,
            title=row.title,
            vendor=row.vendor,
            image_url=row.featured_image_url,
            status=row.status.lower(),
            skus=skus.get(row.shopify_id, ()),
            variant_count=row.variant_count,
            price_min=_money(row.price_min),
            price_max=_money(row.price_max),
            total_inventory=row.total_inventory,
            ready=row.problems == 0,
            problems=problems_of(row.problems),
            updated_at=row.shopify_updated_at,
        )
        for row in rows
    )
    return ProductPage(items=items, total=int(total), page=page, page_size=page_size)


def _first_skus(
    connection: sa.Connection, shop_connection_id: int, product_ids: list[str]
) -> dict[str, tuple[str, ...]]:
    if not product_ids:
        return {}
    numbered = (
        sa.select(
            VARIANTS.c.product_shopify_id,
            VARIANTS.c.sku,
            sa.func.row_number().over(partition_by=VARIANTS.c.product_shopify_id, order_by=VARIANTS.c.id).label("n"),
        )
        .where(
            *_live(VARIANTS, shop_connection_id),
            VARIANTS.c.product_shopify_id.in_(product_ids),
            VARIANTS.c.sku.is_not(None),
            VARIANTS.c.sku != "",
        )
        .subquery()
    )
    found: dict[str, list[str]] = {}
    rows = connection.execute(
        sa.select(numbered.c.product_shopify_id, numbered.c.sku)
        .where(numbered.c.n <= SKUS_PER_ITEM)
        .order_by(numbered.c.product_shopify_id, numbered.c.n)
    )
    for product_id, sku in rows:
        found.setdefault(product_id, []).append(sku)
    return {product_id: tuple(values) for product_id, values in found.items()}


def _money(value: Decimal | None) -> Decimal | None:
    """Prices are stored with four decimals; show two unless the currency needs more."""
    if value is None:
        return None
    rounded = value.quantize(CENT)
    return rounded if rounded == value else value.normalize()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _check_id(shop_connection_id: int) -> None:
    _check_int("shop_connection_id", shop_connection_id, 1, None)


def _check_int(field: str, value: Any, minimum: int, maximum: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CatalogQueryError(field, f"{field} must be a whole number.")
    if value < minimum or (maximum is not None and value > maximum):
        limit = f" and at most {maximum}" if maximum is not None else ""
        raise CatalogQueryError(field, f"{field} must be at least {minimum}{limit}.")
    return value


def _check_choice(field: str, value: Any, choices: tuple[str, ...]) -> str:
    normalized = value.strip().lower() if isinstance(value, str) else None
    if normalized not in choices:
        raise CatalogQueryError(field, f"{field} must be one of: {', '.join(choices)}.")
    return normalized
