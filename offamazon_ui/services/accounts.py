"""The account flows the pages call: register, verify the email, log in, reset a password.

None of them reveals whether an address has an account. Registering a taken
address answers exactly like a new one (same result, a bcrypt of the same
cost, an email sent either way: the owner gets "you already have an account"
instead of a code). Wrong codes, unknown addresses and used-up codes share
answers, and limits are counted per address whether or not it has an account
(see ratelimit.account_subject). Login failures all read "Email or password is
incorrect.", including while an account is locked after repeated failures.

Functions are async because they hash passwords and send mail; their database
work runs in threads. Every error is a FieldError naming the form field it
belongs to, or None for the form as a whole. Pass `now` only in tests.
"""

from __future__ import annotations

import asyncio
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from offamazon_ui.models import User, utcnow
from offamazon_ui.services import codes, mail, passwords, ratelimit, sessions
from offamazon_ui.services.codes import RESET_PASSWORD, VERIFY_EMAIL, CodeCheck, CodeStatus, Purpose
from offamazon_ui.services.db import session_scope
from offamazon_ui.services.ratelimit import TooManyAttempts, account_subject

FIRST_NAME_FIELD = "first_name"
LAST_NAME_FIELD = "last_name"
EMAIL_FIELD = "email"
PASSWORD_FIELD = passwords.PASSWORD_FIELD
CONFIRM_FIELD = passwords.CONFIRM_FIELD
CODE_FIELD = "code"

MAX_NAME_CHARS = 100
INVALID_LOGIN_MESSAGE = "Email or password is incorrect."
WRONG_CODE_MESSAGE = "That code is incorrect or has expired. Check the newest email, or request a new code."
USED_UP_CODE_MESSAGE = "Too many incorrect codes. Request a new code and try again."
ENTER_CODE_MESSAGE = "Enter the 6-digit code from the email."
# Zero-width joiners are part of how some scripts write names; other format characters only hide text.
_ALLOWED_FORMAT_CHARS = {"\u200c", "\u200d"}


@dataclass(frozen=True)
class FieldError:
    field: str | None
    message: str


@dataclass(frozen=True)
class RegisterResult:
    """On success the UI goes to /verify for `email`; the same whether the address was new or taken."""

    errors: tuple[FieldError, ...] = ()
    email: str | None = None
    code: CodeStatus | None = None
    mail_error: str | None = None  # the account exists; the user can press Resend

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class CodeSendResult:
    """Answer to "send me a code" (resend on /verify, forgot password): the same for unknown addresses."""

    error: FieldError | None = None
    email: str | None = None
    code: CodeStatus | None = None
    mail_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class VerifyResult:
    user_id: int | None = None  # set on success: issue a session for this user
    error: FieldError | None = None

    @property
    def ok(self) -> bool:
        return self.user_id is not None


@dataclass(frozen=True)
class LoginResult:
    """Signed in (user_id), or the password was right but the email is unverified (needs_verification)."""

    user_id: int | None = None
    needs_verification: bool = False
    email: str | None = None
    code: CodeStatus | None = None
    mail_error: str | None = None
    error: FieldError | None = None

    @property
    def ok(self) -> bool:
        return self.user_id is not None


@dataclass(frozen=True)
class ResetResult:
    """On success every session of the user has ended; user_id lets the UI sign this browser in."""

    user_id: int | None = None
    errors: tuple[FieldError, ...] = ()

    @property
    def ok(self) -> bool:
        return self.user_id is not None


def clean_email(raw: str) -> tuple[str | None, FieldError | None]:
    """The address as stored: trimmed, validated, ASCII (IDN domains as punycode), lowercase."""
    address = raw.strip()
    if not address:
        return None, FieldError(EMAIL_FIELD, "Enter your email address.")
    try:
        # No SMTPUTF8: non-ASCII local parts (and look-alikes such as the Kelvin sign) are refused.
        checked = validate_email(address, allow_smtputf8=False, check_deliverability=False)
    except EmailNotValidError as error:
        return None, FieldError(EMAIL_FIELD, str(error))
    return (checked.ascii_email or checked.normalized).lower(), None


def clean_name(raw: str, field: str, label: str) -> tuple[str, FieldError | None]:
    name = unicodedata.normalize("NFC", raw).strip()
    if not name:
        return name, FieldError(field, f"Enter your {label.lower()}.")
    if len(name) > MAX_NAME_CHARS:
        return name, FieldError(field, f"{label} can be at most {MAX_NAME_CHARS} characters.")
    if any(unicodedata.category(ch).startswith("C") and ch not in _ALLOWED_FORMAT_CHARS for ch in name):
        return name, FieldError(field, f"{label} can't contain control or invisible characters.")
    return name, None


