"""The fallback strategy: page through products with GraphQL when a bulk export cannot be used.

Pacing by the cost bucket and retries (THROTTLED, 429, 5xx, dropped
connections) live in ShopifyClient. This module keeps each query under
Shopify's 1000-point limit (a page Shopify still finds too costly is retried
smaller), fetches the rest of a product's variants when they exceed the
nested page, and checkpoints the products cursor with every stored batch.
"""

from __future__ import annotations

from typing import Any

from offamazon_ui.services.importer.bundles import ProductBundle
from offamazon_ui.services.importer.jobs import ClaimedJob
from offamazon_ui.services.importer.store import Batch, SerialWriter
from offamazon_ui.services.shopify.errors import QueryCostExceeded
from offamazon_ui.services.shopify.graphql import MAX_VARIANTS_PAGE, PRODUCT_VARIANTS_QUERY, ShopifyClient

PAGE_SIZE = 12
NESTED_VARIANTS = 25
NESTED_MEDIA = 10  # the paginated import keeps a product's first ten images
# Requested cost per product: 1 + featuredMedia 2 + media (2 + 10 × 2) + variants (2 + 25 × 2) = 77,
# so a page of 12 requests 2 + 12 × 77 = 926 points.
PAGE_QUERY = f"""
query ImportProductsPage($first: Int!, $after: String) {{
  products(first: $first, after: $after, sortKey: ID) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
      id title handle vendor productType status tags descriptionHtml updatedAt
      featuredMedia {{ ... on MediaImage {{ image {{ url }} }} }}
      media(first: {NESTED_MEDIA}) {{ nodes {{ id ... on MediaImage {{ image {{ url altText }} }} }} }}
      variants(first: {NESTED_VARIANTS}) {{
        pageInfo {{ hasNextPage endCursor }}
        nodes {{ id title sku barcode price compareAtPrice inventoryQuantity selectedOptions {{ name value }} }}
      }}
    }}
  }}
}}"""


async def import_with_pages(client: ShopifyClient, job: ClaimedJob) -> None:
    cursor = job.page_cursor
    page_size = PAGE_SIZE
    batch = Batch(job.lease)
    writer = SerialWriter()  # stores a batch while the next page downloads
    try:
        while True:
            try:
                data = await client.query(PAGE_QUERY, {"first": page_size, "after": cursor})
            except QueryCostExceeded as error:
                if page_size == 1 or not error.cost or not error.max_cost:
                    raise
                page_size = max(1, min(page_size - 1, page_size * error.max_cost // error.cost))
                continue
            connection = data["products"]
            for product in connection["nodes"]:
                batch.add(await _bundle(client, product))
            cursor = connection["pageInfo"]["endCursor"] or cursor
            has_next = bool(connection["pageInfo"]["hasNextPage"])
            if batch.due() or not has_next:
                await writer.submit(batch, {"page_cursor": cursor})
                batch = Batch(job.lease)
            if not has_next:
                break
        await writer.drain()
    except BaseException:
        await writer.settle()
        raise


async def _bundle(client: ShopifyClient, product: dict[str, Any]) -> ProductBundle:
    variants = product.pop("variants")
    media = product.pop("media")
    bundle = ProductBundle(str(product["id"]), product)
    for node in media["nodes"]:
        bundle.attach(node)
    for node in variants["nodes"]:
        bundle.attach(node)
    page = variants["pageInfo"]
    while page["hasNextPage"]:
        variables = {"id": product["id"], "first": MAX_VARIANTS_PAGE, "after": page["endCursor"]}
        found = (await client.query(PRODUCT_VARIANTS_QUERY, variables))["product"]
        if found is None:  # deleted while we read it
            break
        for node in found["variants"]["nodes"]:
            bundle.attach(node)
        page = found["variants"]["pageInfo"]
    return bundle
