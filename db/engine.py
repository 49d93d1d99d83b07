"""Async engines and sessions from a `DATABASE_URL`: SQLite by default, PostgreSQL when asked.

SQLite runs with WAL (readers never block the writer), foreign keys on, and a busy timeout so
concurrent writers wait instead of failing. Writes that read-then-update (holds, leases) open
their transaction with `BEGIN IMMEDIATE` via `write_session`, so two writers never both read
the old value.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 30_000


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def normalise_url(url: str) -> str:
    """Accept the URLs people paste (`postgresql://`, `postgres://`, `sqlite:///x.db`) and pick
    the async drivers we ship."""
    parsed = make_url(url)
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend in ("postgresql", "postgres") and driver not in ("asyncpg", "psycopg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif backend == "sqlite" and driver != "aiosqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    url = normalise_url(url)
    if not is_sqlite(url):
        kwargs.setdefault("pool_pre_ping", True)
        return create_async_engine(url, **kwargs)

    database = make_url(url).database
    if database and database != ":memory:" and not (folder := Path(database).parent).is_dir():
        # Only when missing: `mkdir` is a blocking call even when the folder exists, and engines
        # are created on event loops (LangGraph's dev server fails such calls).
        folder.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite's own transaction handling would defer BEGIN; we issue BEGIN ourselves below.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        _use_wal(cur)
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _use_wal(cur: Any, attempts: int = 20) -> None:
    """Switch the file to WAL (a property of the file, kept once set). Connections switching a
    fresh file at the same moment deadlock on the lock upgrade, and SQLite fails all but one of
    them at once instead of waiting: those try again, and soon find the file in WAL already."""
    for attempt in range(attempts):
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as exc:
            if "database is locked" not in str(exc) or attempt == attempts - 1:
                raise
        cur.execute("PRAGMA journal_mode")
        row = cur.fetchone()
        if row and str(row[0]).lower() == "wal":
            return


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


# One queue of SQLite writers per engine in this process. SQLite's busy handler makes a blocked
# writer sleep in growing steps (up to 100 ms) instead of waking when the lock frees, which under
# 20 parallel audits costs more than the writes themselves; an asyncio lock hands the write lock
# over at once. Other processes still meet the busy timeout.
_SQLITE_WRITERS: weakref.WeakKeyDictionary[AsyncEngine, asyncio.Lock] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def write_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session whose transaction takes SQLite's write lock up front (`BEGIN IMMEDIATE`);
    on PostgreSQL an ordinary transaction. Commits on success, rolls back on error.
    Never open one inside another in the same task on SQLite: the inner one would wait forever."""
    if engine.dialect.name != "sqlite":
        async with (
            engine.connect() as conn,
            AsyncSession(bind=conn, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session
        return
    lock = _SQLITE_WRITERS.setdefault(engine, asyncio.Lock())
    async with asyncio.timeout(SQLITE_BUSY_TIMEOUT_MS / 1000):
        await lock.acquire()
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(sqlite_begin="IMMEDIATE")
            async with AsyncSession(bind=conn, expire_on_commit=False) as session, session.begin():
                yield session
    finally:
        lock.release()
