"""Signed-in browsers: opaque random tokens, stored only as keyed hashes.

A session ends after 12 hours without use or 7 days after sign-in, whichever
comes first, or when revoked. Tickets hand a sign-in from a websocket event to
the backend route that sets the HttpOnly cookie: single use, 60 seconds, and
redeeming one creates a brand-new session (the token is never reused).

Plain sync functions: UI code runs them with asyncio.to_thread.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from offamazon_ui.models import AuthSession, SessionTicket, utcnow
from offamazon_ui.services.crypto import keyed_hash, keyed_hash_candidates
from offamazon_ui.services.db import session_scope

IDLE_TIMEOUT = timedelta(hours=12)
ABSOLUTE_TIMEOUT = timedelta(days=7)
TICKET_LIFETIME = timedelta(seconds=60)
# last_seen_at is written at most this often, so busy pages do not write on every event.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
# token_urlsafe(32) is 43 characters; anything much longer is not ours and is not worth hashing.
_MAX_TOKEN_CHARS = 100


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


def _session_hash(token: str) -> str:
    return keyed_hash("session", token)


def _ticket_hash(ticket: str) -> str:
    return keyed_hash("session-ticket", ticket)


def _plausible(secret: str) -> bool:
    return 0 < len(secret) <= _MAX_TOKEN_CHARS


def start_session(db: Session, user_id: int, now: datetime) -> str:
    """Create a session inside the caller's transaction; returns the token for the cookie."""
    token = _new_secret()
    db.add(
        AuthSession(
            user_id=user_id,
            token_hash=_session_hash(token),
            created_at=now,
            last_seen_at=now,
            expires_at=now + ABSOLUTE_TIMEOUT,
        )
    )
    db.flush()
    return token


def create_session(user_id: int, *, now: datetime | None = None) -> str:
    with session_scope() as db:
        return start_session(db, user_id, now or utcnow())


def resolve_session(token: str, *, now: datetime | None = None) -> int | None:
    """The signed-in user's id, or None if the token is unknown, revoked, idle too long or too old."""
    if not _plausible(token):
        return None
    now = now or utcnow()
    with session_scope() as db:
        candidates = keyed_hash_candidates("session", token)  # a session outlives a key rotation
        found = db.exec(select(AuthSession).where(col(AuthSession.token_hash).in_(candidates))).first()
        if (
            found is None
            or found.revoked_at is not None
            or found.expires_at <= now
            or found.last_seen_at + IDLE_TIMEOUT <= now
        ):
            return None
        if now - found.last_seen_at >= LAST_SEEN_RESOLUTION:
            db.exec(
                update(AuthSession)
                .where(col(AuthSession.id) == found.id, col(AuthSession.last_seen_at) < now)
                .values(last_seen_at=now)
            )
        return found.user_id


def revoke_session(token: str, *, now: datetime | None = None) -> None:
    if not _plausible(token):
        return
    with session_scope() as db:
        db.exec(
            update(AuthSession)
            .where(
                col(AuthSession.token_hash).in_(keyed_hash_candidates("session", token)),
                col(AuthSession.revoked_at).is_(None),
            )
            .values(revoked_at=now or utcnow())
        )


def end_user_sessions(db: Session, user_id: int, now: datetime) -> int:
    """Revoke every session of the user inside the caller's transaction; returns how many."""
    result = db.exec(
        update(AuthSession)
        .where(col(AuthSession.user_id) == user_id, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount)


def revoke_all_sessions(user_id: int, *, now: datetime | None = None) -> int:
    """Sign the user out everywhere; returns how many sessions ended."""
    with session_scope() as db:
        return end_user_sessions(db, user_id, now or utcnow())


def issue_ticket(user_id: int, *, now: datetime | None = None) -> str:
    """A one-time, 60-second ticket the browser posts to the cookie route."""
    ticket = _new_secret()
    with session_scope() as db:
        db.add(
            SessionTicket(
                user_id=user_id, ticket_hash=_ticket_hash(ticket), expires_at=(now or utcnow()) + TICKET_LIFETIME
            )
        )
    return ticket


def redeem_ticket(ticket: str, *, now: datetime | None = None) -> str | None:
    """Use up the ticket and open a new session for its user; None if unknown, used or expired."""
    if not _plausible(ticket):
        return None
    now = now or utcnow()
    ticket_hashes = keyed_hash_candidates("session-ticket", ticket)
    with session_scope() as db:
        claimed = db.exec(
            update(SessionTicket)
            .where(
                col(SessionTicket.ticket_hash).in_(ticket_hashes),
                col(SessionTicket.used_at).is_(None),
                col(SessionTicket.expires_at) > now,
            )
            .values(used_at=now)
        )
        if claimed.rowcount != 1:
            return None
        user_id = db.exec(select(SessionTicket.user_id).where(col(SessionTicket.ticket_hash).in_(ticket_hashes))).one()
        return start_session(db, user_id, now)
