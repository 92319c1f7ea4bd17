"""A throwaway schema in the local PostgreSQL `test` database, for production-path tests."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

POSTGRES_DSN = "host=127.0.0.1 port=5432 dbname=test"
POSTGRES_URL = "postgresql+psycopg://127.0.0.1:5432/test"


def postgres_available() -> bool:
    try:
        with psycopg.connect(POSTGRES_DSN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@contextmanager
def fresh_schema() -> Iterator[str]:
    """Yield a SQLAlchemy URL whose default schema is new and empty; drop it afterwards."""
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
