"""/settings: connections, profile, signed-in browsers, two-factor sign-in, deleting the account.

Who may open it: any signed-in merchant with a verified email, i.e. anyone
allowed on the Shopify step (SETTINGS_GATE). It does not require a connected
store or Amazon account, because disconnecting them happens here, and a
merchant who never finished onboarding must still be able to change their
password or delete their account.

Every handler re-checks the session cookie before it acts. Nothing secret is
held in a var: passwords arrive only with a form's submit data; the
authenticator key, its QR code and the recovery codes are shown once by
writing them into read-only elements (rx.set_value / a script), so they are
neither kept in state nor sent again on reconnect.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime

import reflex as rx
from reflex.event import EventSpec

from offamazon_ui import routes
from offamazon_ui.components import fields, layout
from offamazon_ui.components.amazon_credentials import AmazonCredentialsForm, amazon_credentials_dialog
from offamazon_ui.components.password_checklist import password_checklist, password_checks
from offamazon_ui.forms import UNEXPECTED_ERROR, submitted_text
from offamazon_ui.services import amazon, importer, passwords, profile, sessions, shopify, twofactor
from offamazon_ui.services.accounts import FieldError
from offamazon_ui.services.amazon.connection import AmazonConnectionSummary
from offamazon_ui.services.importer import ImportProgress
from offamazon_ui.services.shopify.connection import ShopConnectionInfo, disconnect_shop
from offamazon_ui.services.shopify.webhooks import list_webhook_subscriptions
from offamazon_ui.state import SessionState, check_access, hand_over_session_script

log = logging.getLogger(__name__)
# Reaching the Shopify step means signed in with a verified email: all the settings page asks for.
SETTINGS_GATE = routes.CONNECT_SHOPIFY

DELETE_PASSWORD_FIELD = "delete_password"  # noqa: S105  form field names
DISABLE_PASSWORD_FIELD = "disable_password"  # noqa: S105
KEY_ELEMENT = "two-factor-key"
QR_ELEMENT = "two-factor-qr"
RECOVERY_ELEMENT = "recovery-codes"
PRODUCT_CHOICES = ("keep", "delete")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%d %b %Y, %H:%M UTC") if moment else ""


def mask_seller_id(seller_id: str) -> str:
    """A2DEMOOUTFITNA → A2DE••••••NA: enough to recognise it, not to copy it; the length is not revealed."""
    return f"{seller_id[:4]}••••••{seller_id[-2:]}" if len(seller_id) > 6 else "••••••"


def describe_import(progress: ImportProgress | None) -> str:
    if progress is None:
        return "No import yet"
    if progress.status == "completed":
        return f"Completed {_when(progress.finished_at)} · {progress.products_imported} products"
    if progress.status == "running":
        total = f" of {progress.products_total}" if progress.products_total is not None else ""
        return f"Running: {progress.products_imported}{total} products so far"
    if progress.status == "queued":
        return "Waiting to start"
    return f"Failed {_when(progress.finished_at)}: {progress.last_error or 'unknown error'}"


WEBHOOKS_TIMEOUT_SECONDS = 5.0


async def describe_webhooks(shop: ShopConnectionInfo | None) -> str:
    """The store's webhook subscriptions (what keeps the catalog in sync without a re-sync), asked of Shopify."""
    if shop is None:
        return ""
    try:
        subscriptions = await asyncio.wait_for(list_webhook_subscriptions(shop.id), WEBHOOKS_TIMEOUT_SECONDS)
    except Exception as error:
        log.info("webhook subscriptions not listed (%s)", type(error).__name__)
        return "Could not be listed right now; reload the page in a minute."
    if not subscriptions:
        return "None: products update only on a re-sync. Reconnect the store to subscribe."
    return ", ".join(sorted(s.topic.lower().replace("_", "/", 1) for s in subscriptions))


def _errors_by_field(errors: tuple[FieldError, ...]) -> tuple[dict[str, str], str]:
    by_field = {error.field or "": error.message for error in errors}
    return by_field, by_field.pop("", "")


@dataclass(frozen=True)
class _Overview:
    profile: profile.Profile | None
    shop: ShopConnectionInfo | None
    last_import: ImportProgress | None
    amazon: AmazonConnectionSummary | None
    sessions: list[profile.SessionInfo]
    two_factor: twofactor.Status


def _overview(user_id: int, session_token: str | None) -> _Overview:
    shop = shopify.get_shop_connection(user_id)
    return _Overview(
        profile=profile.get_profile(user_id),
        shop=shop,
        last_import=importer.import_progress(shop.id) if shop else None,
        amazon=amazon.get_amazon_connection(user_id),
        sessions=profile.list_sessions(user_id, session_token),
        two_factor=twofactor.status(user_id),
    )


