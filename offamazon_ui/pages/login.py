"""Log in; an unverified account is sent to /verify with a fresh code.

With two-factor sign-in on, a correct password leads to a second step that asks
for the authenticator code (or a recovery code) before any session exists. The
hand-off between the steps is a challenge token kept in a backend var; the
browser never sees it.
"""

from __future__ import annotations

import asyncio
import logging

import reflex as rx

from offamazon_ui import routes
from offamazon_ui.components import fields, layout
from offamazon_ui.forms import UNEXPECTED_ERROR, submitted_text
from offamazon_ui.pages.verify import VerifyState
from offamazon_ui.services import accounts, onboarding, twofactor
from offamazon_ui.state import SessionState, allowed_routes, hand_over_session_script

log = logging.getLogger(__name__)


class LoginState(rx.State):
    form_error: str = ""
    code_error: str = ""
    notice: str = ""
    show_password: bool = False
    submitting: bool = False
    code_step: bool = False
    _challenge: str = ""

    async def on_load(self):  # type: ignore[no-untyped-def]
        self.form_error, self.code_error, self.submitting = "", "", False
        if not self._challenge:
            self.code_step, self.notice = False, ""
        session = await self.get_state(SessionState)
        return await session.resume()

    def _await_code(self, challenge: str, notice: str = "") -> None:
        """Switch to the code step; also called by the password reset page for two-factor accounts."""
        self._challenge, self.code_step, self.notice = challenge, True, notice
        self.form_error, self.code_error = "", ""

    def start_over(self) -> None:
        self._challenge, self.code_step = "", False
        self.form_error, self.code_error, self.notice = "", "", ""

    def toggle_password(self) -> None:
        self.show_password = not self.show_password

    @rx.event(background=True)
    async def submit(self, form_data: dict):  # type: ignore[no-untyped-def]
        async with self:
            if self.submitting:
                return
            self.submitting, self.form_error = True, ""
            client_ip = self.router.session.client_ip
        try:
            result = await accounts.login(
                submitted_text(form_data, "email"), submitted_text(form_data, "password"), client_ip
            )
            # No session before the second factor: begin_sign_in hands out a ticket only without one.
            step = await asyncio.to_thread(twofactor.begin_sign_in, result.user_id) if result.user_id else None
            progress = await asyncio.to_thread(onboarding.progress_of, result.user_id) if result.user_id else None
        except Exception:
            log.exception("login failed unexpectedly")
            async with self:
                self.submitting, self.form_error = False, UNEXPECTED_ERROR
            return
        async with self:
            self.submitting = False
            if result.needs_verification:
                verify = await self.get_state(VerifyState)
                verify._start(
                    result.email or "", result.code, notice="Verify your email to continue. We sent you a code."
                )
                verify.form_error = result.mail_error or ""
                return rx.redirect(routes.VERIFY)
            if step is None or progress is None:
                self.form_error = result.error.message if result.error else accounts.INVALID_LOGIN_MESSAGE
                return
            if step.challenge is not None:
                self._await_code(step.challenge)
                return
        if step.ticket is None:
            return
        return rx.call_script(hand_over_session_script(step.ticket, allowed_routes(progress)[-1]))

    @rx.event(background=True)
    async def submit_code(self, form_data: dict):  # type: ignore[no-untyped-def]
        async with self:
            if self.submitting or not self._challenge:
                return
            self.submitting, self.form_error, self.code_error = True, "", ""
            challenge, client_ip = self._challenge, self.router.session.client_ip
        try:
            result = await asyncio.to_thread(
                twofactor.finish_sign_in, challenge, submitted_text(form_data, "code"), client_ip
            )
            progress = await asyncio.to_thread(onboarding.progress_of, result.user_id) if result.user_id else None
        except Exception:
            log.exception("two-factor sign-in failed unexpectedly")
            async with self:
                self.submitting, self.code_error = False, UNEXPECTED_ERROR
            return
        async with self:
            self.submitting = False
            if result.ticket is None or progress is None:
                if result.restart:
                    self.start_over()
                if result.error is not None and result.error.field is not None and not result.restart:
                    self.code_error = result.error.message
                else:
                    self.form_error = result.error.message if result.error else UNEXPECTED_ERROR
                return
            self._challenge = ""
        return rx.call_script(hand_over_session_script(result.ticket, allowed_routes(progress)[-1]))


def _password_form() -> rx.Component:
    password_type = rx.cond(LoginState.show_password, "text", "password")
    return rx.form(
        rx.vstack(
            rx.heading("Log in", size="6"),
            rx.text("Welcome back. Continue where you left off.", size="2"),
            fields.form_error(LoginState.form_error),
            fields.field("Email address", "email", rx.Var.create(""), input_type="email", autocomplete="email"),
            fields.field(
                "Password",
                "password",
                rx.Var.create(""),
                input_type=password_type,
                autocomplete="current-password",
                trailing=fields.reveal_toggle(LoginState.show_password, LoginState.toggle_password),
            ),
            rx.button(
                "Log in",
                type="submit",
                size="3",
                width="100%",
                loading=LoginState.submitting,
                disabled=LoginState.submitting,
            ),
            rx.hstack(
                rx.link("Forgot password?", href=routes.FORGOT_PASSWORD, size="2"),
                rx.spacer(),
                rx.text("New here? ", rx.link("Register", href=routes.REGISTER), size="2"),
                width="100%",
            ),
            spacing="4",
            width="100%",
        ),
        on_submit=LoginState.submit,
        reset_on_submit=False,
        no_validate=True,
    )


def _code_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.heading("Two-factor sign-in", size="6"),
            rx.text(
                "Enter the 6-digit code from your authenticator app. Lost your phone? Enter one of your recovery "
                "codes instead.",
                size="2",
            ),
            fields.notice(LoginState.notice),
            fields.form_error(LoginState.form_error),
            fields.field(
                "Authentication code",
                "code",
                LoginState.code_error,
                autocomplete="one-time-code",
                max_length=40,
                placeholder="123 456",
                spell_check=False,
                auto_focus=True,
            ),
            rx.button(
                "Verify",
                type="submit",
                size="3",
                width="100%",
                loading=LoginState.submitting,
                disabled=LoginState.submitting,
            ),
            rx.button(
                "Start over",
                type="button",
                variant="ghost",
                size="2",
                on_click=LoginState.start_over,
            ),
            spacing="4",
            width="100%",
        ),
        on_submit=LoginState.submit_code,
        reset_on_submit=True,
        no_validate=True,
    )


def page() -> rx.Component:
    return layout.page(
        rx.card(
            rx.cond(LoginState.code_step, _code_form(), _password_form()),
            size="4",
        ),
        step=0,
    )
