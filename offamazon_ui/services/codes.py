"""Emailed 6-digit one-time codes: for verifying an address and for resetting a password.

A code is random (`secrets`), lives 10 minutes, works once, and is stored only
as an HMAC bound to its user and purpose. Each code allows 5 tries, counted
atomically before the comparison so parallel guesses cannot exceed it; each
account allows 10 failures an hour, which asking for a new code does not reset.
Sending is limited to one code a minute and 5 an hour per account.

Sends and failures are counted per account subject (a keyed hash of the email,
see ratelimit.account_subject), which exists for unknown addresses too. Where
an account has no live code, the "too many tries" answer is derived from those
events, so an unknown address answers exactly like a real one.

All functions here take the caller's database session and never commit.
"""

from __future__ import annotations

import math
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Literal

from sqlalchemy import update
from sqlmodel import Session, col, select

from offamazon_ui.models import OneTimeCode, utcnow
from offamazon_ui.services import ratelimit
from offamazon_ui.services.crypto import hashes_match, keyed_hash, keyed_hash_candidates
from offamazon_ui.services.ratelimit import Limit

Purpose = Literal["verify_email", "reset_password"]
VERIFY_EMAIL: Purpose = "verify_email"
RESET_PASSWORD: Purpose = "reset_password"  # noqa: S105

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
MAX_ATTEMPTS_PER_CODE = 5
RESEND_COOLDOWN = timedelta(seconds=60)
MAX_SENDS_PER_HOUR = 5
MAX_SENDS_PER_HOUR_PER_IP = 20
MAX_FAILURES_PER_HOUR = 10
MAX_FAILURES_PER_HOUR_PER_IP = 30

_CODE_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212]+")
_CODE = re.compile(rf"[0-9]{{{CODE_DIGITS}}}")


