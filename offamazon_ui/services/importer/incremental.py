"""Keep an imported catalog current one product at a time, from Shopify's product webhooks.

Webhooks arrive out of order and more than once. A product update older than
the stored one is ignored, and a deletion wins over any update that arrives
after it: the row stays, marked removed, as a tombstone (Shopify never reuses a
product id), even when the deletion comes before the product was imported.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from offamazon_ui.models import utcnow
from offamazon_ui.services.db import get_engine
from offamazon_ui.services.importer.bundles import ProductBundle
from offamazon_ui.services.importer.store import (
    IMAGES,
    JOBS,
    PRODUCTS,
    VARIANTS,
    Batch,
    JobLease,
    parse_timestamp,
    settle_readiness,
    upsert_rows,
)

log = logging.getLogger(__name__)

PRODUCT_GID = "gid://shopify/Product/"
VARIANT_GID = "gid://shopify/ProductVariant/"
OPTION_FIELDS = ("option1", "option2", "option3")


def product_gid(rest_id: Any) -> str:
    return f"{PRODUCT_GID}{rest_id}"


def bundle_from_rest(payload: dict[str, Any]) -> ProductBundle:
    """A REST-shaped product (as in a products/create or products/update webhook) in the GraphQL shape the
    importer stores, so both paths share one set of row and readiness rules."""
    gid = str(payload.get("admin_graphql_api_id") or product_gid(payload["id"]))
    images = [image for image in payload.get("images") or [] if isinstance(image, dict) and image.get("src")]
    featured = payload.get("image") if isinstance(payload.get("image"), dict) else (images[0] if images else None)
    option_names = [
        str(option.get("name") or "") for option in payload.get("options") or [] if isinstance(option, dict)
    ]
    tags = payload.get("tags") or ""
    product = {
        "id": gid,
        "title": payload.get("title"),
        "handle": payload.get("handle"),
        "vendor": payload.get("vendor"),
        "productType": payload.get("product_type"),
        "status": payload.get("status"),
        "tags": [tag.strip() for tag in tags.split(",") if tag.strip()] if isinstance(tags, str) else list(tags),
        "descriptionHtml": payload.get("body_html"),
        "updatedAt": payload.get("updated_at"),
        "featuredMedia": {"image": {"url": featured["src"]}} if featured and featured.get("src") else None,
    }
    variants = []
    for variant in payload.get("variants") or []:
        options = [
            {"name": option_names[i] if i < len(option_names) else f"Option {i + 1}", "value": str(variant[name])}
            for i, name in enumerate(OPTION_FIELDS)
            if variant.get(name) is not None
        ]
        variants.append(
            {
                "id": str(variant.get("admin_graphql_api_id") or f"{VARIANT_GID}{variant['id']}"),
                "title": variant.get("title"),
                "sku": variant.get("sku") or None,
                "barcode": variant.get("barcode") or None,
                "price": variant.get("price"),
                "compareAtPrice": variant.get("compare_at_price"),
                "inventoryQuantity": variant.get("inventory_quantity"),
                "selectedOptions": options,
            }
        )
    return ProductBundle(gid, product, variants)


def is_partial(payload: dict[str, Any]) -> bool:
    """Whether the payload leaves variants out (Shopify caps them; `variant_gids` lists them all)."""
    if not isinstance(payload.get("variants"), list):
        return True
    listed = payload.get("variant_gids")
    return isinstance(listed, list) and len(listed) > len(payload["variants"])


def _active_job_id(connection: Connection, shop_connection_id: int) -> int | None:
    # An import running now must count the product as seen, or its final pass would mark it removed.
    return connection.execute(
        sa.select(JOBS.c.id).where(
            JOBS.c.shop_connection_id == shop_connection_id, JOBS.c.status.in_(("queued", "running"))
        )
    ).scalar()


def apply_product(shop_connection_id: int, bundle: ProductBundle) -> bool:
    """Store one product with all its variants and settle readiness; False when ignored as stale or deleted."""
    assert bundle.product is not None
    incoming_updated_at = parse_timestamp(bundle.product.get("updatedAt"))
    with get_engine().begin() as connection:
        stored = connection.execute(
            sa.select(PRODUCTS.c.shopify_updated_at, PRODUCTS.c.removed_at).where(
                PRODUCTS.c.shop_connection_id == shop_connection_id, PRODUCTS.c.shopify_id == bundle.product_id
            )
        ).first()
        if stored is not None and stored.removed_at is not None:
            log.info("webhook: product %s was deleted; update ignored", bundle.product_id)
            return False
        if _is_older(incoming_updated_at, stored.shopify_updated_at if stored is not None else None):
            log.info("webhook: update of product %s is older than the stored one; ignored", bundle.product_id)
            return False
        job_id = _active_job_id(connection, shop_connection_id)
        batch = Batch(JobLease(job_id=job_id or 0, shop_connection_id=shop_connection_id, owner="webhook"))
        batch.add(bundle)
        upsert_rows(connection, batch, shop_connection_id, job_id)
        kept_variants = [variant["id"] for variant in bundle.variants]
        connection.execute(
            sa.update(VARIANTS)
            .where(
                VARIANTS.c.shop_connection_id == shop_connection_id,
                VARIANTS.c.product_shopify_id == bundle.product_id,
                VARIANTS.c.removed_at.is_(None),
                VARIANTS.c.shopify_id.not_in(kept_variants),
            )
            .values(removed_at=utcnow())
        )
        settle_readiness(connection, shop_connection_id)
    return True


def _is_older(incoming: datetime | None, stored: datetime | None) -> bool:
    return incoming is not None and stored is not None and incoming < stored


def remove_product(shop_connection_id: int, product_shopify_id: str) -> None:
    """Mark the product and its variants removed; leave a tombstone if it was never imported."""
    now = utcnow()
    with get_engine().begin() as connection:
        marked = connection.execute(
            sa.update(PRODUCTS)
            .where(PRODUCTS.c.shop_connection_id == shop_connection_id, PRODUCTS.c.shopify_id == product_shopify_id)
            .values(removed_at=now)
        )
        if marked.rowcount == 0:
            connection.execute(
                sa.insert(PRODUCTS).values(
                    shop_connection_id=shop_connection_id,
                    shopify_id=product_shopify_id,
                    title="",
                    handle="",
                    vendor="",
                    product_type="",
                    status="",
                    tags=[],
                    description_html="",
                    variant_count=0,
                    total_inventory=0,
                    product_problems=0,
                    problems=0,
                    imported_at=now,
                    removed_at=now,
                )
            )
        connection.execute(
            sa.update(VARIANTS)
            .where(
                VARIANTS.c.shop_connection_id == shop_connection_id,
                VARIANTS.c.product_shopify_id == product_shopify_id,
                VARIANTS.c.removed_at.is_(None),
            )
            .values(removed_at=now)
        )
        connection.execute(
            sa.delete(IMAGES).where(
                IMAGES.c.shop_connection_id == shop_connection_id, IMAGES.c.product_shopify_id == product_shopify_id
            )
        )
        settle_readiness(connection, shop_connection_id)
