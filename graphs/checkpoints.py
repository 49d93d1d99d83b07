"""The checkpointer beside the database: SQLite file next to it, or PostgreSQL with it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from sqlalchemy.engine import make_url


def checkpoint_location(database_url: str) -> str:
    """The SQLite checkpoint file beside the SQLite database, or the PostgreSQL DSN itself."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        database = url.database or ":memory:"
        if database == ":memory:":
            return ":memory:"
        path = Path(database)
        return str(path.with_name(path.stem + "-checkpoints.db"))
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def open_checkpointer(database_url: str) -> AsyncIterator[BaseCheckpointSaver[str]]:
    location = checkpoint_location(database_url)
    saver: BaseCheckpointSaver[str]
    if location.startswith("postgresql"):
        async with AsyncPostgresSaver.from_conn_string(location) as pg:
            await pg.setup()
            yield pg
        return
    async with AsyncSqliteSaver.from_conn_string(location) as saver:
        yield saver
