"""Optional second sign-in step with an authenticator app (TOTP, RFC 6238) and single-use recovery codes.

- The TOTP secret is stored encrypted (crypto.encrypt); codes have 6 digits and
  a 30-second step, and one step either side is accepted for clock drift. The
  newest accepted step is remembered, and a code for it or any older step is
  refused, so a code can be used once.
- Ten recovery codes are generated when the app is confirmed; they are shown
  once and stored only as keyed hashes. Each works once.
- Sign-in: once the password is right, `begin_sign_in` returns either a session
  ticket (no second factor) or a challenge: a random token, single use, valid 5
  minutes, stored only as a keyed hash, which the UI keeps server-side while it
  asks for a code. `finish_sign_in` redeems challenge + code for a ticket.
- Wrong codes are limited per challenge (5), per account (10 an hour) and per
  client IP (30 an hour); answers never say which part was wrong.

Plain sync functions (the UI runs them with asyncio.to_thread), except `disable`,
which checks the password with bcrypt. Pass `now` only in tests.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyotp
import segno
from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from offamazon_ui.models import RecoveryCode, TwoFactor, TwoFactorChallenge, User, utcnow
from offamazon_ui.services import profile, ratelimit, sessions
from offamazon_ui.services.accounts import FieldError
from offamazon_ui.services.crypto import decrypt, encrypt, hashes_match, keyed_hash, keyed_hash_candidates
from offamazon_ui.services.db import session_scope
from offamazon_ui.services.ratelimit import Limit, TooManyAttempts, account_subject

ISSUER = "Off-Amazon Selection"
DIGITS = 6
STEP_SECONDS = 30
VALID_WINDOW = 1
RECOVERY_CODE_COUNT = 10
RECOVERY_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O or 1/I to misread
RECOVERY_CODE_CHARS = 10  # 50 bits each
CHALLENGE_LIFETIME = timedelta(minutes=5)
MAX_ATTEMPTS_PER_CHALLENGE = 5
CODE_FIELD = "code"

TWO_FACTOR_FAILED = "two_factor_failed"
FAILURES_PER_ACCOUNT = Limit(TWO_FACTOR_FAILED, "subject", 10, timedelta(hours=1))
FAILURES_PER_IP = Limit(TWO_FACTOR_FAILED, "ip", 30, timedelta(hours=1))

ENTER_CODE_MESSAGE = "Enter the 6-digit code from your authenticator app, or a recovery code."
WRONG_CODE_MESSAGE = "That code is incorrect. Check your authenticator app and try again."
SIGN_IN_EXPIRED_MESSAGE = "Your sign-in expired. Log in again."
USED_UP_MESSAGE = "Too many incorrect codes. Log in again."
SETUP_MISSING_MESSAGE = "Start the setup again: the key was replaced or has not been created."

_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212]+")
_TOTP_CODE = re.compile(rf"[0-9]{{{DIGITS}}}")
_MAX_CHALLENGE_CHARS = 100


@dataclass(frozen=True)
class Status:
    enabled: bool
    enabled_at: datetime | None
    recovery_codes_left: int


@dataclass(frozen=True)
class Setup:
    """What the setup screen shows once: the key as text and as a QR code (an SVG data URI)."""

    key: str = field(repr=False)
    qr_svg_data_uri: str = field(repr=False)

    @property
    def grouped_key(self) -> str:
        return " ".join(self.key[i : i + 4] for i in range(0, len(self.key), 4))


@dataclass(frozen=True)
class ConfirmResult:
    recovery_codes: tuple[str, ...] = field(default=(), repr=False)  # shown once, never stored readable
    error: FieldError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class SignIn:
    """After a correct password: a session ticket, or a challenge that still needs a code."""

    ticket: str | None = field(default=None, repr=False)
    challenge: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class FinishResult:
    ticket: str | None = field(default=None, repr=False)
    user_id: int | None = None
    error: FieldError | None = None
    restart: bool = False  # the challenge is spent or expired: back to the password step

    @property
    def ok(self) -> bool:
        return self.ticket is not None


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)


def _time_step(totp: pyotp.TOTP, now: datetime) -> int:
    # pyotp reads naive datetimes as local time; ours are naive UTC.
    return totp.timecode(now.replace(tzinfo=UTC))


def _recovery_hash(user_id: int, code: str) -> str:
    return keyed_hash(f"2fa-recovery:{user_id}", code)


def _challenge_hash(challenge: str) -> str:
    return keyed_hash("2fa-challenge", challenge)


def normalize_recovery_code(text: str) -> str | None:
    candidate = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text[:40])).upper()
    if len(candidate) == RECOVERY_CODE_CHARS and all(ch in RECOVERY_ALPHABET for ch in candidate):
        return candidate
    return None


def _normalize_totp(text: str) -> str | None:
    candidate = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text[:40]))
    return candidate if _TOTP_CODE.fullmatch(candidate) else None


def _new_recovery_code() -> str:
    return "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_CHARS))


def format_recovery_code(code: str) -> str:
    middle = len(code) // 2
    return f"{code[:middle]}-{code[middle:]}"


# Status and setup


def status(user_id: int) -> Status:
    with session_scope() as db:
        row = db.exec(select(TwoFactor).where(TwoFactor.user_id == user_id)).first()
        if row is None or row.enabled_at is None:
            return Status(enabled=False, enabled_at=None, recovery_codes_left=0)
        left = db.exec(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user_id, col(RecoveryCode.used_at).is_(None))
        ).one()
        return Status(enabled=True, enabled_at=row.enabled_at, recovery_codes_left=left)


def begin_setup(user_id: int, *, now: datetime | None = None) -> Setup | None:
    """A new secret awaiting confirmation (replacing an unconfirmed one); None if two-factor is already on."""
    now = now or utcnow()
    secret = pyotp.random_base32()
    with session_scope() as db:
        user = db.get(User, user_id)
        if user is None:
            return None
        row = db.exec(select(TwoFactor).where(TwoFactor.user_id == user_id)).first()
        if row is not None and row.enabled_at is not None:
            return None
        row = row or TwoFactor(user_id=user_id, secret_enc="")
        row.secret_enc, row.created_at, row.last_used_step = encrypt(secret), now, None
        db.add(row)
        email = user.email
    uri = _totp(secret).provisioning_uri(name=email, issuer_name=ISSUER)
    qr = segno.make(uri, error="m").svg_data_uri(scale=5, border=2)
    return Setup(key=secret, qr_svg_data_uri=qr)


def confirm_setup(user_id: int, code: str, client_ip: str | None, *, now: datetime | None = None) -> ConfirmResult:
    """Turn two-factor on once the app shows the right code; returns the recovery codes to show once."""
    now = now or utcnow()
    digits = _normalize_totp(code)
    if digits is None:
        return ConfirmResult(error=FieldError(CODE_FIELD, "Enter the 6-digit code from your authenticator app."))
    with session_scope() as db:
        user = db.get(User, user_id)
        row = db.exec(select(TwoFactor).where(TwoFactor.user_id == user_id)).first()
        if user is None or row is None or row.enabled_at is not None:
            return ConfirmResult(error=FieldError(None, SETUP_MISSING_MESSAGE))
        subject = account_subject(user.email)
        try:
            _admit_attempt(db, subject, client_ip, now)
        except TooManyAttempts as limited:
            return ConfirmResult(error=FieldError(None, limited.message))
        if not _accept_totp(db, row, digits, now):
            _record_failure(db, subject, user_id, client_ip, now)
            return ConfirmResult(error=FieldError(CODE_FIELD, WRONG_CODE_MESSAGE))
        row.enabled_at = now
        db.add(row)
        return ConfirmResult(recovery_codes=_replace_recovery_codes(db, user_id))


def _replace_recovery_codes(db: Session, user_id: int) -> tuple[str, ...]:
    db.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    codes = tuple(_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT))
    for code in codes:
        db.add(RecoveryCode(user_id=user_id, code_hash=_recovery_hash(user_id, code)))
    db.flush()
    return tuple(format_recovery_code(code) for code in codes)


async def disable(
    user_id: int, password: str, client_ip: str | None, *, field: str, now: datetime | None = None
) -> FieldError | None:
    """Turn two-factor off after the password is confirmed; None when done."""
    wrong = await profile.check_current_password(user_id, password, client_ip, field=field, now=now)
    if wrong is not None:
        return wrong
    await asyncio.to_thread(_forget, user_id)
    return None


def _forget(user_id: int) -> None:
    with session_scope() as db:
        for model in (TwoFactorChallenge, RecoveryCode, TwoFactor):
            db.exec(delete(model).where(col(model.user_id) == user_id))


# Codes


def _accept_totp(db: Session, row: TwoFactor, digits: str, now: datetime) -> bool:
    """True if `digits` is the code of a step within the window that is newer than the last one used.

    The step is claimed with a conditional update, so two requests with the same code cannot both pass.
    """
    totp = _totp(decrypt(row.secret_enc))
    current = _time_step(totp, now)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if not hashes_match(totp.generate_otp(step), digits):
            continue
        claimed = db.exec(
            update(TwoFactor)
            .where(
                col(TwoFactor.id) == row.id,
                (col(TwoFactor.last_used_step).is_(None)) | (col(TwoFactor.last_used_step) < step),
            )
            .values(last_used_step=step)
        )
        return claimed.rowcount == 1
    return False


def _accept_recovery_code(db: Session, user_id: int, code: str, now: datetime) -> bool:
    used = db.exec(
        update(RecoveryCode)
        .where(
            col(RecoveryCode.user_id) == user_id,
            col(RecoveryCode.code_hash).in_(keyed_hash_candidates(f"2fa-recovery:{user_id}", code)),
            col(RecoveryCode.used_at).is_(None),
        )
        .values(used_at=now)
    )
    return used.rowcount == 1


def _admit_attempt(db: Session, subject: str, client_ip: str | None, now: datetime) -> None:
    ratelimit.enforce(db, FAILURES_PER_ACCOUNT, subject, now=now)
    ratelimit.enforce(db, FAILURES_PER_IP, client_ip, now=now)


def _record_failure(db: Session, subject: str, user_id: int, client_ip: str | None, now: datetime) -> None:
    ratelimit.record(db, TWO_FACTOR_FAILED, now=now, subject=subject, user_id=user_id, client_ip=client_ip)


# Sign-in


def begin_sign_in(user_id: int, *, now: datetime | None = None) -> SignIn:
    """Call once the password was right: a ticket when no second factor is set up, else a challenge."""
    now = now or utcnow()
    with session_scope() as db:
        row = db.exec(select(TwoFactor).where(TwoFactor.user_id == user_id)).first()
        if row is not None and row.enabled_at is not None:
            challenge = secrets.token_urlsafe(32)
            db.add(
                TwoFactorChallenge(
                    user_id=user_id,
                    token_hash=_challenge_hash(challenge),
                    created_at=now,
                    expires_at=now + CHALLENGE_LIFETIME,
                )
            )
            return SignIn(challenge=challenge)
    return SignIn(ticket=sessions.issue_ticket(user_id, now=now))


def finish_sign_in(challenge: str, code: str, client_ip: str | None, *, now: datetime | None = None) -> FinishResult:
    """Redeem a challenge with a TOTP or recovery code for a session ticket."""
    now = now or utcnow()
    digits = _normalize_totp(code)
    recovery = None if digits is not None else normalize_recovery_code(code)
    if digits is None and recovery is None:
        return FinishResult(error=FieldError(CODE_FIELD, ENTER_CODE_MESSAGE))
    if not 0 < len(challenge) <= _MAX_CHALLENGE_CHARS:
        return FinishResult(error=FieldError(None, SIGN_IN_EXPIRED_MESSAGE), restart=True)
    with session_scope() as db:
        pending = db.exec(
            select(TwoFactorChallenge).where(
                col(TwoFactorChallenge.token_hash).in_(keyed_hash_candidates("2fa-challenge", challenge))
            )
        ).first()
        if pending is None or pending.used_at is not None or pending.expires_at <= now:
            return FinishResult(error=FieldError(None, SIGN_IN_EXPIRED_MESSAGE), restart=True)
        user = db.get(User, pending.user_id)
        row = db.exec(select(TwoFactor).where(TwoFactor.user_id == pending.user_id)).first()
        if user is None or user.id is None or row is None or row.enabled_at is None:
            return FinishResult(error=FieldError(None, SIGN_IN_EXPIRED_MESSAGE), restart=True)
        subject = account_subject(user.email)
        try:
            _admit_attempt(db, subject, client_ip, now)
        except TooManyAttempts as limited:
            return FinishResult(error=FieldError(None, limited.message))
        tries_before = pending.failed_attempts
        unspent = (col(TwoFactorChallenge.id) == pending.id, col(TwoFactorChallenge.used_at).is_(None))
        # Take a try before comparing: parallel guesses never get more than MAX_ATTEMPTS_PER_CHALLENGE.
        claimed = db.exec(
            update(TwoFactorChallenge)
            .where(*unspent, col(TwoFactorChallenge.failed_attempts) < MAX_ATTEMPTS_PER_CHALLENGE)
            .values(failed_attempts=col(TwoFactorChallenge.failed_attempts) + 1)
        )
        if claimed.rowcount != 1:
            return FinishResult(error=FieldError(None, USED_UP_MESSAGE), restart=True)
        if digits is not None:
            accepted = _accept_totp(db, row, digits, now)
        else:
            assert recovery is not None
            accepted = _accept_recovery_code(db, user.id, recovery, now)
        if not accepted:
            _record_failure(db, subject, user.id, client_ip, now)
            if tries_before + 1 >= MAX_ATTEMPTS_PER_CHALLENGE:
                return FinishResult(error=FieldError(None, USED_UP_MESSAGE), restart=True)
            return FinishResult(error=FieldError(CODE_FIELD, WRONG_CODE_MESSAGE))
        consumed = db.exec(update(TwoFactorChallenge).where(*unspent).values(used_at=now))
        if consumed.rowcount != 1:
            return FinishResult(error=FieldError(None, SIGN_IN_EXPIRED_MESSAGE), restart=True)
        user_id = user.id
    return FinishResult(ticket=sessions.issue_ticket(user_id, now=now), user_id=user_id)
