"""The checkpointer beside the database: SQLite file next to it, or PostgreSQL with it.

On SQLite every process writing runs (CLI, chat server, Slack/webhook server) shares the one
checkpoint file, so its connection follows db/engine.py's locking rules: LangGraph's saver writes
through Python's implicit transactions, which we make `BEGIN IMMEDIATE` (they wait for the write
lock up front), with our busy timeout instead of sqlite3's 5 s; the file is switched to WAL with
the retry that survives several processes creating it at once.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

if TYPE_CHECKING:
    import psycopg
from sqlalchemy.engine import make_url

from db.engine import busy_timeout_seconds, use_wal


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


# One advisory lock for every schema bootstrap on a PostgreSQL database (the checkpointer's tables,
# procrastinate's): processes starting together take turns.
_PG_SCHEMA_LOCK = 0x4C454144_51554555


@asynccontextmanager
async def bootstrap_lock(dsn: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A connection holding the schema-bootstrap lock.

    Polled with `pg_try_advisory_lock` rather than waited for with `pg_advisory_lock`: the
    checkpointer's setup runs CREATE INDEX CONCURRENTLY, which waits for every open transaction
    in the database to end, and a session blocked in `pg_advisory_lock` is one, waiting in turn
    for the lock holder: an undetected deadlock (seen with two workers starting together)."""
    import psycopg  # PostgreSQL only: a SQLite run (`leadgen run`) does not pay for the import

    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        while True:
            row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", (_PG_SCHEMA_LOCK,))).fetchone()
            if row and row[0]:
                break
            await asyncio.sleep(0.1)
        try:
            yield conn
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_PG_SCHEMA_LOCK,))


@asynccontextmanager
async def open_checkpointer(database_url: str) -> AsyncIterator[BaseCheckpointSaver[str]]:
    location = checkpoint_location(database_url)
    if location.startswith("postgresql"):
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        async with AsyncPostgresSaver.from_conn_string(location) as pg:
            async with bootstrap_lock(location):
                await pg.setup()
            yield pg
        return
    if location != ":memory:":
        # On a thread: file-system calls block, and LangGraph's dev server refuses them on its loop.
        await asyncio.to_thread(_prepare_sqlite_file, location)
    async with aiosqlite.connect(
        location, timeout=busy_timeout_seconds(), isolation_level="IMMEDIATE"
    ) as conn:
        await conn.execute("PRAGMA synchronous=NORMAL")  # as our database: WAL survives a crash
        yield AsyncSqliteSaver(conn)


def _prepare_sqlite_file(location: str) -> None:
    """The file's folder, and WAL on before LangGraph's setup asks for it without the retry a
    fresh file needs."""
    Path(location).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(location, timeout=busy_timeout_seconds(), isolation_level=None)
    try:
        use_wal(conn.cursor())
    finally:
        conn.close()
