"""Two-factor sign-in: setup with an authenticator app, codes used once, recovery codes, the login step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import sqlalchemy as sa
from sqlmodel import func, select

from offamazon_ui.models import AuthSession, RecoveryCode, SessionTicket, TwoFactor, TwoFactorChallenge
from offamazon_ui.services import accounts, sessions, twofactor
from offamazon_ui.services.accounts import FieldError
from offamazon_ui.services.crypto import decrypt
from offamazon_ui.services.db import session_scope
from tests.settings_fixtures import PASSWORD, make_user

NOW = datetime(2026, 3, 2, 9, 0, 0)  # on a 30-second boundary
IP = "203.0.113.7"
EMAIL = "ann@example.com"
WRONG = FieldError("code", twofactor.WRONG_CODE_MESSAGE)


@pytest.fixture(autouse=True)
def database(db: sa.Engine, fast_bcrypt: None) -> None:
    """Every test here uses a fresh database and fast bcrypt."""


@pytest.fixture
def user_id() -> int:
    return make_user(EMAIL, now=NOW - timedelta(days=1))


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def code_at(key: str, moment: datetime) -> str:
    return pyotp.TOTP(key).at(moment.replace(tzinfo=UTC))


def enable(user_id: int) -> tuple[str, tuple[str, ...]]:
    """Two-factor on, confirmed with the code of step NOW; returns the key and the recovery codes."""
    setup = twofactor.begin_setup(user_id, now=NOW)
    assert setup is not None
    result = twofactor.confirm_setup(user_id, code_at(setup.key, NOW), IP, now=NOW)
    assert result.ok
    return setup.key, result.recovery_codes


def challenge_for(user_id: int, now: datetime = NOW) -> str:
    step = twofactor.begin_sign_in(user_id, now=now)
    assert step.ticket is None and step.challenge is not None
    return step.challenge


def count(model: type) -> int:
    with session_scope() as db:
        return db.exec(select(func.count()).select_from(model)).one()


# Setup


def test_setup_stores_the_key_encrypted_and_stays_off_until_a_code_confirms_it(user_id: int) -> None:
    setup = twofactor.begin_setup(user_id, now=NOW)
    assert setup is not None
    assert len(setup.key) == 32 and setup.grouped_key.replace(" ", "") == setup.key
    assert setup.qr_svg_data_uri.startswith("data:image/svg+xml")
    assert setup.key not in repr(setup)
    with session_scope() as db:
        row = db.exec(select(TwoFactor)).one()
        assert setup.key not in row.secret_enc and decrypt(row.secret_enc) == setup.key
    assert twofactor.status(user_id) == twofactor.Status(enabled=False, enabled_at=None, recovery_codes_left=0)
    assert twofactor.begin_sign_in(user_id).ticket is not None  # not on yet: no second step

    assert twofactor.confirm_setup(user_id, "000000", IP, now=NOW).error == WRONG
    assert twofactor.confirm_setup(user_id, "12", IP, now=NOW).error is not None
    result = twofactor.confirm_setup(user_id, code_at(setup.key, NOW), IP, now=NOW)
    assert result.ok and len(result.recovery_codes) == 10 and len(set(result.recovery_codes)) == 10
    assert twofactor.status(user_id) == twofactor.Status(enabled=True, enabled_at=NOW, recovery_codes_left=10)


def test_a_new_setup_replaces_an_unconfirmed_key_and_is_refused_once_enabled(user_id: int) -> None:
    first = twofactor.begin_setup(user_id, now=NOW)
    second = twofactor.begin_setup(user_id, now=NOW)
    assert first is not None and second is not None and first.key != second.key
    assert twofactor.confirm_setup(user_id, code_at(first.key, NOW), IP, now=NOW).error == WRONG
    assert twofactor.confirm_setup(user_id, code_at(second.key, NOW), IP, now=NOW).ok
    assert twofactor.begin_setup(user_id, now=NOW) is None
    assert twofactor.confirm_setup(user_id, code_at(second.key, at(30)), IP, now=at(30)).error == FieldError(
        None, twofactor.SETUP_MISSING_MESSAGE
    )


def test_recovery_codes_are_stored_only_as_keyed_hashes(user_id: int) -> None:
    _key, codes = enable(user_id)
    with session_scope() as db:
        stored = [row.code_hash for row in db.exec(select(RecoveryCode)).all()]
    assert len(stored) == 10
    plain = {code.replace("-", "") for code in codes}
    assert not any(code in value for value in stored for code in plain)


# Sign-in


async def test_login_with_two_factor_issues_no_session_until_the_code_is_right(user_id: int) -> None:
    key, _codes = enable(user_id)
    login = await accounts.login(EMAIL, PASSWORD, IP)
    assert login.user_id == user_id
    step = twofactor.begin_sign_in(user_id, now=at(30))
    assert step.ticket is None and step.challenge is not None
    assert count(SessionTicket) == 0 and count(AuthSession) == 0
    with session_scope() as db:
        assert step.challenge not in db.exec(select(TwoFactorChallenge.token_hash)).one()

    assert twofactor.finish_sign_in(step.challenge, "000000", IP, now=at(31)).error == WRONG
    assert count(SessionTicket) == 0
    finished = twofactor.finish_sign_in(step.challenge, code_at(key, at(31)), IP, now=at(31))
    assert finished.ok and finished.user_id == user_id and finished.ticket is not None
    token = sessions.redeem_ticket(finished.ticket, now=at(32))
    assert token is not None and sessions.resolve_session(token, now=at(33)) == user_id


def test_a_challenge_works_once_and_expires_after_five_minutes(user_id: int) -> None:
    key, _codes = enable(user_id)
    challenge = challenge_for(user_id, at(30))
    assert twofactor.finish_sign_in(challenge, code_at(key, at(30)), IP, now=at(30)).ok
    reused = twofactor.finish_sign_in(challenge, code_at(key, at(60)), IP, now=at(60))
    assert reused.restart and reused.error == FieldError(None, twofactor.SIGN_IN_EXPIRED_MESSAGE)

    late = challenge_for(user_id, at(60))
    expired = twofactor.finish_sign_in(late, code_at(key, at(360)), IP, now=at(360))
    assert expired.restart and not expired.ok
    unknown = twofactor.finish_sign_in("not-a-challenge", code_at(key, at(90)), IP, now=at(90))
    assert unknown.restart and not unknown.ok


def test_a_code_is_refused_a_second_time_and_for_older_steps(user_id: int) -> None:
    key, _codes = enable(user_id)  # used the code of step NOW
    replay = twofactor.finish_sign_in(challenge_for(user_id), code_at(key, NOW), IP, now=at(5))
    assert replay.error == WRONG

    assert twofactor.finish_sign_in(challenge_for(user_id), code_at(key, at(30)), IP, now=at(40)).ok
    again = twofactor.finish_sign_in(challenge_for(user_id), code_at(key, at(30)), IP, now=at(45))
    assert again.error == WRONG


@pytest.mark.parametrize(("offset", "accepted"), [(-60, False), (-30, True), (0, True), (30, True), (60, False)])
def test_codes_one_step_either_side_are_accepted_for_clock_drift(user_id: int, offset: int, accepted: bool) -> None:
    key, _codes = enable(user_id)
    now = at(300)
    result = twofactor.finish_sign_in(
        challenge_for(user_id, now), code_at(key, now + timedelta(seconds=offset)), IP, now=now
    )
    assert result.ok is accepted


def test_recovery_codes_sign_in_once_each(user_id: int) -> None:
    _key, codes = enable(user_id)
    first = codes[0]
    typed = f" {first.lower().replace('-', ' ')} "  # case, spaces and dashes do not matter
    assert twofactor.finish_sign_in(challenge_for(user_id), typed, IP, now=at(10)).ok
    assert twofactor.finish_sign_in(challenge_for(user_id), first, IP, now=at(20)).error == WRONG
    assert twofactor.finish_sign_in(challenge_for(user_id), codes[1], IP, now=at(30)).ok
    assert twofactor.status(user_id).recovery_codes_left == 8
    other = make_user("bob@example.com", now=NOW)
    enable(other)
    assert twofactor.finish_sign_in(challenge_for(other), codes[2], IP, now=at(40)).error == WRONG


def test_five_wrong_codes_end_the_challenge(user_id: int) -> None:
    key, _codes = enable(user_id)
    challenge = challenge_for(user_id)
    for attempt in range(4):
        assert twofactor.finish_sign_in(challenge, f"00000{attempt}", IP, now=at(40)).error == WRONG
    fifth = twofactor.finish_sign_in(challenge, "000009", IP, now=at(40))
    assert fifth.restart and fifth.error == FieldError(None, twofactor.USED_UP_MESSAGE)
    assert twofactor.finish_sign_in(challenge, code_at(key, at(40)), IP, now=at(40)).restart


def test_wrong_codes_are_limited_per_account_across_challenges(user_id: int) -> None:
    key, _codes = enable(user_id)
    for attempt in range(10):
        result = twofactor.finish_sign_in(
            challenge_for(user_id), f"1{attempt:05d}", f"198.51.100.{attempt}", now=at(40)
        )
        assert result.error == WRONG
    limited = twofactor.finish_sign_in(challenge_for(user_id), code_at(key, at(40)), IP, now=at(41))
    assert not limited.ok and limited.error is not None and limited.error.message.startswith("Too many attempts.")
    assert twofactor.finish_sign_in(challenge_for(user_id, at(3700)), code_at(key, at(3700)), IP, now=at(3700)).ok


def test_malformed_codes_are_refused_without_costing_a_try(user_id: int) -> None:
    key, _codes = enable(user_id)
    challenge = challenge_for(user_id)
    for typed in ("", "12345", "abc", "1234567", "0" * 500):
        assert twofactor.finish_sign_in(challenge, typed, IP, now=at(40)).error == FieldError(
            "code", twofactor.ENTER_CODE_MESSAGE
        )
    assert twofactor.finish_sign_in(challenge, code_at(key, at(40)), IP, now=at(40)).ok


# Turning it off


async def test_turning_off_needs_the_password_and_removes_every_trace(user_id: int) -> None:
    enable(user_id)
    challenge_for(user_id)
    assert await twofactor.disable(user_id, "Wrong-Harbor-42", IP, field="disable_password") == FieldError(
        "disable_password", "Your password is incorrect."
    )
    assert twofactor.status(user_id).enabled
    assert await twofactor.disable(user_id, PASSWORD, IP, field="disable_password") is None
    assert twofactor.status(user_id).enabled is False
    assert count(TwoFactor) == count(RecoveryCode) == count(TwoFactorChallenge) == 0
    assert twofactor.begin_sign_in(user_id).ticket is not None
