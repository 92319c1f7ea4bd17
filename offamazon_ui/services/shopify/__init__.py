"""Shopify: connect a store (OAuth), keep its token fresh, and talk to the Admin GraphQL API."""

from offamazon_ui.services.shopify.connection import ShopConnectionInfo, get_access_token, get_shop_connection
from offamazon_ui.services.shopify.domains import normalize_shop_domain
from offamazon_ui.services.shopify.errors import ShopifyError
from offamazon_ui.services.shopify.graphql import BulkOperation, ShopifyClient
from offamazon_ui.services.shopify.oauth import (
    CALLBACK_PATH,
    ConnectResult,
    begin_install,
    callback_url,
    complete_install,
)

__all__ = [
    "CALLBACK_PATH",
    "BulkOperation",
    "ConnectResult",
    "ShopConnectionInfo",
    "ShopifyClient",
    "ShopifyError",
    "begin_install",
    "callback_url",
    "complete_install",
    "get_access_token",
    "get_shop_connection",
    "normalize_shop_domain",
]
