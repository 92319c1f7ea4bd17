"""Concurrent onboarding against `make run-prod`: simulated merchants as websocket clients.

The app runs as `make run-prod` runs it (scripts/run-prod: migrations once, then
`reflex run --env prod` with 2 Granian workers behind one port, PostgreSQL,
Redis), with imports on 2 `make worker` processes and the app trusting one
proxy hop so each merchant has its own address, as behind a reverse proxy.
Mail goes to an SMTP server in this process; the emulators run as a process
of their own (loadtest.emulators: one Amazon seller per merchant). Each
merchant is a loadtest.merchant.Merchant: register → verify → Shopify →
Amazon → dashboard, over the websocket and HTTP exactly as the browser does.

Scenarios:
- at once: N merchants start at the same instant and go through their steps
  back to back (N = 10, 50, 200), the worst case for bcrypt;
- arriving: 50 merchants signing up over a minute, each taking a few seconds
  to fill in a page, as people do;
- crash: 50 merchants at once; once half have registered a backend worker is
  SIGKILLed, and the job worker running an import is SIGKILLed under it (a
  replacement starts, as a supervisor would start one).
After every scenario each merchant's shop must end its import with exactly its
catalog, and every tab must still show its merchant's dashboard (a tab whose
websocket dropped reconnects first).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa

from loadtest.common import percentile, process, table
from loadtest.emulators import load_seller
from loadtest.imports import stored_counts
from loadtest.merchant import Merchant, Tab
from offamazon_ui.models import ShopConnection
from offamazon_ui.sandbox.shopify.catalog import Catalog
from offamazon_ui.services.db import get_engine
from offamazon_ui.services.importer.store import JOBS
from tests.e2e.harness import ProductionAppProcess
from tests.environment import environment
from tests.postgres import fresh_schema
from tests.redisdb import empty_redis_database, redis_url
from tests.servers import free_port
from tests.smtp import Inbox, smtp_server

STEPS = ("register", "verify", "login", "shopify", "amazon")
PASSWORD = "Quiet#Harbor-2931"  # noqa: S105  the load test merchants' password, nothing real
SANDBOX_SHOP_PRODUCTS = 40  # what the emulator gives a shop it has not seen before
IMPORT_TIMEOUT = 900.0


@dataclass(frozen=True)
class Scenario:
    name: str
    merchants: int
    arrival_seconds: float = 0.0  # merchants start evenly spread over this time
    think_seconds: float = 0.0  # a pause on each page before acting, as a person filling it in
    backend_workers_killed: int = 0  # SIGKILLed once half the merchants have registered
    kill_job_worker: bool = False  # the worker running an import SIGKILLed mid-import, and replaced


SCENARIOS = (
    Scenario("at once", 10),
    Scenario("at once", 50),
    Scenario("at once", 200),
    Scenario("arriving over 60 s, 3 s per page", 50, arrival_seconds=60, think_seconds=3),
    Scenario("at once, a backend and a job worker killed", 50, backend_workers_killed=1, kill_job_worker=True),
)


@dataclass
class Wave:
    scenario: Scenario
    merchants: list[Merchant]
    wall_seconds: float
    imports_exact: int  # shops whose import completed with exactly their catalog
    interrupted_import: int | None  # the import job whose worker was killed under it


@contextmanager
def production_app(scratch: Path) -> Iterator[tuple[ProductionAppProcess, Inbox]]:
    """`make run-prod` with 2 job workers on a fresh schema and Redis database, mail to an inbox here."""
    sandbox_port = free_port()
    with smtp_server() as inbox, fresh_schema() as database_url, empty_redis_database() as redis_db:
        app = ProductionAppProcess(
            data_dir=scratch,
            env_overrides={
                "OFFAMAZON_SMTP_URL": inbox.url,
                "OFFAMAZON_SANDBOX_URL": f"http://localhost:{sandbox_port}",
                "REFLEX_TRUSTED_PROXY_HOPS": "1",
            },
            database_url=database_url,
            redis_url=redis_url(redis_db),
            job_worker_count=2,
        )
        with environment(app.environment()):
            ready = f"{app.sandbox_url}/sandbox/amazon/auth/o2/token"
            emulators = ["loadtest.emulators", str(sandbox_port)]
            with process(emulators, ready_url=ready, log_path=scratch / "emulators.log"):
                app.start()
                try:
                    yield app, inbox
                finally:
                    app.stop()


async def onboard_wave(app: ProductionAppProcess, inbox: Inbox, scenario: Scenario) -> Wave:
    run = secrets.token_hex(3)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        merchants = []
        for number in range(scenario.merchants):
            seller = load_seller(number)
            client_ip = f"10.{number // 250}.{number % 250}.7"
            merchants.append(
                Merchant(
                    number=number,
                    email=f"m{number}-{run}@example.com",
                    password=PASSWORD,
                    shop=f"load-{run}-{number}.myshopify.com",
                    seller_id=seller.seller_id,
                    refresh_token=seller.refresh_token,
                    tab=Tab(app.frontend_url, client_ip, http),
                    inbox=inbox,
                    think_seconds=scenario.think_seconds,
                )
            )

        async def arrive(merchant: Merchant) -> None:
            await asyncio.sleep(scenario.arrival_seconds * merchant.number / scenario.merchants)
            await merchant.onboard()

        started = time.perf_counter()
        onboarded = threading.Event()
        kills = asyncio.create_task(_kill_workers(app, scenario, merchants, onboarded))
        await asyncio.gather(*(arrive(merchant) for merchant in merchants))
        wall = time.perf_counter() - started
        onboarded.set()
        try:
            interrupted = await kills
            exact = await asyncio.to_thread(_imports_exact, [m.shop for m in merchants if m.error is None])
            await asyncio.gather(*(merchant.stay_on_dashboard() for merchant in merchants))
        finally:
            kills.cancel()
            await asyncio.gather(*(merchant.tab.close() for merchant in merchants))
        return Wave(scenario, merchants, wall, exact, interrupted)


async def _kill_workers(
    app: ProductionAppProcess, scenario: Scenario, merchants: list[Merchant], onboarded: threading.Event
) -> int | None:
    if scenario.backend_workers_killed:
        registered = sum("register" in m.seconds or m.error is not None for m in merchants)
        while registered < len(merchants) / 2 and not onboarded.is_set():
            await asyncio.sleep(0.05)
            registered = sum("register" in m.seconds or m.error is not None for m in merchants)
        for pid in app.backend_workers()[: scenario.backend_workers_killed]:
            os.kill(pid, signal.SIGKILL)
    if scenario.kill_job_worker:
        return await asyncio.to_thread(_kill_job_worker_mid_import, app, onboarded)
    return None


def _kill_job_worker_mid_import(app: ProductionAppProcess, onboarded: threading.Event) -> int | None:
    """SIGKILL the job worker holding a running import's lease and start a replacement; the import's id.

    None if the merchants are done and no import is left to interrupt.
    """
    while True:
        with get_engine().connect() as connection:
            unfinished = connection.execute(
                sa.select(sa.func.count()).where(JOBS.c.status.in_(("queued", "running")))
            ).scalar_one()
            running = connection.execute(
                sa.select(JOBS.c.id, JOBS.c.lease_owner).where(
                    JOBS.c.status == "running", JOBS.c.lease_owner.is_not(None)
                )
            ).all()
        workers = {worker.pid: worker for worker in app.job_workers if worker.poll() is None}
        for job_id, owner in running:
            # The lease owner is "host:pid:nonce" (importer.jobs.WORKER_ID).
            if (worker := workers.get(int(owner.split(":")[1]))) is not None:
                worker.send_signal(signal.SIGKILL)
                worker.wait()
                app.start_job_worker()
                return int(job_id)
        if onboarded.is_set() and not unfinished:
            return None
        time.sleep(0.02)


def _imports_exact(shops: Sequence[str]) -> int:
    """Wait for every shop's import to end; how many ended completed with exactly the shop's catalog."""
    if not shops:
        return 0
    shop_table = ShopConnection.__table__  # type: ignore[attr-defined]
    with get_engine().connect() as connection:
        connections = dict(
            connection.execute(
                sa.select(shop_table.c.shop_domain, shop_table.c.id).where(shop_table.c.shop_domain.in_(shops))
            ).all()
        )
    deadline = time.monotonic() + IMPORT_TIMEOUT
    while True:
        with get_engine().connect() as connection:
            statuses = dict(
                connection.execute(
                    sa.select(JOBS.c.shop_connection_id, JOBS.c.status).where(
                        JOBS.c.shop_connection_id.in_(connections.values())
                    )
                ).all()
            )
        if len(statuses) == len(connections) and set(statuses.values()) <= {"completed", "failed"}:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"imports did not end within {IMPORT_TIMEOUT:.0f} s: {Counter(statuses.values())}")
        time.sleep(1)
    exact = 0
    for domain, connection_id in connections.items():
        catalog = Catalog(domain, SANDBOX_SHOP_PRODUCTS)
        variants = sum(catalog.product(index).variant_count for index in range(SANDBOX_SHOP_PRODUCTS))
        expected = (SANDBOX_SHOP_PRODUCTS, variants, variants)
        exact += statuses[connection_id] == "completed" and stored_counts(connection_id) == expected
    return exact


def _rows(wave: Wave) -> list[list[object]]:
    scenario, merchants = wave.scenario, wave.merchants
    completed = sum(m.error is None for m in merchants)
    errors = Counter(m.error.split(":")[0] + ": " + m.error.split(":")[1].strip() for m in merchants if m.error)
    recovered = f"{sum(m.tab.reconnects for m in merchants)} / {sum(m.retries for m in merchants)}"
    tokens_replaced = sum(m.tab.tokens_replaced for m in merchants)
    rows: list[list[object]] = []
    for step in STEPS:
        times = [m.seconds[step] for m in merchants if step in m.seconds]
        if not times:
            continue
        rows.append(
            [
                scenario.name,
                scenario.merchants,
                f"{completed}/{scenario.merchants}",
                f"{step} ({len(times)})" if len(times) != scenario.merchants else step,
                f"{1000 * percentile(times, 0.5):.0f}",
                f"{1000 * percentile(times, 0.95):.0f}",
                f"{wave.wall_seconds:.1f}",
                recovered,
                tokens_replaced,
                f"{wave.imports_exact}/{completed}",
                "; ".join(f"{reason} ×{n}" for reason, n in errors.items()) or "0",
            ]
        )
    return rows


def run(scenarios: Sequence[Scenario] = SCENARIOS) -> str:
    rows: list[list[object]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as scratch, production_app(Path(scratch)) as (app, inbox):
        for scenario in scenarios:
            wave = asyncio.run(onboard_wave(app, inbox, scenario))
            rows += _rows(wave)
            if scenario.kill_job_worker:
                killed = (
                    f"while it ran import job {wave.interrupted_import}, which 'imports exact' counts like the rest"
                    if wave.interrupted_import is not None
                    else "but no import was running to interrupt"
                )
                notes.append(f"{scenario.name}: the job worker was killed {killed}.")
            for merchant in wave.merchants:
                if merchant.error:
                    print(f"merchant {merchant.number}: {merchant.error}")
            done = sum(m.error is None for m in wave.merchants)
            print(f"{scenario.name}, N={scenario.merchants}: {done} onboarded in {wave.wall_seconds:.1f} s")
    header = (
        "scenario",
        "N",
        "onboarded",
        "step",
        "p50 ms",
        "p95 ms",
        "wall s",
        "reconnects / retried steps",
        "tabs given a new token",
        "imports exact",
        "errors",
    )
    return "\n\n".join([table(header, rows), *notes])


if __name__ == "__main__":
    print(run())
