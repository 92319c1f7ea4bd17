"""Browser fixtures: Debian's Chromium driven by Playwright, never a downloaded browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.harness import AppProcess
from tests.smtp import Inbox, smtp_server

CHROMIUM = "/usr/bin/chromium"
# Connecting Amazon makes several HTTP calls and the dev server compiles pages on first visit.
expect.set_options(timeout=15_000)
# Without these Chromium keeps trying to reach Google's services, which this
# network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class FrameRecorder:
    """Everything the server sent to this browser over its websockets."""

    def __init__(self) -> None:
        self.frames: list[str] = []

    def attach(self, page: Page) -> None:
        page.on("websocket", lambda socket: socket.on("framereceived", self._received))

    def _received(self, payload: str | bytes) -> None:
        self.frames.append(payload if isinstance(payload, str) else payload.decode("utf-8", "replace"))

    def assert_never_sent(self, *secrets: str) -> None:
        assert self.frames, "no websocket frames were recorded"
        for secret in secrets:
            leaking = [frame[:200] for frame in self.frames if secret in frame]
            assert not leaking, f"a secret reached the browser: {leaking}"


@pytest.fixture
def server_frames() -> FrameRecorder:
    return FrameRecorder()


@pytest.fixture
def page(browser: Browser, server_frames: FrameRecorder) -> Iterator[Page]:
    context = browser.new_context()
    context.set_default_timeout(30_000)
    page = context.new_page()
    server_frames.attach(page)
    yield page
    context.close()


@pytest.fixture(scope="session")
def inbox() -> Iterator[Inbox]:
    with smtp_server() as server_inbox:
        yield server_inbox


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory, inbox: Inbox) -> Iterator[AppProcess]:
    """The app in sandbox mode with a real SMTP server, started once for the e2e tests of this run."""
    data_dir: Path = tmp_path_factory.mktemp("app-data")
    app = AppProcess(data_dir=data_dir, env_overrides={"OFFAMAZON_SMTP_URL": inbox.url})
    app.start()
    yield app
    app.stop()
