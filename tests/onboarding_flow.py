"""A merchant's whole onboarding, driven the way the browser drives it, with every log record kept.

The page handlers run on an in-memory Reflex state tree; everything else is
real: the backend routes and both emulators on loopback ports, an SMTP server,
the import job. Every secret that passes through is collected, so tests can
look for it in the logs, the database and the data dir.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import reflex as rx
from reflex.istate.data import RouterData
from reflex.utils.format import json_dumps
from sqlmodel import Session, select

import offamazon_ui.offamazon_ui  # noqa: F401  registers every page state
from offamazon_ui.backend import build_backend
from offamazon_ui.config import get_settings
from offamazon_ui.models import ImportJob, ShopConnection
from offamazon_ui.pages.connect_amazon import ConnectAmazonState
from offamazon_ui.pages.connect_shopify import ConnectShopifyState
from offamazon_ui.pages.register import RegisterState
from offamazon_ui.pages.verify import VerifyState
from offamazon_ui.routes import LOGOUT_ENDPOINT, SESSION_COOKIE_ENDPOINT
from offamazon_ui.sandbox.amazon import DEMO_CREDENTIALS, AmazonEmulator
from offamazon_ui.services import amazon, passwords
from offamazon_ui.services.amazon import lwa
from offamazon_ui.services.crypto import decrypt
from offamazon_ui.services.db import get_engine
from offamazon_ui.services.importer import import_progress, run_import_job
from offamazon_ui.services.redaction import install_redaction
from offamazon_ui.state import SESSION_COOKIE
from tests.importer_fixtures import SMALL_SHOP, ImportSandbox
from tests.servers import serve
from tests.shopify_fixtures import approve_install
from tests.smtp import smtp_server

EMAIL = "flow-owner@example.com"
PASSWORD = "Quiet#Harbor-2931"
CLIENT_IP = "203.0.113.50"
MARKETPLACE = "ATVPDKIKX0DER"


class RecordKeeper(logging.Handler):
    """Keeps every record it is given, formatted as a log file would show it (traceback included)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        return [self.format(record) for record in self.records]


