"""Product import against the Shopify emulator over loopback: throughput, memory, and the paginated fallback.

The emulator runs in its own process (as Shopify would be elsewhere), so its
work does not compete with the import for this process's interpreter.

- Bulk import of demo-large (20,000 products × 3 variants) on SQLite and, when
  one answers on 127.0.0.1:5432, PostgreSQL: variants per second over the
  ingest (download, parse, readiness, batched upserts, final pass; the
  emulator's export time is reported apart), next to a raw ceiling measured in
  the same run: the same rows inserted into the same database through the
  same SQLAlchemy Core, one executemany per table in one transaction (best of
  three). Target: at least 50% of the ceiling.
- Peak memory of the import, in a subprocess, at 6,000 and 60,000 variants.
  Target: growth under 50 MB.
- The paginated fallback on an Advanced-plan bucket (4,000 points, 200/s):
  time from the fallback to the end against the floor the restore rate sets
  ((points spent − points in the bucket when it starts) / restore rate), and
  the share of throttled requests. Targets: within 1.2 × the floor, under 2%.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import SQLModel

from benchmarks.measurement import Measurement
from offamazon_ui.services import db
from offamazon_ui.services.importer import enqueue_import, run_import_job
from offamazon_ui.services.importer.store import IMAGES, JOBS, PRODUCTS, VARIANTS
from tests.environment import environment
from tests.importer_fixtures import add_connection
from tests.postgres import fresh_schema, postgres_available
from tests.servers import free_port

LARGE_SHOP = "demo-large.myshopify.com"
MEMORY_SHOPS = {6_000: "memory-small.myshopify.com", 60_000: "memory-large.myshopify.com"}
PAGINATED_SHOP = "paginated.myshopify.com"
RESPONSIVE_SHOP = "responsive.myshopify.com"
TICK_SECONDS = 0.01
SCRATCH_SHOP = "scratch.myshopify.com"  # owns the rows of the raw-insert ceiling
PAGINATED_PRODUCTS = 800
PAGINATED_BUCKET = {"bucket_maximum": 4000.0, "restore_rate": 200.0}  # Shopify Advanced
API_KEY = "bench-shopify-app"
API_SECRET = "bench-shopify-secret-0123456789"  # noqa: S105  the emulator's, for this run only
SECRET_KEY = "bench-secret-key-" + "x" * 40


# --- the emulator, in its own process ------------------------------------------------------------------------


def _serve_emulator(port: int) -> None:
    """In the emulator's process: the emulator plus two bench-only routes (issue a token, report spent cost)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
    from starlette.types import Message, Receive, Scope, Send

    from offamazon_ui.sandbox.shopify import ShopifyEmulator
    from offamazon_ui.sandbox.shopify.app import emulator_app

    emulator = ShopifyEmulator(API_KEY, API_SECRET, ["http://localhost:8000/auth/shopify/callback"])
    spent = {"points": 0, "requests": 0, "throttled": 0, "available": 0}
    shopify = emulator_app(emulator)

    async def metered(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/graphql.json"):
            await shopify(scope, receive, send)
            return
        body = bytearray()

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
            await send(message)

        await shopify(scope, receive, capture)
        try:
            payload = json.loads(body)
        except ValueError:
            return
        codes = {(error.get("extensions") or {}).get("code") for error in payload.get("errors") or []}
        cost = (payload.get("extensions") or {}).get("cost") or {}
        spent["requests"] += 1
        spent["points"] += int(cost.get("actualQueryCost") or 0)
        spent["throttled"] += "THROTTLED" in codes
        spent["available"] = int((cost.get("throttleStatus") or {}).get("currentlyAvailable") or 0)

    async def token(request: Request) -> Response:
        shop = emulator.shop(request.path_params["shop"])
        assert shop is not None
        grant = emulator.redeem_code(shop, emulator.issue_code(shop, API_KEY, ("read_products",)), expiring=False)
        assert grant is not None
        return JSONResponse({"access_token": grant["access_token"]})

    async def cost(_request: Request) -> Response:
        return JSONResponse(spent)

    bench = Starlette(routes=[Route("/_bench/token/{shop}", token, methods=["POST"]), Route("/_bench/cost", cost)])

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        # Not a Mount: the emulator builds its URLs with url_for, which needs it to be the app at the root.
        is_bench = scope["type"] == "http" and scope["path"].startswith("/_bench/")
        await (bench if is_bench else metered)(scope, receive, send)

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")


@contextmanager
def _emulator_process() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603  this module, run by this interpreter
        [sys.executable, "-m", "benchmarks.import_throughput", "--serve-emulator", str(port)]
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/_bench/cost")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the emulator did not start") from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def _control(base: str, path: str, body: dict[str, Any]) -> None:
    httpx.post(f"{base}/_control/{path}", json=body).raise_for_status()


def _spent(base: str) -> dict[str, int]:
    return dict(httpx.get(f"{base}/_bench/cost").json())


# --- this process: settings, a connected shop, one import -------------------------------------------------------


