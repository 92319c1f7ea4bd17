"""Outages that sign-up and the import must survive without losing or doubling anything.

Faults tested next to the code they exercise (listed in docs/threat-model.md):
Shopify throttling storms, 5xx bursts and dropped connections, a dropped bulk
download, Amazon 429/503 during connect, an unreachable mail server. Here: the
mail server coming back, a bulk export that never completes, the database
restarting mid-import, and the import's process being killed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import SQLModel

from offamazon_ui.config import get_settings
from offamazon_ui.models import utcnow
from offamazon_ui.services import accounts
from offamazon_ui.services.db import get_engine
from offamazon_ui.services.importer import bulk, enqueue_import, run_import_job, store
from offamazon_ui.services.importer.store import JOBS
from tests.environment import clear_caches
from tests.importer_fixtures import SMALL_SHOP, ImportSandbox, assert_imported_exactly, importer, job_row, shopify
from tests.postgres import POSTGRES_DSN, fresh_schema, postgres_available
from tests.servers import free_port
from tests.smtp import smtp_server

__all__ = ["importer", "shopify"]
PROJECT_ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "Copper#Meadow-64"
IP = "203.0.113.80"


# --- mail ----------------------------------------------------------------------------------------------------------


async def test_a_code_that_could_not_be_mailed_is_resent_once_the_mail_server_is_back(
    db: sa.Engine, fast_bcrypt: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OFFAMAZON_SMTP_URL", f"smtp://127.0.0.1:{free_port()}")  # nothing listens
    get_settings.cache_clear()
    registered = await accounts.register("Ann", "Lee", "ann@example.com", PASSWORD, PASSWORD, IP)
    assert registered.ok and registered.mail_error is not None

    with smtp_server() as inbox:
        monkeypatch.setenv("OFFAMAZON_SMTP_URL", inbox.url)
        get_settings.cache_clear()
        later = utcnow() + timedelta(seconds=61)  # after the resend cooldown
        resent = await accounts.resend_verification_code("ann@example.com", IP, now=later)
        assert resent.ok and resent.mail_error is None
        code = inbox.latest_code("ann@example.com")
    verified = await accounts.verify_email("ann@example.com", code, IP, now=later + timedelta(seconds=5))
    assert verified.ok
    assert (await accounts.login("ann@example.com", PASSWORD, IP)).ok


# --- import ----------------------------------------------------------------------------------------------------------


async def test_a_bulk_export_that_never_completes_falls_back_to_pages(
    importer: ImportSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "EXPORT_MAX_WAIT_SECONDS", 0.5)
    connection_id = await importer.connect()
    importer.emulator.configure_shop(SMALL_SHOP, bulk_outcome="hang", restore_rate=2000.0)
    job_id = enqueue_import(connection_id)
    await run_import_job(job_id)
    assert_imported_exactly(importer, connection_id, job_id, SMALL_SHOP)
    assert job_row(job_id).strategy == "paginated"


def count_writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Variants written per batch from now on."""
    written: list[int] = []
    original = store.write_batch

    def counted(batch: store.Batch, checkpoint: dict[str, Any]) -> None:
        original(batch, checkpoint)
        written.append(len(batch.variants))

    monkeypatch.setattr(store, "write_batch", counted)
    return written


def expire_lease(job_id: int) -> None:
    """Time passes: the lease of the process that held the job runs out."""
    with get_engine().begin() as connection:
        connection.execute(sa.update(JOBS).where(JOBS.c.id == job_id).values(lease_expires_at=utcnow()))


@pytest.fixture
def importer_on_postgresql(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The import sandbox with its database in PostgreSQL; yields the application name its connections use."""
    request.getfixturevalue("app_env")
    application = f"offamazon-faults-{os.getpid()}"
    with fresh_schema() as url:
        monkeypatch.setenv("REFLEX_DB_URL", f"{url}&application_name={application}")
        clear_caches()
        SQLModel.metadata.create_all(get_engine())
        yield application
        get_engine().dispose()


def terminate_connections(application: str) -> int:
    """What a database restart does to every open connection of the app."""
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", (application,)
        ).fetchall()
    return len(rows)


@pytest.mark.skipif(not postgres_available(), reason="no PostgreSQL answers on 127.0.0.1:5432 (CI has one)")
async def test_a_database_restart_during_import_is_resumed_with_exact_counts(
    importer_on_postgresql: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox: ImportSandbox = request.getfixturevalue("importer")
    monkeypatch.setattr(store, "BATCH_VARIANTS", 60)
    connection_id = await sandbox.connect()
    job_id = enqueue_import(connection_id)
    variant_inserts = 0

    def restart_on_third_batch(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        nonlocal variant_inserts
        if statement.lstrip().upper().startswith("INSERT INTO SHOPIFYVARIANT"):
            variant_inserts += 1
            if variant_inserts == 3:
                assert terminate_connections(importer_on_postgresql) > 0

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", restart_on_third_batch)
    try:
        await run_import_job(job_id)
    finally:
        event.remove(engine, "before_cursor_execute", restart_on_third_batch)

    interrupted = job_row(job_id)
    assert interrupted.status == "queued" and interrupted.last_error  # waiting to resume, and it says so
    assert 0 < interrupted.variants_seen < len(sandbox.expected().variants)
    written = count_writes(monkeypatch)
    with engine.begin() as connection:  # its retry time has come
        connection.execute(sa.update(JOBS).where(JOBS.c.id == job_id).values(run_after=utcnow()))
    await run_import_job(job_id)
    assert_imported_exactly(sandbox, connection_id, job_id, SMALL_SHOP)
    assert sum(written) == len(sandbox.expected().variants) - interrupted.variants_seen  # resumed, not restarted


IMPORT_IN_A_PROCESS = """
import asyncio, sys, time
from offamazon_ui.services.importer import run_import_job, store
store.BATCH_VARIANTS = 60
write = store.write_batch
def slow_write(batch, checkpoint):
    write(batch, checkpoint)
    time.sleep(0.3)  # a slow disk: time for the test to kill this process between two batches
store.write_batch = slow_write
asyncio.run(run_import_job(int(sys.argv[1])))
"""


async def test_a_killed_import_process_is_resumed_with_exact_counts(
    importer: ImportSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection_id = await importer.connect()
    job_id = enqueue_import(connection_id)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", IMPORT_IN_A_PROCESS, str(job_id), cwd=PROJECT_ROOT, env=env, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while job_row(job_id).variants_seen < 60:
            assert process.returncode is None, await process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the import process wrote nothing"
            await asyncio.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()

    killed = job_row(job_id)
    assert killed.status == "running" and killed.lease_owner is not None  # nobody cleaned up after it
    assert 0 < killed.variants_seen < len(importer.expected().variants)
    await run_import_job(job_id)  # the lease is still live: no other process may take the job yet
    assert job_row(job_id).variants_seen == killed.variants_seen

    expire_lease(job_id)
    written = count_writes(monkeypatch)
    await run_import_job(job_id)
    assert_imported_exactly(importer, connection_id, job_id, SMALL_SHOP)
    assert sum(written) == len(importer.expected().variants) - killed.variants_seen
