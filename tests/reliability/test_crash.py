"""Crash a real `leadgen run` process with SIGKILL at several points, then `leadgen resume` it.

The run must complete with no duplicate opportunity, no key charged twice, and no finished audit
run again. Node executions are counted across both processes through LEADGEN_NODE_LOG (one line
per execution, written by graphs.context.NodeCounter).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

LEADGEN = str(Path(sys.executable).with_name("leadgen"))
AGENCY = "crashco"


def env_for(tmp_path: Path, sandbox_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADGEN_", "DATABASE_URL"))}
    env.update(
        LEADGEN_SANDBOX_URL=sandbox_url,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'leadgen.db'}",
        LEADGEN_DATA_DIR=str(tmp_path / "data"),
        LEADGEN_NODE_LOG=str(tmp_path / "nodes.log"),
        LEADGEN_STARTING_CREDITS="100",
        LEADGEN_LEASE_SECONDS="5",
    )
    env.update(extra)
    return env


def start_run(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            LEADGEN,
            "run",
            "-n",
            "8",
            "--vertical",
            "dentists",
            "--geography",
            "Austin, TX",
            "--agency",
            AGENCY,
            "--json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def query(tmp_path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "leadgen.db") as conn:
        return conn.execute(sql, args).fetchall()


def resume(env: dict[str, str], flow_id: str) -> dict[str, Any]:
    done = subprocess.run(
        [LEADGEN, "resume", flow_id, "--agency", AGENCY, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def node_runs(tmp_path: Path) -> Counter[str]:
    log = tmp_path / "nodes.log"
    return Counter(log.read_text().splitlines()) if log.exists() else Counter()


def assert_consistent(tmp_path: Path, flow: dict[str, Any], *, searches: int = 1) -> None:
    assert flow["status"] == "completed", flow
    assert all(p["status"] == "complete" for p in flow["phases"])
    places = query(tmp_path, "SELECT place_id, COUNT(*) FROM client_opportunities GROUP BY place_id")
    assert places and all(n == 1 for _, n in places), places
    charges = query(
        tmp_path, "SELECT idempotency_key, credits FROM credit_ledger_entries WHERE kind = 'charge'"
    )
    keys = [k for k, _ in charges]
    assert len(keys) == len(set(keys))
    completed = query(tmp_path, "SELECT id FROM audit_jobs WHERE status = 'completed'")
    assert sum(c for _, c in charges) == searches + 2 * len(completed)
    assert {k for k in keys if k.startswith("audit:")} == {f"audit:{job_id}" for (job_id,) in completed}
    open_holds = query(tmp_path, "SELECT hold_key FROM credit_holds WHERE status = 'open'")
    assert open_holds == []


@pytest.mark.slow
@pytest.mark.parametrize("point", ["persist_leads:after_upsert", "finalize_rank:running"])
def test_kill_at_a_point_then_resume(point: str, tmp_path: Path, sandbox: Any) -> None:
    env = env_for(tmp_path, sandbox.url)
    proc = start_run({**env, "LEADGEN_KILL_AT": point})
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL

    [(flow_id, status)] = query(tmp_path, "SELECT id, status FROM lead_gen_flows")
    assert status == "running"  # what a dead process leaves behind
    before = node_runs(tmp_path)

    flow = resume(env, flow_id)

    assert_consistent(tmp_path, flow)
    runs = node_runs(tmp_path)
    node = point.split(":")[0]
    assert runs[f"{node}:{flow_id}"] == 2  # the killed node ran again, once
    assert runs[f"source:{flow_id}"] == 1  # finished steps before it did not
    if node == "finalize_rank":
        finished_audits = {k for k in before if k.startswith("generate_dossier:")}
        assert finished_audits and all(runs[k] == 1 for k in finished_audits)


@pytest.mark.slow
def test_kill_mid_audits_then_resume(tmp_path: Path, sandbox_config: Any) -> None:
    sandbox_config.configure(latency_scale=0.15)
    env = env_for(tmp_path, sandbox_config.url, LEADGEN_AUDIT_CONCURRENCY="2")
    proc = start_run(env)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            done = query(tmp_path, "SELECT COUNT(*) FROM audit_jobs WHERE status = 'completed'")
        except sqlite3.OperationalError:  # the file exists before its tables do
            done = [(0,)]
        if done[0][0] >= 2:
            break
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.1)
    else:
        pytest.fail("no audit finished within 240 s")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)

    [(flow_id,)] = query(tmp_path, "SELECT id FROM lead_gen_flows")
    finished_before = {
        job for (job,) in query(tmp_path, "SELECT id FROM audit_jobs WHERE status = 'completed'")
    }
    unfinished = {job for (job,) in query(tmp_path, "SELECT id FROM audit_jobs WHERE status != 'completed'")}
    assert finished_before and unfinished  # killed in the middle of the audits

    flow = resume(env, flow_id)

    assert_consistent(tmp_path, flow)
    runs = node_runs(tmp_path)
    for job in finished_before:
        assert runs[f"generate_dossier:{job}"] == 1, job  # finished audits are never redone
        assert runs[f"map_urls:{job}"] == 1
    assert runs[f"source:{flow_id}"] == 1


@pytest.mark.slow
def test_ctrl_c_mid_audits_says_how_to_resume_and_resume_finishes(
    tmp_path: Path, sandbox_config: Any
) -> None:
    sandbox_config.configure(latency_scale=0.15)
    env = env_for(tmp_path, sandbox_config.url, LEADGEN_AUDIT_CONCURRENCY="2")
    proc = start_run(env)
    deadline = time.monotonic() + 240
    while not _completed_audits(tmp_path):
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no audit finished within 240 s"
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)

    [(flow_id,)] = query(tmp_path, "SELECT id FROM lead_gen_flows")
    assert proc.returncode == 130, stderr[-3000:]
    assert "never awaited" not in stderr
    assert f"interrupted; continue with `leadgen resume {flow_id} --agency {AGENCY}`" in stderr
    finished_before = _completed_audits(tmp_path)
    assert query(tmp_path, "SELECT COUNT(*) FROM audit_jobs WHERE status != 'completed'")[0][0] > 0

    flow = resume(env, flow_id)

    assert_consistent(tmp_path, flow)
    runs = node_runs(tmp_path)
    assert all(runs[f"generate_dossier:{job}"] == 1 for job in finished_before)
    assert runs[f"source:{flow_id}"] == 1


def _completed_audits(tmp_path: Path) -> set[str]:
    try:
        return {job for (job,) in query(tmp_path, "SELECT id FROM audit_jobs WHERE status = 'completed'")}
    except sqlite3.OperationalError:  # the file exists before its tables do
        return set()


@pytest.mark.slow
@pytest.mark.parametrize("point", ["scrape_content:after_queue", "finalize_rank:running"])
def test_kill_a_run_that_reuses_dossiers_then_resume(point: str, tmp_path: Path, sandbox: Any) -> None:
    """A second run of a campaign links the first run's dossiers; killed after it decided (or at
    the end) and resumed, it neither links twice, audits them, nor charges for them."""
    env = env_for(tmp_path, sandbox.url)
    first = start_run(env)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-3000:]
    first_id = json.loads(out)["id"]
    researched = {opp for (opp,) in query(tmp_path, "SELECT opportunity_id FROM audit_dossiers")}
    assert researched

    second = start_run({**env, "LEADGEN_KILL_AT": point})
    second.communicate(timeout=300)
    assert second.returncode == -signal.SIGKILL
    [(flow_id,)] = query(tmp_path, "SELECT id FROM lead_gen_flows WHERE id != ?", first_id)

    flow = resume(env, flow_id)

    assert_consistent(tmp_path, flow, searches=2)
    assert flow["counts"]["reused"] == len(researched)
    linked = query(
        tmp_path,
        "SELECT opportunity_id FROM lead_gen_flow_leads WHERE lead_gen_flow_id = ? AND dossier_reused",
        flow_id,
    )
    assert {opp for (opp,) in linked} == researched
    audited = {
        opp
        for (opp,) in query(
            tmp_path, "SELECT opportunity_id FROM audit_jobs WHERE lead_gen_flow_id = ?", flow_id
        )
    }
    assert audited.isdisjoint(researched)  # never audited (or charged) again
    assert node_runs(tmp_path)[f"source:{flow_id}"] == 1
