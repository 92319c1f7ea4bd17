"""Async client for the Shopify Admin GraphQL API, reusable by the product importer.

Shopify throttles GraphQL with a leaky bucket of query-cost points per app and
store, and reports a throttled request as HTTP 200 with an error code
THROTTLED, which retry logic that only looks at status codes misses. This
client reads `extensions.cost.throttleStatus` from every answer, waits before
sending a query the bucket cannot afford, retries THROTTLED after the time the
bucket needs to refill, and retries 429, 5xx and dropped connections with
exponential backoff and jitter. Other GraphQL errors become typed exceptions.
On HTTP 401 it asks its token provider for a fresh token once.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from offamazon_ui.config import Settings, get_settings
from offamazon_ui.services.shopify.errors import (
    BulkOperationFailed,
    BulkOperationInProgress,
    BulkOperationTimedOut,
    GraphQLQueryError,
    QueryCostExceeded,
    ReconnectRequired,
    ShopifyAccessDenied,
    ShopifyUnreachable,
    ShopifyUserErrors,
    shop_status_error,
)
from offamazon_ui.services.shopify.retry import RETRYABLE_STATUSES, RetryPolicy, retry_after_seconds

GRAPHQL_RETRY = RetryPolicy(attempts=8, base_delay=0.5, max_delay=30.0)
HTTP_TIMEOUT = httpx.Timeout(60.0, connect=10.0)

# Given the token Shopify just rejected (or None), returns a token to use.
TokenProvider = Callable[[str | None], Awaitable[str]]


def static_token(access_token: str) -> TokenProvider:
    """A provider for a token that cannot be refreshed (e.g. straight after the install)."""

    async def provide(rejected_token: str | None) -> str:
        if rejected_token is not None:
            raise ReconnectRequired("Shopify did not accept the new access. Please connect your store again.")
        return access_token

    return provide


def admin_graphql_url(settings: Settings, shop_domain: str) -> str:
    return f"{settings.shop_base_url(shop_domain)}/admin/api/{settings.shopify_api_version}/graphql.json"


@dataclass(frozen=True)
class ThrottleStatus:
    maximum_available: float
    currently_available: float
    restore_rate: float


@dataclass(frozen=True)
class QueryCost:
    requested: int | None
    actual: int | None
    throttle: ThrottleStatus | None


@dataclass(frozen=True)
class GraphQLResponse:
    data: dict[str, Any]
    cost: QueryCost | None


@dataclass(frozen=True)
class ShopInfo:
    name: str
    myshopify_domain: str


BULK_TERMINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "CANCELED", "EXPIRED"})
BULK_OPERATION_FIELDS = (
    "id status errorCode createdAt completedAt objectCount rootObjectCount fileSize url partialDataUrl query"
)


@dataclass(frozen=True)
class BulkOperation:
    id: str
    status: str
    error_code: str | None
    object_count: int
    root_object_count: int
    file_size: int | None
    url: str | None
    partial_data_url: str | None
    query: str | None

    @property
    def finished(self) -> bool:
        return self.status in BULK_TERMINAL_STATUSES

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> BulkOperation:
        # UnsignedInt64 fields arrive as strings.
        return cls(
            id=payload["id"],
            status=payload["status"],
            error_code=payload.get("errorCode"),
            object_count=int(payload.get("objectCount") or 0),
            root_object_count=int(payload.get("rootObjectCount") or 0),
            file_size=int(payload["fileSize"]) if payload.get("fileSize") is not None else None,
            url=payload.get("url"),
            partial_data_url=payload.get("partialDataUrl"),
            query=payload.get("query"),
        )


PRODUCT_FIELDS = """
fragment ProductFields on Product {
  id legacyResourceId title handle vendor productType status tags descriptionHtml createdAt updatedAt
  featuredMedia { ... on MediaImage { image { url altText } } }
  variantsCount { count }
}"""
VARIANT_FIELDS = """
fragment VariantFields on ProductVariant {
  id legacyResourceId title sku barcode price compareAtPrice inventoryQuantity selectedOptions { name value }
}"""
PRODUCTS_PAGE_QUERY = (
    """
