"""Step 2: enter the 6-digit code emailed at registration (or at a login before verification)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import reflex as rx

from offamazon_ui import routes
from offamazon_ui.components import fields, layout
from offamazon_ui.forms import UNEXPECTED_ERROR, submitted_text
from offamazon_ui.models import utcnow
from offamazon_ui.services import accounts, sessions
from offamazon_ui.services.codes import CodeStatus
from offamazon_ui.state import SessionState, hand_over_session_script

log = logging.getLogger(__name__)


def _countdown(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


class VerifyState(rx.State):
    pending_email: str = ""
    code_error: str = ""
    form_error: str = ""
    notice: str = ""
    expires_in: int = 0
    resend_in: int = 0
    verifying: bool = False
    resending: bool = False
    _expires_at: datetime | None = None
    _resend_at: datetime | None = None
    _tick_generation: int = 0

    def _start(self, email: str, status: CodeStatus | None, notice: str = "") -> None:
        """Called by the register and login states when a code has just been sent."""
        self.pending_email = email
        self.code_error, self.form_error, self.notice = "", "", notice
        self._apply(status)

    def _apply(self, status: CodeStatus | None) -> None:
        if status is not None:
            self._expires_at, self._resend_at = status.expires_at, status.resend_available_at
        self._refresh_countdowns()

    def _refresh_countdowns(self) -> None:
        now = utcnow()
        self.expires_in = max(0, int((self._expires_at - now).total_seconds())) if self._expires_at else 0
        self.resend_in = max(0, int(-(-(self._resend_at - now).total_seconds() // 1))) if self._resend_at else 0

    @rx.var
    def expires_label(self) -> str:
        return _countdown(self.expires_in)

    async def on_load(self):  # type: ignore[no-untyped-def]
        self.verifying = self.resending = False
        if not self.pending_email:
            session = await self.get_state(SessionState)
            return await session.resume() or rx.redirect(routes.LOGIN)
        return VerifyState.tick

    @rx.event(background=True)
    async def tick(self):  # type: ignore[no-untyped-def]
        """Counts down expiry and resend cooldown; Reflex cancels it when the page goes away.

        The newest tick of a tab is the one that runs (see DashboardState.watch for why not a flag).
        """
        async with self:
            self._tick_generation += 1
            generation = self._tick_generation
        while True:
            async with self:
                if self._tick_generation != generation:
                    return
                self._refresh_countdowns()
                if self.expires_in == 0 and self.resend_in == 0:
                    return
            await asyncio.sleep(1)

    @rx.event(background=True)
    async def verify(self, form_data: dict):  # type: ignore[no-untyped-def]
        async with self:
            if self.verifying or not self.pending_email:
                return
            self.verifying, self.code_error, self.form_error = True, "", ""
            email, client_ip = self.pending_email, self.router.session.client_ip
        try:
            result = await accounts.verify_email(email, submitted_text(form_data, "code"), client_ip)
            ticket = await asyncio.to_thread(sessions.issue_ticket, result.user_id) if result.user_id else None
        except Exception:
            log.exception("verification failed unexpectedly")
            async with self:
                self.verifying, self.form_error = False, UNEXPECTED_ERROR
            return
        async with self:
            self.verifying = False
            if ticket is None:
                error = result.error
                if error is not None and error.field == accounts.CODE_FIELD:
                    self.code_error = error.message
                else:
                    self.form_error = error.message if error else UNEXPECTED_ERROR
                return
            self.pending_email = ""
        return rx.call_script(hand_over_session_script(ticket, routes.CONNECT_SHOPIFY))

    @rx.event(background=True)
    async def resend(self):  # type: ignore[no-untyped-def]
        async with self:
            self._refresh_countdowns()  # by the clock, not the last tick (its loop may have died with a worker)
            if self.resending or not self.pending_email or self.resend_in > 0:
                return
            self.resending, self.code_error, self.form_error, self.notice = True, "", "", ""
            email, client_ip = self.pending_email, self.router.session.client_ip
        try:
            result = await accounts.resend_verification_code(email, client_ip)
        except Exception:
            log.exception("resend failed unexpectedly")
            async with self:
                self.resending, self.form_error = False, UNEXPECTED_ERROR
            return
        async with self:
            self.resending = False
            self._apply(result.code)
            if result.error is not None:
                self.form_error = result.error.message
            elif result.mail_error:
                self.form_error = result.mail_error
            else:
                self.notice = "We sent a new code. The previous code no longer works."
        return VerifyState.tick


def page() -> rx.Component:
    return layout.page(
        rx.card(
            rx.form(
                rx.vstack(
                    rx.heading("Verify your email", size="6"),
                    rx.text(
                        "We sent a 6-digit code to ",
                        rx.text.strong(VerifyState.pending_email),
                        ". Enter it below to verify your account.",
                        size="2",
                    ),
                    fields.notice(VerifyState.notice),
                    fields.form_error(VerifyState.form_error),
                    fields.field(
                        "OTP",
                        "code",
                        VerifyState.code_error,
                        autocomplete="one-time-code",
                        input_mode="numeric",
                        max_length=20,
                        placeholder="123 456",
                    ),
                    rx.text(
                        rx.cond(
                            VerifyState.expires_in > 0,
                            rx.fragment("The code expires in ", VerifyState.expires_label, "."),
                            "This code has expired. Request a new one.",
                        ),
                        size="1",
                        color=rx.color("gray", 11),
                        data_testid="code-expiry",
                    ),
                    rx.button(
                        "Verify",
                        type="submit",
                        size="3",
                        width="100%",
                        loading=VerifyState.verifying,
                        disabled=VerifyState.verifying,
                    ),
                    rx.button(
                        rx.cond(
                            VerifyState.resend_in > 0,
                            rx.fragment("Resend OTP (", VerifyState.resend_in, "s)"),
                            "Resend OTP",
                        ),
                        type="button",
                        variant="soft",
                        size="3",
                        width="100%",
                        on_click=VerifyState.resend,
                        loading=VerifyState.resending,
                        disabled=VerifyState.resending | (VerifyState.resend_in > 0),
                        aria_label="Resend OTP",
                    ),
                    rx.text(
                        "Didn't get it? Check your spam folder. Wrong address? ",
                        rx.link("Register again", href=routes.REGISTER),
                        ".",
                        size="1",
                        color=rx.color("gray", 11),
                    ),
                    spacing="4",
                    width="100%",
                ),
                on_submit=VerifyState.verify,
                reset_on_submit=True,
                no_validate=True,
            ),
            size="4",
        ),
        step=1,
    )