async def _session_token(state: rx.State) -> str | None:
    """Call inside `async with self` in background tasks."""
    session = await state.get_state(SessionState)
    return session._session_token()


class SettingsState(rx.State):
    loaded: bool = False
    form_error: str = ""
    # Profile
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    name_errors: dict[str, str] = {}
    names_notice: str = ""
    # Shopify
    shop_connected: bool = False
    shop_name: str = ""
    shop_domain: str = ""
    shop_scopes: str = ""
    shop_since: str = ""
    last_import: str = ""
    shop_webhooks: str = ""
    disconnect_shop_open: bool = False
    product_choice: str = "keep"
    # Amazon
    amazon_connected: bool = False
    amazon_marketplace: str = ""
    amazon_seller: str = ""
    amazon_store: str = ""
    amazon_since: str = ""
    disconnect_amazon_open: bool = False
    # Sessions and the account
    devices: list[dict[str, str]] = []
    delete_open: bool = False
    delete_error: str = ""
    busy: bool = False

    async def on_load(self):  # type: ignore[no-untyped-def]
        session = await self.get_state(SessionState)
        user_id, redirect = await session._guard(SETTINGS_GATE)
        if redirect is not None or user_id is None:
            return redirect
        self.form_error, self.name_errors, self.names_notice, self.delete_error, self.busy = "", {}, "", "", False
        self.disconnect_shop_open = self.disconnect_amazon_open = self.delete_open = False
        password_state = await self.get_state(ChangePasswordState)
        password_state._reset()
        await self._refresh(user_id, session._session_token())
        return None

    async def _refresh(self, user_id: int, session_token: str | None) -> None:
        overview = await asyncio.to_thread(_overview, user_id, session_token)
        self._apply(overview)
        self.shop_webhooks = await describe_webhooks(overview.shop)
        two_factor_state = await self.get_state(TwoFactorSettingsState)
        two_factor_state._apply(overview.two_factor)
        amazon_form = await self.get_state(UpdateAmazonState)
        amazon_form._reset_form()
        if overview.amazon is not None:
            amazon_form.marketplace_id = overview.amazon.marketplace_id

    def _apply(self, overview: _Overview) -> None:
        if overview.profile is not None:
            self.first_name, self.last_name = overview.profile.first_name, overview.profile.last_name
            self.email = overview.profile.email
        shop = overview.shop
        self.shop_connected = shop is not None
        self.shop_name = shop.shop_name if shop else ""
        self.shop_domain = shop.shop_domain if shop else ""
        self.shop_scopes = ", ".join(shop.scopes) if shop else ""
        self.shop_since = _when(shop.connected_at) if shop else ""
        self.last_import = describe_import(overview.last_import) if shop else ""
        seller = overview.amazon
        self.amazon_connected = seller is not None
        self.amazon_marketplace = f"{seller.country} ({seller.marketplace_id})" if seller else ""
        self.amazon_seller = mask_seller_id(seller.seller_id) if seller else ""
        self.amazon_store = seller.store_name if seller else ""
        self.amazon_since = _when(seller.connected_at) if seller else ""
        self.devices = [
            {
                "created": _when(info.created_at),
                "last_seen": _when(info.last_seen_at),
                "current": "yes" if info.current else "",
            }
            for info in overview.sessions
        ]
        self.loaded = True

    async def reload(self):  # type: ignore[no-untyped-def]
        session = await self.get_state(SessionState)
        user_id, redirect = await session._guard(SETTINGS_GATE)
        if redirect is not None or user_id is None:
            return redirect
        await self._refresh(user_id, session._session_token())
        return None

    # Profile

    async def save_names(self, form_data: dict):  # type: ignore[no-untyped-def]
        session = await self.get_state(SessionState)
        user_id, redirect = await session._guard(SETTINGS_GATE)
        if redirect is not None or user_id is None:
            return redirect
        first, last = submitted_text(form_data, "first_name"), submitted_text(form_data, "last_name")
        self.names_notice, self.form_error = "", ""
        try:
            errors = await asyncio.to_thread(profile.update_names, user_id, first, last)
        except Exception:
            log.exception("saving names failed unexpectedly")
            self.form_error = UNEXPECTED_ERROR
            return None
        self.name_errors, self.form_error = _errors_by_field(errors)
        if errors:
            return None
        saved = await asyncio.to_thread(profile.get_profile, user_id)
        if saved is not None:
            self.first_name, self.last_name = saved.first_name, saved.last_name
            session.user_name = f"{saved.first_name} {saved.last_name}"
        self.names_notice = "Your name was saved."
        return None

    # Sessions

    @rx.event(background=True)
    async def sign_out_everywhere(self):  # type: ignore[no-untyped-def]
        async with self:
            if self.busy:
                return
            self.busy = True
            token = await _session_token(self)
        user_id, redirect = await check_access(token, SETTINGS_GATE)
        try:
            if redirect is None and user_id is not None:
                await asyncio.to_thread(profile.sign_out_everywhere, user_id)
        finally:
            async with self:
                self.busy = False
        # The logout route clears this browser's cookie; its session has already ended.
        return redirect or SessionState.log_out

    # Connections

    def set_disconnect_shop_open(self, is_open: object) -> None:
        if not self.busy:
            self.disconnect_shop_open = is_open is True
            self.product_choice = "keep"

    def set_product_choice(self, value: object) -> None:
        self.product_choice = value if value in PRODUCT_CHOICES else "keep"

    def set_disconnect_amazon_open(self, is_open: object) -> None:
        if not self.busy:
            self.disconnect_amazon_open = is_open is True

    @rx.event(background=True)
    async def confirm_disconnect_shop(self):  # type: ignore[no-untyped-def]
        async with self:
            if self.busy:
                return
            self.busy, self.form_error = True, ""
            token, keep_products = await _session_token(self), self.product_choice != "delete"
        user_id, redirect = await check_access(token, SETTINGS_GATE)
        if redirect is not None or user_id is None:
            async with self:
                self.busy = False
            return redirect
        try:
            await asyncio.to_thread(disconnect_shop, user_id, keep_products=keep_products)
            overview = await asyncio.to_thread(_overview, user_id, token)
        except Exception:
            log.exception("disconnecting Shopify failed unexpectedly")
            async with self:
                self.busy, self.form_error, self.disconnect_shop_open = False, UNEXPECTED_ERROR, False
            return None
        async with self:
            self.busy, self.disconnect_shop_open = False, False
            self._apply(overview)
        kept = "Your imported products were kept." if keep_products else "Your imported products were deleted."
        return rx.toast.success(f"Shopify store disconnected. {kept}")

    @rx.event(background=True)
    async def confirm_disconnect_amazon(self):  # type: ignore[no-untyped-def]
        async with self:
            if self.busy:
                return
            self.busy, self.form_error = True, ""
            token = await _session_token(self)
        user_id, redirect = await check_access(token, SETTINGS_GATE)
        if redirect is not None or user_id is None:
            async with self:
                self.busy = False
            return redirect
        try:
            await asyncio.to_thread(amazon.disconnect_amazon, user_id)
            overview = await asyncio.to_thread(_overview, user_id, token)
        except Exception:
            log.exception("disconnecting Amazon failed unexpectedly")
            async with self:
                self.busy, self.form_error, self.disconnect_amazon_open = False, UNEXPECTED_ERROR, False
            return None
        async with self:
            self.busy, self.disconnect_amazon_open = False, False
            self._apply(overview)
        return rx.toast.success("Amazon account disconnected.")

    # Delete the account

    def set_delete_open(self, is_open: object) -> None:
        if not self.busy:
            self.delete_open, self.delete_error = is_open is True, ""

    @rx.event(background=True)
    async def delete_account(self, form_data: dict):  # type: ignore[no-untyped-def]
        async with self:
            if self.busy:
                return
            self.busy, self.delete_error = True, ""
            token, client_ip = await _session_token(self), self.router.session.client_ip
        wipe = rx.set_value(f"field-{DELETE_PASSWORD_FIELD.replace('_', '-')}", "")
        user_id, redirect = await check_access(token, SETTINGS_GATE)
        if redirect is not None or user_id is None:
            async with self:
                self.busy = False
            return [wipe, redirect]
        try:
            error = await profile.delete_account(
                user_id, submitted_text(form_data, DELETE_PASSWORD_FIELD), client_ip, field=DELETE_PASSWORD_FIELD
            )
        except Exception:
            log.exception("deleting an account failed unexpectedly")
            error = FieldError(None, UNEXPECTED_ERROR)
        async with self:
            self.busy = False
            if error is not None:
                self.delete_error = error.message
                return wipe
            self.delete_open = False
        return [wipe, SessionState.log_out]


