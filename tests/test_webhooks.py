"""Shopify webhooks: signature checks at the endpoint, once-only processing, out-of-order safety, uninstall and
compliance topics, and the whole loop over real HTTP (the emulator's signed deliveries reach the app's route)."""

from __future__ import annotations

import asyncio
import atexit
import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from offamazon_ui.backend import build_backend
from offamazon_ui.config import get_settings
from offamazon_ui.models import ImportJob, ShopConnection, ShopifyProduct, ShopifyVariant, WebhookDelivery
from offamazon_ui.pages.settings import describe_webhooks
from offamazon_ui.services.db import get_engine
from offamazon_ui.services.importer import enqueue_import, request_resync, run_import_job
from offamazon_ui.services.importer.readiness import SKU_MISSING
from offamazon_ui.services.importer.store import PRODUCTS, VARIANTS
from offamazon_ui.services.shopify import begin_install, complete_install, get_shop_connection
from offamazon_ui.services.shopify.connection import disconnect_shop
from offamazon_ui.services.shopify.oauth import callback_url
from offamazon_ui.services.shopify.webhooks import (
    SUBSCRIBED_TOPICS,
    list_webhook_subscriptions,
    verify_webhook_hmac,
)
from offamazon_ui.services.webhook_inbox import drain_inbox
from tests.environment import clear_caches
from tests.importer_fixtures import SMALL_SHOP, ImportSandbox, add_connection, importer, live_ids, shopify
from tests.servers import free_port, serve
from tests.shopify_fixtures import API_SECRET
from tests.shopify_fixtures import SwappableApp as _Swappable

__all__ = ["importer", "shopify"]

SHOP = "webhook-test.myshopify.com"
PRODUCT_ID = 8_000_000_000_101
PRODUCT_GID = f"gid://shopify/Product/{PRODUCT_ID}"
PROCESSING_SECONDS = 5.0
ROUND_TRIP_SECONDS = 10.0  # the "within seconds", with room for a slow CI machine
FIRST_VARIANT_OF_PRODUCT_7 = f"gid://shopify/ProductVariant/{40_000_000_000_000 + 7 * 4096 + 1}"


@cache
def _backend_server() -> tuple[str, _Swappable]:
    """One real server for the module; each test plugs in a backend built with its own settings."""
    swappable = _Swappable()
    server = serve(swappable)
    base = server.__enter__()
    atexit.register(server.__exit__, None, None, None)
    return base, swappable


@dataclass
class Backend:
    base: str
    shop_connection_id: int

    async def post(
        self, body: bytes, topic: str, *, secret: str = API_SECRET, webhook_id: str | None = None, sign: bool = True
    ) -> httpx.Response:
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-API-Version": "2026-01",
        }
        if sign:
            headers["X-Shopify-Hmac-Sha256"] = _sign(body, secret)
        async with httpx.AsyncClient() as http:
            return await http.post(f"{self.base}/webhooks/shopify", content=body, headers=headers)

    async def deliver(self, topic: str, payload: dict[str, Any], webhook_id: str | None = None) -> httpx.Response:
        response = await self.post(json.dumps(payload).encode(), topic, webhook_id=webhook_id)
        await _until_processed()
        return response


def _sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _deliveries() -> list[WebhookDelivery]:
    with Session(get_engine()) as session:
        return list(session.exec(select(WebhookDelivery)))


async def _until_processed() -> None:
    deadline = time.monotonic() + PROCESSING_SECONDS
    while any(d.processed_at is None and d.attempts == 0 for d in await asyncio.to_thread(_deliveries)):
        assert time.monotonic() < deadline, "webhook not processed in time"
        await asyncio.sleep(0.02)


