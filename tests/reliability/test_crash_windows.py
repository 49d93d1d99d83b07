"""Crash windows the README promises to survive, with real processes and SIGKILL:

* between saving a dossier and settling its credits (`audit:before_settle`): `leadgen resume`
  keeps that dossier, charges it once, and does not write it again;
* a run left `running` by a dead process: the chat server (`leadgen chat`) resumes it when it
  starts, with nobody asking.

Node executions are counted across processes through LEADGEN_NODE_LOG (graphs.context.NodeCounter);
model calls through the sandbox's request log.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

LEADGEN = str(Path(sys.executable).with_name("leadgen"))
AGENCY = "windowco"


def env_for(tmp_path: Path, sandbox_url: str, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LEADGEN_", "DATABASE_URL", "AUTUMN_", "OPENAI_", "CHAINLIT_"))
    }
    env.update(
        LEADGEN_SANDBOX_URL=sandbox_url,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'leadgen.db'}",
        LEADGEN_DATA_DIR=str(tmp_path / "data"),
        LEADGEN_NODE_LOG=str(tmp_path / "nodes.log"),
        LEADGEN_STARTING_CREDITS="100",
        LEADGEN_AGENCY=AGENCY,
    )
    env.update(extra)
    return env


def killed_run(env: dict[str, str], point: str, leads: int = 4) -> None:
    """`leadgen run` SIGKILLed by itself at `point` (graphs.context.crash_point)."""
    proc = subprocess.run(
        [LEADGEN, "run", "-n", str(leads), "--vertical", "dentists", "--geography", "Austin, TX", "--json"],
        env={**env, "LEADGEN_KILL_AT": point},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]


def query(tmp_path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "leadgen.db") as conn:
        return conn.execute(sql, args).fetchall()


def node_runs(tmp_path: Path) -> Counter[str]:
    log = tmp_path / "nodes.log"
    return Counter(log.read_text().splitlines()) if log.exists() else Counter()


def dossier_calls(sandbox: Any, host: str) -> int:
    """Dossier requests the model answered for the site at `host`."""
    return sum(
        1
        for r in sandbox.requests("openai")
        if (r["body"].get("response_format") or {}).get("json_schema", {}).get("name") == "DossierDraft"
        and host in " ".join(str(m.get("content")) for m in r["body"]["messages"])
    )


def test_kill_between_saving_a_dossier_and_settling_it(tmp_path: Path, sandbox_config: Any) -> None:
    sandbox_config.configure(world_profile="all_auditable")
    sandbox_config.clear_requests()  # the session's other tests audit the same sites
    # One audit at a time: the first to save its dossier is the one killed before settling.
    env = env_for(tmp_path, sandbox_config.url, LEADGEN_AUDIT_CONCURRENCY="1")
    killed_run(env, "audit:before_settle")

    [(flow_id, status)] = query(tmp_path, "SELECT id, status FROM lead_gen_flows")
    assert status == "running"
    [(job_id, dossier_id, url)] = query(
        tmp_path, "SELECT id, dossier_id, target_url FROM audit_jobs WHERE dossier_id IS NOT NULL"
    )
    [(saved_at, summary)] = query(
        tmp_path, "SELECT created_at, summary FROM audit_dossiers WHERE id = ?", dossier_id
    )
    assert query(tmp_path, "SELECT metered, status FROM audit_jobs WHERE id = ?", job_id) == [(0, "running")]
    assert query(tmp_path, "SELECT status FROM credit_holds WHERE hold_key = ?", f"audit:{job_id}") == [
        ("open",)
    ]
    assert not query(
        tmp_path, "SELECT 1 FROM credit_ledger_entries WHERE idempotency_key = ?", f"audit:{job_id}"
    )
    host = url.split("://", 1)[1].split("/", 1)[0].removeprefix("www.")
    assert dossier_calls(sandbox_config, host) == 1

    done = subprocess.run(
        [LEADGEN, "resume", flow_id, "--json"], env=env, capture_output=True, text=True, timeout=300
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["status"] == "completed"
    # Kept: the same dossier, not written again.
    assert query(
        tmp_path, "SELECT id, created_at, summary FROM audit_dossiers WHERE audit_job_id = ?", job_id
    ) == [(dossier_id, saved_at, summary)]
    assert dossier_calls(sandbox_config, host) == 1
    runs = node_runs(tmp_path)
    assert runs[f"generate_dossier:{job_id}"] == 1 and runs[f"scrape_content:{job_id}"] == 1
    # Charged once, and the job finished.
    assert query(
        tmp_path,
        "SELECT feature_id, credits FROM credit_ledger_entries WHERE idempotency_key = ?",
        f"audit:{job_id}",
    ) == [("dossier_research", 2)]
    assert query(tmp_path, "SELECT metered, status FROM audit_jobs WHERE id = ?", job_id) == [
        (1, "completed")
    ]
    assert query(tmp_path, "SELECT hold_key FROM credit_holds WHERE status = 'open'") == []
    completed = query(tmp_path, "SELECT COUNT(*) FROM audit_jobs WHERE status = 'completed'")[0][0]
    charged = query(tmp_path, "SELECT SUM(credits) FROM credit_ledger_entries WHERE kind = 'charge'")[0][0]
    assert charged == 1 + 2 * completed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_chat_server_resumes_a_run_left_running_by_a_dead_process(
    tmp_path: Path, sandbox_config: Any
) -> None:
    # A lease far longer than the test: only the "holder is dead" rule can let the server in.
    env = env_for(tmp_path, sandbox_config.url, LEADGEN_LEASE_SECONDS="600")
    killed_run(env, "persist_leads:after_upsert")
    [(flow_id, status, owner)] = query(tmp_path, "SELECT id, status, lease_owner FROM lead_gen_flows")
    assert status == "running" and owner  # what the dead process left behind
    before = node_runs(tmp_path)

    log = tmp_path / "chat.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [LEADGEN, "chat", "--port", str(free_port())], env=env, cwd=tmp_path, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 180
        while query(tmp_path, "SELECT status FROM lead_gen_flows")[0][0] == "running":
            assert server.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, (
                "the server did not finish the run: " + log.read_text()[-3000:]
            )
            time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert query(tmp_path, "SELECT status, lease_owner FROM lead_gen_flows") == [("completed", None)]
    runs = node_runs(tmp_path)
    assert runs[f"source:{flow_id}"] == before[f"source:{flow_id}"] == 1  # carried on, not restarted
    assert runs[f"persist_leads:{flow_id}"] == 2 and runs[f"finalize_rank:{flow_id}"] == 1
    charges = query(tmp_path, "SELECT idempotency_key FROM credit_ledger_entries WHERE kind = 'charge'")
    assert len(charges) == len(set(charges))
