"""Fixtures for `lead_gen` under LangGraph's own server: a `langgraph dev` process, its SDK
client, the `leadgen` CLI against the same database, and direct reads of that database.

`lead_gen_server` starts `langgraph dev` once per module (it takes seconds), from an empty
working folder (so neither the repository's `.env` nor its `.langgraph_api/` state leaks in),
with the repository's own `langgraph.json`, on a free port, against the session's sandbox and a
fresh SQLite file.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from tools.sandbox.server import SandboxHandle

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Variables that would leak the developer's own setup (or a LangSmith account) into the server.
_CLEARED = (
    "DATABASE_URL",
    "LEADGEN_AGENCY",
    "LEADGEN_STARTING_CREDITS",
    "LEADGEN_DATA_DIR",
    "LEADGEN_EXECUTOR",
    "AUTUMN_SECRET_KEY",
    "LEADGEN_SANDBOX_URL",
    "GOOGLE_PLACES_API_KEY",
    "FIRECRAWL_API_KEY",
    "FIRECRAWL_API_URL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "LANGSMITH_API_KEY",
    "LANGCHAIN_API_KEY",
    "LANGSMITH_ENDPOINT",
)
_API_LINE = re.compile(r"API: (?:\x1b\[[0-9;]*m)?(http://[0-9.]+:[0-9]+)")
START_SECONDS = 90


@dataclass
class LeadGenServer:
    url: str
    env: dict[str, str]
    db_file: Path
    log: Path

    def leadgen(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        """The installed `leadgen` command against the server's database; checks the exit code."""
        done = subprocess.run(
            [str(BIN / "leadgen"), *args],
            env=self.env,
            cwd=self.db_file.parent,
            capture_output=True,
            text=True,
        )
        assert done.returncode == code, f"leadgen {' '.join(args)}: exit {done.returncode}\n{done.stderr}"
        return done

    def leadgen_json(self, *args: str, code: int = 0) -> Any:
        return json.loads(self.leadgen(*args, "--json", code=code).stdout)

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        if not self.db_file.exists():  # nothing has opened the database yet
            return []
        with sqlite3.connect(self.db_file) as conn:
            return list(conn.execute(sql, params).fetchall())

    def charges(self, agency: str) -> list[tuple[str, int, str]]:
        """The agency's charges in the ledger, oldest first (read from the table: quicker than
        `leadgen credits history`, whose output the CLI's own tests check)."""
        return [
            (feature, credits, key)
            for feature, credits, key in self.rows(
                "SELECT feature_id, credits, idempotency_key FROM credit_ledger_entries "
                "WHERE customer_id = ? AND kind = 'charge' ORDER BY created_at, id",
                agency,
            )
        ]

    def balance(self, agency: str) -> int:
        return int(self.leadgen_json("credits", "--agency", agency)["balance"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until(condition: Callable[[], Any], what: str, proc: subprocess.Popen[bytes], log: Path) -> Any:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"langgraph dev exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
        if result := condition():
            return result
        time.sleep(0.1)
    raise TimeoutError(f"langgraph dev: {what} not seen in {START_SECONDS}s:\n{log.read_text()[-4000:]}")


def _ok(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ok", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def lead_gen_server(
    tmp_path_factory: pytest.TempPathFactory, sandbox: SandboxHandle
) -> Iterator[LeadGenServer]:
    work = tmp_path_factory.mktemp("langgraph_dev")
    db_file = work / "leadgen.db"
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    env.update(
        LEADGEN_SANDBOX_URL=sandbox.url,
        DATABASE_URL=f"sqlite+aiosqlite:///{db_file}",
        LEADGEN_DATA_DIR=str(work),
        LEADGEN_LEASE_SECONDS="5",
        # langgraph-cli's usage analytics, LangSmith tracing and the PyPI version check: all off.
        LANGGRAPH_CLI_NO_ANALYTICS="1",
        LANGSMITH_TRACING="false",
        LANGGRAPH_NO_VERSION_CHECK="true",
    )
    log = work / "langgraph-dev.log"
    command = [
        str(BIN / "langgraph"),
        "dev",
        "--config",
        str(REPO / "langgraph.json"),
        "--host",
        "127.0.0.1",
        "--port",
        str(_free_port()),
        "--no-browser",
        "--no-reload",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        # The port may have been taken since we looked; the server then picks another and says so.
        url = _wait_until(
            lambda: (m := _API_LINE.search(log.read_text(errors="replace"))) and m.group(1),
            "its API address",
            proc,
            log,
        )
        _wait_until(lambda: _ok(url), "GET /ok", proc, log)
        yield LeadGenServer(url=url, env=env, db_file=db_file, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