def _find_user(db: Session, email: str) -> User | None:
    return db.exec(select(User).where(User.email == email)).first()


async def _deliver(message: EmailMessage | None) -> str | None:
    """Send, or take as long as sending would; returns the message to show if the send failed."""
    if message is None:
        await mail.imitate_send()
        return None
    try:
        await mail.send(message)
    except mail.MailNotSent as error:
        return error.message
    return None


# Register


async def register(
    first_name: str,
    last_name: str,
    email: str,
    password: str,
    confirm_password: str,
    client_ip: str | None,
    *,
    now: datetime | None = None,
) -> RegisterResult:
    now = now or utcnow()
    first, first_error = clean_name(first_name, FIRST_NAME_FIELD, "First name")
    last, last_error = clean_name(last_name, LAST_NAME_FIELD, "Last name")
    address, email_error = clean_email(email)
    password_errors = passwords.validate_new_password(password, confirm_password, address or email)
    errors = [error for error in (first_error, last_error, email_error) if error is not None]
    errors += [FieldError(field, message) for field, message in password_errors.items()]
    if errors or address is None:
        return RegisterResult(errors=tuple(errors))

    subject = account_subject(address)
    try:
        taken = await asyncio.to_thread(_admit_registration, address, subject, client_ip, now)
    except TooManyAttempts as limited:
        return RegisterResult(errors=(FieldError(None, limited.message),))

    if taken:
        # The same bcrypt cost as creating an account, so timing does not tell the two apart.
        await passwords.burn_password_check(password)
        created = None
    else:
        password_hash = await passwords.hash_password(password)
        created = await asyncio.to_thread(_create_account, first, last, address, password_hash, subject, client_ip, now)
    if created is None:  # taken, possibly a moment ago by a parallel request: email the owner instead
        status, message = await asyncio.to_thread(_note_repeat_registration, address, subject, client_ip, now)
    else:
        status, code = created
        message = mail.code_email(address, VERIFY_EMAIL, code)
    mail_error = await _deliver(message)
    return RegisterResult(email=address, code=status, mail_error=mail_error)


def _admit_registration(address: str, subject: str, client_ip: str | None, now: datetime) -> bool:
    """Count the registration against the IP's limit; True if the address already has an account."""
    with session_scope() as db:
        ratelimit.enforce(db, ratelimit.REGISTER_PER_IP, client_ip, now=now)
        ratelimit.record(db, ratelimit.REGISTER, now=now, subject=subject, client_ip=client_ip)
        return _find_user(db, address) is not None


def _create_account(
    first: str, last: str, address: str, password_hash: str, subject: str, client_ip: str | None, now: datetime
) -> tuple[CodeStatus, str] | None:
    """The new user with a first verification code, or None if the address was taken meanwhile."""
    try:
        with session_scope() as db:
            user = User(email=address, first_name=first, last_name=last, password_hash=password_hash, created_at=now)
            db.add(user)
            db.flush()
            assert user.id is not None  # flushed
            code = codes.issue_code(db, user_id=user.id, purpose=VERIFY_EMAIL, now=now)
            status = codes.record_send(
                db, subject=subject, user_id=user.id, purpose=VERIFY_EMAIL, client_ip=client_ip, now=now
            )
            return status, code
    except IntegrityError:
        return None


def _note_repeat_registration(
    address: str, subject: str, client_ip: str | None, now: datetime
) -> tuple[CodeStatus, EmailMessage | None]:
    """Status as if a code went out; the "already registered" email only within the send limits."""
    with session_scope() as db:
        try:
            codes.admit_send(db, subject=subject, purpose=VERIFY_EMAIL, client_ip=client_ip, now=now)
            message: EmailMessage | None = mail.account_exists_email(address)
        except TooManyAttempts:
            message = None  # the owner already got enough of these this hour
        status = codes.record_send(
            db, subject=subject, user_id=None, purpose=VERIFY_EMAIL, client_ip=client_ip, now=now
        )
        return status, message


# Codes: verify, resend, forgot password


async def resend_verification_code(email: str, client_ip: str | None, *, now: datetime | None = None) -> CodeSendResult:
    """The Resend button on /verify: a new code replaces the old one, within the send limits."""
    return await _send_code(email, VERIFY_EMAIL, client_ip, now or utcnow())


async def request_password_reset(email: str, client_ip: str | None, *, now: datetime | None = None) -> CodeSendResult:
    """Email a reset code if the address has an account; the answer is the same either way."""
    return await _send_code(email, RESET_PASSWORD, client_ip, now or utcnow())