@pytest.fixture
def backend(db: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    monkeypatch.setenv("SHOPIFY_API_SECRET", API_SECRET)
    clear_caches()
    base, swappable = _backend_server()
    swappable.app = build_backend(get_settings())
    yield Backend(base, add_connection(SHOP))
    swappable.app = None


def _product_payload(title: str = "Blue Mug", updated_at: str = "2026-12-01T10:00:00-05:00", **extra: Any) -> dict:
    return {
        "id": PRODUCT_ID,
        "title": title,
        "handle": "blue-mug",
        "vendor": "Acme Home",
        "product_type": "Coffee Mug",
        "status": "active",
        "tags": "gift, sale",
        "body_html": "<p>Blue.</p>",
        "updated_at": updated_at,
        "images": [{"src": "https://cdn.example.com/mug.png"}],
        "options": [{"name": "Size", "values": ["S", "L"]}],
        "variants": [
            {"id": 1, "title": "S", "sku": "MUG-S", "barcode": "036000291452", "price": "12.50",
             "compare_at_price": None, "inventory_quantity": 4, "option1": "S"},
            {"id": 2, "title": "L", "sku": "", "barcode": None, "price": "14.00",
             "compare_at_price": "16.00", "inventory_quantity": 1, "option1": "L"},
        ],
        **extra,
    }  # fmt: skip


def _product(shop_connection_id: int) -> ShopifyProduct | None:
    with Session(get_engine()) as session:
        return session.exec(
            select(ShopifyProduct).where(
                ShopifyProduct.shop_connection_id == shop_connection_id, ShopifyProduct.shopify_id == PRODUCT_GID
            )
        ).first()


def _variants(shop_connection_id: int) -> dict[str, ShopifyVariant]:
    with Session(get_engine()) as session:
        rows = session.exec(select(ShopifyVariant).where(ShopifyVariant.shop_connection_id == shop_connection_id))
        return {row.shopify_id: row for row in rows}


# --- signatures ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "expected"),
    [("valid", 200), ("tampered body", 401), ("wrong secret", 401), ("missing header", 401)],
)
async def test_only_deliveries_signed_with_the_app_secret_over_the_raw_body_are_accepted(
    backend: Backend, case: str, expected: int
) -> None:
    body = json.dumps(_product_payload()).encode()
    signature = _sign(body, "not-the-secret" if case == "wrong secret" else API_SECRET)
    sent = body.replace(b"Blue Mug", b"Free Mug") if case == "tampered body" else body
    headers = {"X-Shopify-Topic": "products/update", "X-Shopify-Shop-Domain": SHOP, "X-Shopify-Webhook-Id": case}
    if case != "missing header":
        headers["X-Shopify-Hmac-Sha256"] = signature
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{backend.base}/webhooks/shopify", content=sent, headers=headers)
    assert response.status_code == expected
    await _until_processed()
    product = _product(backend.shop_connection_id)
    if expected == 200:
        assert product is not None and product.title == "Blue Mug"
    else:
        assert product is None and _deliveries() == []


def test_signature_check_is_exact() -> None:
    body = b'{"id": 1}'
    assert verify_webhook_hmac(body, _sign(body, "s3cret"), "s3cret")
    assert not verify_webhook_hmac(body + b" ", _sign(body, "s3cret"), "s3cret")
    assert not verify_webhook_hmac(body, _sign(body, "s3cret"), "")
    assert not verify_webhook_hmac(body, "", "s3cret")


# --- products ----------------------------------------------------------------------------------------


async def test_product_update_stores_the_product_with_readiness(backend: Backend) -> None:
    response = await backend.deliver("products/update", _product_payload())
    assert response.status_code == 200
    product = _product(backend.shop_connection_id)
    assert product is not None
    assert (product.title, product.vendor, product.status) == ("Blue Mug", "Acme Home", "ACTIVE")
    assert product.tags == ["gift", "sale"]
    assert product.featured_image_url == "https://cdn.example.com/mug.png"
    assert (product.variant_count, product.price_min, product.price_max) == (2, Decimal("12.50"), Decimal("14.00"))
    variants = _variants(backend.shop_connection_id)
    large = variants["gid://shopify/ProductVariant/2"]
    assert large.problems & SKU_MISSING.bit and large.options == [{"name": "Size", "value": "L"}]
    assert product.problems & SKU_MISSING.bit


async def test_a_duplicate_delivery_is_processed_once(backend: Backend) -> None:
    first = await backend.deliver("products/update", _product_payload(), webhook_id="same-id")
    # The retry carries the same webhook id; even with another body it must not be applied again.
    second = await backend.deliver("products/update", _product_payload(title="Changed"), webhook_id="same-id")
    assert (first.status_code, second.status_code) == (200, 200)
    assert [d.webhook_id for d in _deliveries()] == ["same-id"]
    product = _product(backend.shop_connection_id)
    assert product is not None and product.title == "Blue Mug"


async def test_an_update_older_than_the_stored_one_is_ignored(backend: Backend) -> None:
    await backend.deliver("products/update", _product_payload(title="New", updated_at="2026-12-02T10:00:00Z"))
    await backend.deliver("products/update", _product_payload(title="Old", updated_at="2026-12-01T10:00:00Z"))
    product = _product(backend.shop_connection_id)
    assert product is not None and product.title == "New"
    # Same instant in another time zone offset: not older, so applied.
    await backend.deliver("products/update", _product_payload(title="Newer", updated_at="2026-12-02T05:00:00-05:00"))
    assert _product(backend.shop_connection_id).title == "Newer"  # type: ignore[union-attr]