class ChangePasswordState(rx.State):
    errors: dict[str, str] = {}
    form_error: str = ""
    checks: dict[str, bool] = {}
    show_password: bool = False
    submitting: bool = False

    def _reset(self) -> None:
        self.errors, self.form_error, self.checks, self.submitting = {}, "", {}, False

    async def check_password(self, value: object) -> None:
        settings_state = await self.get_state(SettingsState)
        self.checks = password_checks(value, settings_state.email)

    def toggle_password(self) -> None:
        self.show_password = not self.show_password

    @rx.event(background=True)
    async def submit(self, form_data: dict):  # type: ignore[no-untyped-def]
        async with self:
            if self.submitting:
                return
            self.submitting, self.errors, self.form_error = True, {}, ""
            token, client_ip = await _session_token(self), self.router.session.client_ip
        user_id, redirect = await check_access(token, SETTINGS_GATE)
        if redirect is not None or user_id is None:
            async with self:
                self.submitting = False
            return redirect
        try:
            errors = await profile.change_password(
                user_id,
                submitted_text(form_data, profile.CURRENT_PASSWORD_FIELD),
                submitted_text(form_data, passwords.PASSWORD_FIELD),
                submitted_text(form_data, passwords.CONFIRM_FIELD),
                client_ip,
            )
            # Every session ended with the change; this browser continues on a brand-new one.
            ticket = None if errors else await asyncio.to_thread(sessions.issue_ticket, user_id)
        except Exception:
            log.exception("changing a password failed unexpectedly")
            async with self:
                self.submitting, self.form_error = False, UNEXPECTED_ERROR
            return None
        async with self:
            self.submitting = False
            if ticket is None:
                self.errors, self.form_error = _errors_by_field(errors)
                return None
        return [
            rx.toast.success("Password changed."),
            rx.call_script(hand_over_session_script(ticket, routes.SETTINGS)),
        ]


