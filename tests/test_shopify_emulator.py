"""The emulator itself: mounting under a prefix, control routes, catalogs."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from offamazon_ui.sandbox.shopify import build_shopify_emulator
from offamazon_ui.sandbox.shopify.catalog import Catalog, demo_small, gtin_check_digit, is_valid_gtin
from offamazon_ui.services.shopify import ShopifyClient, begin_install, complete_install
from tests.environment import clear_caches
from tests.shopify_fixtures import SMALL_SHOP, ShopifySandbox, approve_install, shared_server, shopify

__all__ = ["shopify"]


async def test_mounted_under_a_prefix_every_generated_url_keeps_the_prefix(
    shopify: ShopifySandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, swappable = shared_server()
    emulator_app = swappable.app
    assert emulator_app is not None
    swappable.app = Starlette(routes=[Mount("/sandbox/shopify", app=emulator_app)])
    prefix = f"{base}/sandbox/shopify"
    monkeypatch.setenv("OFFAMAZON_SHOPIFY_URL", f"{prefix}/{{shop}}")
    clear_caches()

    authorize_url = begin_install(shopify.user_id, SMALL_SHOP)
    assert authorize_url.startswith(f"{prefix}/{SMALL_SHOP}/admin/oauth/authorize?")
    await complete_install(await approve_install(authorize_url), shopify.user_id)
    [row] = shopify.connections()
    assert row.id is not None
    async with await ShopifyClient.for_connection(row.id) as client:
        image = await client.query(
            "{ products(first: 1) { nodes { featuredMedia { ... on MediaImage { image { url } } } } } }"
        )
        operation = await client.start_bulk_query("{ products { edges { node { id } } } }")
        finished = await client.wait_for_bulk_operation(operation.id, poll_interval=0.05, max_wait=30)
        lines = [line async for line in client.iter_bulk_results(finished.url)]
    assert image["products"]["nodes"][0]["featuredMedia"]["image"]["url"].startswith(
        f"{prefix}/{SMALL_SHOP}/cdn/images/"
    )
    assert finished.url is not None and finished.url.startswith(f"{prefix}/{SMALL_SHOP}/bulk/")
    assert len(lines) == 40


async def test_control_routes_turn_the_same_knobs(shopify: ShopifySandbox) -> None:
    control = f"{shopify.base}/_control"
    async with httpx.AsyncClient() as http:
        created = await http.post(
            f"{control}/shops", json={"domain": "tiny.myshopify.com", "name": "Tiny", "product_count": 3}
        )
        bad = await http.post(f"{control}/shops", json={"domain": "evil.com"})
        fault = await http.post(
            f"{control}/shops/tiny.myshopify.com/faults", json={"route": "graphql", "status": 500, "times": 2}
        )
        frozen = await http.post(
            f"{control}/shops/tiny.myshopify.com", json={"frozen": True, "drain_bucket_seconds": 0}
        )
        unknown = await http.post(f"{control}/shops/tiny.myshopify.com", json={"colour": "red"})
        graphql = await http.post(
            f"{shopify.base}/tiny.myshopify.com/admin/api/2026-07/graphql.json", json={"query": "{shop{name}}"}
        )
        log = await http.get(f"{control}/requests", params={"route": "graphql"})
        reset = await http.post(f"{control}/reset")
    assert (created.status_code, bad.status_code, fault.status_code, frozen.status_code) == (200, 400, 200, 200)
    assert unknown.status_code == 400
    assert graphql.status_code == 500
    assert log.json() == [
        {"route": "graphql", "shop": "tiny.myshopify.com", "method": "POST", "status": 500, "outcome": "fault"}
    ]
    assert reset.status_code == 200 and shopify.emulator.shop("tiny.myshopify.com") is None
    assert shopify.emulator.requests() == []


async def test_graphql_needs_a_valid_token_and_a_known_shop(shopify: ShopifySandbox) -> None:
    async with httpx.AsyncClient() as http:
        no_token = await http.post(
            f"{shopify.base}/{SMALL_SHOP}/admin/api/2026-07/graphql.json", json={"query": "{shop{name}}"}
        )
        no_shop = await http.post(
            f"{shopify.base}/nope.myshopify.com/admin/api/2026-07/graphql.json", json={"query": "{shop{name}}"}
        )
    assert no_token.status_code == 401
    assert no_token.json() == {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
    assert no_shop.status_code == 404 and no_shop.json() == {"errors": "Not Found"}


async def test_slow_shops_and_one_off_delays(shopify: ShopifySandbox) -> None:
    shopify.emulator.configure_shop(SMALL_SHOP, latency=0.2)
    shopify.emulator.inject_fault(SMALL_SHOP, "graphql", kind="delay", seconds=0.2)
    async with httpx.AsyncClient() as http:
        started = time.monotonic()
        await http.post(f"{shopify.base}/{SMALL_SHOP}/admin/api/2026-07/graphql.json", json={"query": "{shop{name}}"})
        assert time.monotonic() - started >= 0.4
        started = time.monotonic()
        await http.post(f"{shopify.base}/{SMALL_SHOP}/admin/api/2026-07/graphql.json", json={"query": "{shop{name}}"})
        assert 0.2 <= time.monotonic() - started < 0.4


def test_builder_takes_credentials_redirects_and_bucket_settings() -> None:
    app = build_shopify_emulator("key", "secret", ["https://app.example/cb"], ["read_products"], restore_rate=5.0)
    emulator = app.state.emulator
    try:
        assert emulator.allowed_redirect_uris == ("https://app.example/cb",)
        assert emulator.scopes_granted == ("read_products",)
        shop = emulator.shop(SMALL_SHOP)
        assert shop is not None and shop.bucket.status()["restoreRate"] == 5.0
        assert emulator.shop("demo-large.myshopify.com").catalog.product_count == 20_000
    finally:
        emulator.close()


def test_catalogs_are_deterministic_and_messy_like_real_shops() -> None:
    first, second = demo_small(), demo_small()
    assert [first.product(i) for i in range(40)] == [second.product(i) for i in range(40)]
    assert first.variant(23, 260) == second.variant(23, 260)
    assert Catalog("other", 40).product(0) != first.product(0)
    variants = [first.variant(i, p) for i in range(40) for p in range(1, first.product(i).variant_count + 1)]
    assert all(v.price.count(".") == 1 and len(v.price.split(".")[1]) == 2 for v in variants)
    assert len({v.title for v in variants if v.product_index == 23}) == 260
    assert {first.product(i).status for i in range(40)} <= {"ACTIVE", "DRAFT", "ARCHIVED", "UNLISTED"}


def test_gtin_check_digits() -> None:
    assert gtin_check_digit("03600029145") == "2" and is_valid_gtin("036000291452")  # UPC-A
    assert is_valid_gtin("4006381333931")  # EAN-13
    assert not is_valid_gtin("4006381333932") and not is_valid_gtin("N/A") and not is_valid_gtin("12345")


def test_the_apps_own_sandbox_treats_any_shop_name_as_a_shop(app_env: Path) -> None:
    from offamazon_ui.config import get_settings
    from offamazon_ui.sandbox.shopify import build_shopify_emulator_for_settings

    emulator = build_shopify_emulator_for_settings(get_settings()).state.emulator
    shop = emulator.shop("my-demo-store.myshopify.com")
    assert shop is not None and shop.name == "My Demo Store (sandbox)"
    assert emulator.shop("my-demo-store.myshopify.com") is shop
    assert emulator.shop("evil.com") is None
