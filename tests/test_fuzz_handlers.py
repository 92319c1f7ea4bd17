"""Every public event handler of every page state, called by a client that is not signed in, with hostile arguments.

Any client can send any handler any arguments over the websocket (Reflex applies
type hints best-effort and passes the raw payload on when they do not fit).
Whatever arrives, a handler must answer with nothing, an event or a redirect,
never raise, never change stored data for an anonymous client (beyond the
rate-limit counters and codes of the flows that exist for anonymous visitors),
and never copy a secret-named form field into a var the browser receives.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import pytest
import reflex as rx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reflex.event import EventHandler, EventSpec
from sqlalchemy.engine import Engine

from offamazon_ui.pages.forgot_password import ForgotPasswordState
from offamazon_ui.pages.verify import VerifyState
from tests.hardening_fixtures import (
    Seeded,
    app_states,
    browser_view,
    changed_tables,
    new_tree,
    seeded,
    snapshot,
    substate,
)

__all__ = ["seeded"]
EXAMPLES_PER_HANDLER = 20
HANDLER_TIMEOUT_SECONDS = 20
# Flows open to anonymous visitors write rate-limit events and one-time codes; registering creates a user.
ANONYMOUS_WRITES = {
    "RegisterState.submit": {"user", "onetimecode", "authevent"},
    "LoginState.submit": {"onetimecode", "authevent"},
    "LoginState.submit_code": {"authevent"},
    "VerifyState.verify": {"onetimecode", "authevent"},
    "VerifyState.resend": {"onetimecode", "authevent"},
    "ForgotPasswordState.send_code": {"onetimecode", "authevent"},
    "ForgotPasswordState.reset_with_code": {"onetimecode", "authevent"},
}
SECRET_FIELDS = (
    "password",
    "confirm_password",
    "delete_password",
    "disable_password",
    "code",
    "refresh_token",
    "ticket",
)
FORM_FIELDS = (
    *SECRET_FIELDS,
    "email",
    "first_name",
    "last_name",
    "shop",
    "marketplace_id",
    "seller_id",
    "next",
    "search",
)
EDGE_TEXT = (
    "",
    " ",
    "\u200b",
    "\ufeff\u202e",
    "\x00",
    "Ａ１２３ ４５６",
    "١٢٣٤٥٦",
    "🛒" * 10,
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "../../etc/passwd",
    "%00%0d%0a",
    "demo-small.myshopify.com",
    "pending@example.com",
    "owner@example.com",
    "123 456",
    "Atzr|IwEBIabc",
    "x" * 100_000,
    "9" * 5_000,
)

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.binary(max_size=20)
texts = st.text(max_size=40) | st.sampled_from(EDGE_TEXT)
forms = st.dictionaries(st.sampled_from(FORM_FIELDS) | st.text(max_size=12), texts | scalars, max_size=8)
values = st.recursive(
    scalars | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
arguments = forms | values


def handlers() -> list[tuple[type[rx.State], str]]:
    # setvar is Reflex's own: it can only reach a state's set_* handlers (see test_setvar_reaches_only_handlers).
    return [(state, name) for state in app_states() for name in sorted(state.event_handlers) if name != "setvar"]


def handler_id(case: tuple[type[rx.State], str]) -> str:
    return f"{case[0].__name__}.{case[1]}"


def positional_parameters(handler: EventHandler) -> list[inspect.Parameter]:
    return list(inspect.signature(handler.fn).parameters.values())[1:]


def is_answer(result: object) -> bool:
    """What a handler may give back to Reflex: nothing, events, handlers to chain, or a list of them."""
    if isinstance(result, list | tuple):
        return all(is_answer(item) for item in result)
    return result is None or isinstance(result, EventSpec | EventHandler) or callable(result)


async def call(handler: EventHandler, state: Any, args: tuple[Any, ...]) -> object:
    result = handler.fn(state, *args)
    if inspect.isasyncgen(result):
        return [item async for item in result]
    if inspect.isgenerator(result):
        return list(result)
    if inspect.isawaitable(result):
        return await asyncio.wait_for(result, HANDLER_TIMEOUT_SECONDS)
    return result


def secret_inputs(args: tuple[Any, ...]) -> list[str]:
    """Distinctive values sent under secret field names, that no other field of the same form repeats."""
    found = []
    for arg in args:
        if not isinstance(arg, dict):
            continue
        others = [str(value) for name, value in arg.items() if name not in SECRET_FIELDS]
        for name in SECRET_FIELDS:
            value = arg.get(name)
            if isinstance(value, str) and len(value.strip()) >= 8 and not any(value in other for other in others):
                found.append(value)
    return found


def prime(root: rx.State, email: str) -> None:
    """States an anonymous visitor can reach legitimately: a code was sent to an address."""
    verify = substate(root, VerifyState)
    verify.pending_email = email
    forgot = substate(root, ForgotPasswordState)
    forgot.email, forgot.code_sent = email, True


@pytest.mark.parametrize("case", handlers(), ids=handler_id)
def test_anonymous_client_cannot_break_or_change_anything(
    case: tuple[type[rx.State], str], seeded: Seeded, db: Engine
) -> None:
    state_cls, name = case
    handler = state_cls.event_handlers[name]
    parameters = positional_parameters(handler)
    allowed = ANONYMOUS_WRITES.get(f"{state_cls.__name__}.{name}", set())

    @settings(
        max_examples=EXAMPLES_PER_HANDLER,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(args=st.tuples(*[arguments for _ in parameters]), primed=st.booleans())
    def run(args: tuple[Any, ...], primed: bool) -> None:
        root = new_tree()
        if primed:
            prime(root, seeded.pending_email)
        state = substate(root, state_cls)
        secrets = [value for value in secret_inputs(args) if value not in browser_view(root)]
        before = snapshot(db)
        result = asyncio.run(call(handler, state, args))
        assert is_answer(result), result
        assert changed_tables(before, snapshot(db)) <= allowed
        view = browser_view(root)
        assert not [secret for secret in secrets if secret in view]

    run()


def test_every_state_handler_is_fuzzed() -> None:
    names = {handler_id(case) for case in handlers()}
    assert {"RegisterState.submit", "ConnectAmazonState.connect", "DashboardState.turn_page"} <= names


def test_setvar_reaches_only_handlers() -> None:
    """setvar(name, value) calls `set_<name>` on the state: every such attribute must be a checked event handler."""
    root = new_tree()
    for state_cls in app_states():
        state = substate(root, state_cls)
        setters = [attribute for attribute in dir(state) if attribute.startswith("set_")]
        reachable: list[Callable[..., Any]] = [getattr(state_cls, attribute) for attribute in setters]
        assert all(isinstance(target, EventHandler) for target in reachable), (state_cls.__name__, setters)
