"""Password policy, and bcrypt hashing kept off the event loop.

The policy is the product's (8+ characters with upper, lower, number and
special), plus a blocklist of common passwords, no email name inside, and the
bcrypt limit of 72 bytes, which bcrypt 5 enforces by raising instead of
truncating. Every check and every hash sees the NFKC form, so the same
password typed on another keyboard (full-width digits, ligatures) still matches.

common_passwords.txt is Django's list (BSD licence, see common_passwords.LICENSE.txt).
"""

from __future__ import annotations

import asyncio
import os
import unicodedata
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import bcrypt

# Tests lower this for speed, except the one that checks production hashes are $2b$12$.
BCRYPT_COST = 12
MIN_CHARS = 8
MAX_CHARS = 128
MAX_BYTES = 72
MIN_EMAIL_NAME_CHARS = 3
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")
# Form field names that errors are attached to.
PASSWORD_FIELD = "password"  # noqa: S105
CONFIRM_FIELD = "confirm_password"  # noqa: S105

TOO_LONG_MESSAGE = "Password is too long: at most 72 bytes (fewer characters if you use accented letters or emoji)."
_MESSAGES = {
    "length": "Password must be at least 8 characters.",
    "uppercase": "Password must contain at least 1 uppercase letter.",
    "lowercase": "Password must contain at least 1 lowercase letter.",
    "number": "Password must contain at least 1 number.",
    "special": "Password must contain at least 1 special character, such as ! ? # or @.",
    "not_too_long": TOO_LONG_MESSAGE,
    "not_common": "This password is too common and easy to guess. Choose another one.",
    "not_email_name": "Password must not contain the part of your email address before the @.",
}
_LABELS = {
    "length": "Minimum 8 characters",
    "uppercase": "At least 1 uppercase letter",
    "lowercase": "At least 1 lowercase letter",
    "number": "At least 1 number",
    "special": "At least 1 special character",
    "not_too_long": "At most 72 bytes (accented letters and emoji count as 2 to 4)",
    "not_common": "Not a commonly used password",
    "not_email_name": "Does not contain your email name",
}


@dataclass(frozen=True)
class Rule:
    """One line of the live checklist under the password field."""

    name: str
    label: str
    passed: bool


class PasswordTooLong(ValueError):
    def __init__(self) -> None:
        super().__init__(TOO_LONG_MESSAGE)


def normalize(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    return frozenset(line for line in COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines() if line)


def _email_names(email: str) -> list[str]:
    """The local part, and the same without a +tag, when long enough to matter."""
    local = normalize(email.strip()).lower().partition("@")[0]
    names = {local, local.partition("+")[0]}
    return [name for name in names if len(name) >= MIN_EMAIL_NAME_CHARS]


def password_rules(password: str, email: str = "") -> list[Rule]:
    """Each rule with pass/fail, cheap enough to run on every keystroke."""
    # Over MAX_CHARS it fails anyway; skip normalising arbitrarily long input.
    too_many_chars = len(password) > MAX_CHARS
    candidate = password if too_many_chars else normalize(password)
    folded = candidate.lower()
    passed = {
        "length": len(candidate) >= MIN_CHARS,
        "uppercase": any(ch.isupper() for ch in candidate),
        "lowercase": any(ch.islower() for ch in candidate),
        "number": any(ch.isdigit() for ch in candidate),
        "special": any(not ch.isalnum() and not ch.isspace() for ch in candidate),
        "not_too_long": not too_many_chars and len(candidate.encode()) <= MAX_BYTES,
        # An empty field is not yet "not common": the checklist should not tick it.
        "not_common": bool(candidate) and folded.strip() not in common_passwords(),
        "not_email_name": bool(candidate) and not any(name in folded for name in _email_names(email)),
    }
    return [Rule(name, _LABELS[name], ok) for name, ok in passed.items()]


def validate_new_password(password: str, confirm: str, email: str) -> dict[str, str]:
    """Form errors keyed by field ("password", "confirm_password"); empty when the password is acceptable."""
    errors: dict[str, str] = {}
    if not password:
        errors[PASSWORD_FIELD] = "Enter a password."
    else:
        failed = next((rule for rule in password_rules(password, email) if not rule.passed), None)
        if failed is not None:
            errors[PASSWORD_FIELD] = _MESSAGES[failed.name]
    if not confirm:
        errors[CONFIRM_FIELD] = "Enter the password again to confirm it."
    elif normalize(confirm) != normalize(password):
        errors[CONFIRM_FIELD] = "Passwords do not match."
    return errors


def _encode(password: str) -> bytes:
    if len(password) > MAX_CHARS:
        raise PasswordTooLong()
    encoded = normalize(password).encode()
    if len(encoded) > MAX_BYTES:
        raise PasswordTooLong()
    return encoded


def _hash_concurrency() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


HASH_CONCURRENCY = _hash_concurrency()
# One semaphore per event loop: asyncio primitives must not be shared across loops.
_hash_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()

T = TypeVar("T")


async def _run_bcrypt(function: Callable[..., T], *args: bytes) -> T:
    """bcrypt releases the GIL; a thread keeps the loop responsive, the semaphore caps the CPU it takes."""
    loop = asyncio.get_running_loop()
    slots = _hash_slots.get(loop)
    if slots is None:
        slots = _hash_slots[loop] = asyncio.Semaphore(HASH_CONCURRENCY)
    async with slots:
        return await asyncio.to_thread(function, *args)


async def hash_password(password: str) -> str:
    """bcrypt hash of the NFKC form; raises PasswordTooLong over 72 bytes (validate first)."""
    encoded = _encode(password)
    hashed: bytes = await _run_bcrypt(bcrypt.hashpw, encoded, bcrypt.gensalt(rounds=BCRYPT_COST))
    return hashed.decode()


async def verify_password(password: str, password_hash: str) -> bool:
    try:
        encoded = _encode(password)
    except PasswordTooLong:
        # No stored password can be this long; spend the same time as a real check anyway.
        await burn_password_check(password)
        return False
    matched: bool = await _run_bcrypt(bcrypt.checkpw, encoded, password_hash.encode())
    return matched


async def burn_password_check(password: str) -> None:
    """Cost exactly one bcrypt check, for paths that must take as long as a real one (no account, locked)."""
    # Any well-formed hash makes checkpw do the full work; this one matches no password.
    dummy_hash = bcrypt.gensalt(rounds=BCRYPT_COST) + b"." * 31
    await _run_bcrypt(bcrypt.checkpw, normalize(password[:MAX_CHARS]).encode()[:MAX_BYTES], dummy_hash)
