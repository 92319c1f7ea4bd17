"""The Amazon credentials dialog, shared by /connect/amazon and the settings page.

Marketplace ID and Seller ID are not secret and may live in state; the refresh
token only ever arrives in the form's submit data and is wiped from the input
after every attempt. A page subclasses `AmazonCredentialsForm` (a state mixin),
says which route's access rule applies, and what happens after a successful
connection.
"""

from __future__ import annotations

import logging

import reflex as rx
from reflex.event import EventSpec

from offamazon_ui.components import fields
from offamazon_ui.components.credential_notes import credential_notes
from offamazon_ui.config import get_settings
from offamazon_ui.forms import UNEXPECTED_ERROR, submitted_text
from offamazon_ui.services import amazon
from offamazon_ui.state import SessionState, check_access

log = logging.getLogger(__name__)
MARKETPLACE_OPTIONS = amazon.marketplace_options()
REFRESH_TOKEN_INPUT = "field-refresh-token"  # noqa: S105  an element id
SELLER_INPUT = "field-seller-id"
AMAZON_FIELDS = (amazon.MARKETPLACE_FIELD, amazon.SELLER_FIELD, amazon.REFRESH_TOKEN_FIELD)


class AmazonCredentialsForm(rx.State, mixin=True):
    dialog_open: bool = False
    marketplace_id: str = get_settings().default_marketplace_id
    errors: dict[str, str] = {}
    form_error: str = ""
    connecting: bool = False
    show_token: bool = False

    def _access_route(self) -> str:
        """The route whose access rule decides whether this user may save credentials."""
        raise NotImplementedError

    async def _after_connect(self, user_id: int) -> list[EventSpec]:
        """Runs outside the state lock once the credentials are verified and stored; returns events to send."""
        return []

    def _reset_form(self) -> None:
        self.errors, self.form_error, self.connecting = {}, "", False

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
        user_id, redirect = await check_access(token, self._access_route())
        if redirect is not None:
            async with self:
                self.connecting = False
            return [wipe_token, redirect]
        try:
            result = await amazon.verify_and_connect(
                user_id,
                submitted_text(form_data, amazon.MARKETPLACE_FIELD),
                submitted_text(form_data, amazon.SELLER_FIELD),
                submitted_text(form_data, amazon.REFRESH_TOKEN_FIELD),
            )
        except Exception:
            log.exception("Amazon connection failed unexpectedly")
            async with self:
                self.connecting, self.form_error = False, UNEXPECTED_ERROR
            return wipe_token
        async with self:
            self.connecting = False
            if not result.ok:
                self.errors = {name: message for name in AMAZON_FIELDS if (message := result.message_for(name))}
                self.form_error = result.message_for(None)
                return wipe_token
            self.dialog_open = False
        return [wipe_token, *await self._after_connect(user_id)]


def _marketplace_picker(state: type[AmazonCredentialsForm]) -> rx.Component:
    return rx.vstack(
        fields.field(
            "Marketplace ID",
            amazon.MARKETPLACE_FIELD,
            state.errors.get(amazon.MARKETPLACE_FIELD, ""),
            value=state.marketplace_id,
            on_change=state.set_marketplace,
            max_length=20,
        ),
        rx.select.root(
            rx.select.trigger(placeholder="Choose a marketplace", aria_label="Choose a marketplace", width="100%"),
            rx.select.content(
                *[rx.select.item(option["label"], value=option["value"]) for option in MARKETPLACE_OPTIONS],
            ),
            value=state.marketplace_id,
            on_change=state.set_marketplace,
        ),
        spacing="2",
        width="100%",
    )


def amazon_credentials_dialog(
    state: type[AmazonCredentialsForm],
    *,
    trigger: rx.Component,
    title: str,
    submit_label: str,
    busy_label: str,
) -> rx.Component:
    sandbox = get_settings().is_sandbox
    return rx.dialog.root(
        rx.dialog.trigger(trigger),
        rx.dialog.content(
            rx.dialog.title(title),
            rx.dialog.description(
                "Enter the credentials Amazon shared with CedCommerce or gave you during onboarding.",
                size="2",
            ),
            rx.form(
                rx.vstack(
                    fields.form_error(state.form_error),
                    _marketplace_picker(state),
                    fields.field(
                        "Seller ID",
                        amazon.SELLER_FIELD,
                        state.errors.get(amazon.SELLER_FIELD, ""),
                        placeholder="A2EXAMPLE3SELLER",
                        max_length=40,
                        spell_check=False,
                    ),
                    fields.field(
                        "Refresh Token",
                        amazon.REFRESH_TOKEN_FIELD,
                        state.errors.get(amazon.REFRESH_TOKEN_FIELD, ""),
                        input_type=rx.cond(state.show_token, "text", "password"),
                        placeholder="Atzr|…",
                        spell_check=False,
                        trailing=fields.reveal_toggle(state.show_token, state.toggle_token, "refresh token"),
                    ),
                    credential_notes(),
                    rx.hstack(
                        rx.button(
                            "Use demo credentials",
                            type="button",
                            variant="soft",
                            color_scheme="gray",
                            on_click=state.use_demo_credentials,
                        )
                        if sandbox
                        else rx.fragment(),
                        rx.spacer(),
                        rx.dialog.close(rx.button("Cancel", type="button", variant="soft", color_scheme="gray")),
                        rx.button(
                            rx.cond(state.connecting, busy_label, submit_label),
                            type="submit",
                            loading=state.connecting,
                            disabled=state.connecting,
                        ),
                        width="100%",
                        align="center",
                    ),
                    spacing="3",
                    width="100%",
                ),
                on_submit=state.connect,
                reset_on_submit=False,
                no_validate=True,
            ),
            max_width="520px",
        ),
        open=state.dialog_open,
        on_open_change=state.set_dialog_open,
    )
