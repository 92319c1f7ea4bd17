"""The Admin GraphQL client against the emulator: cost, throttling, retries, errors, pagination, bulk."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from offamazon_ui.models import ShopConnection, utcnow
from offamazon_ui.sandbox.shopify.catalog import is_valid_gtin
from offamazon_ui.services.crypto import decrypt
from offamazon_ui.services.db import get_engine
from offamazon_ui.services.shopify import ShopifyClient, begin_install, complete_install, get_access_token
from offamazon_ui.services.shopify.errors import (
    BulkOperationFailed,
    BulkOperationInProgress,
    GraphQLQueryError,
    QueryCostExceeded,
    ReconnectRequired,
    ShopifyAccessDenied,
    ShopifyUnreachable,
    ShopifyUserErrors,
    ShopUnavailable,
)
from offamazon_ui.services.shopify.graphql import BULK_PRODUCTS_QUERY, static_token
from tests.shopify_fixtures import API_KEY, SMALL_SHOP, ShopifySandbox, approve_install, shopify

__all__ = ["shopify"]

CUSTOM_SHOP = "custom-store.myshopify.com"


async def _connect(shopify: ShopifySandbox, shop: str = SMALL_SHOP) -> int:
    await complete_install(await approve_install(begin_install(shopify.user_id, shop)), shopify.user_id)
    [row] = shopify.connections()
    assert row.id is not None
    return row.id


def _token_for(shopify: ShopifySandbox, shop: str, scopes: tuple[str, ...] = ("read_products",)) -> str:
    emulated = shopify.emulator.shop(shop)
    assert emulated is not None
    grant = shopify.emulator.redeem_code(
        emulated, shopify.emulator.issue_code(emulated, API_KEY, scopes), expiring=False
    )
    assert grant is not None
    return str(grant["access_token"])


def _client(
    shopify: ShopifySandbox, shop: str = SMALL_SHOP, scopes: tuple[str, ...] = ("read_products",)
) -> ShopifyClient:
    return ShopifyClient(shop, static_token(_token_for(shopify, shop, scopes)))


def _outcomes(shopify: ShopifySandbox) -> list[str]:
    return [r.outcome for r in shopify.emulator.requests("graphql")]


async def _raw(shopify: ShopifySandbox, query: str, shop: str = SMALL_SHOP) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{shopify.base}/{shop}/admin/api/2026-07/graphql.json",
            json={"query": query},
            headers={"X-Shopify-Access-Token": _token_for(shopify, shop)},
        )
    assert response.status_code == 200
    return dict(response.json())


# --- schema, cost and errors ----------------------------------------------------------------------------


async def test_unknown_field_is_a_validation_error_in_shopifys_shape(shopify: ShopifySandbox) -> None:
    body = await _raw(shopify, "{ products(first: 1) { nodes { id colour } } }")
    [error] = body["errors"]
    assert error["message"] == "Field 'colour' doesn't exist on type 'Product'"
    assert error["extensions"] == {"code": "undefinedField", "typeName": "Product", "fieldName": "colour"}
    assert error["locations"] == [{"line": 1, "column": 35}]
    assert "data" not in body
    async with _client(shopify) as client:
        with pytest.raises(GraphQLQueryError) as caught:
            await client.query("{ shop { nme } }")
    assert caught.value.errors[0]["extensions"]["code"] == "undefinedField"
    assert "contact support" in caught.value.message


async def test_every_answer_reports_its_cost(shopify: ShopifySandbox) -> None:
    shop = await _raw(shopify, "{ shop { name myshopifyDomain } }")
    assert shop["data"]["shop"] == {"name": "Demo Small Shop", "myshopifyDomain": SMALL_SHOP}
    cost = shop["extensions"]["cost"]
    assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (1, 1)
    throttle = cost["throttleStatus"]
    assert throttle["maximumAvailable"] == 2000.0 and throttle["restoreRate"] == 100.0
    assert isinstance(throttle["currentlyAvailable"], int) and 1990 <= throttle["currentlyAvailable"] <= 2000

    # 2 + 50 × (product 1 + variants 2 + 5 × (variant 1 + selectedOptions 1)); actual counts what came back.
    products = await _raw(
        shopify, "{ products(first: 50) { nodes { id variants(first: 5) { nodes { id selectedOptions { name } } } } } }"
    )
    cost = products["extensions"]["cost"]
    returned = products["data"]["products"]["nodes"]
    assert cost["requestedQueryCost"] == 2 + 50 * (1 + 2 + 5 * 2)
    assert cost["actualQueryCost"] == 2 + sum(1 + 2 + 2 * len(p["variants"]["nodes"]) for p in returned)
    assert len(returned) == 40

    validation = await _raw(shopify, "{ shop { nope } }")
    assert validation["extensions"]["cost"]["requestedQueryCost"] == 0


async def test_connections_need_a_page_size(shopify: ShopifySandbox) -> None:
    body = await _raw(shopify, "{ products { nodes { id } } }")
    assert body["errors"][0]["message"] == "you must provide one of first or last"


async def test_queries_over_1000_points_raise_max_cost_exceeded(shopify: ShopifySandbox) -> None:
    async with _client(shopify) as client:
        with pytest.raises(QueryCostExceeded) as caught:
            await client.query("{ products(first: 250) { nodes { id variants(first: 250) { nodes { id } } } } }")
    assert caught.value.cost == 2 + 250 * (1 + 2 + 250) and caught.value.max_cost == 1000
    assert "exceeds the single query max cost limit" in caught.value.errors[0]["message"]
    assert _outcomes(shopify) == ["max_cost"]


async def test_missing_read_products_scope_is_access_denied(shopify: ShopifySandbox) -> None:
    async with _client(shopify, scopes=("read_inventory",)) as client:
        assert (await client.fetch_shop()).name == "Demo Small Shop"
        with pytest.raises(ShopifyAccessDenied) as caught:
            await client.count_products()
    assert "permission to read products" in caught.value.message


@pytest.mark.parametrize(("setting", "code"), [("frozen", "shop_frozen"), ("locked", "shop_locked")])
async def test_frozen_and_locked_shops_raise_shop_unavailable(shopify: ShopifySandbox, setting: str, code: str) -> None:
    shopify.emulator.configure_shop(SMALL_SHOP, **{setting: True})
    async with _client(shopify) as client:
        with pytest.raises(ShopUnavailable) as caught:
            await client.fetch_shop()
    assert caught.value.code == code


# --- throttling and retries ---------------------------------------------------------------------------


async def test_throttled_request_waits_for_the_bucket_and_retries(shopify: ShopifySandbox) -> None:
    shopify.emulator.configure_shop(SMALL_SHOP, restore_rate=500.0)
    async with _client(shopify) as client:
        shopify.emulator.drain_bucket(SMALL_SHOP)
        data = await client.query("{ products(first: 40) { nodes { id } } }")
    assert len(data["products"]["nodes"]) == 40
    assert _outcomes(shopify) == ["throttled", "ok"]


async def test_client_paces_requests_so_it_is_not_throttled(shopify: ShopifySandbox) -> None:
    shopify.emulator.configure_shop(SMALL_SHOP, bucket_maximum=100.0, restore_rate=50.0)
    query = "{ products(first: 38) { nodes { id } } }"  # costs 40 requested and actual
    started = time.monotonic()
    async with _client(shopify) as client:
        for _ in range(3):
            await client.query(query)
            assert client.last_cost is not None and client.last_cost.actual == 40
    assert _outcomes(shopify) == ["ok"] * 3
    assert time.monotonic() - started >= 0.35  # the third query waited for 20 points at 50 per second


async def test_a_throttling_storm_is_ridden_out(shopify: ShopifySandbox) -> None:
    shopify.emulator.drain_bucket(SMALL_SHOP, hold_seconds=0.3)
    async with _client(shopify) as client:
        assert (await client.fetch_shop()).name == "Demo Small Shop"
    outcomes = _outcomes(shopify)
    assert outcomes[0] == "throttled" and outcomes[-1] == "ok"


async def test_429_5xx_and_dropped_connections_are_retried(shopify: ShopifySandbox) -> None:
    shopify.emulator.inject_fault(SMALL_SHOP, "graphql", status=503)
    shopify.emulator.inject_fault(SMALL_SHOP, "graphql", status=429, seconds=0.05)
    shopify.emulator.inject_fault(SMALL_SHOP, "graphql", kind="drop")
    shopify.emulator.inject_fault(SMALL_SHOP, "graphql", status=500)
    async with _client(shopify) as client:
        assert (await client.fetch_shop()).name == "Demo Small Shop"
    assert [(r.status, r.outcome) for r in shopify.emulator.requests("graphql")] == [
        (503, "fault"),
        (429, "fault"),
        (200, "dropped"),
        (500, "fault"),
        (200, "ok"),
    ]


async def test_persistent_server_errors_end_in_a_try_later_message(shopify: ShopifySandbox) -> None:
    shopify.emulator.inject_fault(SMALL_SHOP, "graphql", status=502, times=20)
    async with _client(shopify) as client:
        with pytest.raises(ShopifyUnreachable) as caught:
            await client.fetch_shop()
    assert "try again" in caught.value.message
    assert len(shopify.emulator.requests("graphql")) == 5


# --- tokens: refresh before expiry and once on 401 ------------------------------------------------------------


def _set_expiry(connection_id: int, delta: timedelta) -> None:
    with Session(get_engine()) as session:
        row = session.get(ShopConnection, connection_id)
        assert row is not None
        row.access_expires_at = utcnow() + delta
        session.add(row)
        session.commit()


def _stored_token(connection_id: int) -> str:
    with Session(get_engine()) as session:
        row = session.get(ShopConnection, connection_id)
        assert row is not None
        return decrypt(row.access_token_enc)


async def test_token_is_refreshed_shortly_before_it_expires(shopify: ShopifySandbox) -> None:
    connection_id = await _connect(shopify)
    original = _stored_token(connection_id)
    assert await get_access_token(connection_id) == original

    _set_expiry(connection_id, timedelta(minutes=2))
    refreshed = await get_access_token(connection_id)

    assert refreshed != original and refreshed == _stored_token(connection_id)
    assert await get_access_token(connection_id) == refreshed
    assert len(shopify.emulator.requests("access_token")) == 2
    async with await ShopifyClient.for_connection(connection_id) as client:
        assert (await client.fetch_shop()).name == "Demo Small Shop"


async def test_client_refreshes_once_when_shopify_answers_401(shopify: ShopifySandbox) -> None:
    connection_id = await _connect(shopify)
    shopify.emulator.revoke_access_tokens(SMALL_SHOP)
    async with await ShopifyClient.for_connection(connection_id) as client:
        assert (await client.fetch_shop()).name == "Demo Small Shop"
    assert [r.status for r in shopify.emulator.requests("graphql")][-2:] == [401, 200]
    assert len(shopify.emulator.requests("access_token")) == 2


async def test_rejected_refresh_asks_the_merchant_to_reconnect(shopify: ShopifySandbox) -> None:
    connection_id = await _connect(shopify)
    shopify.emulator.revoke_access_tokens(SMALL_SHOP)
    shopify.emulator.revoke_refresh_tokens(SMALL_SHOP)
    async with await ShopifyClient.for_connection(connection_id) as client:
        with pytest.raises(ReconnectRequired) as caught:
            await client.fetch_shop()
    assert "reconnect" in caught.value.message.lower()
    assert _stored_token(connection_id) not in caught.value.message


# --- reading products --------------------------------------------------------------------------------------


async def test_paginated_products_include_every_variant(shopify: ShopifySandbox) -> None:
    async with _client(shopify) as client:
        products = [product async for product in client.iter_products(page_size=7, variants_page_size=25)]
        assert await client.count_products() == 40
        assert await client.count_variants() == sum(p["variantsCount"]["count"] for p in products)
    assert len(products) == 40 and len({p["id"] for p in products}) == 40
    by_count = {p["variantsCount"]["count"]: p for p in products}
    assert len(by_count[260]["variants"]) == 260 and len(by_count[120]["variants"]) == 120
    assert all(len(p["variants"]) == p["variantsCount"]["count"] for p in products)
    assert len({v["id"] for p in products for v in p["variants"]}) == sum(len(p["variants"]) for p in products)
    variants = [v for p in products for v in p["variants"]]
    assert {p["status"] for p in products} >= {"ACTIVE", "DRAFT", "ARCHIVED"}
    assert any(v["sku"] is None for v in variants) and any(v["barcode"] is None for v in variants)
    barcodes = [v["barcode"] for v in variants if v["barcode"] and v["barcode"].isdigit() and len(v["barcode"]) >= 12]
    assert any(is_valid_gtin(b) for b in barcodes) and any(not is_valid_gtin(b) for b in barcodes)
    assert any(len(p["title"]) > 200 for p in products)
    image_url = next(p["featuredMedia"]["image"]["url"] for p in products if p["featuredMedia"])
    assert image_url.startswith(f"{shopify.base}/{SMALL_SHOP}/cdn/images/")
    async with httpx.AsyncClient() as http:
        assert (await http.get(image_url)).headers["content-type"].startswith("image/svg+xml")


async def test_status_filter_and_a_page_too_costly_for_shopify(shopify: ShopifySandbox) -> None:
    async with _client(shopify) as client:
        active = [p async for p in client.iter_products(page_size=30, search="status:active")]
    assert active and all(p["status"] == "ACTIVE" for p in active)
    assert len(active) == len({p["id"] for p in active})
    assert _outcomes(shopify)[0] == "max_cost" and set(_outcomes(shopify)[1:]) == {"ok"}


async def test_the_large_demo_shop_is_served_lazily(shopify: ShopifySandbox) -> None:
    large = "demo-large.myshopify.com"
    async with _client(shopify, shop=large) as client:
        started = time.monotonic()
        assert await client.count_products() == 20_000
        page = await client.query(
            "query($id: ID!) { product(id: $id) { title variantsCount { count } } }",
            {"id": "gid://shopify/Product/8000000020000"},
        )
        assert time.monotonic() - started < 2
    assert page["product"]["variantsCount"]["count"] == 3


# --- bulk operations ---------------------------------------------------------------------------------------


async def _finished_bulk(client: ShopifyClient, query: str = BULK_PRODUCTS_QUERY) -> list[dict[str, Any]]:
    operation = await client.start_bulk_query(query)
    assert operation.status in ("CREATED", "RUNNING")
    finished = await client.wait_for_bulk_operation(operation.id, poll_interval=0.05, max_wait=30)
    lines = [line async for line in client.iter_bulk_results(finished.url)]
    assert finished.object_count == len(lines)
    return lines


async def test_bulk_export_writes_children_as_lines_with_parent_ids(shopify: ShopifySandbox) -> None:
    shopify.emulator.add_shop(CUSTOM_SHOP, "Custom Store", product_count=600, variants_per_product=2)
    async with _client(shopify, shop=CUSTOM_SHOP) as client:
        lines = await _finished_bulk(client)
        finished = await client.current_bulk_operation()
    products = [line for line in lines if "__parentId" not in line]
    variants = [line for line in lines if "__parentId" in line]
    assert len(products) == 600 and len(variants) == 1200
    product_ids = {p["id"] for p in products}
    assert len(product_ids) == 600 and all(v["__parentId"] in product_ids for v in variants)
    assert all(v["id"].startswith("gid://shopify/ProductVariant/") for v in variants)
    assert "variants" not in products[0] and "featuredMedia" in products[0]
    assert finished is not None and finished.status == "COMPLETED" and finished.root_object_count == 600
    assert finished.url is not None and finished.url.startswith(f"{shopify.base}/{CUSTOM_SHOP}/bulk/")
    assert finished.file_size is not None and finished.file_size > 0


async def test_bulk_export_has_no_page_limits_on_nested_connections(shopify: ShopifySandbox) -> None:
    async with _client(shopify) as client:
        lines = await _finished_bulk(client)
    counts: dict[str, int] = {}
    for line in lines:
        if "__parentId" in line:
            counts[line["__parentId"]] = counts.get(line["__parentId"], 0) + 1
    assert sorted(counts.values())[-2:] == [120, 260]


async def test_bulk_download_resumes_after_a_dropped_connection(shopify: ShopifySandbox) -> None:
    async with _client(shopify) as client:
        complete = await _finished_bulk(client)
        operation = await client.current_bulk_operation()
        assert operation is not None
        shopify.emulator.inject_fault(SMALL_SHOP, "bulk_download", kind="drop", after_bytes=5000)
        resumed = [line async for line in client.iter_bulk_results(operation.url)]
    assert resumed == complete
    assert [(r.status, r.outcome) for r in shopify.emulator.requests("bulk_download")][-2:] == [
        (200, "dropped"),
        (206, "ok"),
    ]


async def test_one_bulk_query_at_a_time(shopify: ShopifySandbox) -> None:
    shopify.emulator.configure_shop(SMALL_SHOP, bulk_outcome="hang")
    async with _client(shopify) as client:
        first = await client.start_bulk_query()
        assert (await client.start_bulk_query()).id == first.id  # our own retry gets the running one back
        with pytest.raises(BulkOperationInProgress) as caught:
            await client.start_bulk_query("{ products { edges { node { id } } } }")
    assert "already in progress" in caught.value.user_errors[0]["message"]
    assert caught.value.user_errors[0]["code"] == "OPERATION_IN_PROGRESS"


async def test_failed_bulk_operation_raises_with_partial_data(shopify: ShopifySandbox) -> None:
    shopify.emulator.add_shop(CUSTOM_SHOP, "Custom Store", product_count=300, variants_per_product=1)
    shopify.emulator.configure_shop(CUSTOM_SHOP, bulk_outcome="fail")
    async with _client(shopify, shop=CUSTOM_SHOP) as client:
        operation = await client.start_bulk_query()
        with pytest.raises(BulkOperationFailed) as caught:
            await client.wait_for_bulk_operation(operation.id, poll_interval=0.05, max_wait=30)
        failed = await client.get_bulk_operation(operation.id)
    assert caught.value.error_code == "INTERNAL_SERVER_ERROR"
    assert failed.status == "FAILED" and failed.partial_data_url is not None and failed.url is None


@pytest.mark.parametrize(("query", "message"), [
    ('{ node(id: "gid://shopify/Product/1") { id } }', "top level `node`"),
    ("{ shop { name } }", "at least one connection"),
    ("{ products { edges { node { title variants { edges { node { id } } } } } } }", "must select the 'id' field"),
    ("{ products { edges { node { id colour } } } }", "Invalid bulk query"),
])  # fmt: skip
async def test_invalid_bulk_queries_are_user_errors(shopify: ShopifySandbox, query: str, message: str) -> None:
    async with _client(shopify) as client:
        with pytest.raises(ShopifyUserErrors) as caught:
            await client.start_bulk_query(query)
    assert message in caught.value.user_errors[0]["message"]
    assert caught.value.user_errors[0]["code"] == "INVALID"
