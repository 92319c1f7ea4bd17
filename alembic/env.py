"""Alembic environment for the plain `alembic` command.

`reflex db migrate` builds its own context from the same metadata; this file
makes `alembic upgrade head` behave the same way (URL from configuration,
batch mode so SQLite can alter tables).
"""

from logging.config import fileConfig

from sqlmodel import SQLModel

import offamazon_ui.models  # noqa: F401  registers every table on SQLModel.metadata
from alembic import context
from offamazon_ui.config import get_settings
from offamazon_ui.services.db import build_engine

if context.config.config_file_name is not None:
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=get_settings().database_url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = build_engine(get_settings().database_url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