class TwoFactorSettingsState(rx.State):
    enabled: bool = False
    enabled_since: str = ""
    recovery_left: int = 0
    stage: str = ""  # "" | "scan" (key shown, awaiting a code) | "saved" (recovery codes shown)
    code_error: str = ""
    form_error: str = ""
    disable_open: bool = False
    disable_error: str = ""
    busy: bool = False

    def _apply(self, status: twofactor.Status) -> None:
        self.enabled, self.recovery_left = status.enabled, status.recovery_codes_left
        self.enabled_since = _when(status.enabled_at)
        self.stage, self.code_error, self.form_error, self.disable_error, self.busy = "", "", "", "", False
        self.disable_open = False

    @staticmethod
    def _wipe_key() -> list[EventSpec]:
        return [
            rx.set_value(KEY_ELEMENT, ""),
            rx.call_script(f"document.getElementById({json.dumps(QR_ELEMENT)})?.removeAttribute('src')"),
        ]

    @rx.event(background=True)
    async def begin_setup(self):  # type: ignore[no-untyped-def]
        async with self:
            if self.busy or self.enabled:
                return
            self.busy, self.code_error, self.form_error = True, "", ""
            token = await _session_token(self)
        user_id, redirect = await check_access(token, SETTINGS_GATE)
        if redirect is not None or user_id is None:
            async with self:
                self.busy = False
            return redirect
        try:
            setup = await asyncio.to_thread(twofactor.begin_setup, user_id)
        except Exception:
            log.exception("two-factor setup failed unexpectedly")
            setup = None
        async with self:
            self.busy = False
            if setup is None:
                self.form_error = UNEXPECTED_ERROR
                return None
            self.stage = "scan"
        # Written into the page once, never into a var.
        return [
            rx.set_value(KEY_ELEMENT, setup.grouped_key),
            rx.call_script(
                f"document.getElementById({json.dumps(QR_ELEMENT)})"
                f".setAttribute('src', {json.dumps(setup.qr_svg_data_uri)})"
            ),
        ]

    def cancel_setup(self):  # type: ignore[no-untyped-def]
        self.stage, self.code_error, self.form_error = "", "", ""
        return self._wipe_key()

    @rx.event(background=True)
    async def confirm_setup(self, form_data: dict):  # type: ignore[no-untyped-def]
        async with self:
            if self.busy or self.stage != "scan":
                return
            self.busy, self.code_error, self.form_error = True, "", ""
            token, client_ip = await _session_token(self), self.router.session.client_ip
        user_id, redirect = await check_access(token, SETTINGS_GATE)
        if redirect is not None or user_id is None:
            async with self:
                self.busy = False
            return redirect
        try:
            result = await asyncio.to_thread(
                twofactor.confirm_setup, user_id, submitted_text(form_data, twofactor.CODE_FIELD), client_ip
            )
            status = await asyncio.to_thread(twofactor.status, user_id)
        except Exception:
            log.exception("confirming two-factor setup failed unexpectedly")
            async with self:
                self.busy, self.form_error = False, UNEXPECTED_ERROR
            return None
        async with self:
            self.busy = False
            if result.error is not None:
                if result.error.field is not None:
                    self.code_error = result.error.message
                else:
                    self.form_error = result.error.message
                return None
            self._apply(status)
            self.stage = "saved"
        return [*self._wipe_key(), rx.set_value(RECOVERY_ELEMENT, "\n".join(result.recovery_codes))]

    def finish_setup(self):  # type: ignore[no-untyped-def]
        self.stage = ""
        return rx.set_value(RECOVERY_ELEMENT, "")

    def set_disable_open(self, is_open: object) -> None:
        if not self.busy:
            self.disable_open, self.disable_error = is_open is True, ""

    @rx.event(background=True)
    async def disable(self, form_data: dict):  # type: ignore[no-untyped-def]
        async with self:
            if self.busy or not self.enabled:
                return
            self.busy, self.disable_error = True, ""
            token, client_ip = await _session_token(self), self.router.session.client_ip
        wipe = rx.set_value(f"field-{DISABLE_PASSWORD_FIELD.replace('_', '-')}", "")
        user_id, redirect = await check_access(token, SETTINGS_GATE)
        if redirect is not None or user_id is None:
            async with self:
                self.busy = False
            return [wipe, redirect]
        try:
            error = await twofactor.disable(
                user_id, submitted_text(form_data, DISABLE_PASSWORD_FIELD), client_ip, field=DISABLE_PASSWORD_FIELD
            )
            status = await asyncio.to_thread(twofactor.status, user_id)
        except Exception:
            log.exception("turning two-factor off failed unexpectedly")
            error, status = FieldError(None, UNEXPECTED_ERROR), None
        async with self:
            self.busy = False
            if error is not None or status is None:
                self.disable_error = error.message if error else UNEXPECTED_ERROR
                return wipe
            self._apply(status)
        return [wipe, rx.toast.success("Two-factor sign-in is off.")]