@contextmanager
def everything_logged_at_debug() -> Iterator[RecordKeeper]:
    """Redaction installed as at app start; every logger at DEBUG, including those that do not propagate."""
    keeper = RecordKeeper()
    previous_factory = logging.getLogRecordFactory()
    install_redaction()
    loggers = [logging.getLogger()] + [
        logger for logger in logging.root.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    levels = {logger: logger.level for logger in loggers}
    attached = [logger for logger in loggers if logger is logging.getLogger() or not logger.propagate]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    for logger in attached:
        logger.addHandler(keeper)
    try:
        yield keeper
    finally:
        for logger in attached:
            logger.removeHandler(keeper)
        for logger, level in levels.items():
            logger.setLevel(level)
        logging.setLogRecordFactory(previous_factory)


@dataclass
class OnboardedMerchant:
    secrets: dict[str, str]  # what each secret is -> its value
    log: RecordKeeper
    data_dir: Path
    shop_connection_id: int
    visible_at_rest: list[str] = field(default_factory=list)  # non-secret values that must be in the database
    browser_view: str = ""  # every public var of every state, as hydration would send it after the last step


def substate(root: rx.State, cls: type[rx.State]) -> Any:
    return root.get_substate(cls.get_full_name().split(".")[1:])


def browse(root: rx.State, cookie: str = "") -> None:
    """What the websocket handshake tells the state: the merchant's IP and cookie header."""
    root.router = RouterData.from_router_data({"headers": {"cookie": cookie} if cookie else {}, "ip": CLIENT_IP})


async def onboard(importer: ImportSandbox, monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> OnboardedMerchant:
    """Register, verify, sign in, install on Shopify, link Amazon, import, sign out; returns what was seen."""
    monkeypatch.setattr(passwords, "BCRYPT_COST", 4)
    settings = get_settings()
    amazon_emulator = AmazonEmulator(settings.lwa_client_id, settings.lwa_client_secret)
    with (
        smtp_server() as inbox,
        serve(amazon_emulator.app) as amazon_base,
        serve(build_backend(settings)) as backend,
    ):
        monkeypatch.setenv("OFFAMAZON_SMTP_URL", inbox.url)
        monkeypatch.setenv("OFFAMAZON_LWA_TOKEN_URL", f"{amazon_base}/auth/o2/token")
        monkeypatch.setenv("OFFAMAZON_SPAPI_URL", f"{amazon_base}/spapi")
        get_settings.cache_clear()
        settings = get_settings()
        secrets = {
            "password": PASSWORD,
            "shopify client secret": settings.shopify_api_secret,
            "LWA client secret": settings.lwa_client_secret,
            "secret key": settings.secret_key,
        }
        # Servers configure their loggers when they start; capture begins once they all run.
        with everything_logged_at_debug() as keeper:
            async with httpx.AsyncClient(base_url=backend) as http:
                root = rx.State(_reflex_internal_init=True)  # type: ignore[call-arg]
                browse(root)
                register = substate(root, RegisterState)
                form = {"first_name": "Flo", "last_name": "Owner", "email": EMAIL}
                await RegisterState.submit.fn(register, form | {"password": PASSWORD, "confirm_password": PASSWORD})
                secrets["email code"] = inbox.latest_code(EMAIL)

                verify = substate(root, VerifyState)
                handed_over = str(await VerifyState.verify.fn(verify, {"code": secrets["email code"]}))
                ticket = re.search(r'"ticket": "([^"]+)"', handed_over)
                assert ticket, handed_over
                secrets["sign-in ticket"] = ticket.group(1)
                signed_in = await http.post(
                    SESSION_COOKIE_ENDPOINT,
                    data={"ticket": secrets["sign-in ticket"], "next": "/connect/shopify"},
                    headers={"Origin": settings.public_url},
                )
                assert signed_in.status_code == 303, signed_in.text
                secrets["session token"] = signed_in.cookies[SESSION_COOKIE]
                cookie = f"{SESSION_COOKIE}={secrets['session token']}"
                browse(root, cookie)

                shopify_page = substate(root, ConnectShopifyState)
                navigation = str(await ConnectShopifyState.login_to_shopify.fn(shopify_page, {"shop": SMALL_SHOP}))
                authorize_url = re.search(r"(http://[^\"\\]+/admin/oauth/authorize\?[^\"\\]+)", navigation)
                assert authorize_url, navigation
                callback_query = await approve_install(authorize_url.group(1))
                signed = parse_qs(callback_query)
                secrets["Shopify authorization code"] = signed["code"][0]
                secrets["OAuth state"] = signed["state"][0]
                secrets["callback hmac"] = signed["hmac"][0]
                installed = await http.get(f"/auth/shopify/callback?{callback_query}", headers={"Cookie": cookie})
                assert installed.status_code == 303 and installed.headers["location"].endswith("/connect/amazon")

                amazon_page = substate(root, ConnectAmazonState)
                assert await ConnectAmazonState.on_load.fn(amazon_page) is None  # the page the callback led to
                demo = DEMO_CREDENTIALS[MARKETPLACE]
                secrets["Amazon refresh token"] = demo["refresh_token"]
                linked = await ConnectAmazonState.connect.fn(
                    amazon_page,
                    {
                        amazon.MARKETPLACE_FIELD: MARKETPLACE,
                        amazon.SELLER_FIELD: demo["seller_id"],
                        amazon.REFRESH_TOKEN_FIELD: demo["refresh_token"],
                    },
                )
                assert "/dashboard" in str(linked), (amazon_page.errors, amazon_page.form_error)
                access = lwa.cached_access_token(settings.lwa_client_id, demo["refresh_token"])
                assert access is not None
                secrets["Amazon access token"] = access.value

                with Session(get_engine()) as session:
                    shop = session.exec(select(ShopConnection)).one()
                    job = session.exec(select(ImportJob).where(ImportJob.shop_connection_id == shop.id)).one()
                assert shop.id is not None and job.id is not None and shop.refresh_token_enc is not None
                secrets["Shopify access token"] = decrypt(shop.access_token_enc)
                secrets["Shopify refresh token"] = decrypt(shop.refresh_token_enc)
                await run_import_job(job.id)
                progress = import_progress(shop.id)
                assert progress is not None and progress.status == "completed", progress

                view = json_dumps(root.dict())  # serialised as Reflex does
                signed_out = await http.post(LOGOUT_ENDPOINT, headers={"Origin": settings.public_url, "Cookie": cookie})
                assert signed_out.status_code == 303
    return OnboardedMerchant(
        secrets=secrets,
        log=keeper,
        data_dir=data_dir,
        shop_connection_id=shop.id,
        visible_at_rest=[shop.shop_domain, demo["seller_id"], EMAIL],
        browser_view=view,
    )
