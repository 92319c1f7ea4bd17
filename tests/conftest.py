"""Shared fixtures: every test gets its own data dir and SQLite database.

Settings and engines are cached per process, so the fixture clears those
caches after pointing the environment at fresh paths.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import SQLModel

from tests.environment import clear_caches

TEST_SECRET_KEY = "test-secret-key-" + "x" * 40
E2E_DIR = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last: Playwright's sync API keeps an event loop on the main thread until
    the session ends, which async tests scheduled after it could not share."""
    for item in items:
        if E2E_DIR in Path(item.path).parents:
            item.add_marker(pytest.mark.e2e)
    items.sort(key=lambda item: E2E_DIR in Path(item.path).parents)


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A clean sandbox configuration in a temporary data dir."""
    for name in list(os.environ):
        if name.startswith(("OFFAMAZON_", "SHOPIFY_", "AMAZON_")) or name in ("REFLEX_DB_URL", "REFLEX_REDIS_URL"):
            monkeypatch.delenv(name)
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("OFFAMAZON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OFFAMAZON_SECRET_KEY", TEST_SECRET_KEY)
    clear_caches()
    yield tmp_path / "data"
    clear_caches()


@pytest.fixture
def fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """bcrypt at cost 4: tests of what is hashed, not how slowly (test_passwords checks cost 12)."""
    from offamazon_ui.services import passwords

    monkeypatch.setattr(passwords, "BCRYPT_COST", 4)


@pytest.fixture
def db(app_env: Path):  # type: ignore[no-untyped-def]
    """A fresh database with every table (migrations are tested separately)."""
    import offamazon_ui.models  # noqa: F401  registers the tables
    from offamazon_ui.services.db import get_engine

    engine = get_engine()
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()