class CodeCheck(Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"  # wrong, expired, replaced, or no code at all: one answer for all
    USED_UP = "used_up"  # too many wrong tries on the current code: a new one is needed


@dataclass(frozen=True)
class CodeStatus:
    """What the verify page shows: a countdown to expiry and to the Resend button."""

    sent_at: datetime
    expires_at: datetime
    resend_available_at: datetime
    replaced_previous: bool

    def seconds_until_expiry(self, now: datetime | None = None) -> int:
        return max(0, int((self.expires_at - (now or utcnow())).total_seconds()))

    def seconds_until_resend(self, now: datetime | None = None) -> int:
        return max(0, math.ceil((self.resend_available_at - (now or utcnow())).total_seconds()))


def send_limits(purpose: Purpose) -> tuple[Limit, ...]:
    kind = ratelimit.code_sent(purpose)
    return (
        Limit(kind, "subject", 1, RESEND_COOLDOWN, message="You can request a new code in {wait}."),
        Limit(
            kind,
            "subject",
            MAX_SENDS_PER_HOUR,
            timedelta(hours=1),
            message="Too many codes requested. Try again in {wait}.",
        ),
        Limit(kind, "ip", MAX_SENDS_PER_HOUR_PER_IP, timedelta(hours=1)),
    )


def failure_limits(purpose: Purpose) -> tuple[Limit, ...]:
    kind = ratelimit.code_failed(purpose)
    return (
        Limit(kind, "subject", MAX_FAILURES_PER_HOUR, timedelta(hours=1)),
        Limit(kind, "ip", MAX_FAILURES_PER_HOUR_PER_IP, timedelta(hours=1)),
    )


def _key(limit: Limit, subject: str, client_ip: str | None) -> str | None:
    return subject if limit.scope == "subject" else client_ip


def generate_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def format_code(code: str) -> str:
    """Two groups of three digits (123 456): easier to read and type from an email."""
    middle = len(code) // 2
    return f"{code[:middle]} {code[middle:]}"


def normalize_code(text: str) -> str | None:
    """The 6 digits typed or pasted ("123 456", "123-456", full-width digits), or None if it is not a code."""
    candidate = _CODE_SEPARATORS.sub("", unicodedata.normalize("NFKC", text[:40]))
    return candidate if _CODE.fullmatch(candidate) else None


def _code_hash(user_id: int, purpose: Purpose, code: str) -> str:
    return keyed_hash(f"otp:{purpose}:{user_id}", code)


def admit_send(session: Session, *, subject: str, purpose: Purpose, client_ip: str | None, now: datetime) -> None:
    """Raise TooManyAttempts (with a ready message) when another code may not be sent yet."""
    for limit in send_limits(purpose):
        ratelimit.enforce(session, limit, _key(limit, subject, client_ip), now=now)


def record_send(
    session: Session, *, subject: str, user_id: int | None, purpose: Purpose, client_ip: str | None, now: datetime
) -> CodeStatus:
    """Count a send (also for addresses without an account) and return the status the UI shows."""
    previous = ratelimit.latest(session, ratelimit.code_sent(purpose), subject=subject)
    ratelimit.record(
        session, ratelimit.code_sent(purpose), now=now, subject=subject, user_id=user_id, client_ip=client_ip
    )
    replaced = previous is not None and previous + CODE_LIFETIME > now
    return _status(session, subject, purpose, sent_at=now, replaced_previous=replaced, now=now)


def code_status(session: Session, *, subject: str, purpose: Purpose, now: datetime) -> CodeStatus | None:
    """Status of the latest code sent for this address and purpose (e.g. after a page reload), or None."""
    sent_at = ratelimit.latest(session, ratelimit.code_sent(purpose), subject=subject)
    if sent_at is None:
        return None
    return _status(session, subject, purpose, sent_at=sent_at, replaced_previous=False, now=now)


def _status(
    session: Session, subject: str, purpose: Purpose, *, sent_at: datetime, replaced_previous: bool, now: datetime
) -> CodeStatus:
    waits = [
        ratelimit.retry_after(session, limit, subject, now=now)
        for limit in send_limits(purpose)
        if limit.scope == "subject"
    ]
    resend_at = now + max((wait for wait in waits if wait is not None), default=timedelta(0))
    return CodeStatus(sent_at, sent_at + CODE_LIFETIME, resend_at, replaced_previous)


def issue_code(session: Session, *, user_id: int, purpose: Purpose, now: datetime) -> str:
    """A new code for the user; any earlier live code for the same purpose stops working."""
    session.exec(
        update(OneTimeCode)
        .where(
            col(OneTimeCode.user_id) == user_id,
            col(OneTimeCode.purpose) == purpose,
            col(OneTimeCode.consumed_at).is_(None),
            col(OneTimeCode.superseded_at).is_(None),
        )
        .values(superseded_at=now)
    )
    code = generate_code()
    session.add(
        OneTimeCode(
            user_id=user_id,
            purpose=purpose,
            code_hash=_code_hash(user_id, purpose, code),
            created_at=now,
            expires_at=now + CODE_LIFETIME,
        )
    )
    session.flush()
    return code


def admit_attempt(session: Session, *, subject: str, purpose: Purpose, client_ip: str | None, now: datetime) -> None:
    """Raise TooManyAttempts when the account or the IP has failed too often this hour."""
    for limit in failure_limits(purpose):
        ratelimit.enforce(session, limit, _key(limit, subject, client_ip), now=now)


def check_code(
    session: Session,
    *,
    subject: str,
    user_id: int | None,
    purpose: Purpose,
    code: str,
    client_ip: str | None,
    now: datetime,
) -> CodeCheck:
    """Try a normalised code; user_id None (no such account) answers like a wrong code.

    Raises TooManyAttempts when the account or the IP has failed too often this hour.
    """
    admit_attempt(session, subject=subject, purpose=purpose, client_ip=client_ip, now=now)
    outcome = _try_live_code(session, user_id, purpose, code, now) if user_id is not None else None
    if outcome is CodeCheck.ACCEPTED:
        return outcome
    ratelimit.record(
        session, ratelimit.code_failed(purpose), now=now, subject=subject, user_id=user_id, client_ip=client_ip
    )
    if outcome is not None:
        return outcome
    # No live code: answer as a live code would have after this many tries.
    last_sent = ratelimit.latest(session, ratelimit.code_sent(purpose), subject=subject)
    since = max(last_sent or now, now - CODE_LIFETIME)
    failures = ratelimit.count_since(session, ratelimit.code_failed(purpose), subject=subject, since=since)
    return CodeCheck.USED_UP if failures >= MAX_ATTEMPTS_PER_CODE else CodeCheck.REJECTED


def _try_live_code(session: Session, user_id: int, purpose: Purpose, code: str, now: datetime) -> CodeCheck | None:
    """ACCEPTED/REJECTED/USED_UP for the user's live code, None if there is none."""
    live = session.exec(
        select(OneTimeCode)
        .where(
            OneTimeCode.user_id == user_id,
            OneTimeCode.purpose == purpose,
            col(OneTimeCode.consumed_at).is_(None),
            col(OneTimeCode.superseded_at).is_(None),
            col(OneTimeCode.expires_at) > now,
        )
        .order_by(col(OneTimeCode.id).desc())
    ).first()
    if live is None:
        return None
    tries_before = live.failed_attempts
    unspent = (
        col(OneTimeCode.id) == live.id,
        col(OneTimeCode.consumed_at).is_(None),
        col(OneTimeCode.superseded_at).is_(None),
    )
    # Take a try before comparing: concurrent guesses can never get more than MAX_ATTEMPTS_PER_CODE.
    claimed = session.exec(
        update(OneTimeCode)
        .where(*unspent, col(OneTimeCode.failed_attempts) < MAX_ATTEMPTS_PER_CODE)
        .values(failed_attempts=col(OneTimeCode.failed_attempts) + 1)
    )
    if claimed.rowcount != 1:
        session.refresh(live)
        return CodeCheck.USED_UP if live.failed_attempts >= MAX_ATTEMPTS_PER_CODE else CodeCheck.REJECTED
    candidates = keyed_hash_candidates(f"otp:{purpose}:{user_id}", code)  # codes sent before a key rotation
    if not any(hashes_match(live.code_hash, candidate) for candidate in candidates):
        return CodeCheck.USED_UP if tries_before + 1 >= MAX_ATTEMPTS_PER_CODE else CodeCheck.REJECTED
    consumed = session.exec(update(OneTimeCode).where(*unspent).values(consumed_at=now))
    return CodeCheck.ACCEPTED if consumed.rowcount == 1 else CodeCheck.REJECTED