class UpdateAmazonState(AmazonCredentialsForm, rx.State):
    """The Connect Amazon dialog, reused for "Update credentials"."""

    def _access_route(self) -> str:
        return SETTINGS_GATE

    async def _after_connect(self, user_id: int) -> list[EventSpec]:
        return [rx.toast.success("Amazon credentials updated."), SettingsState.reload]


# Page


def _row(label: str, value: rx.Var | str, test_id: str) -> rx.Component:
    return rx.hstack(
        rx.text(label, size="2", color=rx.color("gray", 11), min_width="150px"),
        rx.text(value, size="2", data_testid=test_id),
        spacing="3",
        align="baseline",
        wrap="wrap",
    )


def _section(title: str, *children: rx.Component) -> rx.Component:
    return rx.card(
        rx.vstack(rx.heading(title, size="4", as_="h2"), *children, spacing="3", width="100%"),
        size="3",
        width="100%",
    )


def _shopify_card() -> rx.Component:
    disconnect_dialog = rx.dialog.root(
        rx.dialog.trigger(rx.button("Disconnect", variant="soft", color_scheme="red")),
        rx.dialog.content(
            rx.dialog.title("Disconnect Shopify"),
            rx.dialog.description(
                "We delete the store's access tokens here. To remove the app from your store as well, uninstall it "
                "in your Shopify admin.",
                size="2",
            ),
            rx.vstack(
                rx.radio_group.root(
                    rx.vstack(
                        *[
                            rx.el.label(
                                rx.hstack(rx.radio_group.item(value=value), rx.text(text, size="2"), align="center")
                            )
                            for value, text in (
                                ("keep", "Keep my imported products"),
                                ("delete", "Delete my imported products"),
                            )
                        ],
                        spacing="2",
                    ),
                    value=SettingsState.product_choice,
                    on_change=SettingsState.set_product_choice,
                    aria_label="Imported products",
                ),
                rx.text(
                    "Kept products stay with this account and come back up to date when you reconnect the same "
                    "store. While they are kept, the store cannot be connected to another account.",
                    size="1",
                    color=rx.color("gray", 11),
                ),
                rx.hstack(
                    rx.spacer(),
                    rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray")),
                    rx.button(
                        "Disconnect store",
                        color_scheme="red",
                        on_click=SettingsState.confirm_disconnect_shop,
                        loading=SettingsState.busy,
                    ),
                    width="100%",
                ),
                spacing="4",
                width="100%",
            ),
            max_width="480px",
        ),
        open=SettingsState.disconnect_shop_open,
        on_open_change=SettingsState.set_disconnect_shop_open,
    )
    return rx.box(
        rx.heading("Shopify", size="3", as_="h3"),
        rx.cond(
            SettingsState.shop_connected,
            rx.vstack(
                _row("Store", SettingsState.shop_name, "shop-name"),
                _row("Domain", SettingsState.shop_domain, "shop-domain"),
                _row("Permissions", SettingsState.shop_scopes, "shop-scopes"),
                _row("Connected since", SettingsState.shop_since, "shop-since"),
                _row("Last import", SettingsState.last_import, "last-import"),
                _row("Webhooks", SettingsState.shop_webhooks, "shop-webhooks"),
                rx.hstack(
                    rx.link(rx.button("Reconnect", variant="soft"), href=routes.CONNECT_SHOPIFY),
                    disconnect_dialog,
                    spacing="3",
                ),
                spacing="2",
                width="100%",
            ),
            rx.vstack(
                rx.text("No Shopify store is connected.", size="2", data_testid="shop-missing"),
                rx.link(rx.button("Connect Shopify"), href=routes.CONNECT_SHOPIFY),
                spacing="2",
            ),
        ),
        width="100%",
        data_testid="shopify-connection",
    )


