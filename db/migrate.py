"""Schema migrations, callable from code: `upgrade`, `downgrade`, `current`, `ensure_schema`.

The Alembic `Config` is built here (script location = the `db/migrations` package), so nothing
depends on the working directory or an `alembic.ini` beside it. `db/alembic.ini` exists only for
people who want the `alembic` command itself (`alembic -c db/alembic.ini revision ...`).

Every run holds a lock for its whole transaction, so two processes starting at once never both
create the tables: `BEGIN IMMEDIATE` (SQLite's write lock) or a transaction-scoped advisory lock
(PostgreSQL). DDL is transactional on both, so a failed migration leaves nothing half done.

`ensure_schema(url)` is what the CLI, pipeline and UI call on first use: it upgrades to head once
per process per URL and remembers that it did. A database already at head costs it one query
and no Alembic import (db/revisions.py knows the head).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import NullPool

from db.engine import create_engine, normalise_url
from db.revisions import CURRENT_REVISION_SQL, HEAD_REVISION, single_revision

if TYPE_CHECKING:
    # Alembic itself is imported by the functions that migrate: a database already at head is
    # checked with one query (`ensure_schema`), and most commands never load Alembic.
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed 64-bit number: all our migrators agree on it, nothing else in the database uses it.
_PG_MIGRATION_LOCK = 0x4C454144_47454E31

_ensured: set[str] = set()
_ALEMBIC_TURN = threading.Lock()


def alembic_config(url: str | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        # ConfigParser interpolates '%' (URL-encoded passwords contain it).
        cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@asynccontextmanager
async def _locked_connection(url: str) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction that holds the migration lock; committed on success."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                conn = await conn.execution_options(sqlite_begin="IMMEDIATE")
            async with conn.begin():
                if engine.dialect.name == "postgresql":
                    await conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
                    )
                yield conn
    finally:
        await engine.dispose()


def _run(connection: Connection, cfg: Config, script: ScriptDirectory, action: str, revision: str) -> None:
    """`alembic upgrade/downgrade REVISION` on `connection`, as `alembic.command` runs them but
    with `script` read beforehand: reading the scripts folder is file-system work, done before
    this thread starts its event loop (LangGraph's dev server fails any such call made while a
    loop runs in the thread, see graphs/platform_graph.py)."""
    from alembic.runtime.environment import EnvironmentContext

    cfg.attributes["connection"] = connection

    def steps(rev: Any, _context: Any) -> Any:
        if action == "upgrade":
            return script._upgrade_revs(revision, rev)
        return script._downgrade_revs(revision, rev)

    with EnvironmentContext(cfg, script, fn=steps, destination_rev=revision):
        script.run_env()


def _scripts() -> ScriptDirectory:
    """The migration scripts, read now (the revision map is otherwise loaded on first use)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    script.get_heads()
    return script


async def _migrate(url: str, action: str, revision: str) -> None:
    """Alembic keeps the running migration in one module-global proxy (`alembic.context`), so two
    runs overlapping in one process (two databases, or two event loops) tear each other's state
    down. Each run therefore happens on a thread of its own, one at a time, and never blocks the
    caller's event loop while it waits its turn."""

    async def locked_run(script: ScriptDirectory) -> None:
        async with _locked_connection(url) as conn:
            await conn.run_sync(_run, alembic_config(url), script, action, revision)

    def in_turn() -> None:
        with _ALEMBIC_TURN:
            asyncio.run(locked_run(_scripts()))

    await asyncio.to_thread(in_turn)


async def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision` (default: the newest)."""
    await _migrate(url, "upgrade", revision)


async def downgrade(url: str, revision: str) -> None:
    """Migrate down to `revision` ("base" removes every table we created)."""
    await _migrate(url, "downgrade", revision)
    _ensured.discard(normalise_url(url))


async def current(url: str) -> str | None:
    """The revision the database is at (None when it was never migrated)."""
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
    finally:
        await engine.dispose()


async def _at_head(url: str) -> bool:
    """True when the database says it is at `HEAD_REVISION`: one query, no Alembic. A missing
    version table (a new database) or an unreadable one is "no", and Alembic then decides."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            rows = list(await conn.execute(text(CURRENT_REVISION_SQL)))
    except DBAPIError:
        return False
    finally:
        await engine.dispose()
    return single_revision(rows) == HEAD_REVISION


async def ensure_schema(url: str) -> None:
    """Bring the database at `url` to head, once per process: later calls return at once.

    Safe to race (in this process or others): the migration lock serialises the runs and the
    later ones find the database at head. Not cached when it fails, so the next call retries.
    """
    key = normalise_url(url)
    if key in _ensured:
        return
    if not await _at_head(url):
        await upgrade(url, "head")
    _ensured.add(key)
