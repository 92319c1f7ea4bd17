"""Run every benchmark, print the figures and write them to benchmarks/results.md."""

from __future__ import annotations

import importlib
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.measurement import Measurement

BENCHMARKS = ["benchmarks.password_hashing", "benchmarks.import_throughput", "benchmarks.event_round_trip"]
RESULTS = Path(__file__).with_name("results.md")


def main(names: list[str]) -> None:
    rows: list[Measurement] = []
    for name in names or BENCHMARKS:
        module = importlib.import_module(name)
        print(f"== {name}", flush=True)
        for measurement in module.run():
            print(
                f"   {measurement.name}: {measurement.value:.3f} {measurement.unit}  ({measurement.note})", flush=True
            )
            rows.append(measurement)
    lines = [
        "# Benchmark results",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, Python {platform.python_version()}.",
        "",
        "| measurement | value | unit | note |",
        "|---|---:|---|---|",
        *[f"| {m.name} | {m.value:.3f} | {m.unit} | {m.note} |" for m in rows],
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main(sys.argv[1:])
