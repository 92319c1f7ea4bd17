"""What every measurement shares: the emulators as a process, percentiles, tables (settings: tests.environment)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def process(arguments: Sequence[str], ready_url: str | None = None, log_path: Path | None = None) -> Iterator[int]:
    """A Python module of this project as a process of its own (with this process's environment); yields its pid."""
    log = log_path.open("wb") if log_path else subprocess.DEVNULL
    child = subprocess.Popen(  # noqa: S603  this interpreter, this project's modules
        [sys.executable, "-m", *arguments], cwd=PROJECT_ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        if ready_url:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(ready_url)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or child.poll() is not None:
                        raise RuntimeError(f"{arguments[0]} did not start") from None
                    time.sleep(0.1)
        yield child.pid
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if log_path and log is not subprocess.DEVNULL:
            log.close()  # type: ignore[union-attr]


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
