"""Step 1: create an account. The password never comes back to the browser.

The password input is uncontrolled: each keystroke is sent to `check_password`,
which keeps only the checklist booleans, and the value itself arrives once,
with the form's submit data.
"""

from __future__ import annotations

import reflex as rx

from offamazon_ui import routes
from offamazon_ui.components import fields, layout
from offamazon_ui.components.password_checklist import password_checklist, password_checks
from offamazon_ui.forms import submitted_text
from offamazon_ui.pages.verify import VerifyState
from offamazon_ui.services import accounts
from offamazon_ui.state import SessionState

FIELDS = ("first_name", "last_name", "email", "password", "confirm_password")


class RegisterState(rx.State):
    errors: dict[str, str] = {}
    form_error: str = ""
    checks: dict[str, bool] = {}
    show_password: bool = False
    submitting: bool = False
    _email: str = ""

    async def on_load(self):  # type: ignore[no-untyped-def]
        self.errors, self.form_error, self.submitting = {}, "", False
        session = await self.get_state(SessionState)
        return await session.resume()

    def remember_email(self, value: object) -> None:
        # Only for the "does not contain your email name" rule; the email is not secret.
        self._email = value[:320] if isinstance(value, str) else ""

    def check_password(self, value: object) -> None:
        self.checks = password_checks(value, self._email)

    def toggle_password(self) -> None:
        self.show_password = not self.show_password

    @rx.event(background=True)
    async def submit(self, form_data: dict):  # type: ignore[no-untyped-def]
        async with self:
            if self.submitting:
                return
            self.submitting, self.errors, self.form_error = True, {}, ""
            client_ip = self.router.session.client_ip
        values = {name: submitted_text(form_data, name) for name in FIELDS}
        try:
            result = await accounts.register(
                first_name=values["first_name"],
                last_name=values["last_name"],
                email=values["email"],
                password=values["password"],
                confirm_password=values["confirm_password"],
                client_ip=client_ip,
            )
        except Exception:
            # Never a traceback for the merchant; the log has the details.
            accounts.log.exception("registration failed unexpectedly")
            async with self:
                self.submitting = False
                self.form_error = "Something went wrong on our side. Please try again in a minute."
            return
        async with self:
            self.submitting = False
            if not result.ok:
                self.errors = {error.field or "": error.message for error in result.errors}
                self.form_error = self.errors.pop("", "")
                return
            verify = await self.get_state(VerifyState)
            verify._start(result.email or "", result.code)
            verify.form_error = result.mail_error or ""
        return rx.redirect(routes.VERIFY)


def _password_type() -> rx.Var:
    return rx.cond(RegisterState.show_password, "text", "password")


def page() -> rx.Component:
    return layout.page(
        rx.card(
            rx.form(
                rx.vstack(
                    rx.heading("Create your account", size="6"),
                    rx.text("Register to connect your Shopify store to Amazon's Off-Amazon Selection.", size="2"),
                    fields.form_error(RegisterState.form_error),
                    rx.grid(
                        fields.field(
                            "First name",
                            "first_name",
                            RegisterState.errors.get("first_name", ""),
                            autocomplete="given-name",
                        ),
                        fields.field(
                            "Last name",
                            "last_name",
                            RegisterState.errors.get("last_name", ""),
                            autocomplete="family-name",
                        ),
                        columns=rx.breakpoints(initial="1", sm="2"),
                        gap="3",
                        width="100%",
                    ),
                    fields.field(
                        "Email address",
                        "email",
                        RegisterState.errors.get("email", ""),
                        input_type="email",
                        autocomplete="email",
                        on_change=RegisterState.remember_email,
                    ),
                    fields.field(
                        "Password",
                        "password",
                        RegisterState.errors.get("password", ""),
                        input_type=_password_type(),
                        autocomplete="new-password",
                        on_change=RegisterState.check_password,
                        trailing=fields.reveal_toggle(RegisterState.show_password, RegisterState.toggle_password),
                        hint=password_checklist(RegisterState.checks),
                    ),
                    fields.field(
                        "Confirm password",
                        "confirm_password",
                        RegisterState.errors.get("confirm_password", ""),
                        input_type=_password_type(),
                        autocomplete="new-password",
                    ),
                    rx.button(
                        rx.cond(RegisterState.submitting, "Registering…", "Register"),
                        type="submit",
                        size="3",
                        width="100%",
                        loading=RegisterState.submitting,
                        disabled=RegisterState.submitting,
                    ),
                    rx.text(
                        "Already have an account? ",
                        rx.link("Log in", href=routes.LOGIN),
                        size="2",
                    ),
                    spacing="4",
                    width="100%",
                ),
                on_submit=RegisterState.submit,
                reset_on_submit=False,
                no_validate=True,
            ),
            size="4",
        ),
        step=0,
    )
