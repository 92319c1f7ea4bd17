"""Import jobs: one active job per shop (SQLite and PostgreSQL), leases, retries, failures, the embedded runner."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from offamazon_ui.models import utcnow
from offamazon_ui.services.db import get_engine
from offamazon_ui.services.importer import (
    enqueue_import,
    import_progress,
    request_resync,
    run_import_job,
    run_import_runner,
    runner,
)
from offamazon_ui.services.importer import jobs as job_queue
from offamazon_ui.services.importer.store import JOBS, Batch, LeaseLost, write_batch
from offamazon_ui.services.shopify.errors import ReconnectRequired
from tests.environment import clear_caches
from tests.importer_fixtures import (
    SMALL_SHOP,
    ImportSandbox,
    add_connection,
    assert_imported_exactly,
    importer,
    job_row,
)
from tests.postgres import fresh_schema, postgres_available
from tests.shopify_fixtures import shopify

__all__ = ["importer", "shopify"]


def _set(job_id: int, **values: object) -> None:
    with get_engine().begin() as connection:
        connection.execute(sa.update(JOBS).where(JOBS.c.id == job_id).values(**values))


def _job_count(shop_connection_id: int) -> int:
    with get_engine().connect() as connection:
        return int(
            connection.execute(
                sa.select(sa.func.count()).select_from(JOBS).where(JOBS.c.shop_connection_id == shop_connection_id)
            ).scalar_one()
        )


def _enqueue_at_once(shop_connection_id: int, callers: int = 8) -> list[int]:
    barrier = threading.Barrier(callers)
    results: list[int] = []
    errors: list[BaseException] = []

    def click() -> None:
        barrier.wait()
        try:
            results.append(enqueue_import(shop_connection_id))
        except BaseException as error:  # noqa: BLE001  reported below
            errors.append(error)

    threads = [threading.Thread(target=click) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


# --- one active job per shop -----------------------------------------------------------------------------------


def test_concurrent_enqueues_share_one_job(db: sa.Engine) -> None:
    shop, other_shop = add_connection("store.myshopify.com"), add_connection("other.myshopify.com")
    results = _enqueue_at_once(shop)
    assert len(set(results)) == 1 and _job_count(shop) == 1
    assert enqueue_import(other_shop) != results[0]  # the limit is per shop


@pytest.fixture
def postgres_db(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:
    with fresh_schema() as url:
        monkeypatch.setenv("REFLEX_DB_URL", url)
        clear_caches()
        engine = get_engine()
        SQLModel.metadata.create_all(engine)
        yield engine
        engine.dispose()
        clear_caches()


@pytest.mark.skipif(not postgres_available(), reason="no PostgreSQL answers on 127.0.0.1:5432 (CI has one)")
def test_concurrent_enqueues_share_one_job_on_postgresql(postgres_db: sa.Engine) -> None:
    shop = add_connection("store.myshopify.com")
    results = _enqueue_at_once(shop)
    assert len(set(results)) == 1 and _job_count(shop) == 1
    with pytest.raises(sa.exc.IntegrityError), postgres_db.begin() as connection:  # the index itself, not our check
        connection.execute(
            sa.insert(JOBS).values(shop_connection_id=shop, status="running", strategy="bulk", products_seen=0,
                                   variants_seen=0, bulk_offset=0, attempts=0, failures=0, created_at=utcnow(),
                                   updated_at=utcnow())
        )  # fmt: skip


def test_resync_while_importing_returns_the_running_job_and_starts_fresh_after(db: sa.Engine) -> None:
    shop = add_connection("store.myshopify.com")
    first = enqueue_import(shop)
    assert request_resync(shop) == first
    _set(first, status="completed", finished_at=utcnow())
    second = request_resync(shop)
    assert second != first and job_row(second).status == "queued"


def test_a_failed_job_with_a_checkpoint_is_resumed_rather_than_restarted(db: sa.Engine) -> None:
    shop = add_connection("store.myshopify.com")
    first = enqueue_import(shop)
    _set(first, status="failed", page_cursor="cursor-7", strategy="paginated", products_seen=84, failures=5)
    assert enqueue_import(shop) == first  # same job, so rows it stored still count as seen by it
    resumed = job_row(first)
    assert (resumed.status, resumed.page_cursor, resumed.products_seen, resumed.failures) == (
        "queued", "cursor-7", 84, 0,
    )  # fmt: skip
    _set(first, status="failed")
    assert request_resync(shop) != first  # a resync always starts over


def test_enqueue_for_a_disconnected_shop_asks_to_reconnect(db: sa.Engine) -> None:
    with pytest.raises(ReconnectRequired):
        enqueue_import(424242)


# --- leases -------------------------------------------------------------------------------------------------------


def test_a_live_lease_keeps_other_processes_away_until_it_expires(db: sa.Engine) -> None:
    shop = add_connection("store.myshopify.com")
    job_id = enqueue_import(shop)
    mine = job_queue.claim_job(job_id, owner="process-a")
    assert mine is not None and job_queue.claim_job(job_id, owner="process-b") is None
    assert job_queue.due_job_ids(10) == []

    _set(job_id, lease_expires_at=utcnow() - timedelta(seconds=1))  # process A died
    assert job_queue.due_job_ids(10) == [job_id]
    theirs = job_queue.claim_job(job_id, owner="process-b")
    assert theirs is not None and job_row(job_id).attempts == 2

    with pytest.raises(LeaseLost):  # process A wakes up: it must not write any more
        write_batch(Batch(mine.lease), {"page_cursor": "stale"})
    assert job_row(job_id).page_cursor is None and not job_queue.renew_lease(mine.lease)
    assert job_queue.renew_lease(theirs.lease)


def test_a_job_that_keeps_taking_its_process_down_gives_up(db: sa.Engine) -> None:
    shop = add_connection("store.myshopify.com")
    job_id = enqueue_import(shop)
    _set(job_id, attempts=job_queue.MAX_CLAIMS)
    assert job_queue.claim_job(job_id) is None
    failed = job_row(job_id)
    assert failed.status == "failed" and "contact support" in failed.last_error


def test_queued_retries_wait_for_their_time(db: sa.Engine) -> None:
    shop = add_connection("store.myshopify.com")
    job_id = enqueue_import(shop)
    _set(job_id, run_after=utcnow() + timedelta(minutes=1))
    assert job_queue.due_job_ids(10) == [] and job_queue.claim_job(job_id) is None
    progress = import_progress(shop)
    assert progress is not None and progress.retry_at is not None and progress.active


# --- failures the merchant sees -------------------------------------------------------------------------------------


async def test_revoked_access_fails_the_job_with_reconnect(importer: ImportSandbox) -> None:
    connection_id = await importer.connect()
    importer.emulator.revoke_access_tokens(SMALL_SHOP)
    importer.emulator.revoke_refresh_tokens(SMALL_SHOP)
    job_id = enqueue_import(connection_id)
    await run_import_job(job_id)
    progress = import_progress(connection_id)
    assert progress is not None and progress.status == "failed" and progress.finished_at is not None
    assert "reconnect your store" in (progress.last_error or "")
    assert "shpat_" not in (progress.last_error or "")


async def test_a_frozen_store_fails_with_shopifys_reason(importer: ImportSandbox) -> None:
    connection_id = await importer.connect()
    importer.emulator.configure_shop(SMALL_SHOP, frozen=True)
    await run_import_job(enqueue_import(connection_id))
    progress = import_progress(connection_id)
    assert progress is not None and progress.status == "failed"
    assert "frozen" in (progress.last_error or "") and "unpaid bill" in (progress.last_error or "")


async def test_shopify_down_for_good_ends_in_a_paused_import(importer: ImportSandbox) -> None:
    connection_id = await importer.connect()
    importer.emulator.inject_fault(SMALL_SHOP, "graphql", status=503, times=1000)
    job_id = enqueue_import(connection_id)
    for attempt in range(1, job_queue.MAX_FAILURES):
        await run_import_job(job_id)
        progress = import_progress(connection_id)
        assert progress is not None and progress.status == "queued", attempt
        assert progress.last_error == "Shopify is not responding right now. We'll retry automatically in a few minutes."
    await run_import_job(job_id)
    progress = import_progress(connection_id)
    assert progress is not None and progress.status == "failed"
    assert progress.last_error == job_queue.GAVE_UP_MESSAGE


# --- the embedded runner ---------------------------------------------------------------------------------------------


async def test_the_runner_imports_queued_jobs_and_resumes_abandoned_ones(
    importer: ImportSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "POLL_SECONDS", 0.05)
    connection_id = await importer.connect()
    importer.add_shop("second.myshopify.com", importer.emulator.shop(SMALL_SHOP).catalog)
    abandoned_id = enqueue_import(connection_id)
    assert job_queue.claim_job(abandoned_id, owner="a-process-that-died") is not None
    _set(abandoned_id, lease_expires_at=utcnow() - timedelta(seconds=1))

    background = asyncio.create_task(run_import_runner())
    try:
        await _wait_for(lambda: job_row(abandoned_id).status == "completed")
        assert_imported_exactly(importer, connection_id, abandoned_id, SMALL_SHOP)

        queued_id = request_resync(connection_id)  # wakes the runner at once
        await _wait_for(lambda: job_row(queued_id).status == "completed")
        assert_imported_exactly(importer, connection_id, queued_id, SMALL_SHOP)
    finally:
        background.cancel()
        with pytest.raises(asyncio.CancelledError):
            await background


async def test_stopping_the_runner_releases_its_jobs_for_the_next_start(
    importer: ImportSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "POLL_SECONDS", 0.05)
    importer.emulator.configure_shop(SMALL_SHOP, bulk_outcome="hang")  # the export never finishes
    connection_id = await importer.connect()
    job_id = enqueue_import(connection_id)
    background = asyncio.create_task(run_import_runner())
    await _wait_for(lambda: job_row(job_id).bulk_operation_id is not None)
    background.cancel()
    with pytest.raises(asyncio.CancelledError):
        await background
    stopped = job_row(job_id)
    assert stopped.status == "running" and stopped.lease_owner is None
    assert job_queue.due_job_ids(10) == [job_id]


async def _wait_for(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(20):
        while not await asyncio.to_thread(condition):  # noqa: ASYNC110  the database has no event to await
            await asyncio.sleep(0.05)
