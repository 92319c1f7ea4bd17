"""Step 5: the import runs by itself; this page watches it and then explores the catalog.

The import lives outside the tab (a job in the database); a background task
started from on_load polls its progress once a second and stops when the tab
goes away. Only one page of products is ever sent to the browser.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from decimal import Decimal

import reflex as rx

from offamazon_ui import routes
from offamazon_ui.components import layout
from offamazon_ui.models import utcnow
from offamazon_ui.services import amazon, importer, shopify
from offamazon_ui.services.importer import CatalogQueryError, ImportProgress, ProductItem
from offamazon_ui.state import SessionState, check_access

log = logging.getLogger(__name__)
PAGE_SIZE = 20
ACTIVE_POLL_SECONDS = 1.0
IDLE_POLL_SECONDS = 5.0
STATUS_FILTERS = {
    "all": "All statuses",
    "active": "Active",
    "draft": "Draft",
    "archived": "Archived",
    "unlisted": "Unlisted",
}
READINESS_FILTERS = {"all": "All products", "ready": "Ready for Amazon", "needs_attention": "Needs attention"}
SORTS = {
    "title:asc": "Title A–Z",
    "title:desc": "Title Z–A",
    "price:asc": "Price, low to high",
    "price:desc": "Price, high to low",
    "inventory:desc": "Inventory, most first",
    "updated:desc": "Recently updated",
}


def _money(value: Decimal | None) -> str:
    return f"{value:,.2f}" if value is not None else "—"


def _price(item: ProductItem) -> str:
    if item.price_min is None:
        return "—"
    if item.price_max is None or item.price_max == item.price_min:
        return _money(item.price_min)
    return f"{_money(item.price_min)} – {_money(item.price_max)}"


def _row(item: ProductItem) -> dict[str, object]:
    return {
        "id": item.id,
        "title": item.title,
        "vendor": item.vendor or "—",
        "image": item.image_url or "",
        "status": item.status,
        "skus": ", ".join(item.skus) + (" …" if item.variant_count > len(item.skus) else "") or "—",
        "variants": item.variant_count,
        "price": _price(item),
        "inventory": item.total_inventory,
        "ready": item.ready,
        "problems": [problem.label for problem in item.problems],
    }


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


class DashboardState(rx.State):
    shop_name: str = ""
    shop_domain: str = ""
    amazon_store: str = ""
    amazon_marketplace: str = ""

    status: str = ""
    imported: int = 0
    total: int = 0
    total_known: bool = False
    variants: int = 0
    variants_total: int = 0
    variants_total_known: bool = False
    percent: int = 0
    elapsed: str = ""
    rate: str = ""
    problem: str = ""

    summary_loaded: bool = False
    summary: dict[str, int] = {}
    problem_chart: list[dict[str, object]] = []

    rows: list[dict[str, object]] = []
    page: int = 1
    pages: int = 1
    matching: int = 0
    search: str = ""
    status_filter: str = "all"
    readiness_filter: str = "all"
    sort: str = "title:asc"
    resyncing: bool = False

    _shop_connection_id: int | None = None
    _watch_generation: int = 0
    _last_finished: datetime | None = None

    async def on_load(self):  # type: ignore[no-untyped-def]
        session = await self.get_state(SessionState)
        user_id, redirect = await session._guard(routes.DASHBOARD)
        if redirect is not None:
            return redirect
        shop = await asyncio.to_thread(shopify.get_shop_connection, user_id)
        seller = await asyncio.to_thread(amazon.get_amazon_connection, user_id)
        if shop is None:
            return rx.redirect(routes.CONNECT_SHOPIFY)
        self._shop_connection_id = shop.id
        self.shop_name, self.shop_domain = shop.shop_name, shop.shop_domain
        self.amazon_store = seller.store_name if seller else ""
        self.amazon_marketplace = f"{seller.country} ({seller.marketplace_id})" if seller else ""
        self.summary_loaded, self._last_finished, self.resyncing = False, None, False
        return DashboardState.watch

    @rx.event(background=True)
    async def watch(self):  # type: ignore[no-untyped-def]
        """Pushes import progress to this tab until a newer watch of it takes over.

        Reflex cancels the loop when the tab navigates away or disconnects. A worker that crashes
        cancels nothing, so instead of a "watching" flag (which would stay set in Redis for ever)
        each watch claims a generation and the newest one is the only one that runs.
        """
        async with self:
            if self._shop_connection_id is None:
                return
            self._watch_generation += 1
            generation = self._watch_generation
            shop_connection_id = self._shop_connection_id
        while True:
            progress = await asyncio.to_thread(importer.import_progress, shop_connection_id)
            finished_now = progress is not None and progress.status == "completed"
            async with self:
                if self._watch_generation != generation:
                    return
                self._show_progress(progress)
                refresh_catalog = finished_now and (
                    not self.summary_loaded or self._last_finished != progress.finished_at
                )
                if refresh_catalog and progress is not None:
                    self._last_finished = progress.finished_at
            if refresh_catalog:
                await self._reload_catalog(shop_connection_id)
            active = progress is not None and progress.active
            await asyncio.sleep(ACTIVE_POLL_SECONDS if active else IDLE_POLL_SECONDS)

    def _show_progress(self, progress: ImportProgress | None) -> None:
        if progress is None:
            self.status = "queued"
            return
        self.status = progress.status
        self.imported = progress.products_imported
        self.total = progress.products_total or 0
        self.total_known = progress.products_total is not None
        self.variants = progress.variants_imported
        self.variants_total = progress.variants_total or 0
        self.variants_total_known = progress.variants_total is not None
        self.percent = int(progress.percent or 0)
        self.problem = progress.last_error or ""
        if progress.started_at is not None:
            end = progress.finished_at or utcnow()
            self.elapsed = _duration((end - progress.started_at).total_seconds())
        self.rate = f"{progress.rate:,.0f} variants/s" if progress.rate else ""

    async def _reload_catalog(self, shop_connection_id: int) -> None:
        summary = await asyncio.to_thread(importer.catalog_summary, shop_connection_id)
        async with self:
            self.summary = {
                "products": summary.products,
                "variants": summary.variants,
                "ready": summary.ready_products,
                "attention": summary.attention_products,
            }
            self.problem_chart = [
                {"rule": importer.RULE_LABELS[name], "variants": count}
                for name, count in summary.problems.items()
                if count
            ]
            self.summary_loaded = True
        await self._load_page(shop_connection_id)

    async def _load_page(self, shop_connection_id: int) -> None:
        async with self:
            sort, direction = self.sort.split(":")
            query = {
                "page": self.page,
                "page_size": PAGE_SIZE,
                "sort": sort,
                "direction": direction,
                "search": self.search.strip(),
                "status": None if self.status_filter == "all" else self.status_filter,
                "readiness": self.readiness_filter,
            }
        try:
            result = await asyncio.to_thread(importer.list_products, shop_connection_id, **query)
        except CatalogQueryError:
            log.warning("product query refused: %s", query)
            return
        async with self:
            self.rows = [_row(item) for item in result.items]
            self.matching, self.pages = result.total, result.pages
            self.page = min(self.page, result.pages)

    async def _requery(self) -> None:
        async with self:
            shop_connection_id = self._shop_connection_id
        if shop_connection_id is not None:
            await self._load_page(shop_connection_id)

    @rx.event(background=True)
    async def set_search(self, value: object):  # type: ignore[no-untyped-def]
        async with self:
            # Kept as typed (the box shows it back after a reload); trimmed when queried.
            self.search = value[:200] if isinstance(value, str) else ""
            self.page = 1
        await self._requery()

    @rx.event(background=True)
    async def set_status_filter(self, value: object):  # type: ignore[no-untyped-def]
        async with self:
            self.status_filter = value if isinstance(value, str) and value in STATUS_FILTERS else "all"
            self.page = 1
        await self._requery()

    @rx.event(background=True)
    async def set_readiness_filter(self, value: object):  # type: ignore[no-untyped-def]
        async with self:
            self.readiness_filter = value if isinstance(value, str) and value in READINESS_FILTERS else "all"
            self.page = 1
        await self._requery()

    @rx.event(background=True)
    async def set_sort(self, value: object):  # type: ignore[no-untyped-def]
        async with self:
            self.sort = value if isinstance(value, str) and value in SORTS else "title:asc"
            self.page = 1
        await self._requery()

    @rx.event(background=True)
    async def turn_page(self, delta: object):  # type: ignore[no-untyped-def]
        async with self:
            step = delta if isinstance(delta, int) and delta in (-1, 1) else 0
            self.page = max(1, min(self.pages, self.page + step))
        await self._requery()

    @rx.event(background=True)
    async def resync(self):  # type: ignore[no-untyped-def]
        async with self:
            if self.resyncing:
                return
            self.resyncing = True
            session = await self.get_state(SessionState)
            token = session._session_token()
        user_id, redirect = await check_access(token, routes.DASHBOARD)
        try:
            if redirect is not None:
                return redirect
            shop = await asyncio.to_thread(shopify.get_shop_connection, user_id)
            if shop is not None:
                await asyncio.to_thread(importer.request_resync, shop.id)
        finally:
            async with self:
                self.resyncing = False
        return DashboardState.watch


def _stat(label: str, value: rx.Var | str | int, test_id: str | None = None) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(label, size="2", color=rx.color("gray", 11)),
            rx.heading(value, size="7", data_testid=test_id),
            spacing="1",
        ),
        flex="1",
        min_width="160px",
    )


def _connections() -> rx.Component:
    return rx.flex(
        rx.card(
            rx.hstack(
                rx.icon("store", size=20),
                rx.vstack(
                    rx.text("Shopify", size="1", color=rx.color("gray", 11)),
                    rx.text(DashboardState.shop_name, weight="bold"),
                    rx.text(DashboardState.shop_domain, size="1", color=rx.color("gray", 11)),
                    spacing="0",
                ),
                align="center",
            ),
            flex="1",
        ),
        rx.card(
            rx.hstack(
                rx.icon("package", size=20),
                rx.vstack(
                    rx.text("Amazon", size="1", color=rx.color("gray", 11)),
                    rx.text(DashboardState.amazon_store, weight="bold"),
                    rx.text(DashboardState.amazon_marketplace, size="1", color=rx.color("gray", 11)),
                    spacing="0",
                ),
                align="center",
            ),
            flex="1",
        ),
        gap="3",
        width="100%",
        direction=rx.breakpoints(initial="column", sm="row"),
    )


def _progress() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Product import", size="4"),
                rx.badge(
                    DashboardState.status,
                    data_testid="import-status",
                    color_scheme=rx.match(
                        DashboardState.status, ("completed", "grass"), ("failed", "red"), ("running", "blue"), "gray"
                    ),
                ),
                rx.spacer(),
                rx.button(
                    rx.icon("refresh-cw", size=14),
                    "Re-sync",
                    variant="soft",
                    on_click=DashboardState.resync,
                    loading=DashboardState.resyncing,
                    disabled=(DashboardState.status == "running") | (DashboardState.status == "queued"),
                ),
                width="100%",
                align="center",
            ),
            rx.progress(value=DashboardState.percent, width="100%", aria_label="Import progress"),
            rx.hstack(
                rx.text(
                    rx.el.span(DashboardState.imported, data_testid="imported-count"),
                    rx.cond(
                        DashboardState.total_known,
                        rx.fragment(" of ", rx.el.span(DashboardState.total, data_testid="total-count")),
                    ),
                    " products · ",
                    rx.el.span(DashboardState.variants, data_testid="variant-count"),
                    rx.cond(
                        DashboardState.variants_total_known,
                        rx.fragment(" of ", rx.el.span(DashboardState.variants_total, data_testid="variant-total")),
                    ),
                    " variants",
                    size="2",
                ),
                rx.spacer(),
                rx.text(
                    rx.cond(DashboardState.elapsed != "", rx.fragment("Elapsed ", DashboardState.elapsed)),
                    rx.cond(DashboardState.rate != "", rx.fragment(" · ", DashboardState.rate)),
                    size="2",
                    color=rx.color("gray", 11),
                ),
                width="100%",
            ),
            rx.cond(
                DashboardState.problem != "",
                rx.callout(DashboardState.problem, icon="triangle-alert", color_scheme="amber", role="alert"),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _summary() -> rx.Component:
    return rx.vstack(
        rx.flex(
            _stat("Products", DashboardState.summary.get("products", 0)),
            _stat("Variants", DashboardState.summary.get("variants", 0)),
            _stat("Ready for Amazon", DashboardState.summary.get("ready", 0), "ready-count"),
            _stat("Needing attention", DashboardState.summary.get("attention", 0), "attention-count"),
            gap="3",
            wrap="wrap",
            width="100%",
        ),
        rx.cond(
            DashboardState.problem_chart.length() > 0,
            rx.card(
                rx.heading("Readiness problems by rule (variants)", size="3"),
                rx.recharts.bar_chart(
                    rx.recharts.bar(data_key="variants", fill=rx.color("accent", 9)),
                    rx.recharts.x_axis(type_="number"),
                    rx.recharts.y_axis(data_key="rule", type_="category", width=260),
                    rx.recharts.cartesian_grid(stroke_dasharray="3 3", horizontal=False),
                    rx.recharts.graphing_tooltip(),
                    data=DashboardState.problem_chart,
                    layout="vertical",
                    height=260,
                    width="100%",
                ),
                width="100%",
            ),
        ),
        spacing="3",
        width="100%",
    )


def _select(options: dict[str, str], value: rx.Var, on_change: object, label: str) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(aria_label=label),
        rx.select.content(*[rx.select.item(text, value=key) for key, text in options.items()]),
        value=value,
        on_change=on_change,
    )


def _product_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.cond(
                row["image"] != "",
                rx.image(
                    src=row["image"], width="40px", height="40px", object_fit="cover", border_radius="4px", alt=""
                ),
                rx.box(width="40px", height="40px", background=rx.color("gray", 4), border_radius="4px"),
            )
        ),
        rx.table.cell(
            rx.vstack(
                rx.text(
                    row["title"],
                    title=row["title"].to(str),
                    weight="medium",
                    size="2",
                    style={
                        "display": "-webkit-box",
                        "WebkitLineClamp": 2,
                        "WebkitBoxOrient": "vertical",
                        "overflow": "hidden",
                    },
                ),
                rx.text(row["vendor"], size="1", color=rx.color("gray", 11)),
                spacing="0",
                max_width="320px",
            )
        ),
        rx.table.cell(rx.text(row["skus"], size="1", font_family="monospace", max_width="200px")),
        rx.table.cell(rx.text(row["price"], size="2")),
        rx.table.cell(rx.text(row["inventory"], size="2")),
        rx.table.cell(rx.badge(row["status"], variant="soft", color_scheme="gray")),
        rx.table.cell(
            rx.cond(
                row["ready"],
                rx.badge("Ready", color_scheme="grass"),
                rx.flex(
                    rx.foreach(row["problems"].to(list[str]), lambda label: rx.badge(label, color_scheme="amber")),
                    gap="1",
                    wrap="wrap",
                    max_width="280px",
                ),
            )
        ),
        data_testid="product-row",
    )


def _products() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.flex(
                rx.heading("Products", size="4"),
                rx.spacer(),
                rx.input(
                    placeholder="Title or SKU",
                    aria_label="Search products",
                    value=DashboardState.search,
                    on_change=DashboardState.set_search.debounce(300),
                    width="220px",
                ),
                _select(STATUS_FILTERS, DashboardState.status_filter, DashboardState.set_status_filter, "Status"),
                _select(
                    READINESS_FILTERS, DashboardState.readiness_filter, DashboardState.set_readiness_filter, "Readiness"
                ),
                _select(SORTS, DashboardState.sort, DashboardState.set_sort, "Sort by"),
                gap="2",
                wrap="wrap",
                align="center",
                width="100%",
            ),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(name)
                            for name in ("", "Product", "SKUs", "Price", "Inventory", "Status", "Amazon readiness")
                        ]
                    )
                ),
                rx.table.body(rx.foreach(DashboardState.rows, _product_row)),
                width="100%",
                variant="surface",
            ),
            rx.hstack(
                rx.text(DashboardState.matching, " products", size="2", color=rx.color("gray", 11)),
                rx.spacer(),
                rx.button(
                    "Previous", variant="soft", on_click=DashboardState.turn_page(-1), disabled=DashboardState.page <= 1
                ),
                rx.text("Page ", DashboardState.page, " of ", DashboardState.pages, size="2"),
                rx.button(
                    "Next",
                    variant="soft",
                    on_click=DashboardState.turn_page(1),
                    disabled=DashboardState.page >= DashboardState.pages,
                ),
                width="100%",
                align="center",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def page() -> rx.Component:
    return layout.page(
        rx.vstack(
            rx.heading("Dashboard", size="6"),
            _connections(),
            _progress(),
            rx.cond(DashboardState.summary_loaded, rx.fragment(_summary(), _products())),
            spacing="4",
            width="100%",
        ),
        step=4,
        width="1100px",
    )
