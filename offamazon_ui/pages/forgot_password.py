"""Reset a forgotten password with an emailed 6-digit code; every old session ends."""

from __future__ import annotations

import asyncio
import logging

import reflex as rx

from offamazon_ui import routes
from offamazon_ui.components import fields, layout
from offamazon_ui.forms import UNEXPECTED_ERROR, submitted_text
from offamazon_ui.pages.login import LoginState
from offamazon_ui.services import accounts, onboarding, twofactor
from offamazon_ui.state import SessionState, allowed_routes, hand_over_session_script

log = logging.getLogger(__name__)
PASSWORD_CHANGED_NEEDS_CODE = "Your password was changed. Enter the code from your authenticator app to sign in."  # noqa: S105
CODE_SENT = "If an account exists for {email}, we sent it a 6-digit reset code. It expires in 10 minutes."


class ForgotPasswordState(rx.State):
    email: str = ""
    code_sent: bool = False
    notice: str = ""
    form_error: str = ""
    errors: dict[str, str] = {}
    busy: bool = False
    show_password: bool = False

    async def on_load(self):  # type: ignore[no-untyped-def]
        self.code_sent, self.notice, self.form_error, self.errors, self.busy = False, "", "", {}, False
        session = await self.get_state(SessionState)
        return await session.resume()

    def toggle_password(self) -> None:
        self.show_password = not self.show_password

    def start_over(self) -> None:
        self.code_sent, self.notice, self.form_error, self.errors = False, "", "", {}

    @rx.event(background=True)
    async def send_code(self, form_data: dict):  # type: ignore[no-untyped-def]
        async with self:
            if self.busy:
                return
            self.busy, self.form_error, self.errors = True, "", {}
            client_ip = self.router.session.client_ip
        try:
            result = await accounts.request_password_reset(submitted_text(form_data, "email"), client_ip)
        except Exception:
            log.exception("password reset request failed unexpectedly")
            async with self:
                self.busy, self.form_error = False, UNEXPECTED_ERROR
            return
        async with self:
            self.busy = False
            if result.error is not None:
                if result.error.field:
                    self.errors = {result.error.field: result.error.message}
                else:
                    self.form_error = result.error.message
                return
            self.email = result.email or ""
            self.code_sent = True
            self.notice = CODE_SENT.format(email=self.email)
            self.form_error = result.mail_error or ""

    @rx.event(background=True)
    async def reset_with_code(self, form_data: dict):  # type: ignore[no-untyped-def]
        async with self:
            if self.busy or not self.code_sent:
                return
            self.busy, self.form_error, self.errors = True, "", {}
            email, client_ip = self.email, self.router.session.client_ip
        try:
            result = await accounts.reset_password(
                email,
                submitted_text(form_data, "code"),
                submitted_text(form_data, "password"),
                submitted_text(form_data, "confirm_password"),
                client_ip,
            )
            # The emailed code replaces the password, not the authenticator: two-factor accounts still need it.
            step = await asyncio.to_thread(twofactor.begin_sign_in, result.user_id) if result.user_id else None
            progress = await asyncio.to_thread(onboarding.progress_of, result.user_id) if result.user_id else None
        except Exception:
            log.exception("password reset failed unexpectedly")
            async with self:
                self.busy, self.form_error = False, UNEXPECTED_ERROR
            return
        async with self:
            self.busy = False
            if step is None or progress is None:
                self.errors = {error.field or "": error.message for error in result.errors}
                self.form_error = self.errors.pop("", "")
                return
            if step.challenge is not None:
                login = await self.get_state(LoginState)
                login._await_code(step.challenge, notice=PASSWORD_CHANGED_NEEDS_CODE)
                return rx.redirect(routes.LOGIN)
        if step.ticket is None:
            return
        return rx.call_script(hand_over_session_script(step.ticket, allowed_routes(progress)[-1]))


def _request_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            fields.field(
                "Email address",
                "email",
                ForgotPasswordState.errors.get("email", ""),
                input_type="email",
                autocomplete="email",
            ),
            rx.button("Send reset code", type="submit", size="3", width="100%", loading=ForgotPasswordState.busy),
            spacing="4",
            width="100%",
        ),
        on_submit=ForgotPasswordState.send_code,
        reset_on_submit=False,
        no_validate=True,
    )


def _reset_form() -> rx.Component:
    password_type = rx.cond(ForgotPasswordState.show_password, "text", "password")
    return rx.form(
        rx.vstack(
            fields.field(
                "Reset code",
                "code",
                ForgotPasswordState.errors.get("code", ""),
                autocomplete="one-time-code",
                input_mode="numeric",
                max_length=20,
            ),
            fields.field(
                "New password",
                "password",
                ForgotPasswordState.errors.get("password", ""),
                input_type=password_type,
                autocomplete="new-password",
                trailing=fields.reveal_toggle(ForgotPasswordState.show_password, ForgotPasswordState.toggle_password),
                hint=rx.text(
                    "At least 8 characters with an uppercase and a lowercase letter, a number and a special character.",
                    size="1",
                    color=rx.color("gray", 11),
                ),
            ),
            fields.field(
                "Confirm new password",
                "confirm_password",
                ForgotPasswordState.errors.get("confirm_password", ""),
                input_type=password_type,
                autocomplete="new-password",
            ),
            rx.button("Reset password", type="submit", size="3", width="100%", loading=ForgotPasswordState.busy),
            rx.button("Use a different email", type="button", variant="ghost", on_click=ForgotPasswordState.start_over),
            spacing="4",
            width="100%",
        ),
        on_submit=ForgotPasswordState.reset_with_code,
        reset_on_submit=False,
        no_validate=True,
    )


def page() -> rx.Component:
    return layout.page(
        rx.card(
            rx.vstack(
                rx.heading("Reset your password", size="6"),
                fields.notice(ForgotPasswordState.notice),
                fields.form_error(ForgotPasswordState.form_error),
                rx.cond(ForgotPasswordState.code_sent, _reset_form(), _request_form()),
                rx.link("Back to log in", href=routes.LOGIN, size="2"),
                spacing="4",
                width="100%",
            ),
            size="4",
        ),
        step=0,
    )
