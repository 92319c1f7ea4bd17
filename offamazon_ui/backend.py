"""Plain HTTP routes beside Reflex's websocket: cookies, OAuth callbacks, health, emulators.

They run on the backend port (8000 in dev, the single port in production);
a reverse proxy must forward /auth/*, /healthz and, in sandbox mode, /sandbox/*.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import quote, urlsplit

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from offamazon_ui import routes
from offamazon_ui.config import Settings, get_settings
from offamazon_ui.sandbox import build_sandbox
from offamazon_ui.services import sessions, shopify
from offamazon_ui.services.db import get_engine
from offamazon_ui.services.shopify.errors import ShopifyError
from offamazon_ui.state import read_session_token, session_cookie_name

log = logging.getLogger(__name__)

# Where a session hand-over may send the browser next: our own pages only.
HAND_OVER_TARGETS = {route for _label, route in routes.ONBOARDING_STEPS} | {routes.LOGIN}


def _origin_allowed(request: Request, settings: Settings) -> bool:
    """Cookie-changing posts must come from our own pages (stops login CSRF)."""
    origin = request.headers.get("origin") or request.headers.get("referer") or ""
    parts = urlsplit(origin)
    candidate = f"{parts.scheme}://{parts.netloc}"
    return candidate in {settings.public_url, settings.backend_url}


def _redirect(settings: Settings, route: str) -> RedirectResponse:
    return RedirectResponse(f"{settings.public_url}{route}", status_code=303)


def _secure(settings: Settings) -> bool:
    return settings.public_url.startswith("https://")


async def start_session(request: Request) -> Response:
    settings = get_settings()
    if not _origin_allowed(request, settings):
        return PlainTextResponse("Forbidden", status_code=403)
    form = await request.form()
    ticket = str(form.get("ticket", ""))
    next_route = str(form.get("next", ""))
    if next_route not in HAND_OVER_TARGETS:
        next_route = routes.LOGIN
    token = await asyncio.to_thread(sessions.redeem_ticket, ticket) if ticket else None
    if token is None:
        return _redirect(settings, routes.LOGIN)
    response = _redirect(settings, next_route)
    response.set_cookie(
        session_cookie_name(_secure(settings)),
        token,
        max_age=int(sessions.ABSOLUTE_TIMEOUT.total_seconds()),
        path="/",
        secure=_secure(settings),
        httponly=True,
        samesite="lax",
    )
    return response


async def end_session(request: Request) -> Response:
    settings = get_settings()
    if not _origin_allowed(request, settings):
        return PlainTextResponse("Forbidden", status_code=403)
    token = read_session_token(request.headers.get("cookie", ""))
    if token:
        await asyncio.to_thread(sessions.revoke_session, token)
    response = _redirect(settings, routes.LOGIN)
    response.delete_cookie(session_cookie_name(_secure(settings)), path="/", secure=_secure(settings), httponly=True)
    return response


async def shopify_callback(request: Request) -> Response:
    """Shopify sends the browser here after "Install app"; every check runs before any token request."""
    settings = get_settings()
    token = read_session_token(request.headers.get("cookie", ""))
    user_id = await asyncio.to_thread(sessions.resolve_session, token) if token else None
    try:
        await shopify.complete_install(request.url.query, user_id)
    except ShopifyError as error:
        log.info("Shopify install refused: %s", error.code)
        target = routes.LOGIN if user_id is None else f"{routes.CONNECT_SHOPIFY}?error={quote(error.code)}"
        return _no_referrer(_redirect(settings, target))
    except Exception:
        log.exception("Shopify install failed unexpectedly")
        return _no_referrer(_redirect(settings, f"{routes.CONNECT_SHOPIFY}?error=unexpected"))
    return _no_referrer(_redirect(settings, routes.CONNECT_AMAZON))


def _no_referrer(response: Response) -> Response:
    # The callback URL carries a one-time code; never pass it on in a Referer header.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _database_answers() -> bool:
    with get_engine().connect() as connection:
        connection.execute(text("SELECT 1"))
    return True


async def health(_request: Request) -> Response:
    try:
        await asyncio.to_thread(_database_answers)
    except Exception:
        log.exception("health check: database unreachable")
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


def build_backend(settings: Settings) -> Starlette:
    route_list: list[Route | Mount] = [
        Route(routes.SESSION_COOKIE_ENDPOINT, start_session, methods=["POST"]),
        Route(routes.LOGOUT_ENDPOINT, end_session, methods=["POST"]),
        Route(routes.HEALTH_ENDPOINT, health, methods=["GET"]),
        Route(shopify.CALLBACK_PATH, shopify_callback, methods=["GET"]),
    ]
    if settings.is_sandbox:
        route_list.append(Mount(routes.SANDBOX_PREFIX, app=build_sandbox(settings)))
    return Starlette(routes=route_list)
