"""docs/threat-model.md stays true: every threat names tests, and every test it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THREAT_ROW = re.compile(r"^\| (\d+) \|.*\|(?P<tests>[^|]*)\|$")
REFERENCE = re.compile(r"`(?:(?P<file>(?:e2e/)?test_\w+\.py))?(?:::(?P<test>test_\w+))?[^`]*`")


def threat_rows() -> list[tuple[str, str]]:
    text = (ROOT / "docs" / "threat-model.md").read_text()
    return [(match.group(1), match.group("tests")) for line in text.splitlines() if (match := THREAT_ROW.match(line))]


def test_every_threat_is_mapped_to_tests_that_exist() -> None:
    rows = threat_rows()
    assert len(rows) >= 40
    for number, cell in rows:
        current_file = None
        named = 0
        for reference in REFERENCE.finditer(cell):
            if reference.group("file"):
                current_file = reference.group("file")
                assert (ROOT / "tests" / current_file).is_file(), f"threat {number}: no tests/{current_file}"
            if reference.group("test"):
                assert current_file is not None, f"threat {number}: {reference.group(0)} names no file"
                source = (ROOT / "tests" / current_file).read_text()
                assert re.search(rf"def {reference.group('test')}\(", source), (
                    f"threat {number}: tests/{current_file} has no {reference.group('test')}"
                )
            named += 1 if reference.group("file") or reference.group("test") else 0
        assert named, f"threat {number} names no test"
