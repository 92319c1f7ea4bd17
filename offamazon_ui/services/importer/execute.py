"""Run one import job to its end: claim it, import by bulk export (or page by page), settle, record the outcome.

`run_import_job` is safe to call from any process and any number of times: it
does nothing unless it can claim the job's lease, and it resumes from the
job's checkpoint. Failures become a message the merchant understands on the
job; details go to the log (never a token or the pre-signed file URL).
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError

from offamazon_ui.services.importer import jobs, store
from offamazon_ui.services.importer.bulk import BulkUnavailable, import_with_bulk
from offamazon_ui.services.importer.jobs import ClaimedJob
from offamazon_ui.services.importer.paginated import import_with_pages
from offamazon_ui.services.importer.store import JobLease, LeaseLost
from offamazon_ui.services.shopify.errors import ShopifyError, ShopifyUnreachable
from offamazon_ui.services.shopify.graphql import ShopifyClient

log = logging.getLogger(__name__)

NOT_RESPONDING = "Shopify is not responding right now. We'll retry automatically in a few minutes."
THROTTLED = "Shopify is limiting requests for your store right now. We'll retry automatically in a few minutes."
INTERRUPTED = "The import was interrupted. We'll retry automatically in a few minutes."


async def run_import_job(job_id: int) -> None:
    job = await asyncio.to_thread(jobs.claim_job, job_id)
    if job is None:
        return
    lease = job.lease
    lease_lost = asyncio.Event()
    heartbeat = asyncio.create_task(_keep_lease(lease, lease_lost, asyncio.current_task()))
    log.info("import job %s started for shop connection %s (%s)", job_id, lease.shop_connection_id, job.strategy)
    try:
        await _import(job)
        await asyncio.to_thread(store.complete_import, lease)
        log.info("import job %s completed", job_id)
    except LeaseLost:
        log.warning("import job %s: another process took the job over; stopping", job_id)
    except asyncio.CancelledError:
        if lease_lost.is_set():
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            log.warning("import job %s: lease lost; stopping", job_id)
            return
        await asyncio.to_thread(jobs.release_lease, lease)  # shutting down: the next start resumes it at once
        raise
    except ShopifyError as error:
        await asyncio.to_thread(_record_failure, lease, error)
    except Exception:
        log.exception("import job %s failed unexpectedly", job_id)
        await asyncio.to_thread(_retry_later, lease, INTERRUPTED)
    finally:
        heartbeat.cancel()


async def _import(job: ClaimedJob) -> None:
    lease = job.lease
    async with await ShopifyClient.for_connection(lease.shop_connection_id) as client:
        if job.products_total is None:
            await asyncio.to_thread(jobs.record_products_total, lease, await client.count_products())
            await asyncio.to_thread(jobs.record_variants_total, lease, await client.count_variants())
        if job.strategy == "bulk":
            try:
                await import_with_bulk(client, job)
                return
            except BulkUnavailable as reason:
                log.info(
                    "import job %s: bulk export unavailable (%s); importing page by page",
                    lease.job_id,
                    reason,
                    extra={"import_event": "paginated_start", "job_id": lease.job_id},
                )
                job = await asyncio.to_thread(jobs.switch_to_pagination, lease, job)
        await import_with_pages(client, job)


def _record_failure(lease: JobLease, error: ShopifyError) -> None:
    if isinstance(error, ShopifyUnreachable):  # every request was retried already; try again later
        log.warning("import job %s: %s (%s)", lease.job_id, error.message, error.code)
        _retry_later(lease, THROTTLED if error.code == "throttled" else NOT_RESPONDING)
    else:
        # Reconnect, missing permission, frozen or locked store, a query Shopify rejects: waiting will not help.
        log.warning("import job %s failed: %s (%s)", lease.job_id, error, error.code)
        jobs.fail_job(lease, error.message)


def _retry_later(lease: JobLease, message: str) -> None:
    if not jobs.retry_later(lease, message):
        log.warning("import job %s gave up after repeated failures", lease.job_id)


async def _keep_lease(lease: JobLease, lost: asyncio.Event, job_task: asyncio.Task[None] | None) -> None:
    """Renew the lease while the job waits on Shopify; stop the job if another process has taken it."""
    while True:
        await asyncio.sleep(store.LEASE_SECONDS / 3)
        try:
            renewed = await asyncio.to_thread(jobs.renew_lease, lease)
        except SQLAlchemyError:
            log.warning("import job %s: could not renew its lease; will try again", lease.job_id, exc_info=True)
            continue
        if not renewed:
            lost.set()
            if job_task is not None:
                job_task.cancel()
            return
