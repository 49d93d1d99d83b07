"""Crash a real `leadgen run` process with SIGKILL at several points, then `leadgen resume` it.

The run must complete with no duplicate opportunity, no key charged twice, and no finished audit
run again. Node executions are counted across both processes through LEADGEN_NODE_LOG (one line
per execution, written by graphs.context.NodeCounter).

"In the middle of the audits" is a place the run is held at, not a moment a test hopes to hit:
LEADGEN_STALL_AT=audit:map_urls#3 holds the third audit to start (graphs.context.stall_point), so
when the test interrupts, at least one audit has finished and at least one cannot have.
"""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest

AGENCY = "crashco"
RUN = ["run", "-n", "8", "--vertical", "dentists", "--geography", "Austin, TX", "--agency", AGENCY, "--json"]
MID_AUDITS = {"LEADGEN_AUDIT_CONCURRENCY": "2", "LEADGEN_STALL_AT": "audit:map_urls#3"}


def resume(leadgen: Any, env: dict[str, str], flow_id: str) -> dict[str, Any]:
    done = leadgen.run("resume", flow_id, "--agency", AGENCY, "--json", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def completed_audits(leadgen: Any) -> set[str]:
    return {job for (job,) in leadgen.query("SELECT id FROM audit_jobs WHERE status = 'completed'")}


def held_mid_audits(leadgen: Any, proc: Any) -> set[str]:
    """Wait until the run holds its third audit and another has finished; returns the finished."""
    leadgen.wait_until(
        "the third audit to be held",
        lambda: any(k.startswith("stalled:") for k in leadgen.node_runs()),
        240,
        proc,
    )
    return set(leadgen.wait_until("an audit to finish", lambda: completed_audits(leadgen), 240, proc))


def assert_consistent(leadgen: Any, flow: dict[str, Any], *, searches: int = 1) -> None:
    assert flow["status"] == "completed", flow
    assert all(p["status"] == "complete" for p in flow["phases"])
    places = leadgen.query("SELECT place_id, COUNT(*) FROM client_opportunities GROUP BY place_id")
    assert places and all(n == 1 for _, n in places), places
    charges = leadgen.query(
        "SELECT idempotency_key, credits FROM credit_ledger_entries WHERE kind = 'charge'"
    )
    keys = [k for k, _ in charges]
    assert len(keys) == len(set(keys))
    completed = completed_audits(leadgen)
    assert sum(c for _, c in charges) == searches + 2 * len(completed)
    assert {k for k in keys if k.startswith("audit:")} == {f"audit:{job_id}" for job_id in completed}
    assert leadgen.query("SELECT hold_key FROM credit_holds WHERE status = 'open'") == []


@pytest.mark.slow
@pytest.mark.parametrize("point", ["persist_leads:after_upsert", "finalize_rank:running"])
def test_kill_at_a_point_then_resume(point: str, leadgen: Any) -> None:
    env = leadgen.env()
    proc = leadgen.start(*RUN, env={**env, "LEADGEN_KILL_AT": point})
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL

    [(flow_id, status)] = leadgen.query("SELECT id, status FROM lead_gen_flows")
    assert status == "running"  # what a dead process leaves behind
    before = leadgen.node_runs()

    flow = resume(leadgen, env, flow_id)

    assert_consistent(leadgen, flow)
    runs = leadgen.node_runs()
    node = point.split(":")[0]
    assert runs[f"{node}:{flow_id}"] == 2  # the killed node ran again, once
    assert runs[f"source:{flow_id}"] == 1  # finished steps before it did not
    if node == "finalize_rank":
        finished_audits = {k for k in before if k.startswith("generate_dossier:")}
        assert finished_audits and all(runs[k] == 1 for k in finished_audits)


@pytest.mark.slow
def test_kill_mid_audits_then_resume(leadgen: Any) -> None:
    env = leadgen.env()
    proc = leadgen.start(*RUN, env={**env, **MID_AUDITS})
    finished_before = held_mid_audits(leadgen, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)

    [(flow_id,)] = leadgen.query("SELECT id FROM lead_gen_flows")
    unfinished = {job for (job,) in leadgen.query("SELECT id FROM audit_jobs WHERE status != 'completed'")}
    assert unfinished  # the held audit at least

    flow = resume(leadgen, env, flow_id)

    assert_consistent(leadgen, flow)
    runs = leadgen.node_runs()
    for job in finished_before:
        assert runs[f"generate_dossier:{job}"] == 1, job  # finished audits are never redone
        assert runs[f"map_urls:{job}"] == 1
    assert runs[f"source:{flow_id}"] == 1


@pytest.mark.slow
def test_ctrl_c_mid_audits_says_how_to_resume_and_resume_finishes(leadgen: Any) -> None:
    env = leadgen.env()
    proc = leadgen.start(*RUN, env={**env, **MID_AUDITS})
    finished_before = held_mid_audits(leadgen, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)

    [(flow_id,)] = leadgen.query("SELECT id FROM lead_gen_flows")
    assert proc.returncode == 130, stderr[-3000:]
    assert "never awaited" not in stderr
    assert f"interrupted; continue with `leadgen resume {flow_id} --agency {AGENCY}`" in stderr
    assert leadgen.query("SELECT lease_owner FROM lead_gen_flows") == [(None,)]  # released on the way out
    assert leadgen.query("SELECT COUNT(*) FROM audit_jobs WHERE status != 'completed'")[0][0] > 0

    flow = resume(leadgen, env, flow_id)

    assert_consistent(leadgen, flow)
    runs = leadgen.node_runs()
    assert all(runs[f"generate_dossier:{job}"] == 1 for job in finished_before)
    assert runs[f"source:{flow_id}"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("point", ["scrape_content:after_queue", "finalize_rank:running"])
def test_kill_a_run_that_reuses_dossiers_then_resume(point: str, leadgen: Any) -> None:
    """A second run of a campaign links the first run's dossiers; killed after it decided (or at
    the end) and resumed, it neither links twice, audits them, nor charges for them."""
    env = leadgen.env()
    first = leadgen.run(*RUN, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    first_id = json.loads(first.stdout)["id"]
    researched = {opp for (opp,) in leadgen.query("SELECT opportunity_id FROM audit_dossiers")}
    assert researched

    second = leadgen.start(*RUN, env={**env, "LEADGEN_KILL_AT": point})
    second.communicate(timeout=300)
    assert second.returncode == -signal.SIGKILL
    [(flow_id,)] = leadgen.query("SELECT id FROM lead_gen_flows WHERE id != ?", first_id)

    flow = resume(leadgen, env, flow_id)

    assert_consistent(leadgen, flow, searches=2)
    assert flow["counts"]["reused"] == len(researched)
    linked = leadgen.query(
        "SELECT opportunity_id FROM lead_gen_flow_leads WHERE lead_gen_flow_id = ? AND dossier_reused",
        flow_id,
    )
    assert {opp for (opp,) in linked} == researched
    audited = {
        opp
        for (opp,) in leadgen.query(
            "SELECT opportunity_id FROM audit_jobs WHERE lead_gen_flow_id = ?", flow_id
        )
    }
    assert audited.isdisjoint(researched)  # never audited (or charged) again
    assert leadgen.node_runs()[f"source:{flow_id}"] == 1
