"""No Reflex state ever holds a password, hash, code or session secret in a var the browser receives.

Drives the real page handlers on an in-memory state tree (as Reflex's own unit
tests do) and then searches everything each state would serialise to the
browser for the secrets that passed through it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pyotp
import pytest
import reflex as rx
from sqlmodel import Session, select

import offamazon_ui.offamazon_ui  # noqa: F401  registers every page state
from offamazon_ui import state as session_state
from offamazon_ui.models import AuthSession, OneTimeCode, TwoFactor, User, utcnow
from offamazon_ui.pages.login import LoginState
from offamazon_ui.pages.register import RegisterState
from offamazon_ui.pages.settings import ChangePasswordState, SettingsState, TwoFactorSettingsState
from offamazon_ui.pages.verify import VerifyState
from offamazon_ui.services import mail, sessions
from offamazon_ui.services.crypto import decrypt
from tests.hardening_fixtures import app_states
from tests.settings_fixtures import make_user

PASSWORD = "Vivid#Lantern83"
EMAIL = "owner@example.com"


def substate(root: rx.State, cls: type[rx.State]) -> Any:
    return root.get_substate(cls.get_full_name().split(".")[1:])


def browser_view(root: rx.State) -> str:
    """What hydration would send: every public var of every app state."""
    return json.dumps(root.dict(), default=str)


@pytest.fixture
def sent_mail(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    bodies: list[str] = []

    async def capture(message):  # type: ignore[no-untyped-def]
        bodies.append(message.get_body(preferencelist=("plain",)).get_content())

    monkeypatch.setattr(mail, "send", capture)
    return bodies


def test_every_page_state_is_covered() -> None:
    names = {state.__name__ for state in app_states()}
    assert {"SessionState", "RegisterState", "VerifyState", "LoginState", "ConnectAmazonState"} <= names
    assert {"SettingsState", "ChangePasswordState", "TwoFactorSettingsState", "UpdateAmazonState"} <= names


async def test_register_verify_and_login_leave_no_secret_in_any_state(db, sent_mail: list[str]) -> None:  # type: ignore[no-untyped-def]
    root = rx.State(_reflex_internal_init=True)  # type: ignore[call-arg]
    register = substate(root, RegisterState)
    register.remember_email(EMAIL)
    register.check_password(PASSWORD)
    assert all(register.checks.values())
    form = {
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": EMAIL,
        "password": PASSWORD,
        "confirm_password": PASSWORD,
    }
    await RegisterState.submit.fn(register, form)
    verify = substate(root, VerifyState)
    assert verify.pending_email == EMAIL
    code = re.search(r"\b(\d{3}) (\d{3})\b", sent_mail[-1])
    assert code
    otp = code.group(1) + code.group(2)

    tickets: list[str] = []
    result = await VerifyState.verify.fn(verify, {"code": otp})
    tickets.append(str(result))
    login = substate(root, LoginState)
    await LoginState.submit.fn(login, {"email": EMAIL, "password": PASSWORD})

    with Session(db) as session:
        password_hash = session.exec(select(User.password_hash)).one()
        code_hashes = session.exec(select(OneTimeCode.code_hash)).all()
        session_hashes = session.exec(select(AuthSession.token_hash)).all()

    sent = browser_view(root)
    for secret in (PASSWORD, otp, password_hash, *code_hashes, *session_hashes):
        assert secret not in sent
    # The hand-over ticket travels only inside the script event, never in a var.
    ticket = re.search(r'"ticket": "([^"]+)"', tickets[0])
    assert ticket and ticket.group(1) not in sent


def test_no_public_var_is_named_like_a_secret() -> None:
    secret_words = re.compile(r"password|token|secret|hash|ticket|otp|cookie", re.IGNORECASE)
    allowed = {"show_password", "show_token"}
    for state in app_states():
        public = [name for name in state.vars if not name.startswith("_") and name not in allowed]
        assert not [name for name in public if secret_words.search(name)], state.__name__


async def test_settings_and_two_factor_sign_in_leave_no_secret_in_any_state(db, fast_bcrypt, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    user_id = make_user(EMAIL, password=PASSWORD, now=utcnow())
    session_token = sessions.create_session(user_id)
    # The browser's HttpOnly cookie, as the websocket handshake would carry it.
    monkeypatch.setattr(session_state, "read_session_token", lambda _cookie: session_token)
    root = rx.State(_reflex_internal_init=True)  # type: ignore[call-arg]
    settings = substate(root, SettingsState)
    assert await SettingsState.on_load.fn(settings) is None
    assert settings.loaded and settings.email == EMAIL

    two_factor = substate(root, TwoFactorSettingsState)
    shown = [str(await TwoFactorSettingsState.begin_setup.fn(two_factor))]
    with Session(db) as session:
        key = decrypt(session.exec(select(TwoFactor.secret_enc)).one())
    shown.append(str(await TwoFactorSettingsState.confirm_setup.fn(two_factor, {"code": pyotp.TOTP(key).now()})))
    assert two_factor.enabled and two_factor.stage == "saved"
    recovery_codes = set(re.findall(r"(?<![0-9A-Z])[2-9A-HJ-NP-Z]{5}-[2-9A-HJ-NP-Z]{5}(?![0-9A-Z])", shown[-1]))
    assert len(recovery_codes) == 10

    login = substate(root, LoginState)
    await LoginState.submit.fn(login, {"email": EMAIL, "password": PASSWORD})
    assert login.code_step and login._challenge

    new_password = "Fresh#Meadow71"
    password_form = substate(root, ChangePasswordState)
    await ChangePasswordState.check_password.fn(password_form, new_password)
    changed = await ChangePasswordState.submit.fn(
        password_form,
        {"current_password": PASSWORD, "password": new_password, "confirm_password": new_password},
    )
    assert password_form.errors == {} and "ticket" in str(changed)

    sent = browser_view(root)
    key_groups = [key[i : i + 4] for i in range(0, len(key), 4)]
    for secret in (PASSWORD, new_password, session_token, login._challenge, key, *key_groups, *recovery_codes):
        assert secret not in sent