async def _send_code(email: str, purpose: Purpose, client_ip: str | None, now: datetime) -> CodeSendResult:
    address, email_error = clean_email(email)
    if address is None:
        return CodeSendResult(error=email_error)
    try:
        status, message = await asyncio.to_thread(_prepare_code, address, purpose, client_ip, now)
    except TooManyAttempts as limited:
        return CodeSendResult(error=FieldError(None, limited.message))
    mail_error = await _deliver(message)
    return CodeSendResult(email=address, code=status, mail_error=mail_error)


def _prepare_code(
    address: str, purpose: Purpose, client_ip: str | None, now: datetime
) -> tuple[CodeStatus, EmailMessage | None]:
    subject = account_subject(address)
    with session_scope() as db:
        codes.admit_send(db, subject=subject, purpose=purpose, client_ip=client_ip, now=now)
        user = _find_user(db, address)
        message = None
        if user is not None and user.id is not None:
            if purpose == VERIFY_EMAIL and user.email_verified_at is not None:
                message = mail.account_exists_email(user.email)
            else:
                code = codes.issue_code(db, user_id=user.id, purpose=purpose, now=now)
                message = mail.code_email(user.email, purpose, code)
        user_id = user.id if user is not None else None
        status = codes.record_send(db, subject=subject, user_id=user_id, purpose=purpose, client_ip=client_ip, now=now)
        return status, message


def code_status(email: str, purpose: Purpose, *, now: datetime | None = None) -> CodeStatus | None:
    """Countdowns for a page that was reloaded: the latest code sent to this address, if any (sync)."""
    address, _error = clean_email(email)
    if address is None:
        return None
    with session_scope() as db:
        return codes.code_status(db, subject=account_subject(address), purpose=purpose, now=now or utcnow())


def _code_error(check: CodeCheck) -> FieldError:
    return FieldError(CODE_FIELD, USED_UP_CODE_MESSAGE if check is CodeCheck.USED_UP else WRONG_CODE_MESSAGE)


async def verify_email(email: str, code: str, client_ip: str | None, *, now: datetime | None = None) -> VerifyResult:
    """Check the emailed code; on success the address is verified and the user id returned."""
    address, email_error = clean_email(email)
    if address is None:
        return VerifyResult(error=email_error)
    digits = codes.normalize_code(code)
    if digits is None:
        return VerifyResult(error=FieldError(CODE_FIELD, ENTER_CODE_MESSAGE))
    try:
        return await asyncio.to_thread(_verify, address, digits, client_ip, now or utcnow())
    except TooManyAttempts as limited:
        return VerifyResult(error=FieldError(None, limited.message))


def _verify(address: str, digits: str, client_ip: str | None, now: datetime) -> VerifyResult:
    with session_scope() as db:
        user = _find_user(db, address)
        # A verified account has no verification code to try: it answers like an unknown address.
        pending = user if user is not None and user.email_verified_at is None else None
        check = codes.check_code(
            db,
            subject=account_subject(address),
            user_id=pending.id if pending is not None else None,
            purpose=VERIFY_EMAIL,
            code=digits,
            client_ip=client_ip,
            now=now,
        )
        if check is not CodeCheck.ACCEPTED or pending is None:
            return VerifyResult(error=_code_error(check))
        pending.email_verified_at = now
        db.add(pending)
        return VerifyResult(user_id=pending.id)


async def reset_password(
    email: str,
    code: str,
    new_password: str,
    confirm_password: str,
    client_ip: str | None,
    *,
    now: datetime | None = None,
) -> ResetResult:
    """Check the reset code, set the new password, end every session; verifies the email too."""
    now = now or utcnow()
    address, email_error = clean_email(email)
    digits = codes.normalize_code(code)
    errors = [email_error] if email_error is not None else []
    if digits is None:
        errors.append(FieldError(CODE_FIELD, ENTER_CODE_MESSAGE))
    password_errors = passwords.validate_new_password(new_password, confirm_password, address or email)
    errors += [FieldError(field, message) for field, message in password_errors.items()]
    if errors or address is None or digits is None:
        return ResetResult(errors=tuple(errors))
    subject = account_subject(address)
    try:
        await asyncio.to_thread(_admit_reset_attempt, subject, client_ip, now)
        # Hashed before the code is checked, so unknown addresses and wrong codes take as long as a reset.
        password_hash = await passwords.hash_password(new_password)
        return await asyncio.to_thread(_apply_reset, address, subject, digits, password_hash, client_ip, now)
    except TooManyAttempts as limited:
        return ResetResult(errors=(FieldError(None, limited.message),))


