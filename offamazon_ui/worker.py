"""`make worker`: a procrastinate worker process running import jobs (OFFAMAZON_JOB_ENGINE=procrastinate).

    python -m offamazon_ui.worker [--concurrency 4] [--sweep-seconds 15]
    python -m offamazon_ui.worker --schema-only    (what `make run-prod` runs after the migrations)

Start as many as the imports need, on any machine that reaches PostgreSQL and
Shopify. Each applies procrastinate's schema if it is missing, then runs jobs
and sweeps for jobs that are due or were abandoned by a killed worker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from offamazon_ui.config import get_settings
from offamazon_ui.services.importer import engine
from offamazon_ui.services.redaction import install_redaction

log = logging.getLogger("offamazon_ui.worker")

SHUTDOWN_GRACE_SECONDS = 10.0


async def run_worker(concurrency: int, sweep_seconds: float) -> None:
    settings = get_settings()
    if settings.job_engine != "procrastinate":
        raise SystemExit("make worker needs OFFAMAZON_JOB_ENGINE=procrastinate and REFLEX_DB_URL on PostgreSQL")
    if await asyncio.to_thread(engine.apply_schema, settings.database_url):
        log.info("created the procrastinate schema")
    app = engine.job_app(settings.database_url)
    async with app.open_async():
        sweeper = asyncio.create_task(engine.sweep_forever(app, sweep_seconds))
        try:
            await app.run_worker_async(
                queues=[engine.QUEUE],
                concurrency=concurrency,
                name="offamazon-imports",
                # An import can run for minutes; on SIGTERM it is cancelled, releases its lease and resumes elsewhere.
                shutdown_graceful_timeout=SHUTDOWN_GRACE_SECONDS,
            )
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=4, help="import jobs this process runs at once")
    parser.add_argument("--sweep-seconds", type=float, default=engine.SWEEP_SECONDS)
    parser.add_argument("--schema-only", action="store_true", help="apply procrastinate's schema if missing, then exit")
    arguments = parser.parse_args()
    install_redaction()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if arguments.schema_only:
        engine.apply_schema(get_settings().database_url)
        return
    asyncio.run(run_worker(arguments.concurrency, arguments.sweep_seconds))


if __name__ == "__main__":
    main()
