"""A RunService on a fresh database (SQLite file or the real PostgreSQL) against the sandbox."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

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