def _admit_reset_attempt(subject: str, client_ip: str | None, now: datetime) -> None:
    with session_scope() as db:
        codes.admit_attempt(db, subject=subject, purpose=RESET_PASSWORD, client_ip=client_ip, now=now)


def _apply_reset(
    address: str, subject: str, digits: str, password_hash: str, client_ip: str | None, now: datetime
) -> ResetResult:
    with session_scope() as db:
        user = _find_user(db, address)
        user_id = user.id if user is not None else None
        check = codes.check_code(
            db, subject=subject, user_id=user_id, purpose=RESET_PASSWORD, code=digits, client_ip=client_ip, now=now
        )
        if check is not CodeCheck.ACCEPTED or user is None or user_id is None:
            return ResetResult(errors=(_code_error(check),))
        user.password_hash = password_hash
        # The code proved the mailbox is theirs.
        user.email_verified_at = user.email_verified_at or now
        db.add(user)
        sessions.end_user_sessions(db, user_id, now)
        # Login failures before this moment no longer lock the account.
        ratelimit.record(db, ratelimit.PASSWORD_CHANGED, now=now, subject=subject, user_id=user_id, client_ip=client_ip)
        return ResetResult(user_id=user_id)


# Login


@dataclass(frozen=True)
class _LoginCandidate:
    user_id: int | None
    password_hash: str | None
    verified: bool
    locked: bool


async def login(email: str, password: str, client_ip: str | None, *, now: datetime | None = None) -> LoginResult:
    now = now or utcnow()
    address, email_error = clean_email(email)
    if address is None:
        return LoginResult(error=email_error)
    if not password:
        return LoginResult(error=FieldError(PASSWORD_FIELD, "Enter your password."))
    subject = account_subject(address)
    try:
        candidate = await asyncio.to_thread(_login_candidate, address, subject, client_ip, now)
    except TooManyAttempts as limited:
        return LoginResult(error=FieldError(None, limited.message))

    if candidate.password_hash is None or candidate.locked:
        # No account, or locked: the same bcrypt a real check costs, and the same answer.
        await passwords.burn_password_check(password)
        matched = False
    else:
        matched = await passwords.verify_password(password, candidate.password_hash)
    if not matched or candidate.user_id is None:
        await asyncio.to_thread(_record_login_failure, subject, candidate.user_id, client_ip, now)
        return LoginResult(error=FieldError(None, INVALID_LOGIN_MESSAGE))
    if candidate.verified:
        return LoginResult(user_id=candidate.user_id)

    status, message = await asyncio.to_thread(
        _fresh_verification_code, address, subject, candidate.user_id, client_ip, now
    )
    mail_error = await _deliver(message) if message is not None else None
    return LoginResult(needs_verification=True, email=address, code=status, mail_error=mail_error)


def _login_candidate(address: str, subject: str, client_ip: str | None, now: datetime) -> _LoginCandidate:
    with session_scope() as db:
        ratelimit.enforce(db, ratelimit.LOGIN_FAILURES_PER_IP, client_ip, now=now)
        reset_at = ratelimit.latest(db, ratelimit.PASSWORD_CHANGED, subject=subject)
        locked = (
            ratelimit.retry_after(db, ratelimit.LOGIN_FAILURES_PER_ACCOUNT, subject, now=now, not_before=reset_at)
            is not None
        )
        user = _find_user(db, address)
        if user is None:
            return _LoginCandidate(user_id=None, password_hash=None, verified=False, locked=locked)
        return _LoginCandidate(user.id, user.password_hash, user.email_verified_at is not None, locked)


def _record_login_failure(subject: str, user_id: int | None, client_ip: str | None, now: datetime) -> None:
    with session_scope() as db:
        ratelimit.record(db, ratelimit.LOGIN_FAILED, now=now, subject=subject, user_id=user_id, client_ip=client_ip)


def _fresh_verification_code(
    address: str, subject: str, user_id: int, client_ip: str | None, now: datetime
) -> tuple[CodeStatus | None, EmailMessage | None]:
    """A new code for an unverified user who signed in, unless one was sent too recently."""
    with session_scope() as db:
        try:
            codes.admit_send(db, subject=subject, purpose=VERIFY_EMAIL, client_ip=client_ip, now=now)
        except TooManyAttempts:
            return codes.code_status(db, subject=subject, purpose=VERIFY_EMAIL, now=now), None
        code = codes.issue_code(db, user_id=user_id, purpose=VERIFY_EMAIL, now=now)
        status = codes.record_send(
            db, subject=subject, user_id=user_id, purpose=VERIFY_EMAIL, client_ip=client_ip, now=now
        )
        return status, mail.code_email(address, VERIFY_EMAIL, code)
