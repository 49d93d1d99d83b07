"""`Database` (engine, sessions, content store) and `open_database`; see db/__init__.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db.content_store import ContentStore, FileContentStore
from db.engine import create_engine, normalise_url, session_factory, write_session
from db.repositories import Repository


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
