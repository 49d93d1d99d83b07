"""Chainlit's chat history on our database: its `SQLAlchemyDataLayer` over the tables of
migration 0002 (`users`, `threads`, `steps`, `elements`, `feedbacks`).

Why our own wiring: Chainlit picks its *own* Prisma/asyncpg data layer when the environment has
`DATABASE_URL` and the app defines no `@cl.data_layer` - and `DATABASE_URL` is our variable. The
Chainlit app therefore always defines one, built here from the same URL the rest of the product
uses (SQLite by default, PostgreSQL at scale).

On SQLite the layer follows the locking rules of db/engine.py like the rest of the product: it
runs on an engine of ours (WAL, busy timeout, read-only readers) and every statement that writes
runs in `write_session` (`BEGIN IMMEDIATE`, in the process's queue of writers to the file), so
history written while a pipeline, `leadgen serve` and CLI commands write too waits its turn
instead of failing with "database is locked".

Chainlit's layer logs SQL errors as warnings and carries on (`execute_sql` returns None), so a
schema mismatch would silently lose history: the tests read the rows back. Elements (CSV files,
the leads table, dossier cards) are kept by the chat's storage client on our data folder
(assistant/chat_files.py); task lists are never kept by Chainlit (they belong to no message).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chainlit.data.sql_alchemy import SQLAlchemyDataLayer
from chainlit.data.storage_clients.base import BaseStorageClient
from chainlit.logger import logger
from chainlit.step import StepDict
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from db.engine import create_engine, normalise_url, session_factory, write_session
from db.models import Call
from graphs.call_follower import CallSink, call_finished, call_report
from graphs.calls import call_origin


def chainlit_conninfo(database_url: str) -> str:
    """The async SQLAlchemy URL Chainlit's layer should use for our database."""
    return normalise_url(database_url)


def _writes(query: str) -> bool:
    """Chainlit's statements are single SELECT, INSERT (upserts), UPDATE or DELETE statements."""
    return query.lstrip().split(None, 1)[0].upper() != "SELECT"


class HistoryDataLayer(SQLAlchemyDataLayer):
    """Chainlit's SQLAlchemy data layer on our engine, writing in `BEGIN IMMEDIATE` transactions."""

    def __init__(self, database_url: str, storage_provider: BaseStorageClient | None = None) -> None:
        url = chainlit_conninfo(database_url)
        super().__init__(conninfo=url, user_thread_limit=200, storage_provider=storage_provider)
        # Chainlit built an engine of its own (no connection yet): ours replaces it.
        self.engine = create_engine(url)
        self.async_session = session_factory(self.engine)

    async def execute_sql(self, query: str, parameters: dict[str, Any]) -> list[dict[str, Any]] | int | None:
        """Chainlit's contract: rows as dicts, else the row count; None (logged) on an error."""
        try:
            if _writes(query):
                async with write_session(self.engine) as session:
                    result = await session.execute(text(query), parameters)
                    returns_rows = result.returns_rows  # type: ignore[attr-defined]
                    rows = [dict(row._mapping) for row in result.fetchall()] if returns_rows else None
                    count = result.rowcount  # type: ignore[attr-defined]
            else:
                async with self.async_session() as session:
                    result = await session.execute(text(query), parameters)
                    rows, count = [dict(row._mapping) for row in result.fetchall()], 0
        except SQLAlchemyError as exc:
            logger.warning(f"An error occurred: {exc}")
            return None
        if rows is None:
            return int(count)
        cleaned = self.clean_result(rows)
        assert isinstance(cleaned, list)
        return cleaned

    async def post_to_thread(self, thread_id: str, text: str, *, author: str) -> bool:
        """An assistant message added to a kept thread by the server itself, with no session open
        (the end of a call that a restarted server followed): seen when the thread is next
        opened. False when the thread is not kept here."""
        if not await self.execute_sql('SELECT "id" FROM threads WHERE "id" = :id', {"id": thread_id}):
            return False
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        step: StepDict = {
            "id": str(uuid.uuid4()),
            "threadId": thread_id,
            "name": author,
            "type": "assistant_message",
            "output": text,
            "createdAt": now,
            "start": now,
            "end": now,
            "streaming": False,
            "isError": False,
            "waitForAnswer": False,
            "metadata": {},
        }
        # Chainlit's create_step waits for a session's first message before writing; there is
        # no session here, so its undecorated body writes at once.
        await SQLAlchemyDataLayer.create_step.__wrapped__(self, step)
        return True


def recovered_call_reporter(layer: HistoryDataLayer, *, author: str) -> Callable[[Call], CallSink | None]:
    """For `CallFollower.recover`: a call placed from a chat thread, followed again after a
    restart, has its end written into that thread (the session that asked is gone)."""

    def report_to(call: Call) -> CallSink | None:
        origin = call_origin(call)
        if origin.get("face") != "chat" or not origin.get("thread_id"):
            return None
        thread_id, lead_name = origin["thread_id"], origin.get("lead_name") or "the lead"

        async def on_update(updated: Call) -> None:
            if call_finished(updated):
                await layer.post_to_thread(thread_id, call_report(updated, lead_name), author=author)

        return on_update

    return report_to


def make_data_layer(database_url: str, storage_provider: BaseStorageClient | None = None) -> HistoryDataLayer:
    """Chainlit's SQLAlchemy data layer on `database_url` (already migrated to head); elements
    are kept by `storage_provider` (assistant/chat_files.py), without one they are not kept."""
    return HistoryDataLayer(database_url, storage_provider)
