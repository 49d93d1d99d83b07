"""Chainlit's chat history on our database: its `SQLAlchemyDataLayer` over the tables of
migration 0002 (`users`, `threads`, `steps`, `elements`, `feedbacks`).

Why our own wiring: Chainlit picks its *own* Prisma/asyncpg data layer when the environment has
`DATABASE_URL` and the app defines no `@cl.data_layer` - and `DATABASE_URL` is our variable. The
Chainlit app therefore always defines one, built here from the same URL the rest of the product
uses (SQLite by default, PostgreSQL at scale).

Chainlit's layer logs SQL errors as warnings and carries on (`execute_sql`), so a schema
mismatch would silently lose history: the tests read the rows back.

On SQLite the layer's own engine gets the same busy timeout as ours, so its writes wait for a
pipeline transaction instead of failing with "database is locked". Elements (files, task
lists) are not persisted: Chainlit needs a blob storage client for them, and the UI re-creates
what it shows (tables, CSV, dossiers) from our tables on demand.
"""

from __future__ import annotations

from typing import Any

from chainlit.data.sql_alchemy import SQLAlchemyDataLayer

from db.engine import SQLITE_BUSY_TIMEOUT_MS, is_sqlite, normalise_url


def chainlit_conninfo(database_url: str) -> str:
    """The async SQLAlchemy URL Chainlit's layer should use for our database."""
    return normalise_url(database_url)


def make_data_layer(database_url: str) -> SQLAlchemyDataLayer:
    """Chainlit's SQLAlchemy data layer on `database_url` (already migrated to head)."""
    url = chainlit_conninfo(database_url)
    connect_args: dict[str, Any] = {}
    if is_sqlite(url):
        connect_args["timeout"] = SQLITE_BUSY_TIMEOUT_MS / 1000
    return SQLAlchemyDataLayer(conninfo=url, connect_args=connect_args, user_thread_limit=200)