def _amazon_card() -> rx.Component:
    disconnect_dialog = rx.alert_dialog.root(
        rx.alert_dialog.trigger(rx.button("Disconnect", variant="soft", color_scheme="red")),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Disconnect Amazon"),
            rx.alert_dialog.description(
                "We delete your Amazon refresh token. You can connect the account again at any time.", size="2"
            ),
            rx.hstack(
                rx.spacer(),
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.button(
                    "Disconnect Amazon",
                    color_scheme="red",
                    on_click=SettingsState.confirm_disconnect_amazon,
                    loading=SettingsState.busy,
                ),
                width="100%",
                margin_top="16px",
            ),
            max_width="480px",
        ),
        open=SettingsState.disconnect_amazon_open,
        on_open_change=SettingsState.set_disconnect_amazon_open,
    )
    return rx.box(
        rx.heading("Amazon", size="3", as_="h3"),
        rx.cond(
            SettingsState.amazon_connected,
            rx.vstack(
                _row("Marketplace", SettingsState.amazon_marketplace, "amazon-marketplace"),
                _row("Seller ID", SettingsState.amazon_seller, "amazon-seller"),
                _row("Store name", SettingsState.amazon_store, "amazon-store"),
                _row("Connected since", SettingsState.amazon_since, "amazon-since"),
                rx.hstack(
                    amazon_credentials_dialog(
                        UpdateAmazonState,
                        trigger=rx.button("Update credentials", variant="soft"),
                        title="Update Amazon credentials",
                        submit_label="Save",
                        busy_label="Checking…",
                    ),
                    disconnect_dialog,
                    spacing="3",
                ),
                spacing="2",
                width="100%",
            ),
            rx.vstack(
                rx.text("No Amazon account is connected.", size="2", data_testid="amazon-missing"),
                rx.link(rx.button("Connect Amazon"), href=routes.CONNECT_AMAZON),
                spacing="2",
            ),
        ),
        width="100%",
        data_testid="amazon-connection",
    )


def _names_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            fields.notice(SettingsState.names_notice),
            rx.grid(
                fields.field(
                    "First name",
                    "first_name",
                    SettingsState.name_errors.get("first_name", ""),
                    autocomplete="given-name",
                    default_value=SettingsState.first_name,
                ),
                fields.field(
                    "Last name",
                    "last_name",
                    SettingsState.name_errors.get("last_name", ""),
                    autocomplete="family-name",
                    default_value=SettingsState.last_name,
                ),
                columns=rx.breakpoints(initial="1", sm="2"),
                gap="3",
                width="100%",
            ),
            _row("Email", SettingsState.email, "profile-email"),
            rx.button("Save name", type="submit"),
            spacing="3",
            width="100%",
        ),
        on_submit=SettingsState.save_names,
        reset_on_submit=False,
        no_validate=True,
    )


