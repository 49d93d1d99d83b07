"""A RunService on a fresh database (SQLite file or the real PostgreSQL) against the sandbox."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from graphs.service import RunService
from leadgen.settings import reset_settings


@pytest.fixture
async def runs(
    sandbox: Any, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunService]:
    monkeypatch.setenv("LEADGEN_SANDBOX_URL", sandbox.url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LEADGEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LEADGEN_LEASE_SECONDS", "3")
    reset_settings()
    try:
        async with RunService.open() as service:
            yield service
    finally:
        reset_settings()


@pytest.fixture
def agency() -> str:
    """A fresh agency per test: the Postgres database is shared by the whole session."""
    return f"agency-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def sqlite_service(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., AbstractAsyncContextManager[RunService]]:
    """`async with sqlite_service(openai_timeout=None, **env) as runs:` a RunService on a fresh
    SQLite file against the session sandbox, built as `RunService.open` builds it; `openai_timeout`
    shortens how long the model client waits (the openai SDK's own retry rules unchanged), and
    `env` sets LEADGEN_* variables (e.g. LEADGEN_AUDIT_CONCURRENCY="3")."""

    @asynccontextmanager
    async def open_service(openai_timeout: float | None = None, **env: str) -> AsyncIterator[RunService]:
        from db import open_database
        from graphs.checkpoints import open_checkpointer
        from leadgen.settings import get_settings
        from tools.billing import billing_for
        from tools.providers import Providers

        monkeypatch.setenv("LEADGEN_SANDBOX_URL", sandbox.url)
        monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'leadgen.db'}")
        monkeypatch.setenv("LEADGEN_DATA_DIR", str(tmp_path / "data"))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        reset_settings()
        settings = get_settings()
        timeouts = {"openai": httpx.Timeout(openai_timeout, connect=5.0)} if openai_timeout else None
        db = await open_database(settings.resolved_database_url)
        try:
            async with (
                open_checkpointer(db.url) as saver,
                Providers.from_settings(settings, timeouts=timeouts) as providers,
            ):
                yield RunService(db, billing_for(settings, db.engine), providers, saver, settings)
        finally:
            await db.close()
            reset_settings()

    return open_service
