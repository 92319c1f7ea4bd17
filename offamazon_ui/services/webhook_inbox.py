"""Shopify webhook deliveries: stored first, acted on in the background, each once.

The endpoint stores a verified delivery (`record_delivery`) and answers at once
(Shopify gives up after 5 seconds and retries); `drain_inbox` then processes
every stored delivery not yet processed, oldest first, one at a time so two
deliveries for one product never race. A delivery that failed, or that a
crash interrupted, keeps processed_at NULL and is tried again by the next
drain, up to MAX_ATTEMPTS.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from offamazon_ui.models import ShopConnection, WebhookDelivery, utcnow
from offamazon_ui.services import erasure
from offamazon_ui.services.db import session_scope
from offamazon_ui.services.importer.bundles import ProductBundle
from offamazon_ui.services.importer.incremental import (
    apply_product,
    bundle_from_rest,
    is_partial,
    product_gid,
    remove_product,
)
from offamazon_ui.services.shopify.connection import disconnect_shop, is_connected
from offamazon_ui.services.shopify.graphql import ShopifyClient

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
PRODUCT_TOPICS = ("products/create", "products/update")
COMPLIANCE_TOPICS = ("customers/data_request", "customers/redact", "shop/redact")


def record_delivery(webhook_id: str, topic: str, shop_domain: str, payload: str) -> bool:
    """Store a verified delivery; False when this webhook id was stored before (a retry or duplicate)."""
    try:
        with session_scope() as session:
            shop = select(ShopConnection.id).where(ShopConnection.shop_domain == shop_domain)
            connection = session.exec(shop).first()
            session.add(
                WebhookDelivery(
                    webhook_id=webhook_id,
                    topic=topic,
                    shop_domain=shop_domain,
                    shop_connection_id=connection,
                    payload=payload,
                )
            )
    except IntegrityError:
        return False
    return True


def _next_pending(after_id: int) -> WebhookDelivery | None:
    with session_scope() as session:
        row = session.exec(
            select(WebhookDelivery)
            .where(
                col(WebhookDelivery.processed_at).is_(None),
                WebhookDelivery.attempts < MAX_ATTEMPTS,
                col(WebhookDelivery.id) > after_id,
            )
            .order_by(col(WebhookDelivery.id))
        ).first()
        if row is not None:
            session.expunge(row)
        return row


def _finish(delivery_id: int, error: str | None) -> None:
    with session_scope() as session:
        row = session.get(WebhookDelivery, delivery_id)
        if row is None:  # shop/redact erased it
            return
        row.attempts += 1
        row.last_error = error
        if error is None:
            row.processed_at = utcnow()
        session.add(row)


def _connection_of(shop_domain: str) -> ShopConnection | None:
    with session_scope() as session:
        row = session.exec(select(ShopConnection).where(ShopConnection.shop_domain == shop_domain)).first()
        if row is not None:
            session.expunge(row)
        return row


# One drain at a time per event loop: deliveries are applied in the order they were stored.
_drain_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


async def drain_inbox() -> int:
    """Process every pending delivery; returns how many were processed successfully."""
    lock = _drain_locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    done = 0
    async with lock:
        last_id = 0
        while (delivery := await asyncio.to_thread(_next_pending, last_id)) is not None:
            assert delivery.id is not None
            last_id = delivery.id
            try:
                await process_delivery(delivery.topic, delivery.shop_domain, json.loads(delivery.payload))
            except Exception as error:
                log.warning("webhook %s (%s) failed: %s", delivery.webhook_id, delivery.topic, type(error).__name__)
                await asyncio.to_thread(_finish, delivery.id, type(error).__name__)
                continue
            await asyncio.to_thread(_finish, delivery.id, None)
            done += 1
    return done


async def process_delivery(topic: str, shop_domain: str, payload: Any) -> None:
    if topic in COMPLIANCE_TOPICS:
        await asyncio.to_thread(_handle_compliance, topic, shop_domain, payload)
        return
    connection = await asyncio.to_thread(_connection_of, shop_domain)
    if connection is None or connection.id is None:
        log.info("webhook %s for %s: no such store connected here; ignored", topic, shop_domain)
        return
    if topic == "app/uninstalled":
        await asyncio.to_thread(disconnect_shop, connection.user_id, keep_products=True)
        log.info("webhook app/uninstalled: %s disconnected, tokens deleted", shop_domain)
    elif topic == "products/delete":
        await asyncio.to_thread(remove_product, connection.id, product_gid(payload["id"]))
    elif topic in PRODUCT_TOPICS:
        bundle = bundle_from_rest(payload)
        if is_partial(payload) and is_connected(connection):
            bundle = await _fetch_product(connection.id, bundle)
        await asyncio.to_thread(apply_product, connection.id, bundle)
    else:
        log.info("webhook %s for %s: topic not handled", topic, shop_domain)


async def _fetch_product(shop_connection_id: int, partial: ProductBundle) -> ProductBundle:
    """The whole product through GraphQL, when the webhook left variants out; the payload if it is gone."""
    async with await ShopifyClient.for_connection(shop_connection_id) as client:
        product = await client.fetch_product(partial.product_id)
    if product is None:
        return partial
    return ProductBundle(product["id"], product, product.pop("variants"))


def _handle_compliance(topic: str, shop_domain: str, payload: Any) -> None:
    """We hold no customer data: data requests and customer redactions only need recording (the delivery row and
    this log line). shop/redact comes 48 hours after uninstall and erases everything we hold for the shop."""
    if topic != "shop/redact":
        log.info("webhook %s for %s: no customer data held; nothing to send or erase", topic, shop_domain)
        return
    with session_scope() as session:
        # Earlier deliveries carry the shop's product data too; the shop/redact ones stay as the record of erasure.
        session.execute(
            sa.delete(WebhookDelivery).where(
                col(WebhookDelivery.shop_domain) == shop_domain, col(WebhookDelivery.topic) != "shop/redact"
            )
        )
        session.execute(
            sa.update(WebhookDelivery)
            .where(col(WebhookDelivery.shop_domain) == shop_domain)
            .values(shop_connection_id=None)
        )
        row = session.exec(select(ShopConnection).where(ShopConnection.shop_domain == shop_domain)).first()
        if row is not None and row.id is not None:
            session.expunge(row)
            erasure.delete_shop_connection(session, row.id)
    log.info("webhook shop/redact: data of %s erased", shop_domain)
