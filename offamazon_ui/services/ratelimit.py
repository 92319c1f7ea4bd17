"""Sliding-window limits counted in the AuthEvent table, so every process sees the same counts.

A limit is keyed either by client IP or by account subject (a keyed hash of the
normalised email, see `account_subject`). Subjects exist for unknown addresses
too, so a limit never behaves differently for an address that has no account.
Counting and recording are separate steps and not atomic: a burst of parallel
requests may overshoot a limit by a few, which is acceptable here because the
hard per-code attempt limit is enforced atomically in codes.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import func
from sqlmodel import Session, col, select

from offamazon_ui.models import AuthEvent
from offamazon_ui.services.crypto import keyed_hash

Scope = Literal["ip", "subject"]

TOO_MANY_ATTEMPTS = "Too many attempts. Try again in {wait}."


@dataclass(frozen=True)
class Limit:
    kind: str
    scope: Scope
    max_events: int
    window: timedelta
    message: str = TOO_MANY_ATTEMPTS


class TooManyAttempts(Exception):
    """A limit is reached; `message` is ready to show and says how long to wait."""

    def __init__(self, limit: Limit, retry_after: timedelta) -> None:
        super().__init__(limit.kind)
        self.limit = limit
        self.retry_after = retry_after
        self.message = limit.message.format(wait=describe_wait(retry_after))


# Kinds of events. Per-purpose kinds are built with code_sent()/code_failed().
REGISTER = "register"
LOGIN_FAILED = "login_failed"
PASSWORD_CHANGED = "password_changed"  # noqa: S105

REGISTER_PER_IP = Limit(REGISTER, "ip", 20, timedelta(hours=1))
LOGIN_FAILURES_PER_IP = Limit(LOGIN_FAILED, "ip", 100, timedelta(hours=1))
# Reached, the account answers "Email or password is incorrect." until the window slides on.
LOGIN_FAILURES_PER_ACCOUNT = Limit(LOGIN_FAILED, "subject", 10, timedelta(minutes=15))


def code_sent(purpose: str) -> str:
    return f"{purpose}_sent"


def code_failed(purpose: str) -> str:
    return f"{purpose}_failed"


def account_subject(email: str) -> str:
    """The rate-limit key of a normalised email address, whether or not it has an account."""
    return keyed_hash("ratelimit:account", email)


def describe_wait(wait: timedelta) -> str:
    seconds = max(1, math.ceil(wait.total_seconds()))
    if seconds < 60:
        return "1 second" if seconds == 1 else f"{seconds} seconds"
    minutes = math.ceil(seconds / 60)
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def record(
    session: Session,
    kind: str,
    *,
    now: datetime,
    subject: str | None = None,
    user_id: int | None = None,
    client_ip: str | None = None,
) -> None:
    session.add(AuthEvent(kind=kind, subject=subject, user_id=user_id, client_ip=client_ip, created_at=now))
    session.flush()


def _key_filter(limit: Limit, key: str):  # type: ignore[no-untyped-def]
    return col(AuthEvent.client_ip) == key if limit.scope == "ip" else col(AuthEvent.subject) == key


def retry_after(
    session: Session, limit: Limit, key: str | None, *, now: datetime, not_before: datetime | None = None
) -> timedelta | None:
    """How long until one more event fits under the limit; None if it fits now.

    Events older than `not_before` are ignored (e.g. login failures before a password reset).
    A None key (client IP unknown) is never limited.
    """
    if key is None:
        return None
    window_start = now - limit.window
    if not_before is not None and not_before > window_start:
        window_start = not_before
    # The max_events-th newest event in the window: once it slides out, one more fits.
    blocking = session.exec(
        select(AuthEvent.created_at)
        .where(AuthEvent.kind == limit.kind, _key_filter(limit, key), col(AuthEvent.created_at) > window_start)
        .order_by(col(AuthEvent.created_at).desc())
        .offset(limit.max_events - 1)
        .limit(1)
    ).first()
    if blocking is None:
        return None
    return blocking + limit.window - now


def enforce(
    session: Session, limit: Limit, key: str | None, *, now: datetime, not_before: datetime | None = None
) -> None:
    """Raise TooManyAttempts if one more event would exceed the limit."""
    wait = retry_after(session, limit, key, now=now, not_before=not_before)
    if wait is not None:
        raise TooManyAttempts(limit, wait)


def count_since(session: Session, kind: str, *, subject: str, since: datetime) -> int:
    return session.exec(
        select(func.count())
        .select_from(AuthEvent)
        .where(AuthEvent.kind == kind, AuthEvent.subject == subject, col(AuthEvent.created_at) >= since)
    ).one()


def latest(session: Session, kind: str, *, subject: str) -> datetime | None:
    return session.exec(
        select(func.max(AuthEvent.created_at)).where(AuthEvent.kind == kind, AuthEvent.subject == subject)
    ).one()