query ProductsPage($first: Int!, $after: String, $variantsFirst: Int!, $search: String) {
  products(first: $first, after: $after, sortKey: ID, query: $search) {
    pageInfo { hasNextPage endCursor }
    nodes {
      ...ProductFields
      variants(first: $variantsFirst) { pageInfo { hasNextPage endCursor } nodes { ...VariantFields } }
    }
  }
}"""
    + PRODUCT_FIELDS
    + VARIANT_FIELDS
)
PRODUCT_VARIANTS_QUERY = (
    """
query ProductVariants($id: ID!, $first: Int!, $after: String) {
  product(id: $id) {
    variants(first: $first, after: $after) { pageInfo { hasNextPage endCursor } nodes { ...VariantFields } }
  }
}"""
    + VARIANT_FIELDS
)
PRODUCT_QUERY = (
    """
query Product($id: ID!, $variantsFirst: Int!) {
  product(id: $id) {
    ...ProductFields
    variants(first: $variantsFirst) { pageInfo { hasNextPage endCursor } nodes { ...VariantFields } }
  }
}"""
    + PRODUCT_FIELDS
    + VARIANT_FIELDS
)
# Bulk queries have no `first`: Shopify walks every connection to the end.
BULK_PRODUCTS_QUERY = """
{
  products {
    edges { node {
      id legacyResourceId title handle vendor productType status tags descriptionHtml createdAt updatedAt
      featuredMedia { ... on MediaImage { image { url altText } } }
      variants { edges { node {
        id legacyResourceId title sku barcode price compareAtPrice inventoryQuantity selectedOptions { name value }
      } } }
    } }
  }
}"""
MAX_VARIANTS_PAGE = 250


class _BucketEstimate:
    """Our view of one shop's leaky bucket, shared by every client of that shop in this process."""

    def __init__(self) -> None:
        self.status: ThrottleStatus | None = None
        self.available = 0.0
        self.observed_at = 0.0

    def observe(self, status: ThrottleStatus) -> None:
        self.status = status
        self.available = status.currently_available
        self.observed_at = time.monotonic()

    def _available_now(self, status: ThrottleStatus) -> float:
        refilled = self.available + status.restore_rate * (time.monotonic() - self.observed_at)
        return min(status.maximum_available, refilled)

    def seconds_until_affordable(self, cost: int) -> float:
        status = self.status
        if status is None or status.restore_rate <= 0 or cost > status.maximum_available:
            return 0.0
        return max(0.0, (cost - self._available_now(status)) / status.restore_rate)

    def spend(self, cost: int) -> None:
        if self.status is not None:
            self.available = self._available_now(self.status) - cost
            self.observed_at = time.monotonic()


_buckets: dict[str, _BucketEstimate] = {}


def _parse_cost(extensions: Any) -> QueryCost | None:
    cost = extensions.get("cost") if isinstance(extensions, dict) else None
    if not isinstance(cost, dict):
        return None
    throttle = cost.get("throttleStatus")
    status = None
    if isinstance(throttle, dict):
        status = ThrottleStatus(
            maximum_available=float(throttle.get("maximumAvailable") or 0),
            currently_available=float(throttle.get("currentlyAvailable") or 0),
            restore_rate=float(throttle.get("restoreRate") or 0),
        )
    requested, actual = cost.get("requestedQueryCost"), cost.get("actualQueryCost")
    return QueryCost(
        requested=int(requested) if requested is not None else None,
        actual=int(actual) if actual is not None else None,
        throttle=status,
    )


def _error_codes(errors: list[dict[str, Any]]) -> set[str]:
    return {str((error.get("extensions") or {}).get("code")) for error in errors if isinstance(error, dict)}


class _Transient(Exception):
    """An answer worth retrying; `wait` overrides the backoff when Shopify tells how long to wait."""

    def __init__(self, wait: float | None = None, throttled: bool = False) -> None:
        self.wait = wait
        self.throttled = throttled


