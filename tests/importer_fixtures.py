"""Shared setup for the import tests: a connected shop on the Shopify emulator and what it should import."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from offamazon_ui.models import ShopConnection, User, utcnow
from offamazon_ui.sandbox.shopify import Catalog
from offamazon_ui.services.crypto import encrypt
from offamazon_ui.services.db import get_engine
from offamazon_ui.services.importer import bulk, jobs, store
from offamazon_ui.services.importer.store import JOBS, PRODUCTS, VARIANTS
from offamazon_ui.services.shopify import begin_install, complete_install
from tests.shopify_fixtures import SMALL_SHOP, ShopifySandbox, approve_install, shopify

__all__ = ["SMALL_SHOP", "ImportSandbox", "add_connection", "importer", "shopify"]


@dataclass(frozen=True)
class Expected:
    products: frozenset[str]
    variants: frozenset[str]


@dataclass
class ImportSandbox:
    shopify: ShopifySandbox

    @property
    def emulator(self):  # type: ignore[no-untyped-def]
        return self.shopify.emulator

    async def connect(self, shop: str = SMALL_SHOP) -> int:
        """Install the app on `shop` through the real OAuth flow; returns the shop connection id."""
        await complete_install(await approve_install(begin_install(self.shopify.user_id, shop)), self.shopify.user_id)
        [row] = self.shopify.connections()
        assert row.id is not None
        return row.id

    def add_shop(self, domain: str, catalog: Catalog) -> None:
        self.emulator.add_shop(domain, domain.split(".")[0].title(), catalog)

    def expected(self, shop: str = SMALL_SHOP) -> Expected:
        """Every product and variant id the emulated shop has right now."""
        catalog = self.emulator.shop(shop).catalog
        products, variants = set(), set()
        for index in range(catalog.product_count):
            product = catalog.product(index)
            products.add(f"gid://shopify/Product/{product.numeric_id}")
            for position in range(1, product.variant_count + 1):
                variants.add(f"gid://shopify/ProductVariant/{catalog.variant(index, position).numeric_id}")
        return Expected(frozenset(products), frozenset(variants))

    def requests(self, route: str, shop: str = SMALL_SHOP) -> list[tuple[int, str]]:
        return [(r.status, r.outcome) for r in self.emulator.requests(route, shop)]


def add_connection(shop_domain: str, access_token: str = "shpat_unused") -> int:
    """A stored shop connection (and its user), for tests that write rows without an OAuth install."""
    with get_engine().begin() as connection:
        user_id = connection.execute(
            sa.insert(User.__table__).values(  # type: ignore[attr-defined]
                email=f"owner@{shop_domain}", first_name="Test", last_name="Merchant", password_hash="x",
                created_at=utcnow(),
            )
        ).inserted_primary_key[0]  # fmt: skip
        return int(
            connection.execute(
                sa.insert(ShopConnection.__table__).values(  # type: ignore[attr-defined]
                    user_id=user_id,
                    shop_domain=shop_domain,
                    shop_name=shop_domain,
                    scopes="read_products",
                    access_token_enc=encrypt(access_token),
                    connected_at=utcnow(),
                    updated_at=utcnow(),
                )
            ).inserted_primary_key[0]  # fmt: skip
        )


def job_row(job_id: int) -> sa.Row:
    with get_engine().connect() as connection:
        return connection.execute(sa.select(JOBS).where(JOBS.c.id == job_id)).one()


def live_ids(shop_connection_id: int) -> tuple[list[str], list[str]]:
    """Shopify ids of the stored products and variants not marked removed (duplicates would show twice)."""
    with get_engine().connect() as connection:
        products = connection.execute(
            sa.select(PRODUCTS.c.shopify_id).where(
                PRODUCTS.c.shop_connection_id == shop_connection_id, PRODUCTS.c.removed_at.is_(None)
            )
        ).scalars()
        variants = connection.execute(
            sa.select(VARIANTS.c.shopify_id).where(
                VARIANTS.c.shop_connection_id == shop_connection_id, VARIANTS.c.removed_at.is_(None)
            )
        ).scalars()
        return list(products), list(variants)


def assert_imported_exactly(sandbox: ImportSandbox, shop_connection_id: int, job_id: int, shop: str) -> None:
    expected = sandbox.expected(shop)
    products, variants = live_ids(shop_connection_id)
    assert sorted(products) == sorted(expected.products)
    assert sorted(variants) == sorted(expected.variants)
    job = job_row(job_id)
    assert job.status == "completed", job.last_error
    assert (job.products_seen, job.variants_seen) == (len(expected.products), len(expected.variants))
    assert job.products_total == len(expected.products)
    assert job.variants_total == len(expected.variants)


@pytest.fixture
def importer(shopify: ShopifySandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[ImportSandbox]:
    monkeypatch.setattr(bulk, "POLL_FIRST_SECONDS", 0.02)
    monkeypatch.setattr(bulk, "POLL_MAX_SECONDS", 0.1)
    monkeypatch.setattr(jobs, "RETRY_BASE_SECONDS", 0.0)
    monkeypatch.setattr(store, "LEASE_SECONDS", 30.0)
    yield ImportSandbox(shopify)