@contextmanager
def _environment(shopify_base: str, database_url: str, data_dir: Path) -> Iterator[None]:
    values = {
        "OFFAMAZON_DATA_DIR": str(data_dir),
        "OFFAMAZON_SECRET_KEY": SECRET_KEY,
        "REFLEX_DB_URL": database_url,
        "SHOPIFY_API_KEY": API_KEY,
        "SHOPIFY_API_SECRET": API_SECRET,
        "OFFAMAZON_SHOPIFY_URL": f"{shopify_base}/{{shop}}",
    }
    with environment(values):
        SQLModel.metadata.create_all(db.get_engine())
        yield


def _connect_shop(base: str, shop_domain: str) -> int:
    """A stored connection holding a token the emulator issued (what the OAuth flow leaves behind)."""
    return add_connection(shop_domain, httpx.post(f"{base}/_bench/token/{shop_domain}").json()["access_token"])


class _ImportEvents(logging.Handler):
    """When the import logged its milestones (the export is ready; the fallback to pages starts)."""

    def __init__(self, on_event: Callable[[str], None]) -> None:
        super().__init__()
        self.at: dict[str, float] = {}
        self.on_event = on_event

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "import_event", None)
        if event is not None:
            self.at[event] = time.perf_counter()
            self.on_event(event)


def _import(
    shop_connection_id: int, on_event: Callable[[str], None] = lambda _event: None
) -> tuple[float, dict[str, float], int]:
    """Run one import: when it started, when its milestones happened and it finished, and how many variants."""
    events = _ImportEvents(on_event)
    logger = logging.getLogger("offamazon_ui.services.importer")
    logger.addHandler(events)
    logger.setLevel(logging.INFO)
    try:
        job_id = enqueue_import(shop_connection_id)
        started = time.perf_counter()
        asyncio.run(run_import_job(job_id))
        events.at["finished"] = time.perf_counter()
    finally:
        logger.removeHandler(events)
    with db.get_engine().connect() as connection:
        job = connection.execute(sa.select(JOBS).where(JOBS.c.id == job_id)).one()
    if job.status != "completed":
        raise RuntimeError(f"benchmark import ended {job.status}: {job.last_error}")
    return started, events.at, job.variants_seen


# --- measurements ---------------------------------------------------------------------------------------------


def _raw_ceiling(shop_connection_id: int, scratch_connection_id: int) -> float:
    """Seconds to insert the imported rows again, one executemany per table in one transaction (best of 3)."""
    tables = (PRODUCTS, VARIANTS, IMAGES)
    with db.get_engine().connect() as connection:
        rows = {
            table.name: [
                {**row._asdict(), "shop_connection_id": scratch_connection_id}
                for row in connection.execute(
                    sa.select(*[c for c in table.columns if c.name != "id"]).where(
                        table.c.shop_connection_id == shop_connection_id
                    )
                )
            ]
            for table in tables
        }
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        with db.get_engine().begin() as connection:
            for table in tables:
                connection.execute(sa.insert(table), rows[table.name])
        timings.append(time.perf_counter() - started)
        with db.get_engine().begin() as connection:
            for table in tables:
                connection.execute(sa.delete(table).where(table.c.shop_connection_id == scratch_connection_id))
    return min(timings)


def _bulk_throughput(base: str, label: str) -> list[Measurement]:
    shop_connection_id = _connect_shop(base, LARGE_SHOP)
    scratch_connection_id = _connect_shop(base, SCRATCH_SHOP)
    started, at, variants = _import(shop_connection_id)
    total, ingest = at["finished"] - started, at["finished"] - at["bulk_ready"]
    ceiling_seconds = _raw_ceiling(shop_connection_id, scratch_connection_id)
    rate, ceiling = variants / ingest, variants / ceiling_seconds
    return [
        Measurement(
            f"bulk import throughput, {label}", rate, "variants/s", f"{variants} variants, ingest {ingest:.1f} s"
        ),
        Measurement(f"raw insert ceiling, {label}", ceiling, "variants/s", "same rows, one executemany per table"),
        Measurement(f"bulk import / ceiling, {label}", 100 * rate / ceiling, "%", "target ≥ 50%"),
        Measurement(f"bulk import end to end, {label}", total, "s", "incl. the emulator's export"),
    ]


