"""Execute Admin GraphQL requests against a catalog with graphql-core.

Resolvers are small view classes over catalog records; a single field resolver
maps a camelCase GraphQL field to the snake_case attribute or method of the
view (methods receive `info` and the field arguments).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, GraphQLResolveInfo, GraphQLSchema, build_schema

from offamazon_ui.sandbox.shopify.catalog import (
    INVENTORY_ITEM_ID_BASE,
    MEDIA_ID_BASE,
    MEDIA_PER_PRODUCT_SLOTS,
    PRODUCT_ID_BASE,
    VARIANT_ID_BASE,
    CatalogProduct,
    CatalogVariant,
)

if TYPE_CHECKING:
    from offamazon_ui.sandbox.shopify.state import BulkJob, EmulatedShop, ShopifyEmulator
    from offamazon_ui.sandbox.shopify.webhooks import WebhookSubscriptionRecord

IMAGE_SIZE = 800
UNLISTED_SINCE_VERSION = "2025-10"
_GID = re.compile(r"^gid://shopify/(\w+)/(\d+)$")


@cache
def admin_schema() -> GraphQLSchema:
    return build_schema((Path(__file__).parent / "sdl.graphql").read_text())


@dataclass
class QueryContext:
    emulator: ShopifyEmulator
    shop: EmulatedShop
    api_version: str
    scopes: frozenset[str]
    image_url_template: str  # absolute URL with "{name}"
    bulk_url_template: str  # absolute URL with "{token}"
    bulk_window: tuple[int, int] | None = None  # bulk runs read root connections in (offset, limit) chunks

    @property
    def bulk(self) -> bool:
        return self.bulk_window is not None


def has_scope(scopes: frozenset[str], needed: str) -> bool:
    return needed in scopes or needed.replace("read_", "write_", 1) in scopes


def _require_products_access(ctx: QueryContext, info: GraphQLResolveInfo) -> None:
    if not has_scope(ctx.scopes, "read_products"):
        raise GraphQLError(
            f"Access denied for {info.field_name} field. Required access: `read_products` access scope.",
            extensions={
                "code": "ACCESS_DENIED",
                "documentation": "https://shopify.dev/api/usage/access-scopes",
                "requiredAccess": "`read_products` access scope.",
            },
        )


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def resolve_field(source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    name = _snake(info.field_name)
    value = source.get(name) if isinstance(source, dict) else getattr(source, name, None)
    if callable(value):
        return value(info, **{_snake(key): argument for key, argument in args.items()})
    return value


def resolve_type(value: Any, _info: GraphQLResolveInfo, _abstract: Any) -> str:
    return str(value["graphql_type"] if isinstance(value, dict) else value.graphql_type)


# --- pagination ------------------------------------------------------------------------------


def encode_cursor(position: int) -> str:
    return base64.b64encode(json.dumps({"last_id": position}).encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        return int(json.loads(base64.b64decode(cursor.encode(), validate=True))["last_id"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise GraphQLError("Invalid cursor for current pagination sort.") from None


def paginate(
    ctx: QueryContext,
    order: Sequence[int],
    node_at: Callable[[int], Any],
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    reverse: bool = False,
    root: bool = False,
) -> dict[str, Any]:
    if reverse:
        order = order[::-1]
    total = len(order)
    start = decode_cursor(after) + 1 if after else 0
    end = min(decode_cursor(before), total) if before else total
    start = max(0, min(start, end))
    if ctx.bulk:
        if root and ctx.bulk_window is not None:
            offset, limit = ctx.bulk_window
            start, end = start + offset, min(end, start + offset + limit)
    elif first is not None:
        end = min(end, start + first)
    elif last is not None:
        start = max(start, end - last)
    else:
        raise GraphQLError("you must provide one of first or last")
    positions = range(start, max(start, end))
    edges = [{"cursor": encode_cursor(position), "node": node_at(order[position])} for position in positions]
    return {
        "edges": edges,
        "nodes": [edge["node"] for edge in edges],
        "page_info": {
            "has_next_page": positions.stop < total,
            "has_previous_page": positions.start > 0,
            "start_cursor": edges[0]["cursor"] if edges else None,
            "end_cursor": edges[-1]["cursor"] if edges else None,
        },
    }


# --- views -----------------------------------------------------------------------------------


class ImageView:
    graphql_type = "Image"

    def __init__(self, ctx: QueryContext, product: CatalogProduct, number: int) -> None:
        self._ctx, self._product, self._number = ctx, product, number
        self.id = f"gid://shopify/ProductImage/{MEDIA_ID_BASE + product.index * MEDIA_PER_PRODUCT_SLOTS + number}"
        self.alt_text = product.title if number % 2 == 0 else None
        self.width = self.height = IMAGE_SIZE

    def url(self, _info: GraphQLResolveInfo) -> str:
        return self._ctx.image_url_template.replace("{name}", f"{self._product.index}-{self._number}.svg")


class MediaImageView:
    graphql_type = "MediaImage"
    media_content_type = "IMAGE"
    status = "READY"
    mime_type = "image/svg+xml"

    def __init__(self, ctx: QueryContext, product: CatalogProduct, number: int) -> None:
        self.image = ImageView(ctx, product, number)
        self.id = f"gid://shopify/MediaImage/{MEDIA_ID_BASE + product.index * MEDIA_PER_PRODUCT_SLOTS + number}"
        self.alt = self.image.alt_text
        self.preview = {"image": self.image, "status": "READY"}


class ProductView:
    graphql_type = "Product"

    def __init__(self, ctx: QueryContext, product: CatalogProduct) -> None:
        self._ctx, self._product = ctx, product
        self.id = f"gid://shopify/Product/{product.numeric_id}"
        self.legacy_resource_id = str(product.numeric_id)
        for name in ("title", "handle", "vendor", "product_type", "created_at", "updated_at", "published_at"):
            setattr(self, name, getattr(product, name))
        self.tags = list(product.tags)
        self.description_html = product.description_html
        self.tracks_inventory = True
        self.has_only_default_variant = product.variant_count == 1
        self.variants_count = {"count": product.variant_count, "precision": "EXACT"}

    @property
    def status(self) -> str:
        if self._product.status == "UNLISTED" and self._ctx.api_version < UNLISTED_SINCE_VERSION:
            return "ACTIVE"
        return self._product.status

    @property
    def online_store_url(self) -> str | None:
        if self._product.status != "ACTIVE":
            return None
        return f"https://{self._ctx.shop.domain}/products/{self._product.handle}"

    def description(self, _info: GraphQLResolveInfo, truncate_at: int | None = None) -> str:
        text = re.sub(r"<[^>]+>", " ", self._product.description_html)
        text = re.sub(r"\s+", " ", text).strip()
        return text[:truncate_at] if truncate_at else text

    def total_inventory(self, _info: GraphQLResolveInfo) -> int:
        catalog = self._ctx.shop.catalog
        return sum(
            catalog.variant(self._product.index, position).inventory_quantity
            for position in range(1, self._product.variant_count + 1)
        )

    def featured_media(self, _info: GraphQLResolveInfo) -> MediaImageView | None:
        return MediaImageView(self._ctx, self._product, 0) if self._product.image_count else None

    def featured_image(self, _info: GraphQLResolveInfo) -> ImageView | None:
        return ImageView(self._ctx, self._product, 0) if self._product.image_count else None

    def options(self, _info: GraphQLResolveInfo, first: int | None = None) -> list[dict[str, Any]]:
        options = [
            {"id": f"gid://shopify/ProductOption/{self._product.numeric_id * 10 + n}", "name": name, "position": n + 1,
             "values": list(values), "graphql_type": "ProductOption"}
            for n, (name, values) in enumerate(self._product.options)
        ]  # fmt: skip
        return options[:first] if first is not None else options

    def media(self, _info: GraphQLResolveInfo, **page: Any) -> dict[str, Any]:
        return paginate(self._ctx, range(self._product.image_count), self._media_at, **page)

    def images(self, _info: GraphQLResolveInfo, **page: Any) -> dict[str, Any]:
        return paginate(self._ctx, range(self._product.image_count), self._image_at, **page)

    def variants(self, _info: GraphQLResolveInfo, **page: Any) -> dict[str, Any]:
        return paginate(self._ctx, range(1, self._product.variant_count + 1), self._variant_at, **page)

    def _media_at(self, number: int) -> MediaImageView:
        return MediaImageView(self._ctx, self._product, number)

    def _image_at(self, number: int) -> ImageView:
        return ImageView(self._ctx, self._product, number)

    def _variant_at(self, position: int) -> VariantView:
        return VariantView(self._ctx, self._ctx.shop.catalog.variant(self._product.index, position))


class VariantView:
    graphql_type = "ProductVariant"

    def __init__(self, ctx: QueryContext, variant: CatalogVariant) -> None:
        self._ctx, self._variant = ctx, variant
        self.id = f"gid://shopify/ProductVariant/{variant.numeric_id}"
        self.legacy_resource_id = str(variant.numeric_id)
        for name in ("title", "sku", "barcode", "price", "compare_at_price", "inventory_quantity", "position"):
            setattr(self, name, getattr(variant, name))
        self.created_at, self.updated_at = variant.created_at, variant.updated_at
        self.selected_options = [{"name": name, "value": value} for name, value in variant.selected_options]
        self.taxable = True
        inventory_item_id = INVENTORY_ITEM_ID_BASE + variant.product_index * 4096 + variant.position
        self.inventory_item = {
            "id": f"gid://shopify/InventoryItem/{inventory_item_id}",
            "legacy_resource_id": str(inventory_item_id),
            "sku": variant.sku,
            "tracked": variant.tracked,
            "requires_shipping": True,
        }

    def _product(self) -> CatalogProduct:
        return self._ctx.shop.catalog.product(self._variant.product_index)

    def display_name(self, _info: GraphQLResolveInfo) -> str:
        return f"{self._product().title} - {self._variant.title}"

    def available_for_sale(self, _info: GraphQLResolveInfo) -> bool:
        return self._product().status == "ACTIVE" and (
            self._variant.inventory_quantity > 0 or not self._variant.tracked
        )

    def product(self, _info: GraphQLResolveInfo) -> ProductView:
        return ProductView(self._ctx, self._product())

    def image(self, _info: GraphQLResolveInfo) -> ImageView | None:
        product = self._product()
        return (
            ImageView(self._ctx, product, (self._variant.position - 1) % product.image_count)
            if product.image_count
            else None
        )


class BulkOperationView:
    graphql_type = "BulkOperation"
    type = "QUERY"

    def __init__(self, ctx: QueryContext, job: BulkJob) -> None:
        self._ctx, self._job = ctx, job
        self.id = job.gid
        self.status = job.status
        self.error_code = job.error_code
        self.created_at = job.created_at
        self.completed_at = job.completed_at
        self.object_count = str(job.object_count)  # UnsignedInt64 serializes as a string
        self.root_object_count = str(job.root_object_count)
        self.file_size = str(job.file_size) if job.file_size is not None else None
        self.query = job.query

    @property
    def url(self) -> str | None:
        if self._job.status != "COMPLETED" or not self._job.object_count:
            return None
        return self._ctx.bulk_url_template.replace("{token}", self._job.token)

    @property
    def partial_data_url(self) -> str | None:
        if self._job.status != "FAILED" or not self._job.object_count:
            return None
        return self._ctx.bulk_url_template.replace("{token}", self._job.token)


class ShopView:
    graphql_type = "Shop"

    def __init__(self, shop: EmulatedShop) -> None:
        self.id = f"gid://shopify/Shop/{shop.numeric_id}"
        self.name = shop.name
        self.myshopify_domain = shop.domain
        self.email = self.contact_email = f"owner@{shop.domain}"
        self.currency_code = shop.currency
        self.iana_timezone = "America/New_York"
        self.url = f"https://{shop.domain}"
        self.plan = {"display_name": "Basic", "partner_development": False, "shopify_plus": False}


class QueryRootView:
    def __init__(self, ctx: QueryContext) -> None:
        self._ctx = ctx

    def shop(self, _info: GraphQLResolveInfo) -> ShopView:
        return ShopView(self._ctx.shop)

    def products(
        self, info: GraphQLResolveInfo, *, sort_key: str = "ID", reverse: bool = False, query: str | None = None,
        saved_search_id: str | None = None, **page: Any,
    ) -> dict[str, Any]:  # fmt: skip
        _require_products_access(self._ctx, info)
        catalog = self._ctx.shop.catalog
        order = catalog.order(sort_key, reverse, query or "")
        return paginate(self._ctx, order, self._product_at, root=True, **page)

    def products_count(
        self,
        info: GraphQLResolveInfo,
        query: str | None = None,
        limit: int | None = 10000,
        saved_search_id: str | None = None,
    ) -> dict[str, Any]:
        _require_products_access(self._ctx, info)
        count = len(self._ctx.shop.catalog.order("ID", False, query or ""))
        if limit is not None and count > limit:
            return {"count": limit, "precision": "AT_LEAST"}
        return {"count": count, "precision": "EXACT"}

    def product_variants_count(
        self, info: GraphQLResolveInfo, query: str | None = None, limit: int | None = 10000
    ) -> dict[str, Any]:
        _require_products_access(self._ctx, info)
        catalog = self._ctx.shop.catalog
        count = sum(catalog.product(index).variant_count for index in catalog.order("ID", False, query or ""))
        if limit is not None and count > limit:
            return {"count": limit, "precision": "AT_LEAST"}
        return {"count": count, "precision": "EXACT"}

    def product(self, info: GraphQLResolveInfo, id: str) -> ProductView | None:
        node = self.node(info, id)
        return node if isinstance(node, ProductView) else None

    def product_variant(self, info: GraphQLResolveInfo, id: str) -> VariantView | None:
        node = self.node(info, id)
        return node if isinstance(node, VariantView) else None

    def nodes(self, info: GraphQLResolveInfo, ids: list[str]) -> list[Any]:
        return [self.node(info, node_id) for node_id in ids]

    def node(self, info: GraphQLResolveInfo, id: str) -> Any:
        match = _GID.match(id)
        if match is None:
            raise GraphQLError(f"Invalid global id '{id}'", extensions={"code": "argumentLiteralsIncompatible"})
        kind, number = match.group(1), int(match.group(2))
        catalog = self._ctx.shop.catalog
        if kind == "BulkOperation":
            job = self._ctx.emulator.bulk_job(self._ctx.shop, id)
            return BulkOperationView(self._ctx, job) if job else None
        if kind == "Shop":
            return ShopView(self._ctx.shop) if number == self._ctx.shop.numeric_id else None
        if kind in ("Product", "ProductVariant", "MediaImage"):
            _require_products_access(self._ctx, info)
        try:
            if kind == "Product":
                return ProductView(self._ctx, catalog.product(number - PRODUCT_ID_BASE - 1))
            if kind == "ProductVariant":
                product_index, position = divmod(number - VARIANT_ID_BASE, 4096)
                return VariantView(self._ctx, catalog.variant(product_index, position))
            if kind == "MediaImage":
                product_index, image = divmod(number - MEDIA_ID_BASE, MEDIA_PER_PRODUCT_SLOTS)
                product = catalog.product(product_index)
                return MediaImageView(self._ctx, product, image) if image < product.image_count else None
        except IndexError:
            return None
        return None

    def current_bulk_operation(self, _info: GraphQLResolveInfo, type: str = "QUERY") -> BulkOperationView | None:
        job = self._ctx.shop.bulk_jobs[-1] if self._ctx.shop.bulk_jobs and type == "QUERY" else None
        return BulkOperationView(self._ctx, job) if job else None

    def bulk_operation(self, info: GraphQLResolveInfo, id: str) -> BulkOperationView | None:
        job = self._ctx.emulator.bulk_job(self._ctx.shop, id)
        return BulkOperationView(self._ctx, job) if job else None

    def _product_at(self, index: int) -> ProductView:
        return ProductView(self._ctx, self._ctx.shop.catalog.product(index))

    def webhook_subscriptions(
        self, _info: GraphQLResolveInfo, topics: list[str] | None = None, **page: Any
    ) -> dict[str, Any]:
        records = [r for r in self._ctx.shop.webhook_subscriptions if topics is None or r.topic in topics]
        return paginate(self._ctx, range(len(records)), lambda n: WebhookSubscriptionView(records[n]), **page)


class WebhookSubscriptionView:
    graphql_type = "WebhookSubscription"

    def __init__(self, record: WebhookSubscriptionRecord) -> None:
        self.id = record.gid
        self.topic, self.format, self.uri = record.topic, record.format, record.callback_url
        self.created_at = self.updated_at = record.created_at
        self.endpoint = {"graphql_type": "WebhookHttpEndpoint", "callback_url": record.callback_url}


class MutationView:
    def __init__(self, ctx: QueryContext) -> None:
        self._ctx = ctx

    def bulk_operation_run_query(
        self, _info: GraphQLResolveInfo, query: str, group_objects: bool | None = None
    ) -> dict[str, Any]:
        job, user_errors = self._ctx.emulator.start_bulk_query(self._ctx, query)
        return {"bulk_operation": BulkOperationView(self._ctx, job) if job else None, "user_errors": user_errors}

    def webhook_subscription_create(
        self, _info: GraphQLResolveInfo, topic: str, webhook_subscription: dict[str, Any]
    ) -> dict[str, Any]:
        callback_url = webhook_subscription.get("callbackUrl") or webhook_subscription.get("uri") or ""
        record, user_errors = self._ctx.emulator.create_webhook_subscription(
            self._ctx.shop, topic, str(callback_url), str(webhook_subscription.get("format") or "JSON")
        )
        return {
            "webhook_subscription": WebhookSubscriptionView(record) if record else None,
            "user_errors": user_errors,
        }

    def bulk_operation_cancel(self, _info: GraphQLResolveInfo, id: str) -> dict[str, Any]:
        job = self._ctx.emulator.bulk_job(self._ctx.shop, id)
        if job is None:
            return {
                "bulk_operation": None,
                "user_errors": [{"field": ["id"], "message": "Bulk operation does not exist"}],
            }
        job.cancel()
        return {"bulk_operation": BulkOperationView(self._ctx, job), "user_errors": []}
