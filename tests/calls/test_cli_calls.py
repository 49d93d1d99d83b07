"""`leadgen call`, `leadgen calls` and `leadgen serve` end to end: the real CLI against the
sandbox's Vapi and a temporary SQLite file. Without LEADGEN_PUBLIC_URL, `call --wait` learns the
outcome by polling Vapi and meters it the same way the webhook would."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from db import open_database
from db.models import ClientOpportunity
from leadgen.settings import reset_settings
from tools.sandbox.server import SandboxHandle

CLEARED = (
    "DATABASE_URL",
    "LEADGEN_AGENCY",
    "LEADGEN_STARTING_CREDITS",
    "LEADGEN_DATA_DIR",
    "LEADGEN_PUBLIC_URL",
    "AUTUMN_SECRET_KEY",
    "VAPI_API_KEY",
    "VAPI_WEBHOOK_SECRET",
)


@pytest.fixture
def cli_env(
    tmp_path: Path, sandbox_config: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "LEADGEN_DATA_DIR": str(tmp_path / "data"),
        "LEADGEN_SANDBOX_URL": sandbox_config.url,
        "LEADGEN_AGENCY": "acme",
        "LEADGEN_STARTING_CREDITS": "5",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    reset_settings()
    yield env
    reset_settings()


@pytest.fixture
def cli(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    from assistant.cli import app

    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        reset_settings()
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def lead(cli_env: dict[str, str]) -> str:
    """A lead of agency `acme` with a phone number."""

    async def create() -> str:
        database = await open_database(cli_env["DATABASE_URL"])
        try:
            async with database.transaction() as repo:
                await repo.ensure_agency("acme")
                row = ClientOpportunity(
                    agency_id="acme", name="Acme Plumbing", phone="+14155550123", signals=[]
                )
                repo.session.add(row)
                await repo.session.flush()
                return str(row.id)
        finally:
            await database.close()

    return asyncio.run(create())


def vapi_posts(sandbox: SandboxHandle) -> int:
    return sum(1 for r in sandbox.requests("vapi") if r["method"] == "POST")


def test_call_waits_for_the_outcome_by_polling_and_bills_it(
    cli: Any, lead: str, sandbox_config: SandboxHandle
) -> None:
    result = cli("call", lead, "--wait", "--json")
    assert result.exit_code == 0, result.stderr
    call = json.loads(result.stdout)
    assert call["status"] == "ended"
    assert call["billing_seconds"] == 60  # the sandbox's default talk time, from endedAt - startedAt
    assert call["metadata"]["billing_customer_id"] == "acme"
    assert call["metadata"]["preflight_balance"] == 5
    metering = call["metadata"]["ai_call_metering"]
    assert (metering["requested_minutes"], metering["billed_minutes"], metering["balance_at_check"]) == (
        1,
        1,
        5,
    )

    credits = cli("credits", "--json")
    assert json.loads(credits.stdout)["balance"] == 4
    history = json.loads(cli("credits", "history", "--json").stdout)
    charges = [row for row in history if row.get("feature_id") == "ai_call_minutes"]
    assert [(c["credits"], c["idempotency_key"]) for c in charges] == [(1, f"call:{call['id']}")]

    listed = json.loads(cli("calls", "--json").stdout)
    assert [row["id"] for row in listed] == [call["id"]]
    assert json.loads(cli("calls", "--agency", "other", "--json").stdout) == []


def test_call_without_waiting_prints_the_queued_call(cli: Any, lead: str) -> None:
    result = cli("call", lead, "--no-wait")
    assert result.exit_code == 0, result.stderr
    assert "call " in result.stdout and "calling +14155550123" in result.stderr


def test_no_credits_exits_3_and_dials_nothing(cli: Any, lead: str, sandbox_config: SandboxHandle) -> None:
    before = vapi_posts(sandbox_config)
    result = cli("call", lead, "--json", env={"LEADGEN_STARTING_CREDITS": "0"})
    assert result.exit_code == 3
    assert result.stdout == ""
    assert "Insufficient credits" in result.stderr
    assert vapi_posts(sandbox_config) == before
    assert json.loads(cli("calls", "--json").stdout) == []


def test_unknown_or_foreign_lead_exits_4(cli: Any, lead: str) -> None:
    assert cli("call", "no-such-lead").exit_code == 4
    assert cli("call", lead, "--agency", "other").exit_code == 4
    assert cli("call", lead, "--agency", "Not An Id").exit_code == 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_runs_the_webhook_app(cli_env: dict[str, str]) -> None:
    port = _free_port()
    leadgen = Path(sys.executable).with_name("leadgen")
    env = {**os.environ, **cli_env, "VAPI_WEBHOOK_SECRET": "s3cret-for-serve"}
    process = subprocess.Popen(
        [str(leadgen), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                assert time.monotonic() < deadline, "leadgen serve did not start"
                time.sleep(0.2)
        assert health.json() == {"ok": True}
        unsigned = httpx.post(
            f"http://127.0.0.1:{port}/webhooks/vapi", json={"message": {"type": "x"}}, timeout=5
        )
        assert unsigned.status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=20)
