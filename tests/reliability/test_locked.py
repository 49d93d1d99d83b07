"""A database locked for longer than the busy timeout: the user is told who holds it and what to
do, the command exits 1, and nothing is lost: the run resumes cleanly once the lock is gone.

The lock is held by this test process (a plain sqlite3 connection in `BEGIN IMMEDIATE`, as any
other writer would hold it), with LEADGEN_SQLITE_BUSY_SECONDS=5 so the wait is short. Not 2: under
two test workers the resumed run once gave up after 2 s on a lock its own process held, in another
connection (cause not established; the product's default is 30 s).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

AGENCY = "lockco"
RUN = ["run", "-n", "8", "--vertical", "dentists", "--geography", "Austin, TX", "--agency", AGENCY, "--json"]


@contextmanager
def write_lock(db_file: Path) -> Iterator[None]:
    """Hold the file's write lock (waiting for the current writer first, as SQLite writers do)."""
    conn = sqlite3.connect(db_file, timeout=60, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def says_who_and_what(stderr: str, holder_pid: int) -> None:
    assert "stayed locked for 5 s" in stderr, stderr[-3000:]
    assert f"process {holder_pid} (" in stderr  # the holder, named
    assert "nothing is lost" in stderr and "wait for that process to finish" in stderr
    assert "Traceback" not in stderr.split("error:")[-1]


@pytest.mark.slow
def test_a_lock_held_past_the_busy_timeout_fails_clearly_and_loses_nothing(leadgen: Any) -> None:
    env = leadgen.env(LEADGEN_SQLITE_BUSY_SECONDS="5", LEADGEN_AUDIT_CONCURRENCY="2")
    # Mid-run: the run is held at its second audit; the first has finished.
    proc = leadgen.start(*RUN, env={**env, "LEADGEN_STALL_AT": "audit:map_urls#2"})
    leadgen.wait_until("the run to be held", lambda: "stalled" in "".join(leadgen.node_runs()), 240, proc)
    finished_before = leadgen.wait_until(
        "an audit to finish",
        lambda: {j for (j,) in leadgen.query("SELECT id FROM audit_jobs WHERE status = 'completed'")},
        240,
        proc,
    )
    [(flow_id,)] = leadgen.query("SELECT id FROM lead_gen_flows")
    with write_lock(leadgen.db_file):
        # Its next write (at the latest, the lease renewal) waits 5 s, then gives up.
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 1, stderr[-3000:]
        says_who_and_what(stderr, os.getpid())
        assert (
            f"`leadgen resume {flow_id} --agency {AGENCY}` carries on from the last finished step" in stderr
        )

        # A new command meets the same lock before writing anything.
        flows_before = leadgen.query("SELECT id FROM lead_gen_flows")
        other = leadgen.run("run", "-n", "3", "--vertical", "gyms", "--geography", "Reno, NV", env=env)
        assert other.returncode == 1, other.stderr[-3000:]
        says_who_and_what(other.stderr, os.getpid())
        assert leadgen.query("SELECT id FROM lead_gen_flows") == flows_before

    # The lock is gone: the run resumes where it stopped and completes, nothing done twice.
    done = leadgen.run("resume", flow_id, "--agency", AGENCY, "--json", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    flow = json.loads(done.stdout)
    assert flow["status"] == "completed"
    runs = leadgen.node_runs()
    assert runs[f"source:{flow_id}"] == 1
    assert all(runs[f"generate_dossier:{job}"] == 1 for job in finished_before)
    charges = leadgen.query(
        "SELECT idempotency_key, credits FROM credit_ledger_entries WHERE kind = 'charge'"
    )
    completed = leadgen.query("SELECT id FROM audit_jobs WHERE status = 'completed'")
    assert len({k for k, _ in charges}) == len(charges)
    assert sum(c for _, c in charges) == 1 + 2 * len(completed)
    assert leadgen.query("SELECT hold_key FROM credit_holds WHERE status = 'open'") == []
