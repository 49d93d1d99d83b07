"""Fixtures for CLI tests: the real `leadgen` app against a temporary SQLite file.

`cli` runs commands in-process (typer's CliRunner, stdout and stderr kept apart); `db_rows`
reads what the commands wrote, straight from the file, so tests can assert that bad input wrote
nothing. `cli_env` is the environment a subprocess needs to see the same database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from leadgen.settings import reset_settings

# Variables that would leak the developer's own setup into a test.
_CLEARED = (
    "DATABASE_URL",
    "LEADGEN_AGENCY",
    "LEADGEN_STARTING_CREDITS",
    "LEADGEN_DATA_DIR",
    "AUTUMN_SECRET_KEY",
    "LEADGEN_SANDBOX_URL",
)
# The tables the agency and credits commands write.
WATCHED_TABLES = ("agencies", "agency_profiles", "credit_accounts", "credit_ledger_entries", "credit_holds")

Invoke = Callable[..., Result]
Snapshot = Callable[[], dict[str, list[tuple[object, ...]]]]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "cli.db"


@pytest.fixture
def cli_env(tmp_path: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Point the settings at a fresh SQLite file (and away from any `.env`), for this test only."""
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    env = {"DATABASE_URL": f"sqlite:///{db_path}", "LEADGEN_DATA_DIR": str(tmp_path / "data")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # settings read `.env` from the working directory
    reset_settings()
    yield env
    reset_settings()


@pytest.fixture
def cli(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """`cli("credits", "--json", env={"LEADGEN_AGENCY": "acme"})` → click Result."""
    from assistant.cli import app

    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        reset_settings()
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def db_rows(db_path: Path) -> Snapshot:
    """Every row of the watched tables ({} when the database file was never created)."""

    def snapshot() -> dict[str, list[tuple[object, ...]]]:
        if not db_path.exists():
            return {}
        with sqlite3.connect(db_path) as conn:
            return {
                table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
                for table in WATCHED_TABLES
            }

    return snapshot
