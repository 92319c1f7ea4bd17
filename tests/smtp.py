"""A real SMTP server (aiosmtpd) that keeps what it receives, for tests that read their mail."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller

from tests.servers import free_port

CODE_IN_MAIL = re.compile(r"\b(\d{3}) (\d{3})\b")


class Inbox:
    def __init__(self) -> None:
        self.url = ""  # the OFFAMAZON_SMTP_URL that delivers here
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802  aiosmtpd's hook name
        message = message_from_bytes(envelope.content, _class=EmailMessage, policy=default)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if str(m["To"]).lower() == address.lower()]

    def wait_for(self, address: str, count: int = 1, timeout: float = 20) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            received = self.to(address)
            if len(received) >= count:
                return received
            time.sleep(0.1)
        raise AssertionError(f"no email #{count} for {address} within {timeout}s")

    def latest_code(self, address: str, count: int = 1) -> str:
        message = self.wait_for(address, count)[-1]
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        match = CODE_IN_MAIL.search(body.get_content())
        assert match, f"no code in: {message['Subject']}"
        return match.group(1) + match.group(2)


@contextmanager
def smtp_server() -> Iterator[Inbox]:
    inbox = Inbox()
    port = free_port()
    inbox.url = f"smtp://127.0.0.1:{port}"
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
