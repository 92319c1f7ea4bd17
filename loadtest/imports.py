"""Imports under load on PostgreSQL with procrastinate: 10 shops at once on 2 worker processes (and once more
with one worker SIGKILLed mid-load), and how one import's time and memory grow from 6k to 60k to 300k variants.

The Shopify emulator runs in a process of its own (benchmarks.import_throughput's, which can issue tokens), the
workers are `python -m offamazon_ui.worker` processes, exactly as `make worker` starts them.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import sqlalchemy as sa

from benchmarks.import_throughput import _connect_shop, _control, _emulator_process, _environment, _peak_rss_kb
from loadtest.common import process, table
from offamazon_ui.sandbox.shopify.catalog import Catalog
from offamazon_ui.services.db import get_engine
from offamazon_ui.services.importer import engine, enqueue_import, run_import_job
from offamazon_ui.services.importer.store import JOBS, PRODUCTS, VARIANTS
from tests.environment import environment
from tests.postgres import fresh_schema

SHOPS = 10
PRODUCTS_PER_SHOP = 1_000
VARIANTS_PER_PRODUCT = 3
GROWTH_VARIANTS = (6_000, 60_000, 300_000)
GROWTH_TIMEOUT_SECONDS = 600


def _expected_variants(domain: str, products: int) -> int:
    catalog = Catalog(domain, products, VARIANTS_PER_PRODUCT)
    return sum(catalog.product(index).variant_count for index in range(products))


def stored_counts(shop_connection_id: int) -> tuple[int, int, int]:
    """Live products, live variants, and distinct variant ids (a duplicate would make the last two differ)."""
    with get_engine().connect() as connection:

        def count(expression: sa.ColumnElement[int], table: sa.Table) -> int:
            return int(
                connection.execute(
                    sa.select(expression).where(
                        table.c.shop_connection_id == shop_connection_id, table.c.removed_at.is_(None)
                    )
                ).scalar_one()
            )

        return (
            count(sa.func.count(), PRODUCTS),
            count(sa.func.count(), VARIANTS),
            count(sa.func.count(sa.distinct(VARIANTS.c.shopify_id)), VARIANTS),
        )


def _job_statuses(job_ids: list[int]) -> dict[int, str]:
    with get_engine().connect() as connection:
        return dict(connection.execute(sa.select(JOBS.c.id, JOBS.c.status).where(JOBS.c.id.in_(job_ids))).all())


def _workers_registered(database_url: str) -> int:
    with psycopg.connect(engine.libpq_conninfo(database_url)) as connection:
        return int(connection.execute("SELECT count(*) FROM procrastinate_workers").fetchone()[0])  # type: ignore[index]


def _concurrent(base: str, database_url: str, logs: Path, *, kill_one: bool) -> list[object]:
    run = secrets.token_hex(2)
    domains = [f"load{run}-{number}.myshopify.com" for number in range(SHOPS)]
    for domain in domains:
        _control(
            base,
            "shops",
            {"domain": domain, "product_count": PRODUCTS_PER_SHOP, "variants_per_product": VARIANTS_PER_PRODUCT},
        )
    connections = {domain: _connect_shop(base, domain) for domain in domains}
    worker = ["offamazon_ui.worker", "--concurrency", "5", "--sweep-seconds", "2"]
    with process(worker, log_path=logs / f"w1-{run}.log") as first, process(worker, log_path=logs / f"w2-{run}.log"):
        deadline = time.monotonic() + 30
        while _workers_registered(database_url) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        started = time.perf_counter()
        jobs = {domain: enqueue_import(connection_id) for domain, connection_id in connections.items()}
        replacement = None
        if kill_one:
            time.sleep(2.0)  # mid-import: exports are running, some rows stored
            os.kill(first, signal.SIGKILL)
            replacement = process(worker, log_path=logs / f"w3-{run}.log")
            replacement.__enter__()
        try:
            while set(_job_statuses(list(jobs.values())).values()) - {"completed", "failed"}:
                if time.perf_counter() - started > 600:
                    raise RuntimeError("imports did not finish within 10 minutes")
                time.sleep(0.2)
            wall = time.perf_counter() - started
        finally:
            if replacement is not None:
                replacement.__exit__(None, None, None)
    statuses = _job_statuses(list(jobs.values()))
    exact = 0
    for domain, connection_id in connections.items():
        products, variants, distinct = stored_counts(connection_id)
        expected = _expected_variants(domain, PRODUCTS_PER_SHOP)
        exact += statuses[jobs[domain]] == "completed" and (products, variants, distinct) == (
            PRODUCTS_PER_SHOP,
            expected,
            expected,
        )
    total = sum(_expected_variants(domain, PRODUCTS_PER_SHOP) for domain in domains)
    scenario = "2 workers, one SIGKILLed after 2 s and replaced" if kill_one else "2 workers"
    return [scenario, SHOPS, total, f"{wall:.1f}", f"{total / wall:.0f}", f"{exact}/{SHOPS}"]


def _growth(base: str, variants: int) -> list[object]:
    domain = f"growth{variants}-{secrets.token_hex(2)}.myshopify.com"
    products = variants // VARIANTS_PER_PRODUCT
    _control(base, "shops", {"domain": domain, "product_count": products, "variants_per_product": VARIANTS_PER_PRODUCT})
    connection_id = _connect_shop(base, domain)
    job_id = enqueue_import(connection_id)
    try:
        result = subprocess.run(  # noqa: S603  this module, run by this interpreter
            [sys.executable, "-m", "loadtest.imports", "--measure", str(job_id)],
            capture_output=True,
            text=True,
            env=dict(os.environ),
            check=True,
            timeout=GROWTH_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        return [f"{variants:,}", f"> {GROWTH_TIMEOUT_SECONDS}", "-", "-", "did not finish in time"]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    _products, stored, distinct = stored_counts(connection_id)
    exact = "exact" if stored == distinct == _expected_variants(domain, products) else f"{stored} stored"
    return [
        f"{variants:,}",
        f"{measured['seconds']:.1f}",
        f"{variants / measured['seconds']:.0f}",
        f"{measured['rss_mb']:.0f}",
        exact,
    ]


def _measure(job_id: int) -> None:
    """In the subprocess: run the import and print its time and peak RSS as JSON."""
    started = time.perf_counter()
    asyncio.run(run_import_job(job_id))
    print(json.dumps({"seconds": time.perf_counter() - started, "rss_mb": _peak_rss_kb() / 1024}))


def run(growth: tuple[int, ...] = GROWTH_VARIANTS) -> tuple[str, str]:
    concurrent_rows: list[list[object]] = []
    growth_rows: list[list[object]] = []
    with _emulator_process() as base, tempfile.TemporaryDirectory() as scratch:
        logs = Path(scratch)
        with (
            fresh_schema() as url,
            _environment(base, url, logs),
            environment({"OFFAMAZON_JOB_ENGINE": "procrastinate"}),
        ):
            engine.apply_schema(url)
            for kill_one in (False, True):
                concurrent_rows.append(_concurrent(base, url, logs, kill_one=kill_one))
                print("imports:", concurrent_rows[-1], flush=True)
        with fresh_schema() as url, _environment(base, url, logs):
            for variants in growth:
                growth_rows.append(_growth(base, variants))
                print("growth:", growth_rows[-1], flush=True)
    concurrent = table(
        ("scenario", "shops", "variants in all", "wall s", "variants/s", "shops with exact counts"), concurrent_rows
    )
    growth_table = table(("variants", "import s", "variants/s", "peak RSS MB", "rows"), growth_rows)
    return concurrent, growth_table


if __name__ == "__main__":
    if sys.argv[1:2] == ["--measure"]:
        _measure(int(sys.argv[2]))
    else:
        for result in run():
            print(result)
