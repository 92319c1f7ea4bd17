"""Step 3: enter the shop URL, authorize on Shopify, come back connected.

"Login to Shopify" sends this tab to Shopify's authorize page; Shopify sends it
back to the backend callback route, which verifies everything and redirects
here with a reason code on failure (the reason is looked up below, so no text
from the URL is ever displayed).
"""

from __future__ import annotations

import asyncio
import json
import logging

import reflex as rx

from offamazon_ui import routes
from offamazon_ui.components import fields, layout
from offamazon_ui.forms import UNEXPECTED_ERROR, submitted_text
from offamazon_ui.services import shopify
from offamazon_ui.services.shopify.errors import ShopifyError
from offamazon_ui.state import SessionState, check_access

log = logging.getLogger(__name__)
TRY_AGAIN = "Please try connecting again."

# Why the callback sent the merchant back here, by the reason code in ?error=.
CALLBACK_PROBLEMS = {
    "bad_hmac": f"Shopify's answer could not be verified. {TRY_AGAIN}",
    "state_missing": f"Shopify's answer was incomplete. {TRY_AGAIN}",
    "code_missing": f"Shopify's answer was incomplete. {TRY_AGAIN}",
    "state_unknown": f"This Shopify connection link is not valid. {TRY_AGAIN}",
    "state_used": f"This Shopify connection link was already used. {TRY_AGAIN}",
    "state_expired": f"The connection took longer than 10 minutes and expired. {TRY_AGAIN}",
    "state_foreign": f"This Shopify connection was started from another account. {TRY_AGAIN}",
    "shop_mismatch": f"Shopify answered for a different store than the one you entered. {TRY_AGAIN}",
    "stale_timestamp": f"Shopify's answer is too old or your computer's clock is off. {TRY_AGAIN}",
    "shop_taken": "This store is already connected to another Off-Amazon account. Sign in with that account, "
    "or disconnect the store there first.",
    "missing_scopes": "The app was installed without all the permissions it needs (read products and inventory). "
    f"{TRY_AGAIN}",
    "code_rejected": f"Shopify did not accept the authorization; it may have expired. {TRY_AGAIN}",
    "access_denied": "The installation was cancelled on Shopify. Click Login to Shopify to try again.",
    "app_credentials": "Our app could not authenticate with Shopify. Please contact support@cedcommerce.com.",
    "shop_frozen": "Your Shopify store is frozen because of an unpaid bill. Settle it in Shopify, then try again.",
    "shop_locked": "Your Shopify store is locked. Contact Shopify support, then try again.",
    "shop_not_found": "Shopify could not find this store. Check the shop URL and try again.",
    "shopify_unreachable": "Shopify is not responding right now. Please try again in a minute.",
    "throttled": "Shopify is limiting requests for your store right now. Please try again in a minute.",
    "not_signed_in": "You were signed out while connecting Shopify. Sign in and connect your store again.",
}
GENERIC_PROBLEM = f"We couldn't connect your store. {TRY_AGAIN}"


def callback_problem(code: str) -> str:
    return CALLBACK_PROBLEMS.get(code, GENERIC_PROBLEM)


class ConnectShopifyState(rx.State):
    shop_error: str = ""
    form_error: str = ""
    connected_shop: str = ""
    connected_domain: str = ""
    redirecting: bool = False

    async def on_load(self):  # type: ignore[no-untyped-def]
        session = await self.get_state(SessionState)
        user_id, redirect = await session._guard(routes.CONNECT_SHOPIFY)
        if redirect is not None:
            return redirect
        problem = self.router.url.query_parameters.get("error", "")
        self.form_error = callback_problem(problem) if problem else ""
        self.shop_error, self.redirecting = "", False
        connection = await asyncio.to_thread(shopify.get_shop_connection, user_id)
        self.connected_shop = connection.shop_name if connection else ""
        self.connected_domain = connection.shop_domain if connection else ""
        return None

    @rx.event(background=True)
    async def login_to_shopify(self, form_data: dict):  # type: ignore[no-untyped-def]
        async with self:
            if self.redirecting:
                return
            session = await self.get_state(SessionState)
            token = session._session_token()
            self.redirecting, self.shop_error, self.form_error = True, "", ""
        user_id, redirect = await check_access(token, routes.CONNECT_SHOPIFY)
        if redirect is not None:
            return redirect
        try:
            authorize_url = await asyncio.to_thread(shopify.begin_install, user_id, submitted_text(form_data, "shop"))
        except ShopifyError as error:
            async with self:
                self.redirecting = False
                if error.field:
                    self.shop_error = error.message
                else:
                    self.form_error = error.message
            return
        except Exception:
            log.exception("starting the Shopify install failed unexpectedly")
            async with self:
                self.redirecting, self.form_error = False, UNEXPECTED_ERROR
            return
        # A full navigation of this tab (not a new window), also when Shopify is served from our own host.
        return rx.call_script(f"window.location.assign({json.dumps(authorize_url)})")


def page() -> rx.Component:
    return layout.page(
        rx.card(
            rx.form(
                rx.vstack(
                    rx.heading("Connect your Shopify store", size="6"),
                    rx.cond(
                        ConnectShopifyState.connected_shop != "",
                        rx.callout(
                            rx.fragment(
                                "Connected to ",
                                rx.text.strong(ConnectShopifyState.connected_shop),
                                " (",
                                ConnectShopifyState.connected_domain,
                                "). ",
                                rx.link("Continue to Amazon", href=routes.CONNECT_AMAZON),
                            ),
                            icon="circle-check",
                            color_scheme="grass",
                        ),
                    ),
                    rx.text(
                        "Enter your Shopify store's address, then authorize the app on Shopify. "
                        "You will come back here automatically.",
                        size="2",
                    ),
                    fields.form_error(ConnectShopifyState.form_error),
                    fields.field(
                        "Shop URL",
                        "shop",
                        ConnectShopifyState.shop_error,
                        placeholder="storename.myshopify.com",
                        autocomplete="url",
                        spell_check=False,
                        hint=rx.text("For example: storename.myshopify.com", size="1", color=rx.color("gray", 11)),
                        max_length=300,
                    ),
                    rx.button(
                        "Login to Shopify",
                        type="submit",
                        size="3",
                        width="100%",
                        loading=ConnectShopifyState.redirecting,
                        disabled=ConnectShopifyState.redirecting,
                    ),
                    spacing="4",
                    width="100%",
                ),
                on_submit=ConnectShopifyState.login_to_shopify,
                reset_on_submit=False,
                no_validate=True,
            ),
            size="4",
        ),
        step=2,
    )
