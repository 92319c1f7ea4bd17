"""The Reflex app: pages, their load guards, and the backend routes."""

import reflex as rx

from offamazon_ui import (
    models,  # noqa: F401  registers the tables for migrations
    routes,
)
from offamazon_ui.backend import build_backend
from offamazon_ui.config import get_settings
from offamazon_ui.pages import (
    connect_amazon,
    connect_shopify,
    dashboard,
    dev_mailbox,
    forgot_password,
    login,
    register,
    verify,
)
from offamazon_ui.state import SessionState

settings = get_settings()

app = rx.App(api_transformer=build_backend(settings))

app.add_page(rx.fragment, route="/", title="Off-Amazon Selection", on_load=SessionState.land)
app.add_page(
    register.page,
    route=routes.REGISTER,
    title="Register · Off-Amazon Selection",
    on_load=register.RegisterState.on_load,
)
app.add_page(
    verify.page,
    route=routes.VERIFY,
    title="Verify your email · Off-Amazon Selection",
    on_load=verify.VerifyState.on_load,
)
app.add_page(login.page, route=routes.LOGIN, title="Log in · Off-Amazon Selection", on_load=login.LoginState.on_load)
app.add_page(
    forgot_password.page,
    route=routes.FORGOT_PASSWORD,
    title="Reset your password · Off-Amazon Selection",
    on_load=forgot_password.ForgotPasswordState.on_load,
)
app.add_page(
    connect_shopify.page,
    route=routes.CONNECT_SHOPIFY,
    title="Connect Shopify · Off-Amazon Selection",
    on_load=connect_shopify.ConnectShopifyState.on_load,
)
app.add_page(
    connect_amazon.page,
    route=routes.CONNECT_AMAZON,
    title="Connect Amazon · Off-Amazon Selection",
    on_load=connect_amazon.ConnectAmazonState.on_load,
)
app.add_page(
    dashboard.page,
    route=routes.DASHBOARD,
    title="Dashboard · Off-Amazon Selection",
    on_load=dashboard.DashboardState.on_load,
)

if settings.is_sandbox and settings.smtp is None:
    app.add_page(
        dev_mailbox.page,
        route=routes.DEV_MAILBOX,
        title="Sandbox mailbox · Off-Amazon Selection",
        on_load=dev_mailbox.DevMailboxState.load,
    )