def _password_form() -> rx.Component:
    password_type = rx.cond(ChangePasswordState.show_password, "text", "password")
    return rx.form(
        rx.vstack(
            rx.heading("Change password", size="3", as_="h3"),
            fields.form_error(ChangePasswordState.form_error),
            fields.field(
                "Current password",
                profile.CURRENT_PASSWORD_FIELD,
                ChangePasswordState.errors.get(profile.CURRENT_PASSWORD_FIELD, ""),
                input_type=password_type,
                autocomplete="current-password",
            ),
            fields.field(
                "New password",
                passwords.PASSWORD_FIELD,
                ChangePasswordState.errors.get(passwords.PASSWORD_FIELD, ""),
                input_type=password_type,
                autocomplete="new-password",
                on_change=ChangePasswordState.check_password,
                trailing=fields.reveal_toggle(ChangePasswordState.show_password, ChangePasswordState.toggle_password),
                hint=password_checklist(ChangePasswordState.checks),
            ),
            fields.field(
                "Confirm new password",
                passwords.CONFIRM_FIELD,
                ChangePasswordState.errors.get(passwords.CONFIRM_FIELD, ""),
                input_type=password_type,
                autocomplete="new-password",
            ),
            rx.text(
                "Changing your password signs you out on every other device.", size="1", color=rx.color("gray", 11)
            ),
            rx.button(
                "Change password",
                type="submit",
                loading=ChangePasswordState.submitting,
                disabled=ChangePasswordState.submitting,
            ),
            spacing="3",
            width="100%",
        ),
        on_submit=ChangePasswordState.submit,
        reset_on_submit=False,
        no_validate=True,
    )


def _sessions() -> rx.Component:
    return rx.vstack(
        rx.heading("Where you're signed in", size="3", as_="h3"),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Signed in"),
                    rx.table.column_header_cell("Last active"),
                    rx.table.column_header_cell(""),
                )
            ),
            rx.table.body(
                rx.foreach(
                    SettingsState.devices,
                    lambda device: rx.table.row(
                        rx.table.cell(device["created"]),
                        rx.table.cell(device["last_seen"]),
                        rx.table.cell(rx.cond(device["current"] != "", rx.badge("This device", color_scheme="grass"))),
                    ),
                )
            ),
            width="100%",
            aria_label="Signed-in sessions",
            data_testid="signed-in-sessions",
        ),
        rx.button(
            "Sign out everywhere",
            variant="soft",
            color_scheme="red",
            on_click=SettingsState.sign_out_everywhere,
            loading=SettingsState.busy,
        ),
        spacing="3",
        width="100%",
    )


def _two_factor() -> rx.Component:
    # The setup and recovery panels stay mounted (only hidden), so the one-time values can be written into them.
    setup_panel = rx.box(
        rx.vstack(
            rx.text(
                "1. Scan this QR code with an authenticator app (Google Authenticator, 1Password, Authy…), "
                "or type the key below into it.",
                size="2",
            ),
            rx.el.img(id=QR_ELEMENT, alt="QR code for your authenticator app", width="220", height="220"),
            rx.el.label(rx.text("Setup key", size="2", weight="medium"), html_for=KEY_ELEMENT),
            rx.input(id=KEY_ELEMENT, read_only=True, width="100%", size="3", spell_check=False),
            rx.form(
                rx.vstack(
                    rx.text("2. Enter the 6-digit code the app shows.", size="2"),
                    fields.form_error(TwoFactorSettingsState.form_error),
                    fields.field(
                        "Code from the app",
                        twofactor.CODE_FIELD,
                        TwoFactorSettingsState.code_error,
                        autocomplete="one-time-code",
                        input_mode="numeric",
                        max_length=20,
                        placeholder="123 456",
                    ),
                    rx.hstack(
                        rx.button(
                            "Cancel",
                            type="button",
                            variant="soft",
                            color_scheme="gray",
                            on_click=TwoFactorSettingsState.cancel_setup,
                        ),
                        rx.button("Turn on", type="submit", loading=TwoFactorSettingsState.busy),
                        spacing="3",
                    ),
                    spacing="3",
                    width="100%",
                ),
                on_submit=TwoFactorSettingsState.confirm_setup,
                reset_on_submit=True,
                no_validate=True,
            ),
            spacing="3",
            width="100%",
        ),
        display=rx.cond(TwoFactorSettingsState.stage == "scan", "block", "none"),
        width="100%",
        data_testid="two-factor-setup",
    )
    recovery_panel = rx.box(
        rx.vstack(
            rx.callout(
                "Save these recovery codes somewhere safe. Each one signs you in once if you lose your phone. "
                "They are shown only now.",
                icon="key-round",
                color_scheme="amber",
            ),
            rx.el.label(rx.text("Recovery codes", size="2", weight="medium"), html_for=RECOVERY_ELEMENT),
            rx.text_area(id=RECOVERY_ELEMENT, read_only=True, rows="10", width="100%", font_family="monospace"),
            rx.button("I saved my recovery codes", on_click=TwoFactorSettingsState.finish_setup),
            spacing="3",
            width="100%",
        ),
        display=rx.cond(TwoFactorSettingsState.stage == "saved", "block", "none"),
        width="100%",
        data_testid="recovery-codes-panel",
    )
    disable_dialog = rx.dialog.root(
        rx.dialog.trigger(rx.button("Turn off two-factor sign-in", variant="soft", color_scheme="red")),
        rx.dialog.content(
            rx.dialog.title("Turn off two-factor sign-in"),
            rx.dialog.description("Confirm with your password.", size="2"),
            rx.form(
                rx.vstack(
                    fields.form_error(TwoFactorSettingsState.disable_error),
                    fields.field("Password", DISABLE_PASSWORD_FIELD, rx.Var.create(""), input_type="password"),
                    rx.hstack(
                        rx.spacer(),
                        rx.dialog.close(rx.button("Cancel", type="button", variant="soft", color_scheme="gray")),
                        rx.button("Turn off", type="submit", color_scheme="red", loading=TwoFactorSettingsState.busy),
                        width="100%",
                    ),
                    spacing="3",
                    width="100%",
                ),
                on_submit=TwoFactorSettingsState.disable,
                reset_on_submit=False,
                no_validate=True,
            ),
            max_width="440px",
        ),
        open=TwoFactorSettingsState.disable_open,
        on_open_change=TwoFactorSettingsState.set_disable_open,
    )
    return rx.vstack(
        rx.heading("Two-factor sign-in", size="3", as_="h3"),
        rx.text(
            "Protect your Amazon and Shopify connections: after your password, sign-in also asks for a code "
            "from an authenticator app.",
            size="2",
        ),
        rx.cond(
            TwoFactorSettingsState.enabled,
            rx.vstack(
                rx.text(
                    "On since ",
                    TwoFactorSettingsState.enabled_since,
                    " · ",
                    TwoFactorSettingsState.recovery_left,
                    " recovery codes left",
                    size="2",
                    data_testid="two-factor-status",
                ),
                rx.cond(TwoFactorSettingsState.stage == "", disable_dialog),
                spacing="2",
            ),
            rx.vstack(
                rx.text("Off", size="2", data_testid="two-factor-status"),
                rx.cond(
                    TwoFactorSettingsState.stage == "",
                    rx.button(
                        "Set up two-factor sign-in",
                        on_click=TwoFactorSettingsState.begin_setup,
                        loading=TwoFactorSettingsState.busy,
                    ),
                ),
                fields.form_error(rx.cond(TwoFactorSettingsState.stage == "", TwoFactorSettingsState.form_error, "")),
                spacing="2",
            ),
        ),
        setup_panel,
        recovery_panel,
        spacing="3",
        width="100%",
    )


