"""Browser fixtures: Debian's Chromium driven by Playwright, never a downloaded browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.e2e.harness import AppProcess
from tests.smtp import Inbox, smtp_server

CHROMIUM = "/usr/bin/chromium"
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


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    context.set_default_timeout(30_000)
    page = context.new_page()
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
