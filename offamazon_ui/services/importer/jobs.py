"""Import jobs in the database: at most one active job per shop, run by one process at a time.

The partial unique index on ImportJob (shop where status is queued or running)
is the single source of truth for "one import per shop": concurrent enqueues
race on it and the losers return the winner's job. A process runs a job only
while it holds the job's lease (lease_owner + lease_expires_at, renewed by
every write and by a heartbeat); a job left 'running' by a dead process is
claimable again once its lease has expired, and resumes from its checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from offamazon_ui.config import get_settings
from offamazon_ui.models import ShopConnection, utcnow
from offamazon_ui.services.db import get_engine
from offamazon_ui.services.importer.store import JOBS, JobLease, lease_deadline, touch_job
from offamazon_ui.services.shopify.errors import ReconnectRequired

log = logging.getLogger(__name__)

ACTIVE_STATUSES = ("queued", "running")
MAX_FAILURES = 5  # failed runs in a row (each Shopify request was already retried) before the job gives up
MAX_CLAIMS = 25  # a job that takes its process down every time must not be retried forever
RETRY_BASE_SECONDS = 30.0
RETRY_MAX_SECONDS = 900.0
SHOPS = ShopConnection.__table__  # type: ignore[attr-defined]
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

GAVE_UP_MESSAGE = "Shopify kept failing, so we paused the import. Use Re-sync to try again later."
TOO_MANY_RESTARTS_MESSAGE = "The import kept stopping unexpectedly. Use Re-sync to try again, or contact support."


@dataclass(frozen=True)
class ClaimedJob:
    """A job this process now runs, with where to resume."""

    lease: JobLease
    strategy: str
    products_total: int | None
    bulk_operation_id: str | None
    bulk_offset: int
    page_cursor: str | None


# --- enqueue ---------------------------------------------------------------------------------------------


def enqueue_import(shop_connection_id: int) -> int:
    """The shop's active import job, else its last job resumed if that one failed part-way, else a new job."""
    return _enqueue(shop_connection_id, resume_failed=True)


def request_resync(shop_connection_id: int) -> int:
    """Import the whole catalog again (a no-op returning the active job while one is queued or running)."""
    return _enqueue(shop_connection_id, resume_failed=False)


def _active_job_id(connection: sa.Connection, shop_connection_id: int) -> int | None:
    return connection.execute(
        sa.select(JOBS.c.id).where(JOBS.c.shop_connection_id == shop_connection_id, JOBS.c.status.in_(ACTIVE_STATUSES))
    ).scalar()


def _enqueue(shop_connection_id: int, *, resume_failed: bool) -> int:
    engine = get_engine()
    for _ in range(5):
        with engine.begin() as connection:
            if connection.execute(sa.select(SHOPS.c.id).where(SHOPS.c.id == shop_connection_id)).first() is None:
                raise ReconnectRequired("Your Shopify store is no longer connected. Please connect it again.")
            job_id = _active_job_id(connection, shop_connection_id)
            if job_id is not None:
                return job_id
        try:
            with engine.begin() as connection:
                job_id = _resume_failed(connection, shop_connection_id) if resume_failed else None
                if job_id is None:
                    now = utcnow()
                    job_id = connection.execute(
                        sa.insert(JOBS)
                        .values(shop_connection_id=shop_connection_id, status="queued", strategy="bulk",
                                products_seen=0, variants_seen=0, bulk_offset=0, attempts=0, failures=0,
                                created_at=now, updated_at=now)
                        .returning(JOBS.c.id)
                    ).scalar_one()  # fmt: skip
            notify_runners()
            _hand_to_job_engine(int(job_id), shop_connection_id)
            return int(job_id)
        except IntegrityError:
            continue  # another request activated a job for this shop first; return that one
    raise RuntimeError(f"could not enqueue an import for shop connection {shop_connection_id}")


