"""The signed-in merchant's own account: names, password, signed-in browsers, deleting everything.

Every action that could lock the merchant out or destroy data asks for the
current password again. Wrong passwords count as failed logins for the
account (ratelimit.LOGIN_FAILED), so the settings page is no second door for
guessing: both doors share one budget of 10 tries in 15 minutes.

Async functions hash passwords (bcrypt, off the loop); their database work and
the sync functions run in threads. Pass `now` only in tests.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col, select

from offamazon_ui.models import AuthSession, TwoFactorChallenge, User, utcnow
from offamazon_ui.services import erasure, passwords, ratelimit, sessions
from offamazon_ui.services.accounts import FIRST_NAME_FIELD, LAST_NAME_FIELD, FieldError, clean_name
from offamazon_ui.services.crypto import hashes_match, keyed_hash_candidates
from offamazon_ui.services.db import session_scope
from offamazon_ui.services.ratelimit import TooManyAttempts, account_subject

CURRENT_PASSWORD_FIELD = "current_password"  # noqa: S105  a form field name
# Messages, not passwords:
WRONG_PASSWORD_MESSAGE = "Your password is incorrect."  # noqa: S105
ENTER_PASSWORD_MESSAGE = "Enter your current password."  # noqa: S105
SAME_PASSWORD_MESSAGE = "Choose a password different from your current one."  # noqa: S105
NO_ACCOUNT_MESSAGE = "Your account no longer exists."


@dataclass(frozen=True)
class Profile:
    first_name: str
    last_name: str
    email: str


@dataclass(frozen=True)
class SessionInfo:
    """A signed-in browser as the merchant may see it: times only, never its token."""

    created_at: datetime
    last_seen_at: datetime
    current: bool


@dataclass(frozen=True)
class _Account:
    email: str
    password_hash: str
    locked_for: ratelimit.TooManyAttempts | None


def get_profile(user_id: int) -> Profile | None:
    with session_scope() as db:
        user = db.get(User, user_id)
        return Profile(user.first_name, user.last_name, user.email) if user else None


def update_names(user_id: int, first_name: str, last_name: str) -> tuple[FieldError, ...]:
    """Save new names with the registration rules; returns the errors, empty when saved."""
    first, first_error = clean_name(first_name, FIRST_NAME_FIELD, "First name")
    last, last_error = clean_name(last_name, LAST_NAME_FIELD, "Last name")
    errors = tuple(error for error in (first_error, last_error) if error is not None)
    if errors:
        return errors
    with session_scope() as db:
        user = db.get(User, user_id)
        if user is None:
            return (FieldError(None, NO_ACCOUNT_MESSAGE),)
        user.first_name, user.last_name = first, last
        db.add(user)
    return ()


# Password confirmation


def _load_account(user_id: int, client_ip: str | None, now: datetime) -> _Account | None:
    with session_scope() as db:
        user = db.get(User, user_id)
        if user is None:
            return None
        subject = account_subject(user.email)
        locked_for = None
        try:
            ratelimit.enforce(db, ratelimit.LOGIN_FAILURES_PER_IP, client_ip, now=now)
            reset_at = ratelimit.latest(db, ratelimit.PASSWORD_CHANGED, subject=subject)
            ratelimit.enforce(db, ratelimit.LOGIN_FAILURES_PER_ACCOUNT, subject, now=now, not_before=reset_at)
        except TooManyAttempts as limited:
            locked_for = limited
        return _Account(user.email, user.password_hash, locked_for)


def _record_failure(user_id: int, email: str, client_ip: str | None, now: datetime) -> None:
    with session_scope() as db:
        ratelimit.record(
            db, ratelimit.LOGIN_FAILED, now=now, subject=account_subject(email), user_id=user_id, client_ip=client_ip
        )


async def check_current_password(
    user_id: int, password: str, client_ip: str | None, *, field: str, now: datetime | None = None
) -> FieldError | None:
    """None when `password` is the user's current password; otherwise the error to show next to `field`."""
    now = now or utcnow()
    if not password:
        return FieldError(field, ENTER_PASSWORD_MESSAGE)
    account = await asyncio.to_thread(_load_account, user_id, client_ip, now)
    if account is None:
        return FieldError(None, NO_ACCOUNT_MESSAGE)
    if account.locked_for is not None:
        return FieldError(None, account.locked_for.message)
    if await passwords.verify_password(password, account.password_hash):
        return None
    await asyncio.to_thread(_record_failure, user_id, account.email, client_ip, now)
    return FieldError(field, WRONG_PASSWORD_MESSAGE)