async def test_a_delete_wins_over_a_late_update_even_before_the_product_was_known(backend: Backend) -> None:
    await backend.deliver("products/delete", {"id": PRODUCT_ID})
    await backend.deliver("products/update", _product_payload(updated_at="2026-12-09T00:00:00Z"))
    product = _product(backend.shop_connection_id)
    assert product is not None and product.removed_at is not None
    assert all(v.removed_at is not None for v in _variants(backend.shop_connection_id).values())


async def test_a_delete_marks_the_product_and_its_variants_removed(backend: Backend) -> None:
    await backend.deliver("products/create", _product_payload())
    await backend.deliver("products/delete", {"id": PRODUCT_ID})
    product = _product(backend.shop_connection_id)
    assert product is not None and product.removed_at is not None
    variants = _variants(backend.shop_connection_id)
    assert len(variants) == 2 and all(v.removed_at is not None for v in variants.values())


async def test_a_variant_no_longer_listed_is_marked_removed(backend: Backend) -> None:
    await backend.deliver("products/update", _product_payload())
    payload = _product_payload(updated_at="2026-12-02T00:00:00Z")
    payload["variants"] = payload["variants"][:1]
    await backend.deliver("products/update", payload)
    variants = _variants(backend.shop_connection_id)
    assert variants["gid://shopify/ProductVariant/2"].removed_at is not None
    assert _product(backend.shop_connection_id).variant_count == 1  # type: ignore[union-attr]


async def test_a_failing_delivery_stays_pending_and_is_retried(backend: Backend) -> None:
    response = await backend.post(b'{"no_id": true}', "products/delete")
    assert response.status_code == 200
    deadline = time.monotonic() + 5
    while not (rows := _deliveries()) or rows[0].attempts == 0:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    [row] = rows
    assert row.processed_at is None and row.last_error == "KeyError"
    await drain_inbox()
    assert _deliveries()[0].attempts == 2


# --- app and compliance topics -------------------------------------------------------------------------


def _connection(shop_connection_id: int) -> ShopConnection | None:
    with Session(get_engine()) as session:
        return session.get(ShopConnection, shop_connection_id)


async def test_uninstall_disconnects_the_shop_and_deletes_its_tokens(backend: Backend) -> None:
    await backend.deliver("products/update", _product_payload())
    await backend.deliver("app/uninstalled", {"id": 1, "myshopify_domain": SHOP})
    row = _connection(backend.shop_connection_id)
    assert row is not None and row.access_token_enc == "" and row.refresh_token_enc is None
    assert _product(backend.shop_connection_id) is not None  # kept, for a reconnect


@pytest.mark.parametrize("topic", ["customers/data_request", "customers/redact"])
async def test_customer_compliance_topics_are_acknowledged_and_logged(
    backend: Backend, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    payload = {"shop_domain": SHOP, "customer": {"id": 1, "email": "buyer@example.com"}, "orders_requested": [1]}
    response = await backend.deliver(topic, payload)
    assert response.status_code == 200
    [delivery] = _deliveries()
    assert delivery.topic == topic and delivery.processed_at is not None
    assert f"webhook {topic} for {SHOP}: no customer data held" in caplog.text
    assert _connection(backend.shop_connection_id) is not None


async def test_shop_redact_erases_the_shops_data(backend: Backend) -> None:
    await backend.deliver("products/update", _product_payload())
    with Session(get_engine()) as session:
        session.add(ImportJob(shop_connection_id=backend.shop_connection_id, status="completed"))
        session.commit()
    other = add_connection("other-shop.myshopify.com")
    await backend.deliver("shop/redact", {"shop_id": 1, "shop_domain": SHOP})
    assert _connection(backend.shop_connection_id) is None
    with Session(get_engine()) as session:
        for model in (ShopifyProduct, ShopifyVariant, ImportJob):
            assert session.exec(select(model)).all() == []
        assert [d.topic for d in session.exec(select(WebhookDelivery))] == ["shop/redact"]
    assert _connection(other) is not None


async def test_erasing_the_shop_erases_its_deliveries(backend: Backend) -> None:
    await backend.deliver("products/update", _product_payload())
    row = _connection(backend.shop_connection_id)
    assert row is not None and _deliveries()[0].shop_connection_id == backend.shop_connection_id
    assert disconnect_shop(row.user_id, keep_products=False)
    assert _deliveries() == []


async def test_malformed_deliveries_never_crash_the_endpoint(backend: Backend) -> None:
    for body in (b"", b"[]", b"not json", b'"text"', b"\xff\xfe"):
        response = await backend.post(body, "products/update")
        assert response.status_code == 400
    async with httpx.AsyncClient() as http:
        body = b"{}"
        headers = {"X-Shopify-Hmac-Sha256": _sign(body, API_SECRET)}  # no topic, shop or id
        response = await http.post(f"{backend.base}/webhooks/shopify", content=body, headers=headers)
    assert response.status_code == 400


# --- the whole loop over real HTTP ---------------------------------------------------------------------


async def _approve(authorize_url: str) -> str:
    async with httpx.AsyncClient() as http:
        page = await http.get(authorize_url)
        fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.text))
        redirect = await http.post(authorize_url, data=fields)
    return urlsplit(redirect.headers["location"]).query


