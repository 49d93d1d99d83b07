"""`open_database`: the one entry point (settings defaults, schema at head, transactions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from db import Database, FileContentStore, open_database
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
