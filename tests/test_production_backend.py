"""The backend in production: /healthz over real HTTP, where the emulators are served (in the backend or as a
process of their own), and prerendered pages answered without a redirect."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from offamazon_ui.backend import PrerenderedPagesWithoutRedirect, build_backend
from offamazon_ui.config import get_settings
from offamazon_ui.models import ImportJob, ShopConnection, User
from offamazon_ui.sandbox.__main__ import build_sandbox_server
from offamazon_ui.services.db import get_engine
from offamazon_ui.services.shopify.oauth import callback_url
from tests.environment import clear_caches
from tests.redisdb import redis_available
from tests.servers import free_port, serve

LOCAL_REDIS = "redis://127.0.0.1:6379/0"


def get_health() -> httpx.Response:
    with serve(build_backend(get_settings())) as base_url:
        return httpx.get(f"{base_url}/healthz")


def add_jobs(engine: Engine, *statuses: str) -> None:
    with Session(engine) as session:
        for number, status in enumerate(statuses):
            user = User(email=f"m{number}@example.com", first_name="A", last_name="B", password_hash="x")
            session.add(user)
            session.flush()
            assert user.id is not None
            shop = ShopConnection(
                user_id=user.id,
                shop_domain=f"shop-{number}.myshopify.com",
                shop_name="Shop",
                scopes="read_products",
                access_token_enc="encrypted",
            )
            session.add(shop)
            session.flush()
            assert shop.id is not None
            session.add(ImportJob(shop_connection_id=shop.id, status=status))
        session.commit()


def test_healthy_without_redis_reports_the_database_and_the_import_queue(db) -> None:  # type: ignore[no-untyped-def]
    add_jobs(db, "queued", "queued", "running", "done", "failed")
    response = get_health()
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "redis": "not configured",
        "jobs": {"queued": 2, "running": 1},
    }


@pytest.mark.skipif(not redis_available(), reason="no Redis answers on 127.0.0.1:6379 (CI has one)")
def test_healthy_with_redis(db, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("REFLEX_REDIS_URL", LOCAL_REDIS)
    get_settings.cache_clear()
    response = get_health()
    assert response.status_code == 200
    assert response.json()["redis"] == "ok"


def test_redis_down_answers_503_without_naming_where_it_is(db, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    closed_port = free_port()
    monkeypatch.setenv("REFLEX_REDIS_URL", f"redis://:hunter2-secret@127.0.0.1:{closed_port}/0")
    get_settings.cache_clear()
    response = get_health()
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "database": "ok",
        "redis": "unreachable",
        "jobs": {"queued": 0, "running": 0},
    }
    assert "hunter2" not in response.text and str(closed_port) not in response.text


def test_database_down_answers_503(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    closed_port = free_port()
    monkeypatch.setenv("REFLEX_DB_URL", f"postgresql+psycopg://nobody:hunter2-secret@127.0.0.1:{closed_port}/x")
    clear_caches()
    response = get_health()
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "database": "unreachable",
        "redis": "not configured",
        "jobs": "unknown",
    }
    assert "hunter2" not in response.text


def test_database_without_migrations_answers_503(app_env: Path) -> None:
    get_engine()  # an empty SQLite file: reachable, but there is no jobs table to count
    response = get_health()
    assert response.status_code == 503
    assert response.json()["database"] == "ok"
    assert response.json()["jobs"] == "unknown"


def authorize_query() -> str:
    settings = get_settings()
    return urlencode(
        {
            "client_id": settings.shopify_api_key,
            "scope": "read_products",
            "redirect_uri": callback_url(settings),
            "state": "nonce",
        }
    )


def test_backend_mounts_the_emulators_by_default(app_env: Path) -> None:
    with serve(build_backend(get_settings())) as base_url:
        page = httpx.get(
            f"{base_url}/sandbox/shopify/demo-small.myshopify.com/admin/oauth/authorize?{authorize_query()}"
        )
    assert page.status_code == 200
    assert "Install app" in page.text


def test_separate_sandbox_process_serves_the_emulators_instead_of_the_backend(
    app_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox_port = free_port()
    monkeypatch.setenv("OFFAMAZON_SANDBOX_URL", f"http://127.0.0.1:{sandbox_port}")
    get_settings.cache_clear()
    settings = get_settings()
    path = f"/sandbox/shopify/demo-small.myshopify.com/admin/oauth/authorize?{authorize_query()}"
    with serve(build_backend(settings)) as backend_url:
        assert httpx.get(f"{backend_url}{path}").status_code == 404
    with serve(build_sandbox_server(settings), port=sandbox_port):
        page = httpx.get(
            f"{settings.shop_base_url('demo-small.myshopify.com')}/admin/oauth/authorize?{authorize_query()}"
        )
    assert page.status_code == 200
    assert "Install app" in page.text


async def echo_path(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.url.path)


@pytest.mark.parametrize(
    ("frontend_mounted", "path", "served_as"),
    [
        (True, "/connect/shopify", "/connect/shopify/"),
        (True, "/connect/shopify/", "/connect/shopify/"),
        (True, "/healthz", "/healthz"),
        (False, "/connect/shopify", "/connect/shopify"),
    ],
)
def test_prerendered_pages_are_served_at_their_own_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, frontend_mounted: bool, path: str, served_as: str
) -> None:
    page = tmp_path / "web" / "build" / "client" / "connect" / "shopify" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html></html>")
    monkeypatch.setenv("REFLEX_WEB_WORKDIR", str(tmp_path / "web"))
    monkeypatch.setenv("__REFLEX_MOUNT_FRONTEND_COMPILED_APP", str(frontend_mounted).lower())
    app = Starlette(routes=[Route("/{path:path}", echo_path)], middleware=[Middleware(PrerenderedPagesWithoutRedirect)])
    with serve(app) as base_url:
        response = httpx.get(f"{base_url}{path}")
    assert response.text == served_as


def test_rxconfig_makes_granian_replace_a_crashed_worker_instead_of_stopping() -> None:
    from granian.server import Server

    import rxconfig  # noqa: F401  what `reflex run` loads before it starts Granian

    server = Server("offamazon_ui.offamazon_ui:app", workers=2)
    assert server.respawn_failed_workers is True
    assert server.workers == 2  # everything else as Reflex asks
