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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from db.content_store import ContentNotFound, ContentRef, ContentStore, FileContentStore
    from db.database import Database, open_database
    from db.repositories import LeadInput, NotFound, Repository, UpsertCounts

# Loaded on first use, not with the package: `db.revisions` and `db.sqlite_reads` serve the
# quick CLI read path, which must not pay for SQLAlchemy (tests/cli_reads checks it).
_EXPORTS = {
    "ContentNotFound": "db.content_store",
    "ContentRef": "db.content_store",
    "ContentStore": "db.content_store",
    "FileContentStore": "db.content_store",
    "Database": "db.database",
    "open_database": "db.database",
    "LeadInput": "db.repositories",
    "NotFound": "db.repositories",
    "Repository": "db.repositories",
    "UpsertCounts": "db.repositories",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'db' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


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