class ShopifyClient:
    """One shop's Admin GraphQL API. Use as `async with ShopifyClient(...) as client:`."""

    def __init__(
        self,
        shop_domain: str,
        token_provider: TokenProvider,
        *,
        settings: Settings | None = None,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.shop_domain = shop_domain
        self.url = admin_graphql_url(self.settings, shop_domain)
        self._token_provider = token_provider
        self._http = http or httpx.AsyncClient(timeout=HTTP_TIMEOUT)
        self._owns_http = http is None
        self.retry = retry or GRAPHQL_RETRY
        self._bucket = _buckets.setdefault(self.settings.shop_base_url(shop_domain), _BucketEstimate())
        self._expected_costs: dict[str, int] = {}
        self.last_cost: QueryCost | None = None

    @classmethod
    async def for_connection(cls, shop_connection_id: int, **options: Any) -> ShopifyClient:
        """A client for a stored connection, refreshing its token as needed."""
        from offamazon_ui.services.shopify.connection import connection_shop_domain, get_access_token

        settings = options.get("settings")
        shop_domain = await asyncio.to_thread(connection_shop_domain, shop_connection_id)

        async def provide(rejected_token: str | None) -> str:
            return await get_access_token(shop_connection_id, rejected_token=rejected_token, settings=settings)

        return cls(shop_domain, provide, **options)

    async def __aenter__(self) -> ShopifyClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> GraphQLResponse:
        """Run a query or mutation; returns data and cost, raises a ShopifyError subclass on failure."""
        body: dict[str, Any] = {"query": query}
        if variables:
            body["variables"] = variables
        token = await self._token_provider(None)
        token_refreshed = False
        throttled = False
        for attempt in range(1, self.retry.attempts + 1):
            await self._pace(query)
            try:
                return await self._send(body, query, token)
            except _Transient as transient:
                throttled = transient.throttled
                wait = transient.wait if transient.wait is not None else self.retry.delay(attempt)
            except _TokenRejected:
                if token_refreshed:
                    raise ReconnectRequired(
                        f"Shopify no longer accepts our access to {self.shop_domain}. Please reconnect your store."
                    ) from None
                token = await self._token_provider(token)
                token_refreshed = True
                continue
            if attempt < self.retry.attempts:
                await asyncio.sleep(wait)
        if throttled:
            raise ShopifyUnreachable(
                "Shopify is limiting requests for your store right now. Please try again in a minute.", code="throttled"
            )
        raise ShopifyUnreachable("Shopify is not responding right now. Please try again in a few minutes.")

    async def _pace(self, query: str) -> None:
        expected = self._expected_costs.get(query)
        if expected is None:
            return
        wait = self._bucket.seconds_until_affordable(expected)
        if wait > 0:
            await asyncio.sleep(wait)
        self._bucket.spend(expected)

    async def _send(self, body: dict[str, Any], query: str, token: str) -> GraphQLResponse:
        headers = {"X-Shopify-Access-Token": token, "Accept": "application/json"}
        try:
            response = await self._http.post(self.url, json=body, headers=headers)
        except httpx.TransportError:
            raise _Transient() from None
        status = response.status_code
        if status == 401:
            raise _TokenRejected()
        if status in RETRYABLE_STATUSES:
            raise _Transient(wait=retry_after_seconds(response) if status == 429 else None)
        unavailable = shop_status_error(status, self.shop_domain)
        if unavailable is not None:
            raise unavailable
        if status == 403:
            raise _access_denied(self.shop_domain)
        try:
            payload = response.json()
        except ValueError:
            raise _Transient() from None
        if status != 200 or not isinstance(payload, dict):
            raise GraphQLQueryError([{"message": f"HTTP {status}"}])
        cost = _parse_cost(payload.get("extensions"))
        self.last_cost = cost
        if cost is not None:
            if cost.throttle is not None:
                self._bucket.observe(cost.throttle)
            if cost.requested is not None:
                self._expected_costs[query] = cost.requested
        errors = payload.get("errors")
        if errors:
            self._raise_for_errors(errors if isinstance(errors, list) else [{"message": str(errors)}], cost)
        return GraphQLResponse(data=payload.get("data") or {}, cost=cost)

    def _raise_for_errors(self, errors: list[dict[str, Any]], cost: QueryCost | None) -> None:
        codes = _error_codes(errors)
        if "THROTTLED" in codes:
            wait = None
            if cost is not None and cost.requested is not None:
                wait = self._bucket.seconds_until_affordable(cost.requested) + random.uniform(0.05, 0.25)
            raise _Transient(wait=wait, throttled=True)
        if "MAX_COST_EXCEEDED" in codes:
            extensions: dict[str, Any] = next(
                (e["extensions"] for e in errors if (e.get("extensions") or {}).get("code") == "MAX_COST_EXCEEDED"), {}
            )
            raise QueryCostExceeded(errors, extensions.get("cost"), extensions.get("maxCost"))
        if "ACCESS_DENIED" in codes:
            raise _access_denied(self.shop_domain)
        if "INTERNAL_SERVER_ERROR" in codes:
            raise _Transient()
        raise GraphQLQueryError(errors)

    async def query(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return (await self.execute(query, variables)).data

    async def fetch_shop(self) -> ShopInfo:
        data = await self.query("query ShopName { shop { name myshopifyDomain } }")
        return ShopInfo(name=data["shop"]["name"], myshopify_domain=data["shop"]["myshopifyDomain"])

    async def count_products(self, search: str | None = None) -> int:
        data = await self.query(
            "query ProductsCount($search: String) { productsCount(query: $search, limit: null) { count } }",
            {"search": search},
        )
        return int(data["productsCount"]["count"])

    async def count_variants(self) -> int:
        data = await self.query("query VariantsCount { productVariantsCount(limit: null) { count } }")
        return int(data["productVariantsCount"]["count"])

    async def iter_products(
        self, *, page_size: int = 10, variants_page_size: int = 25, search: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every product (ProductFields) with all of its variants (VariantFields) under "variants".

        The defaults keep a page at about 560 cost points, under the 1000-point
        limit; a page Shopify finds too costly is retried smaller. Variants
        beyond the nested page are fetched per product.
        """
        after: str | None = None
        while True:
            variables = {"first": page_size, "after": after, "variantsFirst": variants_page_size, "search": search}
            try:
                connection = (await self.query(PRODUCTS_PAGE_QUERY, variables))["products"]
            except QueryCostExceeded as error:
                if page_size == 1 or not error.cost or not error.max_cost:
                    raise
                page_size = max(1, min(page_size - 1, page_size * error.max_cost // error.cost))
                continue
            for product in connection["nodes"]:
                variants = product.pop("variants")
                product["variants"] = variants["nodes"]
                if variants["pageInfo"]["hasNextPage"]:
                    product["variants"] += [
                        v async for v in self._remaining_variants(product["id"], variants["pageInfo"]["endCursor"])
                    ]
                yield product
            if not connection["pageInfo"]["hasNextPage"]:
                return
            after = connection["pageInfo"]["endCursor"]

    async def fetch_product(self, product_id: str) -> dict[str, Any] | None:
        """One product (ProductFields) with all of its variants under "variants"; None when it does not exist."""
        product = (await self.query(PRODUCT_QUERY, {"id": product_id, "variantsFirst": MAX_VARIANTS_PAGE}))["product"]
        if product is None:
            return None
        variants = product.pop("variants")
        product["variants"] = variants["nodes"]
        if variants["pageInfo"]["hasNextPage"]:
            product["variants"] += [
                v async for v in self._remaining_variants(product_id, variants["pageInfo"]["endCursor"])
            ]
        return product

    async def _remaining_variants(self, product_id: str, after: str | None) -> AsyncIterator[dict[str, Any]]:
        while True:
            variables = {"id": product_id, "first": MAX_VARIANTS_PAGE, "after": after}
            product = (await self.query(PRODUCT_VARIANTS_QUERY, variables))["product"]
            if product is None:
                return
            for variant in product["variants"]["nodes"]:
                yield variant
            page = product["variants"]["pageInfo"]
            if not page["hasNextPage"]:
                return
            after = page["endCursor"]

    async def start_bulk_query(self, bulk_query: str = BULK_PRODUCTS_QUERY) -> BulkOperation:
        """Start a bulk export. If the same export is already running (e.g. our retry after a dropped
        connection started it), that operation is returned instead of failing."""
        mutation = (
            "mutation RunBulkQuery($query: String!) { bulkOperationRunQuery(query: $query) { "
            f"bulkOperation {{ {BULK_OPERATION_FIELDS} }} userErrors {{ field message code }} }} }}"
        )
        payload = (await self.query(mutation, {"query": bulk_query}))["bulkOperationRunQuery"]
        user_errors = payload.get("userErrors") or []
        if user_errors:
            if any(error.get("code") == "OPERATION_IN_PROGRESS" for error in user_errors):
                current = await self.current_bulk_operation()
                if current is not None and not current.finished and current.query == bulk_query:
                    return current
                raise BulkOperationInProgress(user_errors)
            raise ShopifyUserErrors(user_errors)
        return BulkOperation.from_payload(payload["bulkOperation"])

    async def current_bulk_operation(self) -> BulkOperation | None:
        data = await self.query(
            f"query CurrentBulk {{ currentBulkOperation(type: QUERY) {{ {BULK_OPERATION_FIELDS} }} }}"
        )
        operation = data.get("currentBulkOperation")
        return BulkOperation.from_payload(operation) if operation else None

    async def get_bulk_operation(self, operation_id: str) -> BulkOperation:
        data = await self.query(
            f"query BulkById($id: ID!) {{ node(id: $id) {{ ... on BulkOperation {{ {BULK_OPERATION_FIELDS} }} }} }}",
            {"id": operation_id},
        )
        if not data.get("node"):
            raise BulkOperationFailed("EXPIRED", None)
        return BulkOperation.from_payload(data["node"])

    async def wait_for_bulk_operation(
        self, operation_id: str, *, poll_interval: float = 2.0, max_wait: float = 6 * 3600
    ) -> BulkOperation:
        """Poll until the operation finishes; returns it when COMPLETED, raises otherwise."""
        deadline = time.monotonic() + max_wait
        while True:
            operation = await self.get_bulk_operation(operation_id)
            if operation.status == "COMPLETED":
                return operation
            if operation.finished:
                raise BulkOperationFailed(operation.status, operation.error_code)
            if time.monotonic() >= deadline:
                raise BulkOperationTimedOut()
            await asyncio.sleep(poll_interval)

    async def iter_bulk_results(self, url: str | None) -> AsyncIterator[dict[str, Any]]:
        """The JSONL objects of a finished bulk operation, resuming after a dropped download.

        The URL is pre-signed storage, so no access token is sent. A retry asks
        for the rest with a Range header and skips the part already read when
        the server ignores it.
        """
        if url is None:
            return
        consumed = 0
        for attempt in range(1, self.retry.attempts + 1):
            headers = {"Range": f"bytes={consumed}-"} if consumed else {}
            try:
                async with self._http.stream("GET", url, headers=headers) as response:
                    if response.status_code == 416:
                        return
                    if response.status_code in RETRYABLE_STATUSES:
                        raise _Transient()
                    if response.status_code not in (200, 206):
                        raise BulkOperationFailed("EXPIRED", None)
                    skip = consumed if response.status_code == 200 else 0
                    pending = b""
                    async for chunk in response.aiter_bytes():
                        if skip:
                            dropped = min(skip, len(chunk))
                            chunk, skip = chunk[dropped:], skip - dropped
                        pending += chunk
                        *lines, pending = pending.split(b"\n")
                        for line in lines:
                            consumed += len(line) + 1
                            if line.strip():
                                yield json.loads(line)
                    if pending.strip():
                        consumed += len(pending)
                        yield json.loads(pending)
                    return
            except (httpx.TransportError, _Transient):
                if attempt < self.retry.attempts:
                    await asyncio.sleep(self.retry.delay(attempt))
        raise ShopifyUnreachable("Downloading your products from Shopify kept failing. Please try again later.")


class _TokenRejected(Exception):
    pass


def _access_denied(shop_domain: str) -> ShopifyAccessDenied:
    return ShopifyAccessDenied(
        f"{shop_domain} did not give us permission to read products. "
        "Reconnect your store and approve all requested permissions."
    )
