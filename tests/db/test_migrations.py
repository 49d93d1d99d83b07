"""Migrations on SQLite and PostgreSQL: empty -> head -> base -> head, the migrated schema equals
the models, ensure_schema is once-per-process and safe to race, `leadgen db upgrade` works."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from db import migrate
from db import models as _models  # noqa: F401  (all tables on Base.metadata)
from db.base import Base
from db.engine import create_engine, write_session

REPO_ROOT = Path(__file__).resolve().parents[2]


async def _run_sync(url: str, fn: Any, *, write: bool = False) -> Any:
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            if write:  # our SQLite connections are read-only outside BEGIN IMMEDIATE
                conn = await conn.execution_options(sqlite_begin="IMMEDIATE")
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


# Chainlit's history tables are created by migration 0002 but have no ORM models (Chainlit writes
# them with its own SQL), so the model/schema comparison covers our tables only.
CHAINLIT_TABLES = {"users", "threads", "steps", "elements", "feedbacks"}


def _ours(name: str | None, type_: str, parent_names: Any) -> bool:
    return type_ != "table" or name in Base.metadata.tables


def _schema_diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True, "include_name": _ours}
    )
    return list(compare_metadata(context, Base.metadata))


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _index_names(conn: Connection) -> set[str]:
    insp = inspect(conn)
    return {ix["name"] for t in insp.get_table_names() for ix in insp.get_indexes(t) if ix["name"]}


async def test_upgrade_downgrade_upgrade(empty_db_url: str) -> None:
    url = empty_db_url
    assert await migrate.current(url) is None
    head = migrate.head_revision()
    assert head is not None

    await migrate.upgrade(url)
    assert await migrate.current(url) == head
    assert await _run_sync(url, _tables) >= set(Base.metadata.tables)
    assert await _run_sync(url, _schema_diff) == []

    assert await _run_sync(url, _tables) >= CHAINLIT_TABLES

    await migrate.downgrade(url, "base")
    assert await migrate.current(url) is None
    assert await _run_sync(url, _tables) & (set(Base.metadata.tables) | CHAINLIT_TABLES) == set()

    await migrate.upgrade(url, "head")
    assert await migrate.current(url) == head
    assert await _run_sync(url, _schema_diff) == []


async def test_every_model_index_exists_after_upgrade(empty_db_url: str) -> None:
    await migrate.upgrade(empty_db_url)
    expected = {ix.name for table in Base.metadata.tables.values() for ix in table.indexes}
    assert expected <= await _run_sync(empty_db_url, _index_names)


async def test_partial_unique_indexes_allow_many_nulls_but_no_duplicates(empty_db_url: str) -> None:
    await migrate.upgrade(empty_db_url)
    engine = create_engine(empty_db_url, poolclass=NullPool)
    insert = text(
        "INSERT INTO client_opportunities (id, agency_id, name, domain, place_id, source, status,"
        " qualification_score, signals, created_at, updated_at)"
        " VALUES (:id, 'a', 'n', :domain, :place, 'google_places', 'SOURCED', 0, '[]',"
        " '2024-01-01 00:00:00', '2024-01-01 00:00:00')"
    )
    try:
        async with write_session(engine) as conn:
            await conn.execute(
                text(
                    "INSERT INTO agencies (id, name, billing_customer_id, created_at)"
                    " VALUES ('a', 'A', 'a', '2024-01-01 00:00:00')"
                )
            )
            for i in range(3):  # NULL domain and place id never collide
                await conn.execute(insert, {"id": f"n{i}", "domain": None, "place": None})
            await conn.execute(insert, {"id": "d1", "domain": "x.com", "place": None})
        with pytest.raises(IntegrityError):
            async with write_session(engine) as conn:
                await conn.execute(insert, {"id": "d2", "domain": "x.com", "place": None})
    finally:
        await engine.dispose()


async def test_ensure_schema_migrates_once_and_survives_a_race(empty_db_url: str) -> None:
    url = empty_db_url
    migrate._ensured.discard(migrate.normalise_url(url))
    await asyncio.gather(*(migrate.ensure_schema(url) for _ in range(5)))
    assert await migrate.current(url) == migrate.head_revision()

    # Once ensured, a later call does not touch the database (the version table is not read).
    await _run_sync(url, lambda c: (c.execute(text("DROP TABLE alembic_version")), c.commit()), write=True)
    await migrate.ensure_schema(url)
    assert await migrate.current(url) is None


async def test_migrations_of_several_databases_may_overlap_in_one_process(
    empty_db_url: str, tmp_path: Path
) -> None:
    # Alembic's running context is one module-global: overlapping runs used to tear it down
    # under each other (KeyError: 'config').
    urls = [empty_db_url, *(f"sqlite+aiosqlite:///{tmp_path / f'other{i}.db'}" for i in range(3))]
    await asyncio.gather(*(migrate.upgrade(url) for url in urls))
    assert [await migrate.current(url) for url in urls] == [migrate.head_revision()] * 4
    await asyncio.gather(*(migrate.downgrade(url, "base") for url in urls))
    assert [await migrate.current(url) for url in urls] == [None] * 4


async def test_cli_db_upgrade(tmp_path: Path) -> None:
    db_file = tmp_path / "cli" / "leadgen.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db_file}", "LEADGEN_DATA_DIR": str(tmp_path)}
    script = Path(sys.executable).with_name("leadgen")  # the installed console script
    leadgen = (
        [str(script)] if script.exists() else [sys.executable, "-c", "from assistant.cli import main; main()"]
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*leadgen, "db", "upgrade", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )

    first = await asyncio.to_thread(run)
    assert first.returncode == 0, first.stderr
    assert f"empty -> {migrate.head_revision()}" in first.stderr
    assert first.stdout == ""
    assert await migrate.current(f"sqlite+aiosqlite:///{db_file}") == migrate.head_revision()

    bad = await asyncio.to_thread(run, "--revision", "nope")
    assert bad.returncode == 2
    assert "nope" in bad.stderr
