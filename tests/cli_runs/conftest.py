"""Fixtures for the run commands: the real `leadgen` app, a SQLite file and the provider sandbox.

`run_env` points the settings at a fresh SQLite file and the session's sandbox for one test;
`cli` runs commands in-process (typer's CliRunner, stdout and stderr kept apart); `table_rows`
reads the database file directly so tests can prove that bad input wrote nothing.
`completed_run` is one finished run shared by a module's read-only tests (a run takes seconds).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from leadgen.settings import reset_settings

if TYPE_CHECKING:
    from tools.sandbox.server import SandboxHandle

# Variables that would leak the developer's own setup into a test.
_CLEARED = (
    "DATABASE_URL",
    "LEADGEN_AGENCY",
    "LEADGEN_STARTING_CREDITS",
    "LEADGEN_DATA_DIR",
    "AUTUMN_SECRET_KEY",
    "LEADGEN_SANDBOX_URL",
    "GOOGLE_PLACES_API_KEY",
    "FIRECRAWL_API_KEY",
    "FIRECRAWL_API_URL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
)
# Criteria for the agencies of these tests, so scores differ and ranking means something.
CRITERIA = "MISSING_WEBSITE,WEAK_WEB_PRESENCE,LOW_GOOGLE_RATING,FEW_GOOGLE_REVIEWS"

Invoke = Callable[..., Result]
Rows = Callable[[str], list[tuple[Any, ...]]]


def _environment(tmp: Path, sandbox_url: str) -> dict[str, str]:
    return {
        "LEADGEN_SANDBOX_URL": sandbox_url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'l.db'}",
        "LEADGEN_DATA_DIR": str(tmp),
    }


def _apply(mp: pytest.MonkeyPatch, tmp: Path, env: dict[str, str]) -> None:
    for name in _CLEARED:
        mp.delenv(name, raising=False)
    for name, value in env.items():
        mp.setenv(name, value)
    mp.chdir(tmp)  # settings read `.env` from the working directory
    reset_settings()


def forget_langchain_http_clients() -> None:
    """Each command runs its own `asyncio.run`, like a real `leadgen` process; but in one test
    process langchain-openai keeps its default httpx client (lru_cache) bound to the first,
    closed, event loop, and the next run's LLM calls fail with "Event loop is closed". A real
    CLI process runs one loop and never sees this. (Fix belongs in tools/providers.py: give
    ChatOpenAI an http_async_client owned by Providers; reported.)"""
    from langchain_openai.chat_models import _client_utils

    _client_utils._cached_async_httpx_client.cache_clear()


def make_invoke(mp: pytest.MonkeyPatch) -> Invoke:
    from assistant.cli import app

    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        for name, value in (env or {}).items():
            mp.setenv(name, value)
        reset_settings()
        forget_langchain_http_clients()
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


def make_rows(db_file: Path) -> Rows:
    def rows(table: str) -> list[tuple[Any, ...]]:
        if not db_file.exists():
            return []
        with sqlite3.connect(db_file) as conn:
            return list(conn.execute(f"SELECT * FROM {table}").fetchall())

    return rows


def ok_json(result: Result, code: int = 0) -> Any:
    """The command's stdout as JSON, after checking its exit code; stdout must hold JSON alone."""
    assert result.exit_code == code, (
        f"exit {result.exit_code}\nstderr:\n{result.stderr}\nstdout:\n{result.stdout}"
    )
    return json.loads(result.stdout)


@pytest.fixture
def run_env(
    tmp_path: Path, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    env = _environment(tmp_path, sandbox.url)
    _apply(monkeypatch, tmp_path, env)
    yield env
    reset_settings()


@pytest.fixture
def cli(run_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """`cli("run", "--json", "--agency", "acme")` → click Result (stdout and stderr apart)."""
    return make_invoke(monkeypatch)


@pytest.fixture
def table_rows(tmp_path: Path, run_env: dict[str, str]) -> Rows:
    """`table_rows("lead_gen_flows")` → every row ([] when the database file does not exist)."""
    return make_rows(tmp_path / "l.db")


@dataclass
class CompletedRun:
    """A run of `leadgen run --json` that finished, with the means to query it further."""

    agency: str
    run: dict[str, Any]
    stderr: str
    cli: Invoke
    rows: Rows
    db_file: Path | None = None  # the SQLite file, for a test that must age a row (an expired link)


@pytest.fixture(scope="module")
def completed_run(tmp_path_factory: pytest.TempPathFactory, sandbox: SandboxHandle) -> Iterator[CompletedRun]:
    """One finished run (10 dentists in Austin, agency `acme` with every criterion) per module."""
    tmp = tmp_path_factory.mktemp("completed_run")
    with pytest.MonkeyPatch.context() as mp:
        _apply(mp, tmp, _environment(tmp, sandbox.url))
        invoke = make_invoke(mp)
        set_profile = invoke("agency", "set", "--agency", "acme", "--criteria", CRITERIA)
        assert set_profile.exit_code == 0, set_profile.stderr
        result = invoke(
            "run", "--vertical", "dentists", "--geography", "Austin, TX", "--agency", "acme", "--json"
        )
        run = ok_json(result)
        yield CompletedRun("acme", run, result.stderr, invoke, make_rows(tmp / "l.db"), tmp / "l.db")
    reset_settings()
