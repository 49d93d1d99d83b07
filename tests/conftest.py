"""Fixtures every test directory shares: database URLs for SQLite and the real PostgreSQL.

Each test session gets a PostgreSQL database of its own, created here and dropped at the end.
Where the server is not reachable, Postgres-parametrised tests skip and say why.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import psycopg
import pytest

if TYPE_CHECKING:
    from graphs.service import RunService
    from tools.sandbox.server import SandboxHandle

PG_ADMIN_DSN = os.environ.get("LEADGEN_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_unreachable_reason() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable at {PG_ADMIN_DSN} ({exc.__class__.__name__}: {exc})".strip()


LEADGEN = str(Path(sys.executable).with_name("leadgen"))
_WITH_DEFAULT_SIGINT = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"


@pytest.fixture(scope="session")
def leadgen_argv() -> Callable[..., list[str]]:
    """`leadgen_argv("run", "-n", "3")`: the command line of a real `leadgen` process that a test
    may Ctrl-C. A process started from a background job inherits SIGINT *ignored* (POSIX) and
    Python leaves it so: the test's SIGINT would be lost. This restores the default before exec."""

    def argv(*args: str) -> list[str]:
        return [sys.executable, "-c", _WITH_DEFAULT_SIGINT, LEADGEN, *args]

    return argv


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A fresh database for this test session; yields a plain `postgresql://` DSN."""
    reason = _postgres_unreachable_reason()
    if reason:
        pytest.skip(reason)
    name = f"leadgen_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'leadgen.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on a SQLite file and on the real PostgreSQL (SQLAlchemy async URLs)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'leadgen.db'}"
    dsn: str = request.getfixturevalue("postgres_dsn")
    return dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


# --- The provider sandbox (tools/sandbox): one server per test session ---------------------------


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxHandle]:
    """A running sandbox (tools.sandbox.server.SandboxHandle): no latency, no faults.

    Shared by the whole session, and reset before each test that uses it (`_fresh_sandbox`); a
    test that changes its knobs uses `sandbox_config`, which also puts them back afterwards.
    """
    from tools.sandbox.server import start_sandbox

    handle = start_sandbox(latency_scale=0, fail_rate=0, timeout_seconds=2)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="session")
def sandbox_url(sandbox: SandboxHandle) -> str:
    """The sandbox's base URL (e.g. for LEADGEN_SANDBOX_URL)."""
    return sandbox.url


@pytest.fixture(autouse=True)
def _fresh_sandbox(request: pytest.FixtureRequest) -> None:
    """Every test that uses the session sandbox starts from the same sandbox: its starting knobs,
    fresh fault and flaky-page counters (reset_config), and an empty request log, so what a test
    reads back from `/_sandbox/requests` is what it caused (and tests run in any order)."""
    if "sandbox" in request.fixturenames:
        handle: SandboxHandle = request.getfixturevalue("sandbox")
        handle.reset_config()
        handle.clear_requests()


@pytest.fixture
def sandbox_config(sandbox: SandboxHandle) -> Iterator[SandboxHandle]:
    """The session sandbox, for a test that changes knobs (`.configure(...)`); reset afterwards."""
    try:
        yield sandbox
    finally:
        sandbox.reset_config()


# --- A run service on a SQLite file against the session sandbox ---------------------------------

# The developer's own setup that would leak into a test's settings.
_SERVICE_CLEARED = (
    "DATABASE_URL",
    "LEADGEN_AGENCY",
    "LEADGEN_STARTING_CREDITS",
    "LEADGEN_AUDIT_CONCURRENCY",
    "LEADGEN_LEASE_SECONDS",
    "AUTUMN_SECRET_KEY",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "GOOGLE_PLACES_API_KEY",
    "FIRECRAWL_API_KEY",
    "FIRECRAWL_API_URL",
    "VAPI_API_KEY",
)


@pytest.fixture
def sqlite_service(
    sandbox: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., AbstractAsyncContextManager[RunService]]:
    """`async with sqlite_service(openai_timeout=None, **env) as runs:` a RunService on a fresh
    SQLite file against the session sandbox, built as `RunService.open` builds it; `openai_timeout`
    shortens how long the model client waits (the openai SDK's own retry rules unchanged), and
    `env` sets variables (e.g. LEADGEN_AUDIT_CONCURRENCY="3", AUTUMN_SECRET_KEY=...); the
    developer's own provider keys and database are cleared first."""

    @asynccontextmanager
    async def open_service(openai_timeout: float | None = None, **env: str) -> AsyncIterator[RunService]:
        from db import open_database
        from graphs.checkpoints import open_checkpointer
        from graphs.service import RunService
        from leadgen.settings import get_settings, reset_settings
        from tools.billing import billing_for
        from tools.providers import Providers

        for name in _SERVICE_CLEARED:
            monkeypatch.delenv(name, raising=False)
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
