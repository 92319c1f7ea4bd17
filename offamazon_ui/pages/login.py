"""Log in; an unverified account is sent to /verify with a fresh code."""

from __future__ import annotations

import asyncio
import logging

import reflex as rx

from offamazon_ui import routes
from offamazon_ui.components import fields, layout
from offamazon_ui.pages.verify import VerifyState
from offamazon_ui.services import accounts, onboarding, sessions
from offamazon_ui.state import SessionState, allowed_routes, hand_over_session_script

log = logging.getLogger(__name__)
UNEXPECTED = "Something went wrong on our side. Please try again in a minute."


def _text(form_data: object, name: str) -> str:
    value = form_data.get(name, "") if isinstance(form_data, dict) else ""
    return value if isinstance(value, str) else ""


class LoginState(rx.State):
    form_error: str = ""
    show_password: bool = False
    submitting: bool = False

    async def on_load(self):  # type: ignore[no-untyped-def]
        self.form_error, self.submitting = "", False
        session = await self.get_state(SessionState)
        return await session.resume()

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
            result = await accounts.login(_text(form_data, "email"), _text(form_data, "password"), client_ip)
            ticket = await asyncio.to_thread(sessions.issue_ticket, result.user_id) if result.user_id else None
            progress = await asyncio.to_thread(onboarding.progress_of, result.user_id) if result.user_id else None
        except Exception:
            log.exception("login failed unexpectedly")
            async with self:
                self.submitting, self.form_error = False, UNEXPECTED
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
            if ticket is None or progress is None:
                self.form_error = result.error.message if result.error else accounts.INVALID_LOGIN_MESSAGE
                return
        return rx.call_script(hand_over_session_script(ticket, allowed_routes(progress)[-1]))


def page() -> rx.Component:
    password_type = rx.cond(LoginState.show_password, "text", "password")
    return layout.page(
        rx.card(
            rx.form(
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
            ),
            size="4",
        ),
        step=0,
    )