def _stored_product(shop_connection_id: int, gid: str) -> Any:
    with get_engine().connect() as connection:
        return connection.execute(
            sa.select(PRODUCTS).where(PRODUCTS.c.shop_connection_id == shop_connection_id, PRODUCTS.c.shopify_id == gid)
        ).first()


def _variant_price(shop_connection_id: int, gid: str) -> Decimal | None:
    with get_engine().connect() as connection:
        return connection.execute(
            sa.select(VARIANTS.c.price).where(
                VARIANTS.c.shop_connection_id == shop_connection_id, VARIANTS.c.shopify_id == gid
            )
        ).scalar()


async def _eventually(check: Any) -> Any:
    deadline = time.monotonic() + ROUND_TRIP_SECONDS
    while not (result := await asyncio.to_thread(check)):
        assert time.monotonic() < deadline, "the change did not arrive in time"
        await asyncio.sleep(0.05)
    return result


async def test_a_product_changed_in_the_shop_reaches_the_catalog_through_signed_webhooks(
    importer: ImportSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("REFLEX_API_URL", f"http://127.0.0.1:{port}")
    clear_caches()
    settings = get_settings()
    importer.emulator.allowed_redirect_uris = (callback_url(settings),)
    importer.emulator.webhooks.retry_delays = (0.2, 0.2)
    user_id = importer.shopify.user_id
    with serve(build_backend(settings), port=port):
        await complete_install(await _approve(begin_install(user_id, SMALL_SHOP)), user_id)
        [connection] = importer.shopify.connections()
        assert connection.id is not None
        job_id = enqueue_import(connection.id)
        await run_import_job(job_id)

        subscriptions = await list_webhook_subscriptions(connection.id)
        assert {s.topic for s in subscriptions} == set(SUBSCRIBED_TOPICS)
        assert {s.callback_url for s in subscriptions} == {f"http://127.0.0.1:{port}/webhooks/shopify"}
        listed = await describe_webhooks(get_shop_connection(user_id))
        assert listed == "app/uninstalled, products/create, products/delete, products/update"

        control = f"{importer.shopify.base}/_control/shops/{SMALL_SHOP}/products"
        async with httpx.AsyncClient() as http:
            renamed = await http.post(
                control, json={"action": "update", "product_id": 8_000_000_000_001, "title": "Renamed Mug", "sku": ""}
            )
            assert renamed.status_code == 200, renamed.text
            gid = renamed.json()["product_id"]
            await _eventually(lambda: (r := _stored_product(connection.id, gid)) and r.title == "Renamed Mug")
            product = _stored_product(connection.id, gid)
            assert product.problems & SKU_MISSING.bit and product.shopify_updated_at is not None

            # Product 7 has 120 variants, more than a webhook lists: the app fetches the rest through GraphQL.
            await http.post(control, json={"action": "update", "product_id": 8_000_000_000_008, "price": "9.99"})
            await _eventually(lambda: _variant_price(connection.id, FIRST_VARIANT_OF_PRODUCT_7) == Decimal("9.99"))
            assert _stored_product(connection.id, "gid://shopify/Product/8000000000008").variant_count == 120

            deleted = await http.post(control, json={"action": "delete", "product_id": 8_000_000_000_002})
            await _eventually(lambda: _stored_product(connection.id, deleted.json()["product_id"]).removed_at)

            created = (await http.post(control, json={"action": "create", "title": "Brand New Lamp"})).json()
            await _eventually(lambda: _stored_product(connection.id, created["product_id"]))

            # GraphQL and bulk reads see the same changes, so a full re-sync agrees with the webhooks.
            await run_import_job(request_resync(connection.id))
            assert _stored_product(connection.id, gid).title == "Renamed Mug"
            assert _stored_product(connection.id, deleted.json()["product_id"]).removed_at is not None
            assert _stored_product(connection.id, created["product_id"]).title == "Brand New Lamp"
            assert len(live_ids(connection.id)[0]) == 40  # 40 generated, one deleted, one created

            await http.post(control, json={"action": "uninstall"})
            await _eventually(lambda: importer.shopify.connections()[0].access_token_enc == "")
            attempts = (await http.get(f"{importer.shopify.base}/_control/webhooks")).json()
    assert len(attempts) == 5 and all(attempt["status"] == 200 for attempt in attempts)
