"""The queue executor with real `leadgen worker` processes on one PostgreSQL database.

Two workers share ten runs; one is killed with SIGKILL in the middle of a run; the survivor
recovers its job (heartbeat gone -> stalled job retried -> lease of a dead process taken over)
and every run completes with nothing lost, duplicated or charged twice, and no finished audit
redone. A SIGTERM'd worker drains (exit 0, leases released, jobs back in the queue) and another
worker finishes its runs. A flow's job never runs on two workers at once.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def flows_leased_by(cluster: Any, pid: int) -> list[tuple[str, str]]:
    """(flow id, lease owner) of the flows a worker process holds now (owner is host:pid:uuid)."""
    return cluster.q("SELECT id, lease_owner FROM lead_gen_flows WHERE lease_owner LIKE %s", f"%:{pid}:%")


def mid_audits(cluster: Any, pid: int) -> list[str]:
    """Flows the worker holds with some audits finished and some not: a kill lands mid-run."""
    rows = cluster.q(
        """
        SELECT f.id FROM lead_gen_flows f
         WHERE f.lease_owner LIKE %s
           AND EXISTS (SELECT 1 FROM audit_jobs a WHERE a.lead_gen_flow_id = f.id AND a.status = 'completed')
           AND EXISTS (SELECT 1 FROM audit_jobs a WHERE a.lead_gen_flow_id = f.id AND a.status <> 'completed')
        """,
        f"%:{pid}:%",
    )
    return [flow for (flow,) in rows]


# Holds w1's third audit (graphs.context.stall_point): when the test stops w1, it is in the
# middle of a run by construction, not by timing.
HOLD_THIRD_AUDIT = {"LEADGEN_STALL_AT": "audit:map_urls#3"}


def holding(cluster: Any, worker: Any) -> list[str]:
    """Flows `worker` holds once it is held mid-run, with an audit finished (else [])."""
    stalled = any(k.startswith("stalled:") for k in cluster.node_runs_by_worker().get(worker.name, {}))
    return mid_audits(cluster, worker.pid) if stalled else []


async def test_kill_one_of_two_workers_every_run_completes_once(cluster: Any) -> None:
    w1 = cluster.start_worker("w1", **HOLD_THIRD_AUDIT)
    w2 = cluster.start_worker("w2")
    cluster.wait_ready(w1)
    cluster.wait_ready(w2)
    flows = await cluster.enqueue([f"scale-{i}" for i in range(10)])

    victims = cluster.wait_until(
        "w1 to be held mid-audits", lambda: holding(cluster, w1), 120, alive=[w1, w2]
    )
    held = {flow for flow, _ in flows_leased_by(cluster, w1.pid)}
    finished_before = cluster.completed_audits(held)
    sourced_before = {
        flow
        for flow, phases in cluster.q("SELECT id, phases FROM lead_gen_flows")
        if flow in held and phases[0]["status"] == "complete"
    }
    w1.proc.send_signal(signal.SIGKILL)
    assert w1.proc.wait(timeout=30) == -signal.SIGKILL
    assert victims and finished_before  # killed in the middle of its runs' audits

    cluster.wait_all_completed(flows, 150, alive=[w2])

    cluster.assert_consistent(flows)
    runs = cluster.node_runs()
    for job in finished_before:  # audits finished before the kill were not redone
        assert runs[f"generate_dossier:{job}"] == 1, job
        assert runs[f"map_urls:{job}"] == 1, job
    for flow in flows:
        # A source that had finished is never run again; one cut short by the kill ran twice
        # at most (and its search was charged once: assert_consistent).
        if flow not in held or flow in sourced_before:
            assert runs[f"source:{flow}"] == 1, flow
        else:
            assert 1 <= runs[f"source:{flow}"] <= 2, flow
        assert runs[f"finalize_rank:{flow}"] >= 1
    # The dead worker's runs were finished by the survivor after its job was recovered.
    survivor = cluster.node_runs_by_worker()["w2"]
    assert all(survivor[f"finalize_rank:{flow}"] == 1 for flow in held), held
    retried = cluster.q(
        "SELECT j.id FROM procrastinate_jobs j JOIN procrastinate_events e ON e.job_id = j.id "
        "WHERE e.type = 'deferred_for_retry' AND j.lock = ANY(%s)",
        list(held),
    )
    assert retried, "the dead worker's jobs were not retried"
    assert "back in the queue" in w2.output()
    assert w2.stop() == 0


async def test_sigterm_drains_then_another_worker_finishes(cluster: Any) -> None:
    # A drain too short for the runs to finish: they are checkpointed, released and re-queued.
    w1 = cluster.start_worker("w1", LEADGEN_WORKER_DRAIN_SECONDS="0.5", **HOLD_THIRD_AUDIT)
    cluster.wait_ready(w1)
    flows = await cluster.enqueue(["drain-a", "drain-b"], leads=5)
    cluster.wait_until("w1 to be held mid-audits", lambda: holding(cluster, w1), 120, alive=[w1])
    held = {flow for flow, _ in flows_leased_by(cluster, w1.pid)}

    assert w1.stop(signal.SIGTERM, timeout=60) == 0, w1.output()[-3000:]

    finished_before = cluster.completed_audits(held)
    assert finished_before
    rows = cluster.q("SELECT id, status, lease_owner FROM lead_gen_flows")
    unfinished = {flow for flow, status, _ in rows if status != "completed"}
    assert unfinished, "the drain was meant to cut the runs short"
    assert all(owner is None for _, _, owner in rows), rows  # every lease released
    jobs = dict(cluster.q("SELECT lock, status FROM procrastinate_jobs"))
    assert all(jobs[flow] == "todo" for flow in unfinished), jobs  # back in the queue
    assert "signal 15, draining" in w1.output()

    w2 = cluster.start_worker("w2")
    cluster.wait_all_completed(flows, 120, alive=[w2])

    cluster.assert_consistent(flows)
    runs = cluster.node_runs()
    for job in finished_before:
        assert runs[f"generate_dossier:{job}"] == 1, job
    for flow in flows:
        assert runs[f"source:{flow}"] == 1
    assert w2.stop() == 0


async def test_a_flow_never_runs_on_two_workers_at_once(cluster: Any) -> None:
    from graphs.queue import RunQueue, libpq_dsn
    from graphs.service import AlreadyRunning, RunService

    w1 = cluster.start_worker("w1")
    w2 = cluster.start_worker("w2")
    cluster.wait_ready(w1)
    cluster.wait_ready(w2)
    flows = await cluster.enqueue([f"lock-{i}" for i in range(4)])
    target = next(iter(flows))

    # While the flow's job waits or runs, asking again is refused (queued or leased) ...
    async with RunService.open(cluster.settings()) as runs:
        with pytest.raises(AlreadyRunning):
            await runs.execute(flows[target], target, wait=False)
    # ... and a job pushed straight into the queue for it waits on the lock: it starts only
    # after the first one has ended, on whichever worker, and finds nothing left to do.
    cluster.wait_until(
        "the flow to start",
        lambda: flows_leased_by(cluster, w1.pid) + flows_leased_by(cluster, w2.pid),
        60,
        alive=[w1, w2],
    )
    async with RunQueue.connect(libpq_dsn(cluster.dsn)) as queue:
        extra = await queue.enqueue(flows[target], target, "resume")
        assert extra is not None
        assert await queue.enqueue(flows[target], target, "resume") is None  # queueing lock

    cluster.wait_all_completed(flows, 120, alive=[w1, w2])
    cluster.wait_until(
        "the extra job to end",
        lambda: cluster.q("SELECT 1 FROM procrastinate_jobs WHERE id = %s AND status = 'succeeded'", extra),
        60,
        alive=[w1, w2],
    )
    cluster.assert_consistent(flows)

    # Ordered by the events' ids, drawn from a sequence as each row is written: their `at` is
    # now(), the start of each writer's transaction, which can read earlier for the event that
    # was written later (seen: the extra job "started" 5 microseconds before the first succeeded).
    events = cluster.q(
        "SELECT j.id, e.type, e.id FROM procrastinate_jobs j JOIN procrastinate_events e ON e.job_id = j.id "
        "WHERE j.lock = %s AND e.type IN ('started', 'succeeded') ORDER BY e.id",
        target,
    )
    first = [seq for job, kind, seq in events if job != extra and kind == "succeeded"]
    second = [seq for job, kind, seq in events if job == extra and kind == "started"]
    assert first and second and second[0] > first[-1], events

    # Every flow's nodes ran on one worker only, each once: no two executions of a flow.
    by_worker = cluster.node_runs_by_worker()
    for flow in flows:
        where = [name for name, runs in by_worker.items() if runs[f"source:{flow}"]]
        assert len(where) == 1, (flow, where)
        assert by_worker[where[0]][f"source:{flow}"] == 1
        assert by_worker[where[0]][f"finalize_rank:{flow}"] == 1
    assert w1.stop() == 0 and w2.stop() == 0


def test_queue_executor_refuses_sqlite(tmp_path: Path) -> None:
    """LEADGEN_EXECUTOR=queue needs PostgreSQL: both faces say so and write nothing."""
    import os

    leadgen = str(Path(sys.executable).with_name("leadgen"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADGEN_", "DATABASE_URL"))}
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'l.db'}",
        LEADGEN_EXECUTOR="queue",
        LEADGEN_SANDBOX_URL="http://127.0.0.1:9",
        LEADGEN_DATA_DIR=str(tmp_path),
    )
    for args in (["worker"], ["run", "-n", "3", "--vertical", "dentists", "--geography", "Austin, TX"]):
        done = subprocess.run(
            [leadgen, *args], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
        )
        assert done.returncode == 2, (args, done.stderr)
        assert "LEADGEN_EXECUTOR=queue needs a PostgreSQL DATABASE_URL" in done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "l.db").exists()


def test_ctrl_c_on_a_queued_run_leaves_it_to_the_workers(cluster: Any, leadgen_argv: Any) -> None:
    """`leadgen run` with the queue executor only waits: Ctrl-C stops the waiting, says the run
    stays queued (not "resume"), and a worker started afterwards finishes it."""
    agency = "queued-ctrl-c"
    run = subprocess.Popen(
        leadgen_argv(
            "run",
            "-n",
            "3",
            "--vertical",
            "dentists",
            "--geography",
            "Austin, TX",
            "--agency",
            agency,
        ),
        env=cluster.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def queued() -> bool:
        assert run.poll() is None, run.communicate()[1][-3000:]
        try:
            return bool(cluster.q("SELECT id FROM procrastinate_jobs WHERE status = 'todo'"))
        except Exception:  # the queue's tables do not exist yet
            return False

    cluster.wait_until("the run to be queued", queued, 120, alive=[])
    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=60)
    [(flow_id,)] = cluster.q("SELECT id FROM lead_gen_flows")
    assert run.returncode == 130, stderr[-3000:]
    assert f"run {flow_id} stays queued for `leadgen worker` processes" in stderr
    assert f"`leadgen status {flow_id} --agency {agency}`" in stderr
    assert "leadgen resume" not in stderr

    worker = cluster.start_worker("w1")
    cluster.wait_all_completed({flow_id: agency}, 120, alive=[worker])
    cluster.assert_consistent({flow_id: agency})