def _hand_to_job_engine(job_id: int, shop_connection_id: int) -> None:
    """With procrastinate, tell the worker processes; a failed deferral is retried by their sweep."""
    if get_settings().job_engine != "procrastinate":
        return
    from offamazon_ui.services.importer import engine  # engine imports this module

    try:
        engine.defer_import(job_id, shop_connection_id)
    except Exception:
        log.warning("could not defer import job %s; the workers' sweep will pick it up", job_id, exc_info=True)


def _resume_failed(connection: sa.Connection, shop_connection_id: int) -> int | None:
    last = connection.execute(
        sa.select(JOBS.c.id, JOBS.c.status, JOBS.c.bulk_operation_id, JOBS.c.page_cursor)
        .where(JOBS.c.shop_connection_id == shop_connection_id)
        .order_by(JOBS.c.id.desc())
        .limit(1)
    ).first()
    if last is None or last.status != "failed" or (last.bulk_operation_id is None and last.page_cursor is None):
        return None
    # The same job continues, so the rows it already stored still count as seen by it.
    connection.execute(
        sa.update(JOBS)
        .where(JOBS.c.id == last.id, JOBS.c.status == "failed")
        .values(
            status="queued",
            failures=0,
            attempts=0,
            run_after=None,
            last_error=None,
            finished_at=None,
            updated_at=utcnow(),
        )
    )
    return int(last.id)


# --- claiming and the lease --------------------------------------------------------------------------------


def _claimable(now: datetime) -> Any:
    return sa.or_(
        sa.and_(JOBS.c.status == "queued", sa.or_(JOBS.c.run_after.is_(None), JOBS.c.run_after <= now)),
        sa.and_(JOBS.c.status == "running", sa.or_(JOBS.c.lease_expires_at.is_(None), JOBS.c.lease_expires_at < now)),
    )


def due_job_ids(limit: int) -> list[int]:
    """Queued jobs that are due, and running jobs whose process stopped renewing their lease."""
    with get_engine().connect() as connection:
        rows = connection.execute(sa.select(JOBS.c.id).where(_claimable(utcnow())).order_by(JOBS.c.id).limit(limit))
        return [int(job_id) for job_id in rows.scalars()]


def claim_job(job_id: int, owner: str = WORKER_ID) -> ClaimedJob | None:
    """Take the job if it is due or abandoned; None if it is finished, not due, or held by a live process."""
    now = utcnow()
    with get_engine().begin() as connection:
        claimed = connection.execute(
            sa.update(JOBS)
            .where(JOBS.c.id == job_id, _claimable(now))
            .values(
                status="running",
                lease_owner=owner,
                lease_expires_at=lease_deadline(now),
                started_at=sa.func.coalesce(JOBS.c.started_at, now),
                attempts=JOBS.c.attempts + 1,
                run_after=None,
                updated_at=now,
            )
        )
        if claimed.rowcount != 1:
            return None
        row = connection.execute(sa.select(JOBS).where(JOBS.c.id == job_id)).one()
        if row.attempts > MAX_CLAIMS:
            log.error("import job %s was restarted %s times; giving up", job_id, row.attempts - 1)
            _finish_failed(connection, job_id, TOO_MANY_RESTARTS_MESSAGE, now)
            return None
    return ClaimedJob(
        lease=JobLease(job_id=job_id, shop_connection_id=row.shop_connection_id, owner=owner),
        strategy=row.strategy,
        products_total=row.products_total,
        bulk_operation_id=row.bulk_operation_id,
        bulk_offset=row.bulk_offset,
        page_cursor=row.page_cursor,
    )


def renew_lease(lease: JobLease) -> bool:
    now = utcnow()
    with get_engine().begin() as connection:
        renewed = connection.execute(
            sa.update(JOBS)
            .where(JOBS.c.id == lease.job_id, JOBS.c.lease_owner == lease.owner, JOBS.c.status == "running")
            .values(lease_expires_at=lease_deadline(now))
        )
        return renewed.rowcount == 1


