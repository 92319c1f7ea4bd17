"""The committed migrations build the whole schema on an empty SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

import offamazon_ui.models  # noqa: F401  registers the tables
from tests.postgres import fresh_schema, postgres_available

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REFLEX = str(Path(sys.executable).with_name("reflex"))


def migrate(database_url: str, data_dir: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OFFAMAZON_")}
    env.update(REFLEX_DB_URL=database_url, OFFAMAZON_DATA_DIR=str(data_dir), REFLEX_TELEMETRY_ENABLED="false")
    result = subprocess.run([REFLEX, "db", "migrate"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def assert_schema_matches_models(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    try:
        inspector = sa.inspect(engine)
        tables = set(inspector.get_table_names())
        assert "alembic_version" in tables
        for table in SQLModel.metadata.sorted_tables:
            assert table.name in tables, f"migration does not create {table.name}"
            columns = {column["name"] for column in inspector.get_columns(table.name)}
            assert columns == {column.name for column in table.columns}, table.name
    finally:
        engine.dispose()


def test_migrations_build_the_schema_on_empty_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    migrate(url, tmp_path)
    assert_schema_matches_models(url)
    migrate(url, tmp_path)  # a second run is a no-op


@pytest.mark.skipif(not postgres_available(), reason="no PostgreSQL answers on 127.0.0.1:5432 (CI has one)")
def test_migrations_build_the_schema_on_empty_postgresql(tmp_path: Path) -> None:
    with fresh_schema() as url:
        migrate(url, tmp_path)
        assert_schema_matches_models(url)
