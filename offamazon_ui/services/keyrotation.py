"""Re-encrypt every stored token under the current secret key, while the app keeps running.

Encrypted columns are found by name: every column ending in `_enc` in any table,
so a table added later is rotated without touching this module. Rows are read in
small batches and written back one short transaction per batch, and a row is only overwritten
if it still holds the value that was read: a token the app refreshed meanwhile
(already written under the current key) is never replaced by a stale one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import offamazon_ui.models  # noqa: F401  registers every table in SQLModel.metadata
from offamazon_ui.services.crypto import TokenUnreadable, reencrypt
from offamazon_ui.services.db import get_engine

ENCRYPTED_SUFFIX = "_enc"
BATCH_SIZE = 200


@dataclass
class ColumnReport:
    rotated: int = 0
    already_current: int = 0
    unreadable: list[object] = field(default_factory=list)  # primary keys of rows no configured key can read


@dataclass
class RotationReport:
    columns: dict[str, ColumnReport] = field(default_factory=dict)  # "table.column" -> counts

    @property
    def unreadable(self) -> int:
        return sum(len(report.unreadable) for report in self.columns.values())


def encrypted_columns(engine: Engine | None = None) -> Iterator[tuple[sa.Table, sa.Column]]:
    """Every `*_enc` column of every table that exists in the database."""
    existing = set(sa.inspect(engine or get_engine()).get_table_names())
    for table in SQLModel.metadata.sorted_tables:
        if table.name not in existing:
            continue
        for column in table.columns:
            if column.name.endswith(ENCRYPTED_SUFFIX):
                yield table, column


def rotate_stored_tokens(batch_size: int = BATCH_SIZE) -> RotationReport:
    """Re-encrypt each `*_enc` value that is not yet under the current key."""
    engine = get_engine()
    report = RotationReport()
    for table, column in encrypted_columns(engine):
        [key] = table.primary_key.columns  # every table here has a single integer id
        counts = report.columns.setdefault(f"{table.name}.{column.name}", ColumnReport())
        after: object = None
        while True:
            # Empty means "no token" (a disconnected store keeps its row without one).
            query = sa.select(key, column).where(column.is_not(None), column != "").order_by(key).limit(batch_size)
            if after is not None:
                query = query.where(key > after)
            with engine.connect() as connection:
                rows = connection.execute(query).all()
            fresh = [(row_id, ciphertext, _reencrypted(row_id, ciphertext, counts)) for row_id, ciphertext in rows]
            # A write transaction of its own, begun with its first write: on SQLite a transaction that read
            # first could not write once the app has written meanwhile.
            with engine.begin() as connection:
                for row_id, ciphertext, new_value in fresh:
                    if new_value is not None:
                        _store(connection, table, key, column, row_id, ciphertext, new_value, counts)
            if len(rows) < batch_size:
                break
            after = rows[-1][0]
    return report


def _reencrypted(row_id: object, ciphertext: str, counts: ColumnReport) -> str | None:
    try:
        fresh = reencrypt(ciphertext)
    except TokenUnreadable:
        counts.unreadable.append(row_id)
        return None
    if fresh is None:
        counts.already_current += 1
    return fresh


def _store(
    connection: sa.Connection,
    table: sa.Table,
    key: sa.Column,
    column: sa.Column,
    row_id: object,
    ciphertext: str,
    new_value: str,
    counts: ColumnReport,
) -> None:
    # Compare-and-set: a token the app refreshed since it was read is already under the current key.
    updated = connection.execute(
        sa.update(table).where(key == row_id, column == ciphertext).values({column.name: new_value})
    )
    if updated.rowcount == 1:
        counts.rotated += 1
    else:
        counts.already_current += 1
