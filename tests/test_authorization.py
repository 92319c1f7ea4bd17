"""Handlers called out of order, without a session, or with another merchant's ids are refused.

Handlers never take a user, shop, job or product id from the client: they find
the merchant from the session cookie and their objects from there. These tests
call them with the other merchant's ids anyway and check that nothing of theirs
is read or touched.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
import reflex as rx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reflex.event import EventSpec
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from offamazon_ui import routes
from offamazon_ui.models import AmazonConnection, ImportJob, User
from offamazon_ui.pages.connect_amazon import ConnectAmazonState
from offamazon_ui.pages.dashboard import DashboardState
from offamazon_ui.pages.dev_mailbox import DevMailboxState
from offamazon_ui.sandbox.amazon import DEMO_CREDENTIALS
from offamazon_ui.services import amazon, mail, sessions
from offamazon_ui.services.codes import VERIFY_EMAIL
from tests.hardening_fixtures import (
    Merchant,
    Seeded,
    app_states,
    browser_view,
    new_tree,
    seeded,
    snapshot,
    substate,
)
from tests.servers import free_port
from tests.test_fuzz_handlers import call, handler_id, handlers, positional_parameters

__all__ = ["seeded"]
US = "ATVPDKIKX0DER"


def redirects_to(result: object, route: str) -> bool:
    """Whether the handler's answer includes rx.redirect(route)."""
    answers = result if isinstance(result, list | tuple) else [result]
    for answer in answers:
        if isinstance(answer, EventSpec):
            arguments = {name._js_expr: getattr(value, "_var_value", None) for name, value in answer.args}
            if {"path", "external"} <= arguments.keys() and arguments["path"] == route:
                return True
    return False


def demo_form() -> dict[str, str]:
    demo = DEMO_CREDENTIALS[US]
    return {
        amazon.MARKETPLACE_FIELD: US,
        amazon.SELLER_FIELD: demo["seller_id"],
        amazon.REFRESH_TOKEN_FIELD: demo["refresh_token"],
    }


@pytest.fixture
def amazon_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Amazon on a closed port: a handler that got as far as calling it would report a failure, not redirect."""
    from offamazon_ui.config import get_settings

    monkeypatch.setenv("OFFAMAZON_LWA_TOKEN_URL", f"http://127.0.0.1:{free_port()}/auth/o2/token")
    get_settings.cache_clear()


def amazon_rows(db: Engine) -> list[AmazonConnection]:
    with Session(db) as session:
        return list(session.exec(select(AmazonConnection)))


async def test_connect_amazon_without_a_session_goes_to_login_and_stores_nothing(
    seeded: Seeded,
    db: Engine,
    amazon_unreachable: None,
) -> None:
    before = snapshot(db)
    state = substate(new_tree(), ConnectAmazonState)
    result = await ConnectAmazonState.connect.fn(state, demo_form())
    assert redirects_to(result, routes.LOGIN)
    assert snapshot(db) == before
    assert not state.connecting


async def test_connect_amazon_with_a_revoked_session_goes_to_login(
    seeded: Seeded,
    db: Engine,
    amazon_unreachable: None,
) -> None:
    sessions.revoke_session(seeded.owner.session_token)
    before = snapshot(db)
    state = substate(new_tree(seeded.owner.session_token), ConnectAmazonState)
    assert redirects_to(await ConnectAmazonState.connect.fn(state, demo_form()), routes.LOGIN)
    assert snapshot(db) == before


async def test_connect_amazon_before_shopify_is_sent_back_to_the_shopify_step(
    seeded: Seeded,
    db: Engine,
    amazon_unreachable: None,
) -> None:
    with Session(db) as session:
        user = session.exec(select(User).where(User.email == "pending@example.com")).one()
        user.email_verified_at = user.created_at
        session.add(user)
        session.commit()
        assert user.id is not None
        token = sessions.create_session(user.id)
    before = snapshot(db)
    state = substate(new_tree(token), ConnectAmazonState)
    assert redirects_to(await ConnectAmazonState.connect.fn(state, demo_form()), routes.CONNECT_SHOPIFY)
    assert snapshot(db) == before


async def load_dashboard(merchant: Merchant | None) -> tuple[rx.State, Any]:
    root = new_tree(merchant.session_token if merchant else None)
    dashboard = substate(root, DashboardState)
    await DashboardState.on_load.fn(dashboard)
    return root, dashboard


async def test_dashboard_shows_the_signed_in_merchants_shop_whatever_ids_the_client_sends(
    seeded: Seeded,
) -> None:
    owner, other = seeded.owner, seeded.other
    root, dashboard = await load_dashboard(owner)
    assert dashboard.shop_domain == owner.shop_domain
    foreign = [other.shop_connection_id, str(other.shop_connection_id), other.shop_domain, other.user_id]
    for value in foreign:
        await DashboardState.set_search.fn(dashboard, value)
        await DashboardState.turn_page.fn(dashboard, value)
        await DashboardState.set_status_filter.fn(dashboard, value)
        await DashboardState.set_sort.fn(dashboard, value)
    await DashboardState.set_search.fn(dashboard, "")
    assert [row["title"] for row in dashboard.rows] == [owner.product_title]
    view = browser_view(root)
    for secret in (other.product_title, other.shop_domain, other.email):
        assert secret not in view


async def test_dashboard_handlers_without_a_session_load_nothing_and_change_nothing(
    seeded: Seeded,
    db: Engine,
) -> None:
    root, dashboard = await load_dashboard(None)
    before = snapshot(db)
    await DashboardState.set_search.fn(dashboard, "private")
    await DashboardState.turn_page.fn(dashboard, 1)
    assert redirects_to(await DashboardState.resync.fn(dashboard), routes.LOGIN)
    assert dashboard.rows == []
    assert snapshot(db) == before
    assert seeded.owner.product_title not in browser_view(root)


async def test_resync_touches_only_the_signed_in_merchants_import(seeded: Seeded, db: Engine) -> None:
    _root, dashboard = await load_dashboard(seeded.owner)
    await DashboardState.resync.fn(dashboard)
    with Session(db) as session:
        jobs = {job.shop_connection_id: job for job in session.exec(select(ImportJob))}
    assert jobs[seeded.owner.shop_connection_id].status == "queued"
    assert jobs[seeded.other.shop_connection_id].status == "completed"


async def test_dev_mailbox_cannot_be_read_in_live_mode(
    seeded: Seeded,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The page exists only in sandbox mode, but any client can send its load event; a live outbox stays closed."""
    from offamazon_ui.config import get_settings

    await mail.send(mail.code_email("victim@example.com", VERIFY_EMAIL, "482913"))
    sandbox = substate(new_tree(), DevMailboxState)
    await DevMailboxState.load.fn(sandbox)
    assert "482 913" in browser_view(sandbox)  # the sandbox mailbox works: the check below can fail

    monkeypatch.setenv("OFFAMAZON_MODE", "live")
    for name in ("SHOPIFY_API_KEY", "SHOPIFY_API_SECRET", "AMAZON_LWA_CLIENT_ID", "AMAZON_LWA_CLIENT_SECRET"):
        monkeypatch.setenv(name, "configured-for-live")
    get_settings.cache_clear()
    live = substate(new_tree(), DevMailboxState)
    await DevMailboxState.load.fn(live)
    assert live.messages == []


