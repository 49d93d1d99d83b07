"""Real `leadgen` processes against the session sandbox, on one SQLite file per test.

The `leadgen` fixture starts them (`start`, `run`), reads the file they share (`query`), counts
node executions across processes (`node_runs`, from LEADGEN_NODE_LOG) and waits for what another
process makes true (`wait_until`, polling with a deadline; it fails at once if the process it
watches exits).

Processes are started able to receive Ctrl-C (`leadgen_argv` in tests/conftest.py): one started
from a background job would inherit SIGINT ignored, and a test's Ctrl-C would be lost.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tools.sandbox.server import SandboxHandle


@dataclass
class Leadgen:
    tmp_path: Path
    sandbox_url: str
    argv: Callable[..., list[str]]

    @property
    def db_file(self) -> Path:
        return self.tmp_path / "leadgen.db"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADGEN_", "DATABASE_URL"))}
        env.update(
            LEADGEN_SANDBOX_URL=self.sandbox_url,
            DATABASE_URL=f"sqlite+aiosqlite:///{self.db_file}",
            LEADGEN_DATA_DIR=str(self.tmp_path / "data"),
            LEADGEN_NODE_LOG=str(self.tmp_path / "nodes.log"),
            LEADGEN_STARTING_CREDITS="100",
            LEADGEN_LEASE_SECONDS="5",
        )
        env.update(extra)
        return env

    def command(self, *args: str) -> list[str]:
        return self.argv(*args)

    def start(self, *args: str, env: dict[str, str], **popen: Any) -> subprocess.Popen[str]:
        popen.setdefault("stdout", subprocess.PIPE)
        popen.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen(self.command(*args), env=env, text=True, **popen)

    def run(self, *args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(*args), env=env, capture_output=True, text=True, timeout=timeout)

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Rows from the shared SQLite file ([] while its tables do not exist yet)."""
        conn = sqlite3.connect(self.db_file)
        try:
            return conn.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        finally:
            conn.close()

    def node_runs(self) -> Counter[str]:
        log = self.tmp_path / "nodes.log"
        return Counter(log.read_text().splitlines()) if log.exists() else Counter()

    def wait_until(
        self,
        what: str,
        condition: Callable[[], Any],
        timeout: float,
        proc: subprocess.Popen[str] | None = None,
    ) -> Any:
        deadline = time.monotonic() + timeout
        while not (result := condition()):
            if proc is not None and proc.poll() is not None:
                pytest.fail(f"exited ({proc.returncode}) before {what}:\n{proc.communicate()[1][-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not within {timeout:g} s")
            time.sleep(0.05)
        return result


@pytest.fixture
def leadgen(tmp_path: Path, sandbox: SandboxHandle, leadgen_argv: Callable[..., list[str]]) -> Leadgen:
    return Leadgen(tmp_path, sandbox.url, leadgen_argv)