def release_lease(lease: JobLease) -> None:
    """Stop running the job but leave it 'running', so the next runner resumes it at once (e.g. on shutdown)."""
    with get_engine().begin() as connection:
        connection.execute(
            sa.update(JOBS)
            .where(JOBS.c.id == lease.job_id, JOBS.c.lease_owner == lease.owner, JOBS.c.status == "running")
            .values(lease_owner=None, lease_expires_at=None, updated_at=utcnow())
        )


# --- progress of the strategies ------------------------------------------------------------------------------


def record_products_total(lease: JobLease, total: int) -> None:
    with get_engine().begin() as connection:
        touch_job(connection, lease, products_total=total)


def record_variants_total(lease: JobLease, total: int) -> None:
    with get_engine().begin() as connection:
        touch_job(connection, lease, variants_total=total)


def record_bulk_operation(lease: JobLease, operation_id: str) -> None:
    with get_engine().begin() as connection:
        touch_job(connection, lease, strategy="bulk", bulk_operation_id=operation_id, bulk_offset=0)


def switch_to_pagination(lease: JobLease, job: ClaimedJob) -> ClaimedJob:
    """Start over page by page; rows the bulk export already stored are simply upserted again."""
    with get_engine().begin() as connection:
        touch_job(
            connection, lease, strategy="paginated", page_cursor=None, bulk_offset=0, products_seen=0, variants_seen=0
        )
    return ClaimedJob(lease, "paginated", job.products_total, job.bulk_operation_id, 0, None)


# --- endings -------------------------------------------------------------------------------------------------


def retry_later(lease: JobLease, message: str) -> bool:
    """Queue the job to resume after a backoff, or fail it after MAX_FAILURES; True if it will be retried."""
    now = utcnow()
    with get_engine().begin() as connection:
        failures = connection.execute(
            sa.select(JOBS.c.failures).where(JOBS.c.id == lease.job_id, JOBS.c.lease_owner == lease.owner)
        ).scalar()
        if failures is None:
            return False
        failures += 1
        if failures >= MAX_FAILURES:
            _finish_failed(connection, lease.job_id, GAVE_UP_MESSAGE, now, failures=failures)
            return False
        delay = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** (failures - 1)) * random.uniform(0.8, 1.2)
        connection.execute(
            sa.update(JOBS)
            .where(JOBS.c.id == lease.job_id, JOBS.c.lease_owner == lease.owner)
            .values(
                status="queued",
                failures=failures,
                run_after=now + timedelta(seconds=delay),
                last_error=message,
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
            )
        )
        return True


def fail_job(lease: JobLease, message: str) -> None:
    now = utcnow()
    with get_engine().begin() as connection:
        held = connection.execute(
            sa.select(JOBS.c.id).where(JOBS.c.id == lease.job_id, JOBS.c.lease_owner == lease.owner)
        ).scalar()
        if held is not None:
            _finish_failed(connection, lease.job_id, message, now)


def _finish_failed(connection: sa.Connection, job_id: int, message: str, now: datetime, **values: Any) -> None:
    connection.execute(
        sa.update(JOBS)
        .where(JOBS.c.id == job_id)
        .values(
            status="failed",
            last_error=message,
            finished_at=now,
            updated_at=now,
            lease_owner=None,
            lease_expires_at=None,
            **values,
        )
    )


# --- waking runners in this process ---------------------------------------------------------------------------

_runner_wakeups: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()


def subscribe_runner(event: asyncio.Event) -> tuple[asyncio.AbstractEventLoop, asyncio.Event]:
    entry = (asyncio.get_running_loop(), event)
    _runner_wakeups.add(entry)
    return entry


def unsubscribe_runner(entry: tuple[asyncio.AbstractEventLoop, asyncio.Event]) -> None:
    _runner_wakeups.discard(entry)


def notify_runners() -> None:
    """Let runners of this process pick a new job up now instead of at their next poll (callable from any thread)."""
    for loop, event in list(_runner_wakeups):
        try:
            loop.call_soon_threadsafe(event.set)
        except RuntimeError:  # that loop has closed
            _runner_wakeups.discard((loop, event))
