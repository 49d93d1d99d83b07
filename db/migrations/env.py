"""Alembic environment for Atlas Lead Gen: SQLite and PostgreSQL, async drivers.

Two ways in:

* programmatically (`db.migrate`), which hands us an open connection already inside the
  transaction that holds the migration lock, in `config.attributes["connection"]`;
* the `alembic` command with `db/alembic.ini`, where we open our own async engine from the URL
  (`-x url=...`, else `DATABASE_URL` via the settings).

`render_as_batch=True` so that ALTERs on SQLite are written as copy-and-move batches.
Tables that are not ours (the LangGraph checkpointer's, procrastinate's) may share the
database; autogenerate ignores them instead of proposing to drop them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from db import models  # noqa: F401  (registers every table on Base.metadata)
from db.base import Base

config = context.config
target_metadata = Base.metadata


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    if type_ == "table":
        return name in target_metadata.tables
    return True


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        include_name=include_name,
    )


def _run_on(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        from leadgen.settings import get_settings

        url = get_settings().resolved_database_url
    return url


async def _run_async() -> None:
    from sqlalchemy.pool import NullPool

    from db.engine import create_engine

    engine = create_engine(_url(), poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                # A migration writes: take the write lock up front (db/engine.py, rule 1).
                conn = await conn.execution_options(sqlite_begin="IMMEDIATE")
            await conn.run_sync(_run_on)
            await conn.commit()
    finally:
        await engine.dispose()


def run_offline() -> None:
    from db.engine import normalise_url

    context.configure(
        url=normalise_url(_url()),
        target_metadata=target_metadata,
        render_as_batch=True,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif (connection := config.attributes.get("connection")) is not None:
    _run_on(connection)
else:
    asyncio.run(_run_async())
