"""The data layer. Everything outside `db/` opens the database through one call::

    database = await open_database()            # DATABASE_URL, else the SQLite file in .leadgen/
    async with database.transaction() as repo:  # a write transaction, committed on success
        flow = await repo.create_flow("acme", target_vertical="dentists", ...)
    async with database.reader() as repo:       # reads only; rolled back at the end
        flows = await repo.list_flows("acme")
    await database.close()

`open_database` migrates the schema to head first (once per process per URL, see
`db.migrate.ensure_schema`). `Database` bundles the engine, the session factory and the content
store (page markdown under `<LEADGEN_DATA_DIR>/content/`). `transaction()` starts with SQLite's
write lock (`BEGIN IMMEDIATE`), which is what makes read-then-write repository calls safe there;
on PostgreSQL it is an ordinary transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db.content_store import ContentNotFound, ContentRef, ContentStore, FileContentStore
from db.engine import create_engine, normalise_url, session_factory, write_session
from db.repositories import LeadInput, NotFound, Repository, UpsertCounts


@dataclass
class Database:
    url: str
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    content: ContentStore

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Repository]:
        """A repository in one write transaction: committed when the block ends, rolled back
        when it raises."""
        async with write_session(self.engine) as session:
            yield Repository(session)

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[Repository]:
        """A repository for reads; whatever it might write is rolled back."""
        async with self.sessionmaker() as session:
            yield Repository(session)

    async def close(self) -> None:
        await self.engine.dispose()


async def open_database(url: str | None = None, *, content_dir: Path | str | None = None) -> Database:
    """Connect to `url` (default: settings.resolved_database_url), migrating it to head first,
    with page content under `content_dir` (default: `<settings.leadgen_data_dir>/content`)."""
    from db.migrate import ensure_schema  # alembic is imported only by whoever opens a database
    from leadgen.settings import get_settings

    settings = get_settings()
    url = normalise_url(url or settings.resolved_database_url)
    await ensure_schema(url)
    engine = create_engine(url)
    root = Path(content_dir) if content_dir is not None else settings.leadgen_data_dir / "content"
    return Database(
        url=url,
        engine=engine,
        sessionmaker=session_factory(engine),
        content=FileContentStore(root.resolve()),
    )


__all__ = [
    "ContentNotFound",
    "ContentRef",
    "ContentStore",
    "Database",
    "FileContentStore",
    "LeadInput",
    "NotFound",
    "Repository",
    "UpsertCounts",
    "open_database",
]
