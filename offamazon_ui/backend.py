"""Plain HTTP routes beside Reflex's websocket: cookies, OAuth callbacks, health, emulators.

They run on the backend port (8000 in dev, the single port in production);
a reverse proxy must forward /auth/*, /healthz, /webhooks/shopify (Shopify's deliveries) and,
in sandbox mode, /sandbox/* (unless the emulators run as a process of their own, see OFFAMAZON_SANDBOX_URL).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import NamedTuple
from urllib.parse import quote, urlsplit

import redis.asyncio as redis
from reflex.utils.prerequisites import get_web_dir
from reflex_base import constants
from reflex_base.environment import environment
from sqlalchemy import func, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from offamazon_ui import routes
from offamazon_ui.config import Settings, get_settings
from offamazon_ui.models import ImportJob
from offamazon_ui.sandbox import build_sandbox
from offamazon_ui.services import sessions, shopify, webhook_inbox
from offamazon_ui.services.db import get_engine
from offamazon_ui.services.shopify.errors import ShopifyError
from offamazon_ui.services.shopify.webhooks import verify_webhook_hmac
from offamazon_ui.state import read_session_token, session_cookie_name

log = logging.getLogger(__name__)

# Where a session hand-over may send the browser next: our own pages only.
HAND_OVER_TARGETS = {route for _label, route in routes.ONBOARDING_STEPS} | {routes.LOGIN, routes.SETTINGS}


def _origin_allowed(request: Request, settings: Settings) -> bool:
    """Cookie-changing posts must come from our own pages (stops login CSRF)."""
    origin = request.headers.get("origin") or request.headers.get("referer") or ""
    try:
        parts = urlsplit(origin)
    except ValueError:  # e.g. "http://[": not a URL, so not ours
        return False
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


# Strong references to running drains: the event loop keeps only weak ones.
_background_tasks: set[asyncio.Task[int]] = set()
MAX_WEBHOOK_BYTES = 5 * 1024 * 1024


async def shopify_webhook(request: Request) -> Response:
    """Verify the signature over the raw body before anything else, store the delivery, answer at once;
    the work runs in the background (Shopify waits 5 seconds, then retries)."""
    settings = get_settings()
    raw_body = await request.body()
    if len(raw_body) > MAX_WEBHOOK_BYTES or not verify_webhook_hmac(
        raw_body, request.headers.get("x-shopify-hmac-sha256"), settings.shopify_api_secret
    ):
        return PlainTextResponse("Unauthorized", status_code=401)
    webhook_id = request.headers.get("x-shopify-webhook-id", "")
    topic = request.headers.get("x-shopify-topic", "")
    shop_domain = request.headers.get("x-shopify-shop-domain", "")
    if (
        not (webhook_id and topic and shop_domain)
        or len(webhook_id) > 255
        or len(topic) > 100
        or len(shop_domain) > 255
    ):
        return PlainTextResponse("Missing webhook headers", status_code=400)
    try:
        payload = raw_body.decode()
        if not isinstance(json.loads(payload), dict):
            raise ValueError("not an object")
    except ValueError:
        return PlainTextResponse("Body must be a JSON object", status_code=400)
    if not await asyncio.to_thread(webhook_inbox.record_delivery, webhook_id, topic, shop_domain, payload):
        return PlainTextResponse("Already received")
    task = asyncio.create_task(webhook_inbox.drain_inbox())
    _background_tasks.add(task)
    task.add_done_callback(_background_tasks.discard)
    return PlainTextResponse("OK")


# A load balancer polls this; a dependency that hangs must not hang the answer.
HEALTH_TIMEOUT_SECONDS = 5.0
ACTIVE_JOB_STATUSES = ("queued", "running")


class _DatabaseHealth(NamedTuple):
    reachable: bool
    jobs: dict[str, int] | None  # import jobs waiting and running; None if they could not be counted


def _database_health() -> _DatabaseHealth:
    with Session(get_engine()) as session:
        session.execute(text("SELECT 1"))
        try:
            counts = dict(
                session.exec(
                    select(ImportJob.status, func.count())
                    .where(col(ImportJob.status).in_(ACTIVE_JOB_STATUSES))
                    .group_by(ImportJob.status)
                ).all()
            )
        except SQLAlchemyError as error:
            # Reachable but without the jobs table: the migrations have not run.
            log.warning("health check: cannot count import jobs (%s)", type(error).__name__)
            return _DatabaseHealth(reachable=True, jobs=None)
    return _DatabaseHealth(reachable=True, jobs={status: counts.get(status, 0) for status in ACTIVE_JOB_STATUSES})


async def _check_database() -> _DatabaseHealth:
    try:
        return await asyncio.wait_for(asyncio.to_thread(_database_health), HEALTH_TIMEOUT_SECONDS)
    except Exception as error:
        log.warning("health check: database unreachable (%s)", type(error).__name__)
        return _DatabaseHealth(reachable=False, jobs=None)


async def _check_redis(redis_url: str | None) -> bool | None:
    """None when no Redis is configured (one backend worker keeps its state on disk)."""
    if redis_url is None:
        return None
    client = redis.from_url(
        redis_url, socket_connect_timeout=HEALTH_TIMEOUT_SECONDS, socket_timeout=HEALTH_TIMEOUT_SECONDS
    )
    try:
        await client.ping()  # type: ignore[misc]  # redis-py types ping for its sync and async clients at once
        return True
    except Exception as error:
        log.warning("health check: Redis unreachable (%s)", type(error).__name__)
        return False
    finally:
        await client.aclose()


async def health(_request: Request) -> Response:
    """Database, Redis (when configured) and the import queue, as JSON; 503 when a dependency is down.

    The body names states only, never URLs or error texts, so it is safe to expose to a load balancer.
    """
    settings = get_settings()
    database, redis_up = await asyncio.gather(_check_database(), _check_redis(settings.redis_url))
    body: dict[str, object] = {
        "database": "ok" if database.reachable else "unreachable",
        "redis": "not configured" if redis_up is None else "ok" if redis_up else "unreachable",
        "jobs": database.jobs if database.jobs is not None else "unknown",
    }
    healthy = database.jobs is not None and redis_up is not False
    return JSONResponse({"status": "ok" if healthy else "unavailable", **body}, status_code=200 if healthy else 503)


class PrerenderedPagesWithoutRedirect:
    """In production one port serves the prerendered pages, and Starlette's static files answer a page path such as
    /connect/shopify with a redirect to /connect/shopify/ built from the request's own scheme and host; behind a TLS
    proxy that is an http:// URL. The page's index.html is served at the path the app links to instead."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and self._is_page_directory(scope["path"]):
            scope = {**scope, "path": scope["path"] + "/", "raw_path": scope.get("raw_path", b"") + b"/"}
        await self.app(scope, receive, send)

    @staticmethod
    def _is_page_directory(path: str) -> bool:
        if path.endswith("/") or ".." in path or not environment.REFLEX_MOUNT_FRONTEND_COMPILED_APP.get():
            return False
        static_dir = get_web_dir() / constants.Dirs.STATIC
        return (static_dir / path.lstrip("/") / "index.html").is_file()


def build_backend(settings: Settings) -> Starlette:
    route_list: list[Route | Mount] = [
        Route(routes.SESSION_COOKIE_ENDPOINT, start_session, methods=["POST"]),
        Route(routes.LOGOUT_ENDPOINT, end_session, methods=["POST"]),
        Route(routes.HEALTH_ENDPOINT, health, methods=["GET"]),
        Route(shopify.CALLBACK_PATH, shopify_callback, methods=["GET"]),
        Route(routes.SHOPIFY_WEBHOOKS_ENDPOINT, shopify_webhook, methods=["POST"]),
    ]
    if settings.mounts_sandbox:
        route_list.append(Mount(routes.SANDBOX_PREFIX, app=build_sandbox(settings)))
    return Starlette(routes=route_list, middleware=[Middleware(PrerenderedPagesWithoutRedirect)])
