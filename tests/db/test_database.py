"""`open_database`: the one entry point (settings defaults, schema at head, transactions)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from db import Database, FileContentStore, open_database
from db.engine import create_engine
from db.migrate import current, head_revision
from leadgen.settings import reset_settings


async def test_open_database_uses_settings_and_migrates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("LEADGEN_DATA_DIR", str(tmp_path / "data"))
    reset_settings()
    try:
        database = await open_database()
    finally:
        reset_settings()
    try:
        assert database.url == f"sqlite+aiosqlite:///{(tmp_path / 'data' / 'leadgen.db').resolve()}"
        assert await current(database.url) == head_revision()
        assert isinstance(database.content, FileContentStore)
        assert database.content.root == (tmp_path / "data" / "content").resolve()
    finally:
        await database.close()


async def test_transaction_commits_on_success_and_rolls_back_on_error(database: Database) -> None:
    async with database.transaction() as repo:
        await repo.ensure_agency("committed-agency")
    with pytest.raises(RuntimeError):
        async with database.transaction() as repo:
            await repo.ensure_agency("rolled-back-agency")
            raise RuntimeError("abort")
    async with database.reader() as repo:
        assert await repo.get_agency("committed-agency") is not None
        assert await repo.get_agency("rolled-back-agency") is None


async def test_connections_racing_to_open_a_fresh_sqlite_file_all_get_wal(tmp_path: Path) -> None:
    # Switching a new file to WAL needs an exclusive lock, and SQLite fails (rather than waits
    # for) all but one of several connections doing it at once; the losers must not error.
    async def journal_mode(url: str) -> str:
        engine = create_engine(url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                return str((await conn.execute(text("PRAGMA journal_mode"))).scalar())
        finally:
            await engine.dispose()

    for trial in range(30):
        url = f"sqlite+aiosqlite:///{tmp_path / f'fresh{trial}.db'}"
        modes = await asyncio.gather(*(journal_mode(url) for _ in range(12)))
        assert modes == ["wal"] * 12


async def test_a_reader_cannot_write_and_a_writer_takes_the_lock_up_front(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rule 2 of db/engine.py: a write slipped into a reader fails every time, not under load only.
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from db.engine import DatabaseLocked

    monkeypatch.setenv("LEADGEN_SQLITE_BUSY_SECONDS", "0.2")
    reset_settings()
    database = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'rules.db'}")
    try:
        with pytest.raises(OperationalError, match="readonly database"):
            async with database.reader() as repo:
                await repo.ensure_agency("sneaky")
        async with database.reader() as repo:
            assert await repo.get_agency("sneaky") is None
        async with database.transaction() as repo:  # the same pooled connection, writable again
            await repo.ensure_agency("proper")

        # Rule 1: a writer asks for the lock before anything else, and says who kept it from it.
        holder = sqlite3.connect(tmp_path / "rules.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(DatabaseLocked, match=r"stayed locked for 0.2 s: this process"):
                async with database.transaction() as repo:
                    raise AssertionError("the body ran without the write lock")
        finally:
            holder.close()
    finally:
        await database.close()
        reset_settings()
