"""A tab's page state outlives the backend worker that ran its loops (it is kept in Redis, and the tab keeps its
token), so nothing a page does may hang on a flag or a countdown that a killed worker left behind."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from offamazon_ui.models import utcnow
from offamazon_ui.pages import dashboard as dashboard_page
from offamazon_ui.pages.dashboard import DashboardState
from offamazon_ui.pages.verify import VerifyState
from offamazon_ui.services import accounts, mail
from tests.hardening_fixtures import Seeded, new_tree, seeded, substate

__all__ = ["seeded"]


async def eventually(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110  the state has no event to await
            await asyncio.sleep(0.02)


async def test_dashboard_watch_is_not_stopped_by_a_dead_workers_claim_and_yields_to_a_newer_watch(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dashboard_page, "IDLE_POLL_SECONDS", 0.02)
    dashboard = substate(new_tree(seeded.owner.session_token), DashboardState)
    await DashboardState.on_load.fn(dashboard)
    dashboard._watch_generation = 7  # claimed by a watch whose worker was killed: nothing will ever release it

    watch = asyncio.create_task(DashboardState.watch.fn(dashboard))
    await eventually(lambda: dashboard.status == "completed" and dashboard.summary.get("products") == 1)
    assert not watch.done()

    dashboard._watch_generation += 1  # the tab reloaded or reconnected: its new watch takes over
    await asyncio.wait_for(watch, timeout=5)


async def test_resend_goes_by_the_clock_not_by_a_countdown_that_stopped_with_its_worker(
    db: Engine, fast_bcrypt: None
) -> None:
    email = "stale-countdown@example.com"
    sent_at = utcnow() - timedelta(seconds=90)
    registered = await accounts.register(
        "Ada", "Lovelace", email, "Str0ng&Secret!", "Str0ng&Secret!", "203.0.113.9", now=sent_at
    )
    assert registered.email == email
    verify = substate(new_tree(), VerifyState)
    verify._start(email, registered.code)
    verify.resend_in = 60  # where the countdown loop stopped when its worker was killed, 90 s ago
    outbox_before = len(mail.list_outbox())

    await VerifyState.resend.fn(verify)

    assert verify.form_error == ""
    assert verify.notice == "We sent a new code. The previous code no longer works."
    assert len(mail.list_outbox()) == outbox_before + 1
    assert verify.resend_in == 60  # the new code's cooldown
