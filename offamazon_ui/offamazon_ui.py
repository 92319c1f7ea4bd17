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
from offamazon_ui.pages import settings as settings_page
from offamazon_ui.security import security_middleware
from offamazon_ui.services import webhook_inbox
from offamazon_ui.services.importer import run_import_runner
from offamazon_ui.services.redaction import install_redaction
from offamazon_ui.state import SessionState
from offamazon_ui.tab_tokens import keep_tab_tokens_across_crashes

install_redaction()  # before anything logs: tokens, codes and cookies never reach a log line
settings = get_settings()

# The backend routes (with Reflex mounted inside), then security headers around everything.
app = rx.App(api_transformer=[build_backend(settings), security_middleware(settings)])
keep_tab_tokens_across_crashes(app)
# The embedded import runner: queued and interrupted imports run inside the backend process,
# unless `make worker` processes run them (OFFAMAZON_JOB_ENGINE=procrastinate).
if settings.job_engine == "embedded":
    app.register_lifespan_task(run_import_runner)
# Webhook deliveries saved but not applied before a restart are applied at start.
app.register_lifespan_task(webhook_inbox.drain_inbox)

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
app.add_page(
    settings_page.page,
    route=routes.SETTINGS,
    title="Settings · Off-Amazon Selection",
    on_load=settings_page.SettingsState.on_load,
)

if settings.is_sandbox and settings.smtp is None:
    app.add_page(
        dev_mailbox.page,
        route=routes.DEV_MAILBOX,
        title="Sandbox mailbox · Off-Amazon Selection",
        on_load=dev_mailbox.DevMailboxState.load,
    )
