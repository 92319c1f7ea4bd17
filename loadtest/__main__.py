"""`make loadtest`: run every measurement once and write loadtest/results.md (copied into README by hand)."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from loadtest import imports, onboarding
from tests.postgres import postgres_available


def main() -> None:
    if not postgres_available():
        raise SystemExit("make loadtest needs PostgreSQL on 127.0.0.1:5432 (database 'test')")
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    onboarding_table = onboarding.run()
    concurrent_table, growth_table = imports.run()
    report = "\n\n".join(
        [
            f"# Load test results\n\nRun {started} on {machine}, PostgreSQL on loopback.",
            "## Concurrent onboarding (service layer)\n\n" + onboarding_table,
            "## 10 shops importing at once\n\n" + concurrent_table,
            "## Cost growth of one import\n\n" + growth_table,
        ]
    )
    path = Path(__file__).with_name("results.md")
    path.write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