foreign_ids = st.sampled_from(["shop_connection_id", "user_id", "id", "job_id", "product_id", "shop"])


@pytest.mark.parametrize("case", handlers(), ids=handler_id)
def test_signed_in_merchant_cannot_reach_another_merchants_data(
    case: tuple[type[rx.State], str], seeded: Seeded, db: Engine
) -> None:
    """Every handler, called by the owner with the other merchant's ids: the other's rows and data stay out of reach."""
    state_cls, name = case
    handler = state_cls.event_handlers[name]
    other = seeded.other
    their_ids = st.sampled_from([other.shop_connection_id, other.user_id, str(other.shop_connection_id)])
    their_values = their_ids | st.sampled_from([other.shop_domain, other.email, other.session_token])
    argument = their_values | st.dictionaries(foreign_ids, their_values, max_size=3)
    parameters = positional_parameters(handler)
    private = (other.product_title, other.shop_domain, other.email, other.session_token)

    @settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(args=st.tuples(*[argument for _ in parameters]))
    def run(args: tuple[Any, ...]) -> None:
        token = sessions.create_session(seeded.owner.user_id)
        root = new_tree(token)
        before = their_rows(db, other)
        asyncio.run(call(handler, substate(root, state_cls), args))
        assert their_rows(db, other) == before
        view = browser_view(root)
        # A value the client sent may be echoed (a search box shows its text); anything else of theirs may not.
        assert not [value for value in private if value in view and value not in repr(args)]

    run()


def their_rows(db: Engine, merchant: Merchant) -> list[str]:
    """Every row that mentions the merchant's user or shop id in a column named for it."""
    rows = []
    for table, entries in snapshot(db).items():
        if table in ("authevent", "authsession"):
            continue  # counters and the owner's own sessions change; the other's sessions are checked below
        rows += [f"{table}:{entry}" for entry in entries if _mentions(entry, merchant)]
    with Session(db) as session:
        from offamazon_ui.models import AuthSession

        rows += [repr(row) for row in session.exec(select(AuthSession).where(AuthSession.user_id == merchant.user_id))]
    return rows


_DATETIMES = re.compile(r"datetime\.datetime\([^)]*\)")


def _mentions(entry: str, merchant: Merchant) -> bool:
    entry = _DATETIMES.sub("", entry)  # "(2026, 12, 4, 19, 2, 2)" must not read as shop id 2
    return merchant.shop_domain in entry or merchant.email in entry or f", {merchant.shop_connection_id}," in entry


def test_every_state_is_covered_by_the_ownership_test() -> None:
    covered = {handler_id(case).split(".")[0] for case in handlers()}
    assert covered == {state.__name__ for state in app_states() if set(state.event_handlers) - {"setvar"}}
