"""Fixtures for the data-layer tests: a migrated database (SQLite file or real PostgreSQL),
two agencies per test, and fresh PostgreSQL databases for migration tests.

The PostgreSQL repository tests share one dedicated database (migrated by the first test) and
stay out of each other's way through fresh agency ids: everything is agency-scoped. It is not
the root `postgres_dsn` database, which other suites may fill with `create_all`.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from db import Database, open_database
from db.migrate import upgrade


@pytest.fixture(scope="session")
def pg_database_factory(postgres_dsn: str) -> Iterator[Callable[[], str]]:
    """Creates empty PostgreSQL databases on demand (async URLs); drops them at the end."""
    created: list[str] = []
    base = postgres_dsn.rsplit("/", 1)[0]

    def make() -> str:
        name = f"leadgen_dbtest_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)

    yield make
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_repo_url(pg_database_factory: Callable[[], str]) -> str:
    return pg_database_factory()


@pytest.fixture(scope="session")
async def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once; repository tests start from a copy of it."""
    path = tmp_path_factory.mktemp("template") / "leadgen.db"
    await upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def db_url(database_url: str, request: pytest.FixtureRequest) -> str:
    """A database for repository tests: a fresh copy of the migrated SQLite template, or the
    shared Postgres one."""
    if database_url.startswith("sqlite"):
        template: Path = request.getfixturevalue("sqlite_template")
        target = Path(make_url(database_url).database or "")
        shutil.copyfile(template, target)
        return database_url
    url: str = request.getfixturevalue("pg_repo_url")
    return url


@pytest.fixture
def empty_db_url(database_url: str, request: pytest.FixtureRequest) -> str:
    """A database nothing was ever created in (a new Postgres database per test)."""
    if database_url.startswith("sqlite"):
        return database_url
    factory: Callable[[], str] = request.getfixturevalue("pg_database_factory")
    return factory()


@pytest.fixture
async def database(db_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    db = await open_database(db_url, content_dir=tmp_path / "content")
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def agency(database: Database) -> str:
    agency_id = f"agency-{uuid.uuid4().hex[:10]}"
    async with database.transaction() as repo:
        await repo.ensure_agency(agency_id, name="Acme Web")
    return agency_id


@pytest.fixture
async def other_agency(database: Database) -> str:
    agency_id = f"other-{uuid.uuid4().hex[:10]}"
    async with database.transaction() as repo:
        await repo.ensure_agency(agency_id, name="Rival Studio")
    return agency_id
