"""Account flows end to end against SQLite and the outbox: register, verify, log in, reset.

Most tests care that a taken or unknown address cannot be told apart from a new or real one.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta

import bcrypt
import pytest
import sqlalchemy as sa
from sqlmodel import func, select

from offamazon_ui.models import User
from offamazon_ui.services import accounts, mail, ratelimit, sessions
from offamazon_ui.services.accounts import FieldError
from offamazon_ui.services.codes import RESET_PASSWORD, VERIFY_EMAIL
from offamazon_ui.services.db import session_scope

NOW = datetime(2026, 3, 2, 9, 0, 0)
IP = "203.0.113.7"
PASSWORD = "Blue-Harbor-42"
NEW_PASSWORD = "Green-Valley-77"
WRONG_CODE = accounts.WRONG_CODE_MESSAGE
INVALID_LOGIN = FieldError(None, "Email or password is incorrect.")


@pytest.fixture(autouse=True)
def database(db: sa.Engine, fast_bcrypt: None) -> None:
    """Every test here uses a fresh database and fast bcrypt."""


def at(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


def outbox_to(address: str) -> list[mail.OutboxMessage]:
    return [message for message in mail.list_outbox() if message.to == address]


def code_in(message: mail.OutboxMessage) -> str:
    found = re.search(r"\b(\d{3}) (\d{3})\b", message.text)
    assert found, message.text
    return found.group(1) + found.group(2)


def latest_code(address: str) -> str:
    return code_in(outbox_to(address)[0])


def user(address: str) -> User | None:
    with session_scope() as db:
        return db.exec(select(User).where(User.email == address)).first()


def user_count() -> int:
    with session_scope() as db:
        return db.exec(select(func.count()).select_from(User)).one()


async def register(address: str = "ann@example.com", now: datetime = NOW, **fields: str) -> accounts.RegisterResult:
    values = {"first_name": "Ann", "last_name": "Lee", "password": PASSWORD, "confirm_password": PASSWORD} | fields
    return await accounts.register(
        values["first_name"],
        values["last_name"],
        address,
        values["password"],
        values["confirm_password"],
        IP,
        now=now,
    )


async def verified_user(address: str = "ann@example.com") -> int:
    await register(address, now=at(-120))
    result = await accounts.verify_email(address, latest_code(address), IP, now=at(-119))
    assert result.user_id is not None
    return result.user_id


# Register: validation


async def test_every_error_names_its_field_and_nothing_is_created() -> None:
    result = await accounts.register("  ", "", "not-an-email", "short", "other", IP, now=NOW)
    assert not result.ok
    assert {error.field for error in result.errors} == {
        "first_name",
        "last_name",
        "email",
        "password",
        "confirm_password",
    }
    assert result.email is None and result.code is None
    assert user_count() == 0
    assert mail.list_outbox() == []


@pytest.mark.parametrize(
    ("first_name", "message"),
    [
        ("A" * 101, "First name can be at most 100 characters."),
        ("Ann\nLee", "First name can't contain control or invisible characters."),
        ("Ann\u202eeeL", "First name can't contain control or invisible characters."),
        ("\t ", "Enter your first name."),
    ],
)
async def test_names_are_checked(first_name: str, message: str) -> None:
    result = await register(first_name=first_name)
    assert result.errors == (FieldError("first_name", message),)


async def test_names_are_trimmed_and_may_be_100_characters() -> None:
    await register(first_name="  Zoë  ", last_name="L" * 100)
    stored = user("ann@example.com")
    assert stored is not None and stored.first_name == "Zoë" and stored.last_name == "L" * 100


async def test_email_is_trimmed_lowercased_and_keeps_its_plus_tag() -> None:
    result = await register("  Ann.Lee+Shop@Example.COM ")
    assert result.email == "ann.lee+shop@example.com"
    assert user("ann.lee+shop@example.com") is not None
    assert outbox_to("ann.lee+shop@example.com")


async def test_kelvin_sign_cannot_pose_as_the_letter_k() -> None:
    result = await register("quac\u212a@example.com")
    assert [error.field for error in result.errors] == ["email"]
    assert user_count() == 0


async def test_password_policy_applies_with_the_email_name() -> None:
    result = await register("harbor@example.com")
    assert result.errors == (
        FieldError("password", "Password must not contain the part of your email address before the @."),
    )


# Register: new and taken addresses look the same


async def test_new_account_gets_a_verification_code(monkeypatch: pytest.MonkeyPatch) -> None:
    result = await register()
    assert result.ok and result.email == "ann@example.com" and result.mail_error is None
    assert result.code is not None
    assert result.code.expires_at == at(10)
    assert result.code.resend_available_at == at(1)
    stored = user("ann@example.com")
    assert stored is not None and stored.email_verified_at is None
    assert stored.password_hash.startswith("$2b$04$")
    [message] = outbox_to("ann@example.com")
    assert "verification code" in message.subject


async def test_registering_a_taken_address_looks_exactly_like_a_new_one(monkeypatch: pytest.MonkeyPatch) -> None:
    await register("taken@example.com", now=at(-120), first_name="Tom")
    original = user("taken@example.com")
    assert original is not None

    bcrypt_calls: list[str] = []
    real_hashpw, real_checkpw = bcrypt.hashpw, bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "hashpw", lambda *a: bcrypt_calls.append("hash") or real_hashpw(*a))
    monkeypatch.setattr(bcrypt, "checkpw", lambda *a: bcrypt_calls.append("check") or real_checkpw(*a))

    new = await register("new@example.com", password=NEW_PASSWORD, confirm_password=NEW_PASSWORD)
    new_calls = len(bcrypt_calls)
    taken = await register("taken@example.com", password=NEW_PASSWORD, confirm_password=NEW_PASSWORD, first_name="X")

    assert dataclasses.replace(new, email=None) == dataclasses.replace(taken, email=None)
    assert taken.email == "taken@example.com"
    assert new_calls == 1 and len(bcrypt_calls) == 2  # one bcrypt of the same cost on each path
    assert user("taken@example.com") == original  # untouched: same name, same password hash
    [exists_email, _first_code] = outbox_to("taken@example.com")
    assert "already have" in exists_email.subject
    assert not re.search(r"\d{3} \d{3}", exists_email.text)


# Verify


async def test_verify_with_the_emailed_code() -> None:
    await register()
    code = latest_code("ann@example.com")
    result = await accounts.verify_email("ann@example.com", code[:3] + " " + code[3:], IP, now=at(2))
    stored = user("ann@example.com")
    assert stored is not None and result == accounts.VerifyResult(user_id=stored.id)
    assert stored.email_verified_at == at(2)
    # Used: the same code does not work twice.
    again = await accounts.verify_email("ann@example.com", code, IP, now=at(3))
    assert again.error == FieldError("code", WRONG_CODE)


async def test_unknown_address_and_wrong_code_answer_alike() -> None:
    await register("real@example.com")
    real_code = latest_code("real@example.com")
    await accounts.resend_verification_code("ghost@example.com", IP, now=NOW)  # same history for both
    wrong = f"{(int(real_code) + 1) % 10**6:06d}"

    async def answers(address: str) -> list[accounts.VerifyResult]:
        return [await accounts.verify_email(address, wrong, IP, now=at(1)) for _ in range(6)]

    real, ghost = await answers("real@example.com"), await answers("ghost@example.com")
    assert real == ghost
    assert [result.error.message for result in real if result.error] == [WRONG_CODE] * 4 + [
        accounts.USED_UP_CODE_MESSAGE
    ] * 2
    # The right code is refused too once the tries are used up.
    assert not (await accounts.verify_email("real@example.com", real_code, IP, now=at(1))).ok


async def test_code_format_is_checked_before_counting_a_try() -> None:
    result = await accounts.verify_email("ann@example.com", "12 34", IP, now=NOW)
    assert result.error == FieldError("code", "Enter the 6-digit code from the email.")


async def test_resend_replaces_the_code_and_waits_a_minute() -> None:
    await register()
    first = latest_code("ann@example.com")
    too_soon = await accounts.resend_verification_code("ann@example.com", IP, now=at(0.5))
    assert too_soon.error == FieldError(None, "You can request a new code in 30 seconds.")
    resent = await accounts.resend_verification_code("ann@example.com", IP, now=at(1))
    assert resent.ok and resent.code is not None and resent.code.replaced_previous
    second = latest_code("ann@example.com")
    assert not (await accounts.verify_email("ann@example.com", first, IP, now=at(2))).ok
    assert (await accounts.verify_email("ann@example.com", second, IP, now=at(2))).ok


# Login


async def test_login_succeeds_with_the_right_password() -> None:
    user_id = await verified_user()
    assert await accounts.login("ANN@example.com ", PASSWORD, IP, now=NOW) == accounts.LoginResult(user_id=user_id)


async def test_wrong_password_and_unknown_email_fail_alike() -> None:
    await verified_user()
    wrong = await accounts.login("ann@example.com", "Blue-Harbor-43", IP, now=NOW)
    unknown = await accounts.login("nobody@example.com", PASSWORD, IP, now=NOW)
    assert wrong == unknown == accounts.LoginResult(error=INVALID_LOGIN)


async def test_ten_failures_lock_the_account_for_fifteen_minutes_with_the_same_message() -> None:
    user_id = await verified_user()
    for second in range(10):
        await accounts.login("ann@example.com", "Wrong-Guess-1", IP, now=NOW + timedelta(seconds=second))
    locked = await accounts.login("ann@example.com", PASSWORD, IP, now=at(1))
    assert locked == accounts.LoginResult(error=INVALID_LOGIN)
    # An unknown address locks the same way, so the lock reveals nothing either.
    for second in range(10):
        await accounts.login("ghost@example.com", "Wrong-Guess-1", IP, now=NOW + timedelta(seconds=second))
    assert await accounts.login("ghost@example.com", PASSWORD, IP, now=at(1)) == locked
    assert await accounts.login("ann@example.com", PASSWORD, IP, now=at(15.5)) == accounts.LoginResult(user_id=user_id)


async def test_failed_logins_per_ip_are_limited() -> None:
    with session_scope() as db:
        for _ in range(100):
            ratelimit.record(db, ratelimit.LOGIN_FAILED, now=NOW, client_ip=IP)
    result = await accounts.login("ann@example.com", PASSWORD, IP, now=at(1))
    assert result.error == FieldError(None, "Too many attempts. Try again in 59 minutes.")


async def test_unverified_user_is_sent_a_fresh_code_on_login() -> None:
    await register()
    login = await accounts.login("ann@example.com", PASSWORD, IP, now=at(5))
    assert login.needs_verification and login.user_id is None and login.email == "ann@example.com"
    assert login.code is not None and login.code.expires_at == at(15) and login.code.replaced_previous
    assert len(outbox_to("ann@example.com")) == 2
    # Within the resend cooldown no new email goes out, but the page still gets its countdowns.
    again = await accounts.login("ann@example.com", PASSWORD, IP, now=at(5.5))
    assert again.needs_verification and again.code is not None
    assert (again.code.expires_at, again.code.resend_available_at) == (at(15), at(6))
    assert len(outbox_to("ann@example.com")) == 2
    assert (await accounts.verify_email("ann@example.com", latest_code("ann@example.com"), IP, now=at(6))).ok


# Forgot password


async def test_reset_request_answers_alike_for_known_and_unknown_addresses() -> None:
    await verified_user("known@example.com")
    emails_before = len(mail.list_outbox())
    known = await accounts.request_password_reset("known@example.com", IP, now=NOW)
    unknown = await accounts.request_password_reset("unknown@example.com", IP, now=NOW)
    assert dataclasses.replace(known, email=None) == dataclasses.replace(unknown, email=None)
    assert known.ok and known.code is not None and known.code.expires_at == at(10)
    messages = mail.list_outbox()
    assert len(messages) == emails_before + 1
    assert messages[0].to == "known@example.com" and "reset" in messages[0].subject


async def test_reset_password_sets_the_password_and_ends_every_session() -> None:
    user_id = await verified_user()
    token = sessions.create_session(user_id, now=NOW)
    await accounts.request_password_reset("ann@example.com", IP, now=NOW)
    code = latest_code("ann@example.com")
    result = await accounts.reset_password("ann@example.com", code, NEW_PASSWORD, NEW_PASSWORD, IP, now=at(1))
    assert result == accounts.ResetResult(user_id=user_id)
    assert sessions.resolve_session(token, now=at(1)) is None
    assert (await accounts.login("ann@example.com", NEW_PASSWORD, IP, now=at(2))).user_id == user_id
    assert (await accounts.login("ann@example.com", PASSWORD, IP, now=at(2))).error == INVALID_LOGIN


async def test_reset_with_a_wrong_code_or_unknown_address_changes_nothing() -> None:
    user_id = await verified_user()
    await accounts.request_password_reset("ann@example.com", IP, now=NOW)
    code = latest_code("ann@example.com")
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    bad_code = await accounts.reset_password("ann@example.com", wrong, NEW_PASSWORD, NEW_PASSWORD, IP, now=at(1))
    unknown = await accounts.reset_password("ghost@example.com", wrong, NEW_PASSWORD, NEW_PASSWORD, IP, now=at(1))
    assert bad_code == unknown == accounts.ResetResult(errors=(FieldError("code", WRONG_CODE),))
    assert (await accounts.login("ann@example.com", PASSWORD, IP, now=at(2))).user_id == user_id


async def test_reset_checks_the_new_password_before_using_the_code() -> None:
    await verified_user()
    await accounts.request_password_reset("ann@example.com", IP, now=NOW)
    code = latest_code("ann@example.com")
    weak = await accounts.reset_password("ann@example.com", code, "password1", "password1", IP, now=at(1))
    assert [error.field for error in weak.errors] == ["password"]
    assert (await accounts.reset_password("ann@example.com", code, NEW_PASSWORD, NEW_PASSWORD, IP, now=at(2))).ok


async def test_reset_lifts_a_login_lock() -> None:
    user_id = await verified_user()
    for second in range(10):
        await accounts.login("ann@example.com", "Wrong-Guess-1", IP, now=NOW + timedelta(seconds=second))
    await accounts.request_password_reset("ann@example.com", IP, now=at(1))
    code = latest_code("ann@example.com")
    await accounts.reset_password("ann@example.com", code, NEW_PASSWORD, NEW_PASSWORD, IP, now=at(2))
    assert (await accounts.login("ann@example.com", NEW_PASSWORD, IP, now=at(3))).user_id == user_id


# Limits per client IP


async def test_registrations_per_ip_are_limited() -> None:
    for number in range(20):
        assert (await register(f"user{number}@example.com", now=at(number))).ok
    limited = await register("one-more@example.com", now=at(20))
    assert limited.errors == (FieldError(None, "Too many attempts. Try again in 40 minutes."),)
    assert user("one-more@example.com") is None


async def test_reset_requests_per_ip_are_limited() -> None:
    for number in range(20):
        assert (await accounts.request_password_reset(f"user{number}@example.com", IP, now=NOW)).ok
    limited = await accounts.request_password_reset("one-more@example.com", IP, now=at(1))
    assert limited.error == FieldError(None, "Too many attempts. Try again in 59 minutes.")


async def test_status_for_a_reloaded_verify_page() -> None:
    assert accounts.code_status("ann@example.com", VERIFY_EMAIL, now=NOW) is None
    result = await register()
    assert accounts.code_status("Ann@Example.com", VERIFY_EMAIL, now=NOW) == dataclasses.replace(
        result.code, replaced_previous=False
    )
    assert accounts.code_status("ann@example.com", RESET_PASSWORD, now=NOW) is None
