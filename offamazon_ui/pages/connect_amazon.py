"""Step 4: link the Amazon seller account through the "Connect Amazon" pop-up.

Marketplace ID and Seller ID are not secret and may live in state; the refresh
token only ever arrives in the form's submit data and is wiped from the input
after every attempt.
"""

from __future__ import annotations

import asyncio
import logging

import reflex as rx

from offamazon_ui import routes
from offamazon_ui.components import fields, layout
from offamazon_ui.components.credential_notes import credential_notes
from offamazon_ui.config import get_settings
from offamazon_ui.services import amazon, shopify
from offamazon_ui.state import SessionState, check_access

log = logging.getLogger(__name__)
UNEXPECTED = "Something went wrong on our side. Please try again in a minute."
MARKETPLACE_OPTIONS = amazon.marketplace_options()
REFRESH_TOKEN_INPUT = "field-refresh-token"  # noqa: S105  an element id
SELLER_INPUT = "field-seller-id"
AMAZON_FIELDS = (amazon.MARKETPLACE_FIELD, amazon.SELLER_FIELD, amazon.REFRESH_TOKEN_FIELD)


def _text(form_data: object, name: str) -> str:
    value = form_data.get(name, "") if isinstance(form_data, dict) else ""
    return value if isinstance(value, str) else ""


class ConnectAmazonState(rx.State):
    dialog_open: bool = False
    marketplace_id: str = get_settings().default_marketplace_id
    errors: dict[str, str] = {}
    form_error: str = ""
    connecting: bool = False
    show_token: bool = False
    shop_name: str = ""
    linked_message: str = ""

    async def on_load(self):  # type: ignore[no-untyped-def]
        session = await self.get_state(SessionState)
        user_id, redirect = await session._guard(routes.CONNECT_AMAZON)
        if redirect is not None:
            return redirect
        connection = await asyncio.to_thread(shopify.get_shop_connection, user_id)
        self.shop_name = connection.shop_name if connection else ""
        self.errors, self.form_error, self.connecting, self.linked_message = {}, "", False, ""
        return None

    def set_dialog_open(self, is_open: object) -> None:
        if self.connecting:
            return  # stays open until Amazon has answered
        self.dialog_open = is_open is True
        if not self.dialog_open:
            self.errors, self.form_error = {}, ""

    def set_marketplace(self, value: object) -> None:
        self.marketplace_id = value.strip().upper()[:20] if isinstance(value, str) else ""

    def toggle_token(self) -> None:
        self.show_token = not self.show_token

    def use_demo_credentials(self):  # type: ignore[no-untyped-def]
        """Sandbox only: fills the emulator's demo seller for the chosen marketplace."""
        if not get_settings().is_sandbox:
            return None
        from offamazon_ui.sandbox.amazon import DEMO_CREDENTIALS

        if self.marketplace_id not in DEMO_CREDENTIALS:
            self.marketplace_id = get_settings().default_marketplace_id
        demo = DEMO_CREDENTIALS.get(self.marketplace_id) or next(iter(DEMO_CREDENTIALS.values()))
        return [rx.set_value(SELLER_INPUT, demo["seller_id"]), rx.set_value(REFRESH_TOKEN_INPUT, demo["refresh_token"])]

    @rx.event(background=True)
    async def connect(self, form_data: dict):  # type: ignore[no-untyped-def]
        async with self:
            if self.connecting:
                return
            session = await self.get_state(SessionState)
            token = session._session_token()
            self.connecting, self.errors, self.form_error = True, {}, ""
        # The refresh token has left the browser's form; the input is wiped whatever happens.
        wipe_token = rx.set_value(REFRESH_TOKEN_INPUT, "")
        user_id, redirect = await check_access(token, routes.CONNECT_AMAZON)
        if redirect is not None:
            async with self:
                self.connecting = False
            return [wipe_token, redirect]
        try:
            result = await amazon.verify_and_connect(
                user_id,
                _text(form_data, amazon.MARKETPLACE_FIELD),
                _text(form_data, amazon.SELLER_FIELD),
                _text(form_data, amazon.REFRESH_TOKEN_FIELD),
            )
        except Exception:
            log.exception("Amazon connection failed unexpectedly")
            async with self:
                self.connecting, self.form_error = False, UNEXPECTED
            return wipe_token
        async with self:
            self.connecting = False
            if not result.ok:
                self.errors = {name: message for name in AMAZON_FIELDS if (message := result.message_for(name))}
                self.form_error = result.message_for(None)
                return wipe_token
            self.dialog_open = False
            self.linked_message = "Amazon account linked"
        return [wipe_token, rx.toast.success("Amazon account linked"), rx.redirect(routes.DASHBOARD)]