def _delete_account() -> rx.Component:
    return rx.vstack(
        rx.text(
            "Deleting your account removes your profile, your Shopify and Amazon connections and tokens, and every "
            "imported product. This cannot be undone.",
            size="2",
        ),
        rx.dialog.root(
            rx.dialog.trigger(rx.button("Delete my account", color_scheme="red")),
            rx.dialog.content(
                rx.dialog.title("Delete your account"),
                rx.dialog.description("Everything is deleted at once. Confirm with your password.", size="2"),
                rx.form(
                    rx.vstack(
                        fields.form_error(SettingsState.delete_error),
                        fields.field("Password", DELETE_PASSWORD_FIELD, rx.Var.create(""), input_type="password"),
                        rx.hstack(
                            rx.spacer(),
                            rx.dialog.close(rx.button("Cancel", type="button", variant="soft", color_scheme="gray")),
                            rx.button(
                                "Delete everything", type="submit", color_scheme="red", loading=SettingsState.busy
                            ),
                            width="100%",
                        ),
                        spacing="3",
                        width="100%",
                    ),
                    on_submit=SettingsState.delete_account,
                    reset_on_submit=False,
                    no_validate=True,
                ),
                max_width="440px",
            ),
            open=SettingsState.delete_open,
            on_open_change=SettingsState.set_delete_open,
        ),
        spacing="3",
        width="100%",
    )


def page() -> rx.Component:
    return layout.page(
        rx.vstack(
            rx.heading("Settings", size="7"),
            fields.form_error(SettingsState.form_error),
            rx.cond(
                SettingsState.loaded,
                rx.vstack(
                    _section("Connections", _shopify_card(), rx.separator(), _amazon_card()),
                    _section("Profile", _names_form(), rx.separator(), _password_form(), rx.separator(), _sessions()),
                    spacing="4",
                    width="100%",
                ),
            ),
            _section("Security", _two_factor()),
            _section("Delete my account", _delete_account()),
            spacing="4",
            width="100%",
        ),
        step=None,
        width="760px",
    )