# Change password


async def change_password(
    user_id: int,
    current_password: str,
    new_password: str,
    confirm_password: str,
    client_ip: str | None,
    *,
    now: datetime | None = None,
) -> tuple[FieldError, ...]:
    """Set a new password and end every session of the user (this browser included; the caller signs it in
    again with a fresh session). Returns the errors, empty on success."""
    now = now or utcnow()
    profile = await asyncio.to_thread(get_profile, user_id)
    if profile is None:
        return (FieldError(None, NO_ACCOUNT_MESSAGE),)
    errors = [
        FieldError(field, message)
        for field, message in passwords.validate_new_password(new_password, confirm_password, profile.email).items()
    ]
    if not current_password:
        errors.insert(0, FieldError(CURRENT_PASSWORD_FIELD, ENTER_PASSWORD_MESSAGE))
    elif not errors and passwords.normalize(current_password) == passwords.normalize(new_password):
        errors.append(FieldError(passwords.PASSWORD_FIELD, SAME_PASSWORD_MESSAGE))
    if errors:
        return tuple(errors)
    wrong = await check_current_password(user_id, current_password, client_ip, field=CURRENT_PASSWORD_FIELD, now=now)
    if wrong is not None:
        return (wrong,)
    password_hash = await passwords.hash_password(new_password)
    await asyncio.to_thread(_store_password, user_id, password_hash, client_ip, now)
    return ()


def _store_password(user_id: int, password_hash: str, client_ip: str | None, now: datetime) -> None:
    with session_scope() as db:
        user = db.get(User, user_id)
        if user is None:
            return
        user.password_hash = password_hash
        db.add(user)
        sessions.end_user_sessions(db, user_id, now)
        # Sign-ins that proved the old password and still wait for their second factor are void.
        db.exec(delete(TwoFactorChallenge).where(col(TwoFactorChallenge.user_id) == user_id))
        ratelimit.record(
            db,
            ratelimit.PASSWORD_CHANGED,
            now=now,
            subject=account_subject(user.email),
            user_id=user_id,
            client_ip=client_ip,
        )


# Sessions


def list_sessions(user_id: int, current_token: str | None, *, now: datetime | None = None) -> list[SessionInfo]:
    """The user's live sessions, newest activity first; `current` marks the one behind `current_token`."""
    now = now or utcnow()
    current_hashes = set(keyed_hash_candidates("session", current_token)) if current_token else set()
    with session_scope() as db:
        rows = db.exec(
            select(AuthSession)
            .where(
                AuthSession.user_id == user_id,
                col(AuthSession.revoked_at).is_(None),
                col(AuthSession.expires_at) > now,
                col(AuthSession.last_seen_at) > now - sessions.IDLE_TIMEOUT,
            )
            .order_by(col(AuthSession.last_seen_at).desc(), col(AuthSession.id).desc())
        ).all()
        return [
            SessionInfo(
                row.created_at,
                row.last_seen_at,
                any(hashes_match(row.token_hash, candidate) for candidate in current_hashes),
            )
            for row in rows
        ]


def sign_out_everywhere(user_id: int, *, now: datetime | None = None) -> int:
    """End every session of the user, this browser's included; returns how many ended."""
    return sessions.revoke_all_sessions(user_id, now=now)


# Delete the account


async def delete_account(
    user_id: int, password: str, client_ip: str | None, *, field: str, now: datetime | None = None
) -> FieldError | None:
    """After the password is confirmed, delete the user and everything tied to them; None when done."""
    wrong = await check_current_password(user_id, password, client_ip, field=field, now=now)
    if wrong is not None:
        return wrong
    await asyncio.to_thread(_erase, user_id)
    return None


def _erase(user_id: int) -> None:
    with session_scope() as db:
        erasure.delete_user(db, user_id)
