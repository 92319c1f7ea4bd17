"""The embedded job runner: imports run inside the app's backend process, outside any browser tab.

Register it once with `app.register_lifespan_task(run_import_runner)`. It polls
the database for due jobs (and is woken at once when this process enqueues
one), runs up to MAX_PARALLEL_JOBS of them as tasks, and resumes jobs whose
process died once their lease expires. On shutdown it cancels its jobs, which
release their leases so the next start resumes them immediately. Several
processes may run it against one database: the leases keep each job in one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.exc import SQLAlchemyError

from offamazon_ui.services.importer import jobs
from offamazon_ui.services.importer.execute import run_import_job

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
MAX_PARALLEL_JOBS = 4


async def run_import_runner() -> None:
    """Run import jobs until cancelled (the app's lifespan ends)."""
    running: dict[int, asyncio.Task[None]] = {}
    wakeup = asyncio.Event()
    subscription = jobs.subscribe_runner(wakeup)
    log.info("import runner %s started", jobs.WORKER_ID)
    try:
        while True:
            for job_id, task in list(running.items()):
                if task.done():
                    del running[job_id]
                    _report(job_id, task)
            if len(running) < MAX_PARALLEL_JOBS:
                await _start_due_jobs(running)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), POLL_SECONDS)
            wakeup.clear()
    finally:
        jobs.unsubscribe_runner(subscription)
        for task in running.values():
            task.cancel()
        await asyncio.gather(*running.values(), return_exceptions=True)


async def _start_due_jobs(running: dict[int, asyncio.Task[None]]) -> None:
    try:
        due = await asyncio.to_thread(jobs.due_job_ids, MAX_PARALLEL_JOBS + len(running))
    except SQLAlchemyError:
        log.warning("import runner could not read the job queue; will retry", exc_info=True)
        return
    for job_id in due:
        if job_id not in running and len(running) < MAX_PARALLEL_JOBS:
            running[job_id] = asyncio.create_task(run_import_job(job_id), name=f"import-job-{job_id}")


def _report(job_id: int, task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("import job %s crashed", job_id, exc_info=task.exception())
