"""Concurrent onboarding at the service layer: N merchants at once, each register → verify → Shopify → Amazon.

Each step calls the service functions the page handlers call (bcrypt at the
production cost included), against PostgreSQL, an SMTP server, and the
Shopify and Amazon emulators in a process of their own over real HTTP (the
Shopify step opens the authorize page and presses "Install app", as the
browser does; each merchant links its own Amazon seller). What it leaves out: Reflex's websocket, state serialisation to
Redis, and several backend processes; see README "Load and scale".
"""

from __future__ import annotations

import asyncio
import re
import secrets
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from sqlmodel import SQLModel

from loadtest.common import SECRET_KEY, environment, percentile, process, table
from loadtest.emulators import MARKETPLACE, load_seller
from offamazon_ui.config import get_settings
from offamazon_ui.services import accounts
from offamazon_ui.services.amazon import verify_and_connect
from offamazon_ui.services.db import get_engine
from offamazon_ui.services.shopify import begin_install, complete_install
from tests.postgres import fresh_schema
from tests.servers import free_port
from tests.smtp import Inbox, smtp_server

STEPS = ("register", "verify", "shopify", "amazon")
PASSWORD = "Quiet#Harbor-2931"  # noqa: S105  the load test merchants' password, nothing real
HIDDEN_FIELD = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


@dataclass
class Merchant:
    number: int
    seconds: dict[str, float] = field(default_factory=dict)
    error: str | None = None


async def _install_on_shopify(http: httpx.AsyncClient, user_id: int, shop: str) -> None:
    authorize_url = await asyncio.to_thread(begin_install, user_id, shop)
    page = await http.get(authorize_url)
    page.raise_for_status()
    redirect = await http.post(authorize_url, data=dict(HIDDEN_FIELD.findall(page.text)))
    if redirect.status_code != 302:
        raise RuntimeError(f"authorize answered {redirect.status_code}")
    await complete_install(urlsplit(redirect.headers["location"]).query, user_id)


async def _onboard(merchant: Merchant, inbox: Inbox, http: httpx.AsyncClient, run: str) -> None:
    email = f"m{merchant.number}-{run}@example.com"
    client_ip = f"10.{merchant.number // 250}.{merchant.number % 250}.{7}"  # merchants come from their own address
    seller = load_seller(merchant.number)
    step, started = "register", time.perf_counter()

    def done(name: str) -> None:
        nonlocal step, started
        merchant.seconds[name] = time.perf_counter() - started
        step, started = name, time.perf_counter()

    try:
        registered = await accounts.register("Load", "Merchant", email, PASSWORD, PASSWORD, client_ip)
        if registered.errors or registered.mail_error:
            raise RuntimeError(f"register: {registered.errors or registered.mail_error}")
        done("register")
        step = "verify"
        code = await asyncio.to_thread(inbox.latest_code, email)
        verified = await accounts.verify_email(email, code, client_ip)
        if verified.user_id is None:
            raise RuntimeError(f"verify: {verified.error}")
        done("verify")
        step = "shopify"
        await _install_on_shopify(http, verified.user_id, f"load-{run}-{merchant.number}.myshopify.com")
        done("shopify")
        step = "amazon"
        linked = await verify_and_connect(verified.user_id, MARKETPLACE, seller.seller_id, seller.refresh_token)
        if linked.connection is None:
            raise RuntimeError(f"amazon: {[problem.code.value for problem in linked.problems]}")
        done("amazon")
    except Exception as error:  # a load test counts failures instead of stopping at the first
        merchant.error = f"{step}: {type(error).__name__}: {str(error)[:120]}"


async def _wave(count: int, inbox: Inbox) -> tuple[list[Merchant], float]:
    run = secrets.token_hex(3)
    merchants = [Merchant(number) for number in range(count)]
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(_onboard(merchant, inbox, http, run) for merchant in merchants))
        return merchants, time.perf_counter() - started


def _rows(count: int, merchants: list[Merchant], wall: float) -> list[list[object]]:
    completed = [m for m in merchants if m.error is None]
    errors = Counter(m.error.split(":")[0] + ": " + m.error.split(":")[1].strip() for m in merchants if m.error)
    rows: list[list[object]] = []
    for name in STEPS:
        times = [m.seconds[name] for m in merchants if name in m.seconds]
        rows.append(
            [
                count,
                f"{len(completed)}/{count}",
                name,
                f"{1000 * percentile(times, 0.5):.0f}",
                f"{1000 * percentile(times, 0.95):.0f}",
                f"{wall:.1f}",
                "; ".join(f"{reason} ×{n}" for reason, n in errors.items()) or "0",
            ]
        )
    return rows


def run(concurrencies: tuple[int, ...] = (10, 50, 200)) -> str:
    sandbox_port = free_port()
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as scratch, smtp_server() as inbox, fresh_schema() as database_url:
        values = {
            "OFFAMAZON_MODE": "sandbox",
            "OFFAMAZON_DATA_DIR": str(Path(scratch)),
            "OFFAMAZON_SECRET_KEY": SECRET_KEY,
            "REFLEX_DB_URL": database_url,
            "OFFAMAZON_SMTP_URL": inbox.url,
            "OFFAMAZON_SANDBOX_URL": f"http://127.0.0.1:{sandbox_port}",
        }
        with environment(values):
            SQLModel.metadata.create_all(get_engine())
            ready = f"{get_settings().sandbox_url}/sandbox/amazon/auth/o2/token"
            with process(["loadtest.emulators", str(sandbox_port)], ready_url=ready):
                for count in concurrencies:
                    merchants, wall = asyncio.run(_wave(count, inbox))
                    rows += _rows(count, merchants, wall)
                    print(f"onboarding N={count}: {sum(m.error is None for m in merchants)}/{count} in {wall:.1f} s")
    header = ("N", "completed", "step", "p50 ms", "p95 ms", "wall s", "errors")
    return table(header, rows)


if __name__ == "__main__":
    print(run())
