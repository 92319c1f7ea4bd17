"""Import jobs on procrastinate: one waiting job per shop, separate worker processes, resumption after a kill."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from offamazon_ui.models import utcnow
from offamazon_ui.services.db import get_engine
from offamazon_ui.services.importer import engine, enqueue_import
from offamazon_ui.services.importer.store import JOBS
from tests.environment import clear_caches
from tests.importer_fixtures import (
    SMALL_SHOP,
    ImportSandbox,
    add_connection,
    assert_imported_exactly,
    importer,
    job_row,
    shopify,
)
from tests.postgres import fresh_schema, postgres_available

__all__ = ["importer", "shopify"]

pytestmark = pytest.mark.skipif(not postgres_available(), reason="no PostgreSQL answers on 127.0.0.1:5432 (CI has one)")

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def procrastinate_db(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The app's tables and procrastinate's in a fresh PostgreSQL schema, with the procrastinate engine on."""
    with fresh_schema() as url:
        monkeypatch.setenv("REFLEX_DB_URL", url)
        monkeypatch.setenv("OFFAMAZON_JOB_ENGINE", "procrastinate")
        clear_caches()
        SQLModel.metadata.create_all(get_engine())
        assert engine.apply_schema(url) is True
        assert engine.apply_schema(url) is False  # every worker applies it on start; only the first creates it
        yield url
        get_engine().dispose()


def procrastinate_jobs(url: str) -> list[tuple[int, str, str]]:
    with psycopg.connect(engine.libpq_conninfo(url)) as connection:
        rows = connection.execute("SELECT args->>'job_id', status::text, queueing_lock FROM procrastinate_jobs")
        return [(int(job_id), status, lock) for job_id, status, lock in rows.fetchall()]


@contextmanager
def worker_process(tmp_path: Path, name: str) -> Iterator[subprocess.Popen[bytes]]:
    log_path = tmp_path / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "offamazon_ui.worker", "--concurrency", "2", "--sweep-seconds", "0.5"],
            cwd=PROJECT_ROOT,
            env=dict(os.environ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.1)


def test_a_shop_has_at_most_one_waiting_procrastinate_job(procrastinate_db: str) -> None:
    shop_id = add_connection("lock.myshopify.com")
    other_shop_id = add_connection("other.myshopify.com")
    job_id = enqueue_import(shop_id)
    assert enqueue_import(shop_id) == job_id
    assert engine.defer_import(job_id, shop_id) is False  # the queueing lock refuses a second waiting job
    other_job_id = enqueue_import(other_shop_id)
    assert sorted(procrastinate_jobs(procrastinate_db)) == sorted(
        [(job_id, "todo", f"shop-{shop_id}"), (other_job_id, "todo", f"shop-{other_shop_id}")]
    )


async def test_a_worker_process_imports_the_catalog_with_exact_counts(
    procrastinate_db: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    sandbox: ImportSandbox = request.getfixturevalue("importer")
    connection_id = await sandbox.connect()
    with worker_process(tmp_path, "worker"):
        job_id = await asyncio.to_thread(enqueue_import, connection_id)
        await wait_until(lambda: job_row(job_id).status == "completed", 60, "the worker completed the import")
    assert_imported_exactly(sandbox, connection_id, job_id, SMALL_SHOP)
    # The sweep may deliver the job again before the worker claimed it; that delivery finds the lease taken,
    # or is still waiting when the worker stops. Either way it is this job, for this shop, and none failed.
    deliveries = procrastinate_jobs(procrastinate_db)
    assert (job_id, "succeeded", f"shop-{connection_id}") in deliveries
    assert set(deliveries) <= {
        (job_id, "succeeded", f"shop-{connection_id}"),
        (job_id, "todo", f"shop-{connection_id}"),
    }


async def test_a_killed_workers_import_resumes_on_another_worker_with_exact_counts(
    procrastinate_db: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    sandbox: ImportSandbox = request.getfixturevalue("importer")
    connection_id = await sandbox.connect()
    sandbox.emulator.configure_shop(SMALL_SHOP, bulk_delay=3.0)  # the export is still running when the kill comes
    with worker_process(tmp_path, "first-worker") as first:
        job_id = await asyncio.to_thread(enqueue_import, connection_id)
        await wait_until(lambda: job_row(job_id).bulk_operation_id is not None, 30, "the first worker started")
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert job_row(job_id).status == "running"
    # Time passes: the dead worker's lease runs out.
    with get_engine().begin() as connection:
        connection.execute(sa.update(JOBS).where(JOBS.c.id == job_id).values(lease_expires_at=utcnow()))
    sandbox.emulator.configure_shop(SMALL_SHOP, bulk_delay=0.05)
    with worker_process(tmp_path, "second-worker"):
        await wait_until(lambda: job_row(job_id).status == "completed", 60, "the second worker resumed the import")
    assert_imported_exactly(sandbox, connection_id, job_id, SMALL_SHOP)
    job = job_row(job_id)
    assert job.attempts == 2  # claimed by the killed worker, then by the one that finished it
