"""Built-in emulators of Shopify and Amazon, so a demo needs no accounts anywhere.

They speak the real protocols; the app reaches them only through the URLs in
configuration, exactly as it reaches the real services in live mode.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount

from offamazon_ui.config import Settings


def build_sandbox(settings: Settings) -> Starlette:
    """Both emulators, registered with this app's sandbox credentials (mounted under /sandbox)."""
    from offamazon_ui.sandbox.amazon import build_amazon_emulator
    from offamazon_ui.sandbox.shopify import build_shopify_emulator_for_settings

    return Starlette(
        routes=[
            Mount("/shopify", app=build_shopify_emulator_for_settings(settings)),
            Mount("/amazon", app=build_amazon_emulator(settings.lwa_client_id, settings.lwa_client_secret)),
        ]
    )
