"""Shopify webhooks: verifying a delivery, and the subscriptions we create after a store connects.

Only the topics below are subscribed through the API. The mandatory compliance
topics (customers/data_request, customers/redact, shop/redact) cannot be: in
real Shopify they are set in the app's shopify.app.toml
([webhooks] ... compliance_topics = [...], uri = "<backend>/webhooks/shopify")
or in the Partner Dashboard, pointing at the same endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass

from offamazon_ui import routes
from offamazon_ui.config import Settings, get_settings
from offamazon_ui.services.shopify.graphql import ShopifyClient

log = logging.getLogger(__name__)

SUBSCRIBED_TOPICS = ("PRODUCTS_CREATE", "PRODUCTS_UPDATE", "PRODUCTS_DELETE", "APP_UNINSTALLED")

SUBSCRIBE_MUTATION = """
mutation Subscribe($topic: WebhookSubscriptionTopic!, $subscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $subscription) {
    webhookSubscription { id topic }
    userErrors { field message }
  }
}"""
SUBSCRIPTIONS_QUERY = """
query Subscriptions($first: Int!) {
  webhookSubscriptions(first: $first) {
    nodes { id topic endpoint { __typename ... on WebhookHttpEndpoint { callbackUrl } } }
  }
}"""


def verify_webhook_hmac(raw_body: bytes, signature: str | None, secret: str) -> bool:
    """Shopify signs the raw body: base64 of HMAC-SHA256 with the app's client secret. Compared in constant time."""
    if not signature or not secret:
        return False
    expected = base64.b64encode(hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


def webhook_callback_url(settings: Settings) -> str:
    return f"{settings.backend_url}{routes.SHOPIFY_WEBHOOKS_ENDPOINT}"


@dataclass(frozen=True)
class WebhookSubscription:
    id: str
    topic: str
    callback_url: str


async def subscribe_webhooks(client: ShopifyClient, *, settings: Settings | None = None) -> list[str]:
    """Subscribe the store to SUBSCRIBED_TOPICS; returns the topics that failed (logged, not raised).

    Creating a subscription that already exists is answered with a user error by
    Shopify ("Address for this topic has already been taken"), which is fine.
    """
    callback_url = webhook_callback_url(settings or get_settings())
    existing = {subscription.topic for subscription in await list_subscriptions(client)}
    failed = []
    for topic in SUBSCRIBED_TOPICS:
        if topic in existing:
            continue
        variables = {"topic": topic, "subscription": {"callbackUrl": callback_url, "format": "JSON"}}
        result = (await client.query(SUBSCRIBE_MUTATION, variables))["webhookSubscriptionCreate"]
        if result["userErrors"]:
            log.warning("webhook subscription %s refused: %s", topic, result["userErrors"][0].get("message"))
            failed.append(topic)
    return failed


async def list_subscriptions(client: ShopifyClient) -> list[WebhookSubscription]:
    nodes = (await client.query(SUBSCRIPTIONS_QUERY, {"first": 50}))["webhookSubscriptions"]["nodes"]
    return [
        WebhookSubscription(
            id=node["id"], topic=node["topic"], callback_url=(node.get("endpoint") or {}).get("callbackUrl") or ""
        )
        for node in nodes
    ]


async def list_webhook_subscriptions(shop_connection_id: int) -> list[WebhookSubscription]:
    """The connected store's webhook subscriptions, for the settings page (raises ShopifyError subclasses)."""
    async with await ShopifyClient.for_connection(shop_connection_id) as client:
        return await list_subscriptions(client)


async def ensure_webhook_subscriptions(shop_connection_id: int) -> list[str]:
    """Subscribe a connected store (again); for a retry from the settings page or after a failed install step."""
    async with await ShopifyClient.for_connection(shop_connection_id) as client:
        return await subscribe_webhooks(client)
