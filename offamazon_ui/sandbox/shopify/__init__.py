"""A local Shopify that speaks the real protocol: OAuth install, token endpoint, Admin GraphQL with cost
and throttling, bulk operations, and fault knobs for tests. Mounted at {backend}/sandbox/shopify in sandbox mode."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from offamazon_ui.config import Settings
from offamazon_ui.sandbox.shopify.app import emulator_app
from offamazon_ui.sandbox.shopify.catalog import Catalog
from offamazon_ui.sandbox.shopify.state import EmulatedShop, ShopifyEmulator

__all__ = [
    "Catalog",
    "EmulatedShop",
    "ShopifyEmulator",
    "build_shopify_emulator",
    "build_shopify_emulator_for_settings",
]


def build_shopify_emulator(
    api_key: str,
    api_secret: str,
    allowed_redirect_uris: list[str] | tuple[str, ...],
    scopes_granted: list[str] | tuple[str, ...] | None = None,
    **options: Any,
) -> Starlette:
    """The emulator app; its state (a ShopifyEmulator) is `app.state.emulator`.

    options: app_name, bucket_maximum (2000), restore_rate (100/s), demo_shops (True), open_signup (False).
    """
    return emulator_app(ShopifyEmulator(api_key, api_secret, allowed_redirect_uris, scopes_granted, **options))


def build_shopify_emulator_for_settings(settings: Settings) -> Starlette:
    """The emulator registered with this app's credentials and its one redirect URI, as in the Partner Dashboard.

    Any *.myshopify.com name is a shop here (with a 40-product catalog), so each demo merchant can connect their own.
    """
    from offamazon_ui.services.shopify.oauth import callback_url

    return build_shopify_emulator(
        settings.shopify_api_key, settings.shopify_api_secret, [callback_url(settings)], open_signup=True
    )
