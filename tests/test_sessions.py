"""Sessions: hashed tokens, idle and absolute timeouts, revocation, and single-use hand-over tickets."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from offamazon_ui.models import AuthSession, User
from offamazon_ui.services import sessions
from offamazon_ui.services.db import session_scope

NOW = datetime(2026, 3, 2, 9, 0, 0)


@pytest.fixture(autouse=True)
def data_dir(app_env: Path) -> None:
    # The shared `db` fixture opens SQLite inside the data dir, which app_env does not create.
    app_env.mkdir(parents=True, exist_ok=True)


def make_user(email: str) -> int:
    with session_scope() as db:
        user = User(email=email, first_name="Ann", last_name="Lee", password_hash="x")
        db.add(user)
        db.flush()
        assert user.id is not None
        return user.id


@pytest.fixture
def user_id(db) -> int:  # type: ignore[no-untyped-def]
    return make_user("ann@example.com")


def last_seen() -> datetime:
    with session_scope() as db:
        stored = db.exec(select(AuthSession)).all()
    assert len(stored) == 1
    return stored[0].last_seen_at


def test_token_is_random_and_stored_only_as_a_hash(user_id: int) -> None:
    token = sessions.create_session(user_id, now=NOW)
    assert len(token) >= 43  # 256 bits, base64url
    assert token != sessions.create_session(user_id, now=NOW)
    with session_scope() as db:
        hashes = [row.token_hash for row in db.exec(select(AuthSession)).all()]
    assert all(token not in stored for stored in hashes)
    assert sessions.resolve_session(token, now=NOW) == user_id


@pytest.mark.parametrize("token", ["", "not-a-token", "x" * 10_000])
def test_unknown_tokens_resolve_to_nobody(user_id: int, token: str) -> None:
    sessions.create_session(user_id, now=NOW)
    assert sessions.resolve_session(token, now=NOW) is None


def test_idle_timeout_is_twelve_hours_since_last_use(user_id: int) -> None:
    token = sessions.create_session(user_id, now=NOW)
    assert sessions.resolve_session(token, now=NOW + timedelta(hours=11)) == user_id
    # Used at +11 h, so still alive at +22:59 although created nearly 23 hours ago.
    assert sessions.resolve_session(token, now=NOW + timedelta(hours=22, minutes=59)) == user_id
    # Then unused for exactly 12 hours.
    assert sessions.resolve_session(token, now=NOW + timedelta(hours=34, minutes=59)) is None


def test_idle_session_expires(user_id: int) -> None:
    token = sessions.create_session(user_id, now=NOW)
    assert sessions.resolve_session(token, now=NOW + timedelta(hours=12)) is None


def test_absolute_timeout_is_seven_days_however_active(user_id: int) -> None:
    token = sessions.create_session(user_id, now=NOW)
    moment = NOW
    while moment < NOW + timedelta(days=7) - timedelta(hours=6):
        moment += timedelta(hours=6)
        assert sessions.resolve_session(token, now=moment) == user_id
    assert sessions.resolve_session(token, now=NOW + timedelta(days=7)) is None


def test_last_seen_is_written_at_most_once_a_minute(user_id: int) -> None:
    token = sessions.create_session(user_id, now=NOW)
    sessions.resolve_session(token, now=NOW + timedelta(seconds=30))
    assert last_seen() == NOW
    sessions.resolve_session(token, now=NOW + timedelta(seconds=61))
    assert last_seen() == NOW + timedelta(seconds=61)


def test_revoke_one_session(user_id: int) -> None:
    token = sessions.create_session(user_id, now=NOW)
    other = sessions.create_session(user_id, now=NOW)
    sessions.revoke_session(token, now=NOW)
    assert sessions.resolve_session(token, now=NOW) is None
    assert sessions.resolve_session(other, now=NOW) == user_id


def test_revoke_all_sessions_of_one_user(user_id: int) -> None:
    bob = make_user("bob@example.com")
    tokens = [sessions.create_session(user_id, now=NOW) for _ in range(3)]
    bobs = sessions.create_session(bob, now=NOW)
    assert sessions.revoke_all_sessions(user_id, now=NOW) == 3
    assert all(sessions.resolve_session(token, now=NOW) is None for token in tokens)
    assert sessions.resolve_session(bobs, now=NOW) == bob


def test_ticket_opens_a_new_session_once(user_id: int) -> None:
    ticket = sessions.issue_ticket(user_id, now=NOW)
    token = sessions.redeem_ticket(ticket, now=NOW + timedelta(seconds=59))
    assert token is not None and token != ticket
    assert sessions.resolve_session(token, now=NOW + timedelta(seconds=59)) == user_id
    assert sessions.redeem_ticket(ticket, now=NOW + timedelta(seconds=59)) is None


def test_ticket_expires_after_sixty_seconds(user_id: int) -> None:
    ticket = sessions.issue_ticket(user_id, now=NOW)
    assert sessions.redeem_ticket(ticket, now=NOW + timedelta(seconds=60)) is None


def test_each_redeemed_ticket_gets_its_own_session(user_id: int) -> None:
    first = sessions.redeem_ticket(sessions.issue_ticket(user_id, now=NOW), now=NOW)
    second = sessions.redeem_ticket(sessions.issue_ticket(user_id, now=NOW), now=NOW)
    assert first is not None and second is not None and first != second
    assert sessions.redeem_ticket("forged-ticket", now=NOW) is None
