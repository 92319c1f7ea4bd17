"""`make loadtest`: run the measurements and write loadtest/results.md (copied into README by hand).

`python -m loadtest onboarding` (or `imports`) runs one part and replaces only its sections of the file.
"""

from __future__ import annotations

import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from loadtest import imports, onboarding
from tests.postgres import postgres_available
from tests.redisdb import redis_available

RESULTS = Path(__file__).with_name("results.md")
ONBOARDING = "## Concurrent onboarding: websocket clients against make run-prod"
CONCURRENT_IMPORTS = "## 10 shops importing at once"
GROWTH = "## Cost growth of one import"


def sections(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in text.split("\n## ")[1:]:
        heading, _, body = chunk.partition("\n")
        found["## " + heading] = body.strip()
    return found


def main(parts: list[str]) -> None:
    if not (postgres_available() and redis_available()):
        raise SystemExit("make loadtest needs PostgreSQL on 127.0.0.1:5432 (database 'test') and Redis on :6379")
    unknown = set(parts) - {"onboarding", "imports"}
    if unknown:
        raise SystemExit(f"unknown part {', '.join(sorted(unknown))}: choose onboarding, imports or neither (both)")
    parts = parts or ["onboarding", "imports"]
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results = sections(RESULTS.read_text()) if RESULTS.exists() else {}
    if "onboarding" in parts:
        results[ONBOARDING] = f"Run {started}.\n\n" + onboarding.run()
    if "imports" in parts:
        concurrent_table, growth_table = imports.run()
        results[CONCURRENT_IMPORTS] = f"Run {started}.\n\n" + concurrent_table
        results[GROWTH] = f"Run {started}.\n\n" + growth_table
    report = f"# Load test results\n\nOn {machine}, PostgreSQL and Redis on loopback.\n"
    for heading in (ONBOARDING, CONCURRENT_IMPORTS, GROWTH):
        if heading in results:
            report += f"\n{heading}\n\n{results[heading]}\n"
    RESULTS.write_text(report)
    print(report)


if __name__ == "__main__":
    main(sys.argv[1:])
