"""bcrypt at cost 12 must not stall the event loop that serves every merchant's websocket.

Hashes a burst of passwords through passwords.hash_password while a ticker
measures how late the loop wakes up; reports throughput and the worst stall.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from benchmarks.measurement import Measurement
from offamazon_ui.services import passwords

BURST = 8
TICK_SECONDS = 0.005


async def _measure() -> tuple[float, list[float]]:
    lateness: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            started = time.perf_counter()
            await asyncio.sleep(TICK_SECONDS)
            lateness.append(time.perf_counter() - started - TICK_SECONDS)

    tick_task = asyncio.create_task(ticker())
    started = time.perf_counter()
    await asyncio.gather(*(passwords.hash_password(f"Bench#Password{i}") for i in range(BURST)))
    elapsed = time.perf_counter() - started
    done.set()
    await tick_task
    return elapsed, lateness


def run() -> list[Measurement]:
    elapsed, lateness = asyncio.run(_measure())
    lateness.sort()
    p99 = lateness[int(len(lateness) * 0.99) - 1] if lateness else 0.0
    return [
        Measurement("bcrypt cost 12 throughput", BURST / elapsed, "hashes/s", f"{BURST} concurrent hashes"),
        Measurement("event-loop lateness p99 while hashing", p99 * 1000, "ms", f"{len(lateness)} ticks of 5 ms"),
        Measurement("event-loop lateness max while hashing", max(lateness, default=0) * 1000, "ms", ""),
        Measurement("event-loop lateness median", statistics.median(lateness) * 1000 if lateness else 0, "ms", ""),
    ]
