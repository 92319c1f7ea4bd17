"""Account emails: built as plain text plus HTML, sent over SMTP or dropped into the outbox.

With OFFAMAZON_SMTP_URL set, mail goes out with aiosmtplib: smtp:// speaks
plain SMTP to a local relay, smtp+starttls:// insists on STARTTLS (never
falls back to plain text), smtps:// uses TLS from the first byte; certificates
are always verified. Without it, each message is written to the outbox folder
as an .eml file, which the sandbox's dev mailbox page lists.

Emails carry codes but never a link that signs in or uses a code: mail
scanners follow links and would use them up. Nothing the visitor typed other
than the address (already validated) goes into a message.
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
import secrets
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import format_datetime, make_msgid, parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Any

import aiosmtplib

from offamazon_ui import routes
from offamazon_ui.config import Settings, SmtpSettings, get_settings
from offamazon_ui.services.codes import CODE_LIFETIME, RESET_PASSWORD, Purpose, format_code

log = logging.getLogger(__name__)

APP_NAME = "Off-Amazon Selection"
MAIL_NOT_SENT_MESSAGE = "We couldn't send the email. Try again in a minute."
SEND_TIMEOUT_SECONDS = 20.0
# Longest pause imitate_send() will take, whatever slow sends were seen.
MAX_IMITATED_SECONDS = 5.0


class MailNotSent(Exception):
    """The message did not reach the mail server; `message` is ready to show and says to retry."""

    message = MAIL_NOT_SENT_MESSAGE

    def __init__(self) -> None:
        super().__init__(MAIL_NOT_SENT_MESSAGE)


@dataclass(frozen=True)
class OutboxMessage:
    to: str
    subject: str
    sent_at: datetime
    text: str


def _envelope(settings: Settings, to: str, subject: str, text: str, html_body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = Address(addr_spec=to)
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    # make_msgid() without a domain asks DNS for this host's name, which can stall.
    sender_domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=sender_domain)
    message.set_content(text)
    message.add_alternative(html_body, subtype="html")
    return message


def _html_page(intro: str, code: str | None, paragraphs: list[str]) -> str:
    def paragraph(text: str) -> str:
        return f'<p style="margin:0 0 16px">{html.escape(text)}</p>'

    code_block = (
        '<p style="font-family:Menlo,Consolas,monospace;font-size:32px;font-weight:bold;letter-spacing:6px;'
        f'margin:24px 0">{html.escape(code)}</p>'
        if code
        else ""
    )
    return (
        '<!doctype html><html><body style="font-family:Arial,Helvetica,sans-serif;font-size:16px;color:#1f2933">'
        f"{paragraph('Hello,')}{paragraph(intro)}{code_block}{''.join(map(paragraph, paragraphs))}"
        f"{paragraph(APP_NAME)}</body></html>"
    )


def code_email(to: str, purpose: Purpose, code: str) -> EmailMessage:
    """The verification or password-reset code email: why, the code, how long it lasts, what if not you."""
    grouped = format_code(code)
    minutes = int(CODE_LIFETIME.total_seconds() // 60)
    if purpose == RESET_PASSWORD:
        subject = f"Your {APP_NAME} password reset code"
        why = f"We received a request to reset the password of your {APP_NAME} account. Your reset code is:"
        where = "Enter it on the password reset screen to choose a new password."
        not_you = "If you didn't ask for this, ignore this email: your password stays the same."
    else:
        subject = f"Your {APP_NAME} verification code"
        why = f"Thanks for signing up for {APP_NAME}. To confirm this is your email address, your verification code is:"
        where = "Enter it on the verification screen in your open browser window."
        not_you = "If this wasn't you, ignore this email: no account will be activated."
    lifetime = f"The code expires in {minutes} minutes and works once. Only the newest code we sent you works."
    never_share = f"{APP_NAME} will never ask you for this code by phone or email."
    text = f"Hello,\n\n{why}\n\n    {grouped}\n\n{where}\n{lifetime}\n\n{not_you}\n{never_share}\n\n{APP_NAME}\n"
    return _envelope(
        get_settings(), to, subject, text, _html_page(why, grouped, [where, lifetime, not_you, never_share])
    )


def account_exists_email(to: str) -> EmailMessage:
    """Sent instead of a code when someone registers with an address that already has an account."""
    settings = get_settings()
    sign_in_page = f"{settings.public_url}{routes.LOGIN}"
    why = f"Someone tried to create a {APP_NAME} account with this email address, but you already have one."
    how = (
        f"To continue, sign in with your password at {sign_in_page}. "
        'If you forgot your password, choose "Forgot password" on the sign-in page to reset it.'
    )
    not_you = "If this wasn't you, ignore this email: nothing has changed in your account."
    text = f"Hello,\n\n{why}\n\n{how}\n\n{not_you}\n\n{APP_NAME}\n"
    subject = f"You already have a {APP_NAME} account"
    return _envelope(settings, to, subject, text, _html_page(why, None, [how, not_you]))


def _smtp_options(smtp: SmtpSettings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "hostname": smtp.host,
        "port": smtp.port,
        "username": smtp.username,
        "password": smtp.password,
        "timeout": SEND_TIMEOUT_SECONDS,
        "use_tls": smtp.security == "tls",
        # False, not None: None would upgrade only if the server offers it, which an attacker can strip.
        "start_tls": smtp.security == "starttls",
    }
    if smtp.security != "none":
        options["tls_context"] = ssl.create_default_context()
    return options


_typical_send_seconds = 0.0


def _remember_send_duration(seconds: float) -> None:
    global _typical_send_seconds
    _typical_send_seconds = seconds if _typical_send_seconds == 0 else 0.8 * _typical_send_seconds + 0.2 * seconds


async def imitate_send() -> None:
    """Take about as long as a real send, for answers that must not reveal whether one was made."""
    await asyncio.sleep(min(_typical_send_seconds, MAX_IMITATED_SECONDS))


async def send(message: EmailMessage) -> None:
    """Deliver to the configured SMTP server, or to the outbox; raises MailNotSent on failure."""
    settings = get_settings()
    started = time.monotonic()
    if settings.smtp is None:
        try:
            await asyncio.to_thread(_write_to_outbox, settings.outbox_dir, message)
        except OSError as error:
            log.error("could not write email to outbox %s: %s", settings.outbox_dir, type(error).__name__)
            raise MailNotSent() from None
    else:
        try:
            await aiosmtplib.send(message, **_smtp_options(settings.smtp))
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as error:
            # The exception text may quote the message or the recipient; the type and code are enough.
            code = getattr(error, "code", "")
            log.error(
                "email not sent via %s:%s: %s %s", settings.smtp.host, settings.smtp.port, type(error).__name__, code
            )
            raise MailNotSent() from None
    _remember_send_duration(time.monotonic() - started)


def _write_to_outbox(outbox: Path, message: EmailMessage) -> None:
    outbox.mkdir(parents=True, exist_ok=True)
    # Time first, so file names sort in sending order; the suffix keeps same-microsecond sends apart.
    name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(4)}.eml"
    descriptor = os.open(outbox / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(message.as_bytes())


def list_outbox(limit: int = 50) -> list[OutboxMessage]:
    """Newest outbox messages first, for the sandbox's dev mailbox page."""
    outbox = get_settings().outbox_dir
    if not outbox.is_dir():
        return []
    messages = []
    for path in sorted(outbox.glob("*.eml"), reverse=True)[:limit]:
        parsed = BytesParser(policy=default_policy).parsebytes(path.read_bytes())
        body = parsed.get_body(preferencelist=("plain",))
        sent_at = parsedate_to_datetime(str(parsed["Date"])).astimezone(UTC).replace(tzinfo=None)
        messages.append(
            OutboxMessage(
                to=str(parsed["To"]),
                subject=str(parsed["Subject"]),
                sent_at=sent_at,
                text=body.get_content() if body is not None else "",
            )
        )
    return messages
