"""Sandbox only: the emails the app would have sent, for demos without a mail server.

It shows one-time codes to whoever opens it, which is why it exists only in
sandbox mode and only while no SMTP server is configured.
"""

from __future__ import annotations

import asyncio

import reflex as rx

from offamazon_ui.components import layout
from offamazon_ui.config import get_settings
from offamazon_ui.services import mail


def mailbox_enabled() -> bool:
    settings = get_settings()
    return settings.is_sandbox and settings.smtp is None


class DevMailboxState(rx.State):
    messages: list[dict[str, str]] = []

    async def load(self) -> None:
        # Any client can send this event, page or not: in live mode it must not read an outbox.
        if not mailbox_enabled():
            return
        outbox = await asyncio.to_thread(mail.list_outbox, 20)
        self.messages = [
            {"to": m.to, "subject": m.subject, "sent_at": f"{m.sent_at:%Y-%m-%d %H:%M:%S} UTC", "text": m.text}
            for m in outbox
        ]


def _message(message: rx.Var[dict[str, str]]) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text(message["subject"], weight="bold"),
                rx.spacer(),
                rx.text(message["sent_at"], size="1", color=rx.color("gray", 11)),
                width="100%",
            ),
            rx.text("To: ", message["to"], size="2"),
            rx.el.pre(message["text"], style={"whiteSpace": "pre-wrap", "fontSize": "13px", "margin": 0}),
            align="stretch",
            width="100%",
        ),
        width="100%",
    )


def page() -> rx.Component:
    return layout.page(
        rx.vstack(
            rx.hstack(
                rx.heading("Sandbox mailbox", size="6"),
                rx.spacer(),
                rx.button("Refresh", variant="soft", on_click=DevMailboxState.load),
                width="100%",
            ),
            rx.callout(
                "Sandbox mode: no mail server is configured, so emails are kept here instead of being sent.",
                icon="info",
            ),
            rx.cond(
                DevMailboxState.messages.length() > 0,
                rx.foreach(DevMailboxState.messages, _message),
                rx.text("No emails yet.", color=rx.color("gray", 11)),
            ),
            spacing="4",
            width="100%",
        ),
        step=-1,
        width="720px",
    )