def _paginated_fallback(base: str) -> list[Measurement]:
    _control(base, "shops", {"domain": PAGINATED_SHOP, "product_count": PAGINATED_PRODUCTS, "seed": "paginated"})
    _control(base, f"shops/{PAGINATED_SHOP}", {"bulk_outcome": "fail", **PAGINATED_BUCKET})
    shop_connection_id = _connect_shop(base, PAGINATED_SHOP)
    at_fallback: dict[str, int] = {}

    def on_event(event: str) -> None:
        if event == "paginated_start":
            at_fallback.update(_spent(base))

    _started, at, variants = _import(shop_connection_id, on_event)
    # From the fallback on: the failed export's time and polls are Shopify's, not the fallback's.
    total = at["finished"] - at["paginated_start"]
    finished = _spent(base)
    spent = {name: finished[name] - at_fallback[name] for name in ("points", "requests", "throttled")}
    # The points in the bucket when the fallback starts are free; every other point takes 1 / restore rate.
    credit, restore_rate = at_fallback["available"], PAGINATED_BUCKET["restore_rate"]
    floor = max(0.0, spent["points"] - credit) / restore_rate
    return [
        Measurement("paginated fallback total time", total, "s", f"{variants} variants, {spent['requests']} requests"),
        Measurement(
            "paginated fallback floor",
            floor,
            "s",
            f"{spent['points']} points at {restore_rate:.0f}/s, less {credit} in the bucket at the start",
        ),
        Measurement("paginated fallback / floor", total / floor, "×", "target ≤ 1.2"),
        Measurement(
            "paginated fallback throttled requests", 100 * spent["throttled"] / spent["requests"], "%", "target < 2%"
        ),
    ]


def _peak_memory(base: str, variants: int) -> dict[str, float]:
    domain = MEMORY_SHOPS[variants]
    _control(base, "shops", {"domain": domain, "product_count": variants // 3, "variants_per_product": 3})
    job_id = enqueue_import(_connect_shop(base, domain))
    result = subprocess.run(  # noqa: S603  this module, run by this interpreter
        [sys.executable, "-m", "benchmarks.import_throughput", "--measure-memory", str(job_id)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=True,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _memory(base: str) -> list[Measurement]:
    small, large = (_peak_memory(base, variants) for variants in sorted(MEMORY_SHOPS))
    return [
        Measurement("import peak RSS, 6,000 variants", small["rss_mb"], "MB", "the import's own process"),
        Measurement("import peak RSS, 60,000 variants", large["rss_mb"], "MB", "the import's own process"),
        Measurement("import peak RSS growth 6k → 60k", large["rss_mb"] - small["rss_mb"], "MB", "target < 50 MB"),
        Measurement(
            "import traced peak growth 6k → 60k",
            large["traced_mb"] - small["traced_mb"],
            "MB",
            f"tracemalloc peaks {small['traced_mb']:.1f} and {large['traced_mb']:.1f} MB",
        ),
    ]


def _measure_memory_of(job_id: int) -> None:
    """In the subprocess: run the job and print its peak memory as JSON."""
    import tracemalloc

    tracemalloc.start()
    asyncio.run(run_import_job(job_id))
    _current, peak = tracemalloc.get_traced_memory()
    print(json.dumps({"rss_mb": _peak_rss_kb() / 1024, "traced_mb": peak / 2**20}))


def _peak_rss_kb() -> int:
    """This process's peak resident set. Linux folds the RSS of the parent it was forked from into
    getrusage's ru_maxrss across exec, so VmHWM (reset by exec) is read when /proc has it."""
    import resource

    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def _lateness_while(work: Coroutine[Any, Any, None]) -> list[float]:
    """Seconds by which a 10 ms timer on the same event loop fires late while `work` runs."""
    task = asyncio.create_task(work)
    lateness = []
    while not task.done():
        started = time.perf_counter()
        await asyncio.sleep(TICK_SECONDS)
        lateness.append(time.perf_counter() - started - TICK_SECONDS)
    await task
    return sorted(lateness)


def _responsiveness(base: str) -> list[Measurement]:
    """The embedded runner imports on the backend's own event loop: every merchant's events wait on that loop."""
    _control(base, "shops", {"domain": RESPONSIVE_SHOP, "product_count": 20_000, "variants_per_product": 3})
    job_id = enqueue_import(_connect_shop(base, RESPONSIVE_SHOP))
    lateness = asyncio.run(_lateness_while(run_import_job(job_id)))
    p99 = lateness[max(0, int(len(lateness) * 0.99) - 1)]
    note = f"{len(lateness)} ticks during a 60,000-variant import on the same loop"
    return [
        Measurement("event-loop lateness p99 during an import", p99 * 1000, "ms", note + "; target < 100 ms"),
        Measurement("event-loop lateness max during an import", lateness[-1] * 1000, "ms", note),
    ]


def run() -> list[Measurement]:
    results: list[Measurement] = []
    with _emulator_process() as base, tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(scratch)
        _control(base, "shops", {"domain": SCRATCH_SHOP, "product_count": 0})
        with _environment(base, f"sqlite:///{data_dir / 'bench.db'}", data_dir):
            results += _bulk_throughput(base, "SQLite")
            results += _responsiveness(base)
            results += _memory(base)
            results += _paginated_fallback(base)
        if postgres_available():
            with fresh_schema() as url, _environment(base, url, data_dir):
                results += _bulk_throughput(base, "PostgreSQL")
    return results


def main(argv: list[str]) -> None:
    if argv[:1] == ["--serve-emulator"]:
        _serve_emulator(int(argv[1]))
    elif argv[:1] == ["--measure-memory"]:
        _measure_memory_of(int(argv[1]))
    else:
        for measurement in run():
            print(f"{measurement.name}: {measurement.value:.2f} {measurement.unit} ({measurement.note})", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
