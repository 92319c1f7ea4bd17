"""Import jobs on procrastinate, the PostgreSQL job queue: what the web process defers and `make worker` runs.

Used when OFFAMAZON_JOB_ENGINE=procrastinate (see docs/architecture.md). The
ImportJob row stays the record of progress and its lease stays the guard that
one process imports a shop at a time; procrastinate delivers "run job N" to a
worker process, at most one waiting per shop (its queueing lock), with retries.
A sweep re-defers what a delivery could miss: a deferral that failed after the
row was committed, a job whose retry backoff has passed, and a job whose worker
was killed (its lease expired), so the job resumes from its checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
from functools import lru_cache

import procrastinate
import psycopg
import sqlalchemy as sa
from procrastinate import exceptions as procrastinate_errors
from sqlalchemy.engine import make_url

from offamazon_ui.config import get_settings
from offamazon_ui.services.db import get_engine
from offamazon_ui.services.importer import jobs
from offamazon_ui.services.importer.execute import run_import_job
from offamazon_ui.services.importer.store import JOBS

log = logging.getLogger(__name__)

TASK_NAME = "import_catalog"
QUEUE = "imports"
# Failures Shopify causes are retried by the job itself (retry_later); these cover a task that crashed outright.
TASK_RETRY = procrastinate.RetryStrategy(max_attempts=5, exponential_wait=4)
SWEEP_SECONDS = 15.0
SWEEP_BATCH = 200
SCHEMA_LOCK_KEY = 0x0FFA_4A2B  # advisory lock: workers starting together apply the schema once


def libpq_conninfo(database_url: str) -> str:
    """The libpq URI for a SQLAlchemy postgresql+psycopg URL (query options such as search_path are kept)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def queueing_lock(shop_connection_id: int) -> str:
    return f"shop-{shop_connection_id}"


async def import_catalog(job_id: int) -> None:
    await run_import_job(job_id)


@lru_cache(maxsize=4)
def job_app(database_url: str) -> procrastinate.App:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=libpq_conninfo(database_url)))
    app.task(name=TASK_NAME, queue=QUEUE, retry=TASK_RETRY)(import_catalog)
    return app


@lru_cache(maxsize=4)
def _deferring_app(database_url: str) -> procrastinate.App:
    """A small synchronous pool for the web process, which defers from threads (asyncio.to_thread)."""
    connector = procrastinate.SyncPsycopgConnector(conninfo=libpq_conninfo(database_url), min_size=1, max_size=4)
    app = procrastinate.App(connector=connector)
    app.task(name=TASK_NAME, queue=QUEUE, retry=TASK_RETRY)(import_catalog)
    return app.open()


def defer_import(job_id: int, shop_connection_id: int) -> bool:
    """Hand the job to the workers (from any thread); False if one is already waiting for this shop."""
    app = _deferring_app(get_settings().database_url)
    try:
        app.configure_task(TASK_NAME, queueing_lock=queueing_lock(shop_connection_id)).defer(job_id=job_id)
    except procrastinate_errors.AlreadyEnqueued:
        return False
    return True


async def defer_import_async(app: procrastinate.App, job_id: int, shop_connection_id: int) -> bool:
    try:
        await app.configure_task(TASK_NAME, queueing_lock=queueing_lock(shop_connection_id)).defer_async(job_id=job_id)
    except procrastinate_errors.AlreadyEnqueued:
        return False
    return True


def apply_schema(database_url: str) -> bool:
    """Create procrastinate's tables in the database's schema unless they exist; True if it created them."""
    app = job_app(database_url)
    with psycopg.connect(libpq_conninfo(database_url)) as connection, connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        if connection.execute("SELECT to_regclass('procrastinate_jobs')").fetchone() != (None,):
            return False
        connection.execute(app.schema_manager.get_schema())
    return True


def _due_jobs(limit: int) -> list[tuple[int, int]]:
    due = jobs.due_job_ids(limit)
    if not due:
        return []
    with get_engine().connect() as connection:
        rows = connection.execute(sa.select(JOBS.c.id, JOBS.c.shop_connection_id).where(JOBS.c.id.in_(due)))
        return [(int(row.id), int(row.shop_connection_id)) for row in rows]


async def sweep(app: procrastinate.App) -> int:
    """Defer every import job that is due or abandoned; returns how many were deferred."""
    deferred = 0
    for job_id, shop_connection_id in await asyncio.to_thread(_due_jobs, SWEEP_BATCH):
        deferred += await defer_import_async(app, job_id, shop_connection_id)
    return deferred


async def sweep_forever(app: procrastinate.App, interval: float = SWEEP_SECONDS) -> None:
    while True:
        try:
            if deferred := await sweep(app):
                log.info("re-deferred %s due or abandoned import jobs", deferred)
        except Exception:
            log.warning("could not sweep the import jobs; will try again", exc_info=True)
        await asyncio.sleep(interval)