def _marketplace_picker() -> rx.Component:
    return rx.vstack(
        fields.field(
            "Marketplace ID",
            amazon.MARKETPLACE_FIELD,
            ConnectAmazonState.errors.get(amazon.MARKETPLACE_FIELD, ""),
            value=ConnectAmazonState.marketplace_id,
            on_change=ConnectAmazonState.set_marketplace,
            max_length=20,
        ),
        rx.select.root(
            rx.select.trigger(placeholder="Choose a marketplace", aria_label="Choose a marketplace", width="100%"),
            rx.select.content(
                *[rx.select.item(option["label"], value=option["value"]) for option in MARKETPLACE_OPTIONS],
            ),
            value=ConnectAmazonState.marketplace_id,
            on_change=ConnectAmazonState.set_marketplace,
        ),
        spacing="2",
        width="100%",
    )


def _dialog() -> rx.Component:
    sandbox = get_settings().is_sandbox
    return rx.dialog.root(
        rx.dialog.trigger(rx.button("Connect Amazon", size="3", width="100%")),
        rx.dialog.content(
            rx.dialog.title("Connect Amazon"),
            rx.dialog.description(
                "Enter the credentials Amazon shared with CedCommerce or gave you during onboarding.",
                size="2",
            ),
            rx.form(
                rx.vstack(
                    fields.form_error(ConnectAmazonState.form_error),
                    _marketplace_picker(),
                    fields.field(
                        "Seller ID",
                        amazon.SELLER_FIELD,
                        ConnectAmazonState.errors.get(amazon.SELLER_FIELD, ""),
                        placeholder="A2EXAMPLE3SELLER",
                        max_length=40,
                        spell_check=False,
                    ),
                    fields.field(
                        "Refresh Token",
                        amazon.REFRESH_TOKEN_FIELD,
                        ConnectAmazonState.errors.get(amazon.REFRESH_TOKEN_FIELD, ""),
                        input_type=rx.cond(ConnectAmazonState.show_token, "text", "password"),
                        placeholder="Atzr|…",
                        spell_check=False,
                        trailing=fields.reveal_toggle(
                            ConnectAmazonState.show_token, ConnectAmazonState.toggle_token, "refresh token"
                        ),
                    ),
                    credential_notes(),
                    rx.hstack(
                        rx.button(
                            "Use demo credentials",
                            type="button",
                            variant="soft",
                            color_scheme="gray",
                            on_click=ConnectAmazonState.use_demo_credentials,
                        )
                        if sandbox
                        else rx.fragment(),
                        rx.spacer(),
                        rx.dialog.close(rx.button("Cancel", type="button", variant="soft", color_scheme="gray")),
                        rx.button(
                            rx.cond(ConnectAmazonState.connecting, "Connecting…", "Connect"),
                            type="submit",
                            loading=ConnectAmazonState.connecting,
                            disabled=ConnectAmazonState.connecting,
                        ),
                        width="100%",
                        align="center",
                    ),
                    spacing="3",
                    width="100%",
                ),
                on_submit=ConnectAmazonState.connect,
                reset_on_submit=False,
                no_validate=True,
            ),
            max_width="520px",
        ),
        open=ConnectAmazonState.dialog_open,
        on_open_change=ConnectAmazonState.set_dialog_open,
    )


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
                _dialog(),
                spacing="4",
                width="100%",
            ),
            size="4",
        ),
        step=3,
    )
