"""Security headers on every backend response, over real HTTP through the same middleware the app installs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.types import Message, Receive, Scope, Send

from offamazon_ui.backend import build_backend
from offamazon_ui.config import get_settings, load_settings
from offamazon_ui.security import SecurityHeaders, content_security_policy, security_middleware
from tests.servers import serve

ALWAYS = (
    "content-security-policy",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
    "permissions-policy",
)


@pytest.fixture
def backend(db, app_env: Path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    settings = get_settings()
    with serve(security_middleware(settings)(build_backend(settings))) as base:
        yield base


def directives(policy: str) -> dict[str, list[str]]:
    return {name: sources for name, *sources in (part.split() for part in policy.split("; "))}


ROUTES = [
    ("GET", "/healthz", "strict-origin-when-cross-origin"),
    ("GET", "/auth/shopify/callback?code=1&state=2&hmac=3", "no-referrer"),
    ("POST", "/auth/session", "no-referrer"),
    ("POST", "/auth/logout", "no-referrer"),
    ("GET", "/sandbox/shopify/demo-small.myshopify.com/admin/oauth/authorize?client_id=x", None),
    ("GET", "/no-such-route", "strict-origin-when-cross-origin"),
]


def test_every_route_gets_the_headers_once(backend: str) -> None:
    for method, path, _referrer in ROUTES:
        response = httpx.request(method, f"{backend}{path}", follow_redirects=False)
        for name in ALWAYS:
            assert len(response.headers.get_list(name)) == 1, (path, name)
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "strict-transport-security" not in response.headers  # served over http


def test_routes_carrying_one_time_values_send_no_referrer(backend: str) -> None:
    for method, path, referrer in ROUTES:
        if referrer is not None:
            response = httpx.request(method, f"{backend}{path}", follow_redirects=False)
            assert response.headers["referrer-policy"] == referrer, path


def test_policy_allows_what_reflex_needs_and_nothing_foreign(app_env: Path) -> None:
    settings = load_settings(
        {
            "OFFAMAZON_DATA_DIR": str(app_env),
            "OFFAMAZON_SECRET_KEY": "k" * 40,
            "OFFAMAZON_PUBLIC_URL": "https://shop.example.com",
            "REFLEX_API_URL": "https://api.example.com",
        }
    )
    policy = directives(content_security_policy(settings))
    assert policy["default-src"] == ["'self'"]
    assert set(policy["connect-src"]) >= {"https://api.example.com", "wss://api.example.com"}
    assert "ws://api.example.com" not in policy["connect-src"]
    assert set(policy["form-action"]) >= {"https://api.example.com", "https://shop.example.com"}
    assert "https://cdn.shopify.com" in policy["img-src"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert not [source for sources in policy.values() for source in sources if source in ("*", "https:", "http:")]


def test_hsts_only_when_the_site_is_served_over_https(app_env: Path) -> None:
    env = {"OFFAMAZON_DATA_DIR": str(app_env), "OFFAMAZON_SECRET_KEY": "k" * 40}
    https = load_settings(env | {"OFFAMAZON_PUBLIC_URL": "https://shop.example.com"})
    plain = load_settings(env)
    with serve(SecurityHeaders(Starlette(), https)) as secure, serve(SecurityHeaders(Starlette(), plain)) as insecure:
        assert httpx.get(secure).headers["strict-transport-security"] == "max-age=31536000"
        assert "strict-transport-security" not in httpx.get(insecure).headers


async def test_websocket_messages_pass_through_untouched(app_env: Path) -> None:
    accept = {"type": "websocket.accept", "headers": [(b"sec-websocket-protocol", b"reflex")]}
    sent: list[Message] = []

    async def websocket_app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(accept)

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    middleware = SecurityHeaders(websocket_app, get_settings())
    await middleware({"type": "websocket", "path": "/_event", "headers": []}, receive, send)
    assert sent == [accept]


def test_url_for_still_finds_routes_behind_the_middleware(app_env: Path) -> None:
    """Reflex mounts the wrapped backend in its own app; the emulators build URLs with request.url_for."""

    async def link(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(request.url_for("target")))

    inner = Starlette(routes=[Route("/link", link), Route("/target", link, name="target")])
    outer = Starlette(routes=[Mount("", app=SecurityHeaders(inner, get_settings()))])
    with serve(outer) as base:
        assert httpx.get(f"{base}/link").text == f"{base}/target"
