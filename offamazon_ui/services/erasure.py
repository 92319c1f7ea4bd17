"""Delete a user or a shop connection together with every row that depends on it.

Dependents are found by walking the foreign keys of every table in the
metadata, so tables added later (imported catalog, jobs, webhook records) are
erased without this module knowing them. Rows go children first, which works
whether or not the database enforces ON DELETE CASCADE.

Functions take the caller's database session and never commit.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, SQLModel

# Importing models registers every table in the metadata the walk reads.
from offamazon_ui.models import AuthEvent, ShopConnection, User
from offamazon_ui.services.ratelimit import account_subject


def _table(model: type[SQLModel]) -> sa.Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, sa.Table)
    return table


def _delete_with_dependents(db: Session, table: sa.Table, condition: sa.ColumnElement[bool]) -> int:
    """Delete the rows of `table` matching `condition` after every row that references them; returns the count."""
    for child in SQLModel.metadata.sorted_tables:
        for foreign_key in child.foreign_keys:
            if foreign_key.column.table is table and child is not table:
                referenced = sa.select(foreign_key.column).where(condition)
                _delete_with_dependents(db, child, foreign_key.parent.in_(referenced))
    return int(db.execute(sa.delete(table).where(condition)).rowcount)  # type: ignore[attr-defined]


def delete_shop_connection(db: Session, shop_connection_id: int) -> bool:
    """The connection, its tokens, and everything imported from or recorded for the shop."""
    table = _table(ShopConnection)
    return _delete_with_dependents(db, table, table.c.id == shop_connection_id) > 0


def delete_user(db: Session, user_id: int) -> bool:
    """The user and every row tied to them, including rate-limit events counted under their address."""
    user = db.get(User, user_id)
    if user is None:
        return False
    events = _table(AuthEvent)
    # Events recorded before the account existed (or without its id) are keyed by the address alone.
    db.execute(sa.delete(events).where(events.c.subject == account_subject(user.email)))
    db.expunge(user)
    table = _table(User)
    return _delete_with_dependents(db, table, table.c.id == user_id) > 0
