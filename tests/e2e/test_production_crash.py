"""Merchants onboarding over the websocket while every backend worker and an import's job worker are killed:
everyone still reaches their dashboard signed in, and every shop ends with exactly its catalog.

The merchants are the load test's (loadtest.merchant: Reflex's Socket.IO protocol and the browser's HTTP,
no browser), against `make run-prod` on PostgreSQL and Redis with 2 backend and 2 job workers.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from loadtest.onboarding import Scenario, onboard_wave, production_app
from offamazon_ui import routes
from tests.postgres import postgres_available
from tests.redisdb import redis_available

pytestmark = pytest.mark.skipif(
    not (postgres_available() and redis_available()),
    reason="needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (CI has both)",
)

MERCHANTS = 6


def test_onboarding_survives_killed_backend_and_job_workers(tmp_path: Path) -> None:
    # Every backend worker dies, so every tab's websocket drops mid-onboarding, not just the unlucky ones.
    scenario = Scenario("crash", MERCHANTS, backend_workers_killed=2, kill_job_worker=True)
    with production_app(tmp_path) as (app, inbox):
        # A thread of its own: Playwright's sync API keeps an event loop running in this one.
        with ThreadPoolExecutor(max_workers=1) as thread:
            wave = thread.submit(asyncio.run, onboard_wave(app, inbox, scenario)).result()
        assert len(app.backend_workers()) == app.workers  # replaced, not gone

    assert [merchant.error for merchant in wave.merchants] == [None] * MERCHANTS
    assert all(merchant.tab.path == routes.DASHBOARD for merchant in wave.merchants)
    assert sum(merchant.tab.reconnects for merchant in wave.merchants) >= MERCHANTS
    # Each tab reconnected under its own token, so a replacement worker found its page state in Redis.
    assert [merchant.tab.tokens_replaced for merchant in wave.merchants] == [0] * MERCHANTS
    assert wave.interrupted_import is not None  # a job worker died holding an import ...
    assert wave.imports_exact == MERCHANTS  # ... which resumed elsewhere: every shop has exactly its catalog
