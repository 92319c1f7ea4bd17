"""Step 4: link the Amazon seller account through the "Connect Amazon" pop-up.

The dialog, its checks and its handling of the refresh token are shared with
the settings page (components/amazon_credentials.py).
"""

from __future__ import annotations

import asyncio

import reflex as rx
from reflex.event import EventSpec

from offamazon_ui import routes
from offamazon_ui.components import layout
from offamazon_ui.components.amazon_credentials import AmazonCredentialsForm, amazon_credentials_dialog
from offamazon_ui.services import importer, shopify
from offamazon_ui.state import SessionState


class ConnectAmazonState(AmazonCredentialsForm, rx.State):
    shop_name: str = ""

    def _access_route(self) -> str:
        return routes.CONNECT_AMAZON

    async def _after_connect(self, user_id: int) -> list[EventSpec]:
        shop = await asyncio.to_thread(shopify.get_shop_connection, user_id)
        if shop is not None:
            # Idempotent: a second click or tab gets the import already queued or running.
            await asyncio.to_thread(importer.enqueue_import, shop.id)
        return [rx.toast.success("Amazon account linked"), rx.redirect(routes.DASHBOARD)]

    async def on_load(self):  # type: ignore[no-untyped-def]
        session = await self.get_state(SessionState)
        user_id, redirect = await session._guard(routes.CONNECT_AMAZON)
        if redirect is not None:
            return redirect
        connection = await asyncio.to_thread(shopify.get_shop_connection, user_id)
        self.shop_name = connection.shop_name if connection else ""
        self._reset_form()
        return None


def page() -> rx.Component:
    return layout.page(
        rx.card(
            rx.vstack(
                rx.heading("Connect your Amazon account", size="6"),
                rx.cond(
                    ConnectAmazonState.shop_name != "",
                    rx.callout(
                        rx.fragment("Connected to ", rx.text.strong(ConnectAmazonState.shop_name)),
                        icon="circle-check",
                        color_scheme="grass",
                        data_testid="shop-connected",
                    ),
                ),
                rx.text(
                    "Link your Amazon seller account so we can list your Shopify products through Off-Amazon "
                    "Selection. You will need your Seller ID and Refresh Token.",
                    size="2",
                ),
                amazon_credentials_dialog(
                    ConnectAmazonState,
                    trigger=rx.button("Connect Amazon", size="3", width="100%"),
                    title="Connect Amazon",
                    submit_label="Connect",
                    busy_label="Connecting…",
                ),
                spacing="4",
                width="100%",
            ),
            size="4",
        ),
        step=3,
    )
