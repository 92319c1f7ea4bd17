"""Shared setup for the Shopify tests: the emulator on a real port, settings pointing at it, two users."""

from __future__ import annotations

import atexit
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlmodel import Session, SQLModel, select
from starlette.types import ASGIApp, Receive, Scope, Send

from offamazon_ui.config import Settings, get_settings
from offamazon_ui.models import ShopConnection, User
from offamazon_ui.sandbox.shopify import ShopifyEmulator, build_shopify_emulator
from offamazon_ui.services.db import get_engine
from offamazon_ui.services.shopify import graphql, tokens
from offamazon_ui.services.shopify.oauth import callback_url
from offamazon_ui.services.shopify.retry import RetryPolicy
from tests.environment import clear_caches
from tests.servers import serve

API_KEY = "test-shopify-app"
API_SECRET = "test-shopify-secret-0123456789"
SMALL_SHOP = "demo-small.myshopify.com"
FAST_RETRY = RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.05)


@dataclass
class ShopifySandbox:
    base: str
    emulator: ShopifyEmulator
    user_id: int
    other_user_id: int

    @property
    def settings(self) -> Settings:
        return get_settings()

    def connections(self) -> list[ShopConnection]:
        with Session(get_engine()) as session:
            return list(session.exec(select(ShopConnection)))


def _add_user(session: Session, email: str) -> int:
    user = User(email=email, first_name="Test", last_name="Merchant", password_hash="x")
    session.add(user)
    session.commit()
    assert user.id is not None
    return user.id


class SwappableApp:
    """One real server for the whole run; each test plugs in a fresh emulator (a uvicorn per test is slow)."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "no emulator plugged in"
        await self.app(scope, receive, send)


@cache
def shared_server() -> tuple[str, SwappableApp]:
    swappable = SwappableApp()
    server = serve(swappable)
    base = server.__enter__()
    atexit.register(server.__exit__, None, None, None)
    return base, swappable


@pytest.fixture
def shopify(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ShopifySandbox]:
    base, swappable = shared_server()
    monkeypatch.setenv("SHOPIFY_API_KEY", API_KEY)
    monkeypatch.setenv("SHOPIFY_API_SECRET", API_SECRET)
    monkeypatch.setenv("OFFAMAZON_SHOPIFY_URL", f"{base}/{{shop}}")
    monkeypatch.setattr(tokens, "TOKEN_RETRY", FAST_RETRY)
    monkeypatch.setattr(graphql, "GRAPHQL_RETRY", FAST_RETRY)
    clear_caches()
    settings = get_settings()
    # A closed shop list (as on real Shopify), so unknown shops answer 404.
    swappable.app = build_shopify_emulator(
        settings.shopify_api_key, settings.shopify_api_secret, [callback_url(settings)]
    )
    emulator: ShopifyEmulator = swappable.app.state.emulator
    engine = get_engine()
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        user_id = _add_user(session, "merchant@example.com")
        other_user_id = _add_user(session, "other@example.com")
    yield ShopifySandbox(base, emulator, user_id, other_user_id)
    emulator.close()
    swappable.app = None
    engine.dispose()


async def approve_install(authorize_url: str) -> str:
    """Open Shopify's authorize page, press "Install app", and return the query of the callback redirect."""
    async with httpx.AsyncClient() as http:
        page = await http.get(authorize_url)
        assert page.status_code == 200, page.text
        assert re.search(r"<button[^>]*>Install app</button>", page.text)
        fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.text))
        redirect = await http.post(authorize_url, data=fields)
    assert redirect.status_code == 302, redirect.text
    location = redirect.headers["location"]
    assert location.startswith("http://localhost:8000/auth/shopify/callback?")
    return urlsplit(location).query
