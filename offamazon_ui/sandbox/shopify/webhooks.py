"""Webhooks as Shopify sends them: subscriptions, REST-shaped payloads, signed POSTs retried on failure.

A delivery is a POST of the JSON payload with X-Shopify-Topic, X-Shopify-Hmac-Sha256 (base64 HMAC-SHA256 of
the raw body with the app's client secret), X-Shopify-Shop-Domain, X-Shopify-Webhook-Id (the same on every
retry of one delivery) and X-Shopify-API-Version. A non-2xx answer or a timeout is retried; real Shopify retries
8 times over 4 hours, the emulator on a short schedule (RETRY_DELAYS) so tests see it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from offamazon_ui.sandbox.shopify.catalog import PRODUCT_ID_BASE, Catalog

if TYPE_CHECKING:
    from offamazon_ui.sandbox.shopify.state import EmulatedShop

log = logging.getLogger(__name__)

TOPICS = {
    "APP_UNINSTALLED": "app/uninstalled",
    "PRODUCTS_CREATE": "products/create",
    "PRODUCTS_DELETE": "products/delete",
    "PRODUCTS_UPDATE": "products/update",
}
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)
DELIVERY_TIMEOUT = httpx.Timeout(5.0, connect=1.0)
# Shopify lists at most this many variants in a product webhook; `variant_gids` names them all.
PAYLOAD_VARIANTS = 100
API_VERSION = "2026-01"


@dataclass
class WebhookSubscriptionRecord:
    numeric_id: int
    topic: str  # enum value, e.g. PRODUCTS_UPDATE
    callback_url: str
    format: str
    created_at: str

    @property
    def gid(self) -> str:
        return f"gid://shopify/WebhookSubscription/{self.numeric_id}"


@dataclass(frozen=True)
class DeliveryAttempt:
    webhook_id: str
    topic: str
    url: str
    attempt: int
    status: int | None  # None: no answer (refused, timed out)


def sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def product_id_of(value: Any) -> int:
    """A product's index in the catalog from its gid or numeric id; ValueError when malformed."""
    text = str(value)
    number = int(text.rsplit("/", 1)[-1])
    return number - PRODUCT_ID_BASE - 1


def product_payload(catalog: Catalog, index: int, image_url_template: str) -> dict[str, Any]:
    """The REST resource Shopify sends with products/create and products/update."""
    product = catalog.product(index)
    variants = [catalog.variant(index, position) for position in range(1, product.variant_count + 1)]
    images = [
        {
            "id": 30_000_000_000_000 + index * 16 + number,
            "product_id": product.numeric_id,
            "position": number + 1,
            "src": image_url_template.replace("{name}", f"{index}-{number}.svg"),
        }
        for number in range(product.image_count)
    ]
    return {
        "id": product.numeric_id,
        "admin_graphql_api_id": f"gid://shopify/Product/{product.numeric_id}",
        "title": product.title,
        "handle": product.handle,
        "vendor": product.vendor,
        "product_type": product.product_type,
        "status": product.status.lower(),
        "tags": ", ".join(product.tags),
        "body_html": product.description_html,
        "created_at": product.created_at,
        "updated_at": product.updated_at,
        "published_at": product.published_at,
        "options": [
            {"name": name, "position": position, "values": list(values)}
            for position, (name, values) in enumerate(product.options, start=1)
        ],
        "images": images,
        "image": images[0] if images else None,
        "variants": [
            {
                "id": variant.numeric_id,
                "admin_graphql_api_id": f"gid://shopify/ProductVariant/{variant.numeric_id}",
                "product_id": product.numeric_id,
                "title": variant.title,
                "sku": variant.sku or "",
                "barcode": variant.barcode,
                "price": variant.price,
                "compare_at_price": variant.compare_at_price,
                "inventory_quantity": variant.inventory_quantity,
                "position": variant.position,
                **{f"option{n + 1}": value for n, (_name, value) in enumerate(variant.selected_options)},
                "created_at": variant.created_at,
                "updated_at": variant.updated_at,
            }
            for variant in variants[:PAYLOAD_VARIANTS]
        ],
        "variant_gids": [
            {"admin_graphql_api_id": f"gid://shopify/ProductVariant/{v.numeric_id}", "updated_at": v.updated_at}
            for v in variants
        ],
    }


class WebhookSender:
    """Sends deliveries in the background and records every attempt (for tests and the control API)."""

    def __init__(self, api_secret: str) -> None:
        self.api_secret = api_secret
        self.retry_delays: tuple[float, ...] = RETRY_DELAYS
        self.attempts: list[DeliveryAttempt] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, shop: EmulatedShop, topic: str, payload: dict[str, Any]) -> list[str]:
        """Schedule the delivery of `topic` (enum value) to each subscription; returns the webhook ids."""
        body = json.dumps(payload).encode()
        webhook_ids = []
        for subscription in shop.webhook_subscriptions:
            if subscription.topic != topic:
                continue
            webhook_id = str(uuid.uuid4())
            headers = {
                "Content-Type": "application/json",
                "X-Shopify-Topic": TOPICS[topic],
                "X-Shopify-Hmac-Sha256": sign(body, self.api_secret),
                "X-Shopify-Shop-Domain": shop.domain,
                "X-Shopify-Webhook-Id": webhook_id,
                "X-Shopify-Event-Id": str(uuid.uuid4()),
                "X-Shopify-API-Version": API_VERSION,
            }
            task = asyncio.create_task(self._deliver(subscription.callback_url, body, headers))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            webhook_ids.append(webhook_id)
        return webhook_ids

    async def _deliver(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        async with httpx.AsyncClient(timeout=DELIVERY_TIMEOUT) as client:
            for attempt, delay in enumerate((0.0, *self.retry_delays), start=1):
                await asyncio.sleep(delay)
                status: int | None = None
                try:
                    status = (await client.post(url, content=body, headers=headers)).status_code
                except httpx.HTTPError as error:
                    log.info("webhook delivery to %s failed: %s", url, type(error).__name__)
                self.attempts.append(
                    DeliveryAttempt(headers["X-Shopify-Webhook-Id"], headers["X-Shopify-Topic"], url, attempt, status)
                )
                if status is not None and 200 <= status < 300:
                    return

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self.attempts.clear()
