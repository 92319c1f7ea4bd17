"""One-time codes: format, lifetime, single use, attempt limits, resend limits, replacement."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from offamazon_ui.models import OneTimeCode, User
from offamazon_ui.services import codes
from offamazon_ui.services.codes import VERIFY_EMAIL, CodeCheck
from offamazon_ui.services.db import session_scope
from offamazon_ui.services.ratelimit import TooManyAttempts, account_subject

NOW = datetime(2026, 3, 2, 9, 0, 0)
IP = "203.0.113.7"
EMAIL = "ann@example.com"


@pytest.fixture(autouse=True)
def data_dir(app_env: Path) -> None:
    # The shared `db` fixture opens SQLite inside the data dir, which app_env does not create.
    app_env.mkdir(parents=True, exist_ok=True)


@pytest.fixture
def user_id(db) -> int:  # type: ignore[no-untyped-def]
    with session_scope() as session:
        user = User(email=EMAIL, first_name="Ann", last_name="Lee", password_hash="x")
        session.add(user)
        session.flush()
        assert user.id is not None
        return user.id


def issue(user_id: int, now: datetime = NOW) -> str:
    with session_scope() as session:
        code = codes.issue_code(session, user_id=user_id, purpose=VERIFY_EMAIL, now=now)
        codes.record_send(
            session, subject=account_subject(EMAIL), user_id=user_id, purpose=VERIFY_EMAIL, client_ip=IP, now=now
        )
        return code


def check(user_id: int | None, code: str, now: datetime = NOW, email: str = EMAIL, client_ip: str = IP) -> CodeCheck:
    with session_scope() as session:
        return codes.check_code(
            session,
            subject=account_subject(email),
            user_id=user_id,
            purpose=VERIFY_EMAIL,
            code=code,
            client_ip=client_ip,
            now=now,
        )


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def send(now: datetime, email: str = EMAIL) -> codes.CodeStatus:
    """The resend button: check the limits, then count the send."""
    with session_scope() as session:
        subject = account_subject(email)
        codes.admit_send(session, subject=subject, purpose=VERIFY_EMAIL, client_ip=IP, now=now)
        return codes.record_send(session, subject=subject, user_id=None, purpose=VERIFY_EMAIL, client_ip=IP, now=now)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("123456", "123456"),
        ("123 456", "123456"),
        ("123-456", "123456"),
        ("  123 456\n", "123456"),
        ("１２３４５６", "123456"),
        ("12345", None),
        ("1234567", None),
        ("12345a", None),
        ("", None),
    ],
)
def test_typed_codes_are_normalised(typed: str, expected: str | None) -> None:
    assert codes.normalize_code(typed) == expected


def test_codes_are_six_random_digits_shown_grouped() -> None:
    generated = {codes.generate_code() for _ in range(200)}
    assert all(len(code) == 6 and code.isdigit() for code in generated)
    assert len(generated) > 190
    assert codes.format_code("012345") == "012 345"


def test_only_a_keyed_hash_is_stored(user_id: int) -> None:
    code = issue(user_id)
    with session_scope() as session:
        stored = session.exec(select(OneTimeCode)).one()
    assert code not in stored.code_hash
    assert len(stored.code_hash) == 64
    assert stored.expires_at == NOW + timedelta(minutes=10)


def test_code_works_for_ten_minutes(user_id: int) -> None:
    assert check(user_id, issue(user_id), NOW + timedelta(minutes=9, seconds=59)) is CodeCheck.ACCEPTED
    later = NOW + timedelta(hours=1)
    assert check(user_id, issue(user_id, later), later + timedelta(minutes=10)) is CodeCheck.REJECTED


def test_code_works_once(user_id: int) -> None:
    code = issue(user_id)
    assert check(user_id, code) is CodeCheck.ACCEPTED
    assert check(user_id, code) is CodeCheck.REJECTED


def test_code_is_bound_to_its_user(user_id: int) -> None:
    with session_scope() as session:
        other = User(email="bob@example.com", first_name="Bob", last_name="Ray", password_hash="x")
        session.add(other)
        session.flush()
        other_id = other.id
    code = issue(user_id)
    assert check(other_id, code, email="bob@example.com") is CodeCheck.REJECTED
    assert check(user_id, code) is CodeCheck.ACCEPTED


def test_five_wrong_tries_use_the_code_up(user_id: int) -> None:
    code = issue(user_id)
    assert [check(user_id, wrong(code)) for _ in range(5)] == [CodeCheck.REJECTED] * 4 + [CodeCheck.USED_UP]
    assert check(user_id, code) is CodeCheck.USED_UP  # even the right code
    assert check(user_id, issue(user_id, NOW + timedelta(minutes=1)), NOW + timedelta(minutes=1)) is CodeCheck.ACCEPTED


def test_an_address_without_account_answers_like_a_real_one(db) -> None:  # type: ignore[no-untyped-def]
    # Nobody has this address: the same answers, in the same order, as test_five_wrong_tries_use_the_code_up.
    send(NOW, email="ghost@example.com")
    answers = [check(None, "123456", email="ghost@example.com") for _ in range(6)]
    assert answers == [CodeCheck.REJECTED] * 4 + [CodeCheck.USED_UP] * 2


def test_ten_failures_an_hour_per_account_are_not_reset_by_new_codes(user_id: int) -> None:
    for minute in (0, 1):
        start = NOW + timedelta(minutes=minute)
        code = issue(user_id, start)
        for _ in range(5):
            check(user_id, wrong(code), start)
    fresh = issue(user_id, NOW + timedelta(minutes=2))
    with pytest.raises(TooManyAttempts) as limited:
        check(user_id, fresh, NOW + timedelta(minutes=2))
    assert limited.value.message == "Too many attempts. Try again in 58 minutes."
    an_hour_later = NOW + timedelta(hours=1, minutes=1)
    assert check(user_id, issue(user_id, an_hour_later), an_hour_later) is CodeCheck.ACCEPTED


def test_thirty_failures_an_hour_per_ip(db) -> None:  # type: ignore[no-untyped-def]
    for attempt in range(30):
        check(None, "123456", email=f"guess{attempt}@example.com")
    with pytest.raises(TooManyAttempts):
        check(None, "123456", email="another@example.com")
    assert check(None, "123456", email="another@example.com", client_ip="198.51.100.1") is CodeCheck.REJECTED


def test_a_new_code_replaces_the_previous_one(user_id: int) -> None:
    first = issue(user_id)
    second = issue(user_id, NOW + timedelta(minutes=1))
    assert check(user_id, first, NOW + timedelta(minutes=1)) is CodeCheck.REJECTED
    assert check(user_id, second, NOW + timedelta(minutes=1)) is CodeCheck.ACCEPTED


def test_resend_waits_a_minute(db) -> None:  # type: ignore[no-untyped-def]
    status = send(NOW)
    assert status.resend_available_at == NOW + timedelta(seconds=60)
    assert status.seconds_until_resend(NOW + timedelta(seconds=15)) == 45
    assert status.expires_at == NOW + timedelta(minutes=10)
    assert not status.replaced_previous
    with pytest.raises(TooManyAttempts) as limited:
        send(NOW + timedelta(seconds=59))
    assert limited.value.message == "You can request a new code in 1 second."
    again = send(NOW + timedelta(seconds=60))
    assert again.replaced_previous
    assert again.expires_at == NOW + timedelta(seconds=60, minutes=10)


def test_at_most_five_codes_an_hour(db) -> None:  # type: ignore[no-untyped-def]
    statuses = [send(NOW + timedelta(minutes=minute)) for minute in range(5)]
    # After the fifth, the button waits for the first send to leave the hour.
    assert statuses[-1].resend_available_at == NOW + timedelta(hours=1)
    with pytest.raises(TooManyAttempts) as limited:
        send(NOW + timedelta(minutes=10))
    assert limited.value.message == "Too many codes requested. Try again in 50 minutes."
    send(NOW + timedelta(hours=1, seconds=1))


def test_status_after_a_reload(db) -> None:  # type: ignore[no-untyped-def]
    with session_scope() as session:
        assert codes.code_status(session, subject=account_subject(EMAIL), purpose=VERIFY_EMAIL, now=NOW) is None
    send(NOW)
    with session_scope() as session:
        status = codes.code_status(
            session, subject=account_subject(EMAIL), purpose=VERIFY_EMAIL, now=NOW + timedelta(seconds=20)
        )
    assert status is not None
    assert status.seconds_until_expiry(NOW + timedelta(seconds=20)) == 580
    assert status.seconds_until_resend(NOW + timedelta(seconds=20)) == 40
