"""The onboarding once more, in production configuration: `make run-prod` on PostgreSQL and Redis,
several backend workers behind one port, and the emulators as a process of their own."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import redis
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from offamazon_ui.pages.dashboard import PAGE_SIZE
from offamazon_ui.sandbox.shopify.catalog import demo_small
from tests.e2e.conftest import FrameRecorder
from tests.e2e.harness import ProductionAppProcess
from tests.e2e.steps import (
    DEMO_SHOP,
    DEMO_SHOP_NAME,
    PASSWORD,
    link_demo_amazon,
    register_and_verify,
    searchable_variant,
)
from tests.postgres import fresh_schema, postgres_available
from tests.redisdb import empty_redis_database, redis_available, redis_url
from tests.smtp import Inbox

pytestmark = pytest.mark.skipif(
    not (postgres_available() and redis_available()),
    reason="needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (CI has both)",
)


@pytest.fixture(scope="module")
def redis_db() -> Iterator[redis.Redis]:
    with empty_redis_database() as client:
        yield client


@pytest.fixture(scope="module")
def production_app(
    tmp_path_factory: pytest.TempPathFactory, inbox: Inbox, redis_db: redis.Redis
) -> Iterator[ProductionAppProcess]:
    with fresh_schema() as database_url:
        app = ProductionAppProcess(
            data_dir=tmp_path_factory.mktemp("prod-data"),
            env_overrides={"OFFAMAZON_SMTP_URL": inbox.url},
            database_url=database_url,
            redis_url=redis_url(redis_db),
        )
        app.start()
        try:
            yield app
        finally:
            app.stop()


def rows(database_url: str, query: str, **params: object) -> list[sa.Row]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.text(query), params))
    finally:
        engine.dispose()


def test_onboarding_on_postgresql_and_redis_with_several_workers(
    production_app: ProductionAppProcess, page: Page, inbox: Inbox, server_frames: FrameRecorder, redis_db: redis.Redis
) -> None:
    app = production_app
    assert len(app.backend_workers()) == app.workers >= 2

    email = register_and_verify(page, app, inbox)
    otp = inbox.latest_code(email)
    page.get_by_label("Shop URL", exact=True).fill(DEMO_SHOP)
    page.get_by_role("button", name="Login to Shopify").click()
    expect(page.get_by_role("button", name="Install app")).to_be_visible()
    assert page.url.startswith(f"{app.sandbox_url}/sandbox/shopify/{DEMO_SHOP}/admin/oauth/authorize")
    page.get_by_role("button", name="Install app").click()
    expect(page).to_have_url(re.compile(r"/connect/amazon$"))
    expect(page.get_by_test_id("shop-connected")).to_contain_text(DEMO_SHOP_NAME)

    link_demo_amazon(page)
    # A fresh websocket (possibly to another worker) still finds the merchant signed in.
    page.reload()
    expect(page).to_have_url(re.compile(r"/dashboard$"))

    # The import ran on the separate job worker (procrastinate), and the dashboard shows its exact counts.
    catalog = demo_small()
    variants = sum(catalog.product(index).variant_count for index in range(catalog.product_count))
    expect(page.get_by_test_id("import-status")).to_have_text("completed", timeout=60_000)
    expect(page.get_by_test_id("imported-count")).to_have_text(str(catalog.product_count))
    expect(page.get_by_test_id("variant-count")).to_have_text(str(variants))
    assert set(rows(app.database_url, "SELECT status::text FROM procrastinate_jobs")) == {("succeeded",)}
    [job_id] = [row.id for row in rows(app.database_url, "SELECT id FROM importjob")]
    assert f"import job {job_id} completed" in app.job_worker_log().read_text()  # not the backend's runner

    session_cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "offamazon_session")
    server_frames.assert_never_sent(PASSWORD, otp, session_cookie)

    # Everything was written to PostgreSQL, in this test's schema.
    user_rows = rows(app.database_url, 'SELECT id, email_verified_at FROM "user" WHERE email = :email', email=email)
    assert len(user_rows) == 1 and user_rows[0].email_verified_at is not None
    user_id = user_rows[0].id
    assert rows(app.database_url, "SELECT shop_domain FROM shopconnection WHERE user_id = :id", id=user_id) == [
        (DEMO_SHOP,)
    ]
    assert len(rows(app.database_url, "SELECT id FROM amazonconnection WHERE user_id = :id", id=user_id)) == 1

    # The tab's state lives in Redis, where every worker finds it.
    assert any(b"connect_amazon_state" in key for key in redis_db.scan_iter())

    health = httpx.get(f"{app.backend_url}/healthz")
    assert health.status_code == 200
    assert health.json()["database"] == "ok" and health.json()["redis"] == "ok"
    # The emulators are not mounted in the workers: each would keep its own OAuth codes and tokens.
    assert httpx.get(f"{app.backend_url}/sandbox/shopify/{DEMO_SHOP}/admin/oauth/authorize").status_code == 404
    assert len(app.backend_workers()) == app.workers >= 2

    # The merchant is searching when every backend worker crashes, so this tab's websocket is surely among
    # the dropped. Granian forks replacements; the tab reconnects by itself under the same token, so its
    # page state (the search) is still there, and the merchant is still signed in.
    _, variant = searchable_variant(catalog)
    search = page.get_by_label("Search products")
    search.fill(variant.sku)
    expect(page.get_by_test_id("product-row")).to_have_count(1, timeout=30_000)
    token = tab_token(page)
    crashed = set(app.backend_workers())
    for worker in crashed:
        os.kill(worker, signal.SIGKILL)
    wait_until(lambda: not crashed & set(app.backend_workers()) and len(app.backend_workers()) == app.workers)
    page.get_by_label("Sort by").click()
    page.get_by_role("option", name="Title Z–A").click()
    # The select shows a value only once a (replacement) worker has applied it to the tab's state.
    expect(page.get_by_label("Sort by")).to_contain_text("Title Z–A", timeout=30_000)
    expect(search).to_have_value(variant.sku)
    expect(page.get_by_test_id("product-row")).to_have_count(1)
    expect(page.get_by_test_id("product-row").first).to_contain_text(variant.sku)
    assert tab_token(page) == token
    page.reload()
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.get_by_test_id("imported-count")).to_have_text(str(catalog.product_count))
    expect(search).to_have_value(variant.sku)
    expect(page.get_by_test_id("product-row")).to_have_count(1)
    search.fill("")
    expect(page.get_by_test_id("product-row")).to_have_count(min(catalog.product_count, PAGE_SIZE))


def tab_token(page: Page) -> str:
    """The token Reflex keys this tab's state by (it keeps it in sessionStorage)."""
    token = page.evaluate("() => window.sessionStorage.getItem('token')")
    assert token
    return str(token)


def wait_until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the backend did not replace its crashed worker"
        time.sleep(0.2)
