"""Security headers on every HTTP response of the backend: pages (in production), routes and emulators.

An ASGI middleware, added with `rx.App(api_transformer=[build_backend(settings), security_middleware(settings)])`.
In production one port serves the compiled frontend through the backend, so the
pages get these headers too; in development the pages come from the frontend dev
server, which does not send them.

What Reflex needs from the Content-Security-Policy (checked in Chromium):
- scripts: 'unsafe-inline' for the inline boot and color-mode scripts of the
  compiled pages, and 'unsafe-eval' because `rx.call_script` runs its code with
  eval() (the sign-in hand-over and the Shopify redirect use it). So the policy
  does not stop injected script; it limits what a page may load, where it may
  connect and post, and forbids framing.
- styles: 'unsafe-inline' for the style attributes and tags Radix and Emotion write.
- connect: the backend's http(s) and ws(s) origins (the websocket at /_event).
- images: our origins, data: and blob: URLs, and Shopify's CDN (product images).
- forms: the backend (the sign-in cookie and logout routes) and the pages they redirect to.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from offamazon_ui.config import Settings

SHOPIFY_CDN = "https://cdn.shopify.com"
# Routes whose URL or response carries one-time values (OAuth code and state, sign-in ticket): no Referer from them.
NO_REFERRER_PREFIX = "/auth/"
HSTS_MAX_AGE_SECONDS = 365 * 24 * 3600


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _websocket_origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}"


def content_security_policy(settings: Settings) -> str:
    own = list(dict.fromkeys(_origin(url) for url in (settings.public_url, settings.backend_url)))
    # The Shopify emulator's product images and authorize page, when it runs as a process of its own.
    sandbox = [_origin(settings.sandbox_url)] if settings.sandbox_url else []
    sockets = list(dict.fromkeys(_websocket_origin(url) for url in (settings.public_url, settings.backend_url)))
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", "'unsafe-inline'", "'unsafe-eval'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:", *own, *sandbox, SHOPIFY_CDN],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'", *own, *sockets],
        "form-action": ["'self'", *own, *sandbox],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def security_headers(settings: Settings) -> dict[str, str]:
    """The headers every response gets, unless the route set its own value."""
    headers = {
        "Content-Security-Policy": content_security_policy(settings),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    }
    if settings.public_url.startswith("https://"):
        # Only where the site is served over https: a browser would refuse plain http for a year.
        headers["Strict-Transport-Security"] = f"max-age={HSTS_MAX_AGE_SECONDS}"
    return headers


class SecurityHeaders:
    """Adds the security headers to every HTTP response start; websockets pass through untouched."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self._headers = [(name.lower().encode(), value.encode()) for name, value in security_headers(settings).items()]
        self._no_referrer = [
            (name, b"no-referrer" if name == b"referrer-policy" else value) for name, value in self._headers
        ]

    @property
    def routes(self) -> list[BaseRoute]:
        """Starlette's url_for finds routes through a Mount by the mounted app's `routes`; Reflex mounts us."""
        return list(getattr(self.app, "routes", []))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self._no_referrer if scope["path"].startswith(NO_REFERRER_PREFIX) else self._headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _value in headers}
                headers.extend(header for header in extra if header[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def security_middleware(settings: Settings) -> Callable[[ASGIApp], ASGIApp]:
    """For rx.App(api_transformer=[...]): wraps the backend (with Reflex mounted in it) in SecurityHeaders."""

    def wrap(app: ASGIApp) -> ASGIApp:
        return SecurityHeaders(app, settings)

    return wrap
