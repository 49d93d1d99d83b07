"""Async engines and sessions from a `DATABASE_URL`: SQLite by default, PostgreSQL when asked.

SQLite runs with WAL (readers never block the writer), foreign keys on, and a busy timeout
(`LEADGEN_SQLITE_BUSY_SECONDS`, 30 s) so a writer waits for another process's write instead of
failing. Waiting only works for a transaction that asks for the write lock before it reads: a
deferred transaction that has read cannot wait (SQLite fails it at once with "database is
locked", because the snapshot it read may be stale). Hence the locking rules, which hold for
every process that opens our file (CLI, chat server, `leadgen serve`, the checkpointer beside it):

1. A transaction that may write begins with `BEGIN IMMEDIATE` (`write_session`, which is what
   `Database.transaction()` is): it takes the write lock up front, waiting up to the busy timeout.
2. Any other transaction on our engines is read-only, enforced with `PRAGMA query_only`: a write
   slipped into a reader fails every time ("attempt to write a readonly database"), in the tests,
   instead of failing now and then under load.
3. A write transaction never awaits slow work (a provider, the model, a sleep): every writer of
   every process waits for it. Read, call the provider, then write.
4. In one process, writers to one file queue on an asyncio lock before asking SQLite (whose busy
   handler sleeps in growing steps instead of waking when the lock frees).

A writer that still cannot get the lock gets `DatabaseLocked`, whose message names the process
holding the lock (db/sqlite_locks.py) and what to do.
"""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

# What a failing database raises, under our name: the faces catch it to print one line and exit,
# without importing SQLAlchemy themselves (tests/test_architecture.py).
DatabaseError = SQLAlchemyError


def database_file(url: str) -> str:
    """The file of a SQLite URL (":memory:" when it has none); the database name otherwise."""
    return make_url(url).database or ":memory:"


def display_url(url: str) -> str:
    """The URL as it may be shown to a person: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)


class DatabaseLocked(RuntimeError):
    """Another process kept the SQLite write lock for longer than the busy timeout. Nothing was
    written by the transaction that gave up."""

    def __init__(self, database: str, waited_seconds: float) -> None:
        from db.sqlite_locks import who_holds

        self.database = database
        self.holder = who_holds(Path(database))
        super().__init__(
            f"the database {database} stayed locked for {waited_seconds:g} s: {self.holder} "
            "is writing to it. Nothing was written by this command and nothing is lost; wait for "
            "that process to finish (or stop it), then try again"
        )


def is_locked_error(exc: BaseException) -> bool:
    """SQLite's "database is locked" (SQLITE_BUSY), raw or wrapped by SQLAlchemy."""
    inner = exc.orig if isinstance(exc, OperationalError) else exc
    return isinstance(inner, sqlite3.OperationalError) and "database is locked" in str(inner)


def busy_timeout_seconds() -> float:
    from leadgen.settings import get_settings

    return get_settings().leadgen_sqlite_busy_seconds


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
    busy_seconds = busy_timeout_seconds()
    engine = create_async_engine(url, connect_args={"timeout": busy_seconds}, **kwargs)
    _BUSY_SECONDS[engine.sync_engine] = busy_seconds

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_conn: Any, record: Any) -> None:
        # pysqlite's own transaction handling would defer BEGIN; we issue BEGIN ourselves below.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        use_wal(cur)
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_seconds * 1000)}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()
        record.info["query_only"] = False

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        read_only = mode == "DEFERRED"
        info = conn.connection.info
        if info.get("query_only") != read_only:  # switched only when the kind of transaction changes
            conn.exec_driver_sql(f"PRAGMA query_only={int(read_only)}")
            info["query_only"] = read_only
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


# The busy timeout each SQLite engine's connections were opened with.
_BUSY_SECONDS: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


def use_wal(cur: Any, attempts: int = 20) -> None:
    """Switch the file to WAL (a property of the file, kept once set). Connections switching a
    fresh file at the same moment deadlock on the lock upgrade, and SQLite fails all but one of
    them at once instead of waiting: those try again, and soon find the file in WAL already.
    `cur` is a DB-API cursor (sqlite3's, or SQLAlchemy's adapter of aiosqlite's)."""
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


# One queue of SQLite writers per database file and event loop in this process: every engine on
# the file (ours, Chainlit's history layer) joins it. SQLite's busy handler makes a blocked writer
# sleep in growing steps (up to 100 ms) instead of waking when the lock frees, which under 20
# parallel audits costs more than the writes themselves; an asyncio lock hands the write lock
# over at once. Other processes still meet the busy timeout.
_SQLITE_WRITERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _writer_queue(database: str) -> asyncio.Lock:
    queues = _SQLITE_WRITERS.setdefault(asyncio.get_running_loop(), {})
    return queues.setdefault(database, asyncio.Lock())


@asynccontextmanager
async def write_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session whose transaction takes SQLite's write lock up front (`BEGIN IMMEDIATE`, issued
    before this yields); on PostgreSQL an ordinary transaction. Commits on success, rolls back on
    error. Raises `DatabaseLocked` when another process held the lock past the busy timeout.
    Never open one inside another in the same task on SQLite: the inner one would wait forever."""
    if engine.dialect.name != "sqlite":
        async with (
            engine.connect() as conn,
            AsyncSession(bind=conn, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session
        return
    database = str(engine.url.database or ":memory:")
    waited = _BUSY_SECONDS.get(engine.sync_engine) or busy_timeout_seconds()
    lock = _writer_queue(database)
    try:
        async with asyncio.timeout(waited):
            await lock.acquire()
    except TimeoutError:
        raise DatabaseLocked(database, waited) from None
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(sqlite_begin="IMMEDIATE")
            async with AsyncSession(bind=conn, expire_on_commit=False) as session, session.begin():
                try:
                    await session.connection()  # BEGIN IMMEDIATE now: the wait happens here
                except OperationalError as exc:
                    if is_locked_error(exc):
                        raise DatabaseLocked(database, waited) from exc
                    raise
                yield session
    finally:
        lock.release()
