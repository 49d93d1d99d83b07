"""Fixtures for the queue executor at scale: a PostgreSQL database per test, real `leadgen worker`
processes, and the session sandbox with a little latency so runs take a few seconds.

`cluster` is the whole rig for one test: `cluster.start_worker("w1")` starts a worker process,
`await cluster.enqueue(agencies)` creates and queues one run per agency through the real
RunService (LEADGEN_EXECUTOR=queue), `cluster.wait_all(...)` polls the flows, `cluster.q(sql)`
reads the database, `cluster.node_runs()` counts node executions across every worker's log
(LEADGEN_NODE_LOG, one file per worker), and `cluster.assert_consistent(...)` checks the
invariants every test shares (no duplicate lead, no key charged twice, exact ledger totals).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from leadgen.settings import Settings, reset_settings

if TYPE_CHECKING:
    from tools.sandbox.server import SandboxHandle

LEADGEN = str(Path(sys.executable).with_name("leadgen"))
STARTING_CREDITS = 100

# Timings scaled down so a dead worker's runs come back within a few seconds (all in seconds).
FAST_QUEUE = {
    "LEADGEN_LEASE_SECONDS": "3",
    "LEADGEN_WORKER_HEARTBEAT_SECONDS": "0.5",
    # Twelve missed beats before a worker counts as dead: a live one on a loaded machine (its
    # heartbeat thread waiting for the CPU or the GIL) is not declared dead and pruned.
    "LEADGEN_WORKER_STALLED_SECONDS": "6",
    "LEADGEN_WORKER_RECOVERY_SECONDS": "0.5",
    "LEADGEN_WORKER_POLL_SECONDS": "0.3",
    "LEADGEN_WORKER_BUSY_RETRY_SECONDS": "1",
    "LEADGEN_WORKER_DRAIN_SECONDS": "10",
    "LEADGEN_AUDIT_CONCURRENCY": "2",
}


@pytest.fixture
def scale_db(postgres_dsn: str) -> Iterator[str]:
    """A fresh database of its own for one test, on the session's PostgreSQL server."""
    name = f"leadgen_scale_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{postgres_dsn.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class WorkerProcess:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


@dataclass
class Cluster:
    tmp: Path
    dsn: str
    env: dict[str, str]
    workers: list[WorkerProcess] = field(default_factory=list)

    # -- processes -------------------------------------------------------------------------

    def start_worker(self, name: str, *, concurrency: int = 2, **extra: str) -> WorkerProcess:
        log = self.tmp / f"worker-{name}.log"
        env = {**self.env, "LEADGEN_NODE_LOG": str(self.tmp / f"nodes-{name}.log"), **extra}
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [LEADGEN, "worker", "--concurrency", str(concurrency), "--name", name],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        worker = WorkerProcess(name, proc, log)
        self.workers.append(worker)
        return worker

    def wait_ready(self, worker: WorkerProcess, timeout: float = 60) -> None:
        """Until the worker says it takes jobs (procrastinate's "Starting worker" line)."""
        deadline = time.monotonic() + timeout
        while "Starting worker" not in worker.output():
            assert worker.proc.poll() is None, worker.output()[-3000:]
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {w.name}\n{w.output()[-2500:]}" for w in self.workers)
                pytest.fail(f"worker {worker.name} not ready within {timeout} s\n{logs}")
            time.sleep(0.1)

    # -- the run service, as a client (queue executor) ----------------------------------------

    def settings(self) -> Settings:
        return Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=self.env["DATABASE_URL"],
            leadgen_executor="queue",
            leadgen_sandbox_url=self.env["LEADGEN_SANDBOX_URL"],
            leadgen_starting_credits=STARTING_CREDITS,
            leadgen_data_dir=Path(self.env["LEADGEN_DATA_DIR"]),
            leadgen_lease_seconds=float(self.env["LEADGEN_LEASE_SECONDS"]),
        )

    async def enqueue(self, agencies: list[str], *, leads: int = 4) -> dict[str, str]:
        """One run per agency, queued through RunService (queue executor, wait=False);
        returns {flow_id: agency_id}."""
        from graphs.service import RunService

        flows: dict[str, str] = {}
        async with RunService.open(self.settings()) as runs:
            for agency in agencies:
                flow = await runs.start(agency, num_leads=leads, vertical="dentists", geography="Austin, TX")
                outcome = await runs.execute(agency, flow.id, wait=False)
                assert outcome.status == "queued" and outcome.job_id is not None, outcome
                flows[flow.id] = agency
        return flows

    # -- reading the database ------------------------------------------------------------------

    def q(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return conn.execute(sql, args).fetchall()

    def statuses(self) -> dict[str, str]:
        return dict(self.q("SELECT id, status FROM lead_gen_flows"))  # type: ignore[arg-type]

    def wait_until(self, what: str, check: Any, timeout: float, *, alive: list[WorkerProcess]) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            found = check()
            if found:
                return found
            for worker in alive:
                assert worker.proc.poll() is None, f"{worker.name} exited: {worker.output()[-3000:]}"
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {w.name}\n{w.output()[-2500:]}" for w in self.workers)
                pytest.fail(f"timed out waiting for {what}; flows {self.statuses()}\n{logs}")
            time.sleep(0.1)

    def wait_all_completed(
        self, flows: dict[str, str], timeout: float, *, alive: list[WorkerProcess]
    ) -> None:
        def done() -> bool:
            statuses = self.statuses()
            unexpected = {f: s for f, s in statuses.items() if s not in ("idle", "running", "completed")}
            assert not unexpected, unexpected
            return all(statuses.get(f) == "completed" for f in flows)

        self.wait_until("every run to complete", done, timeout, alive=alive)

    def node_runs(self) -> Counter[str]:
        """How often each node ran, for each key, summed over every worker's node log."""
        total: Counter[str] = Counter()
        for log in self.tmp.glob("nodes-*.log"):
            total.update(log.read_text().splitlines())
        return total

    def node_runs_by_worker(self) -> dict[str, Counter[str]]:
        return {
            log.stem.removeprefix("nodes-"): Counter(log.read_text().splitlines())
            for log in self.tmp.glob("nodes-*.log")
        }

    def completed_audits(self, flow_ids: set[str] | None = None) -> set[str]:
        rows = self.q("SELECT id, lead_gen_flow_id FROM audit_jobs WHERE status = 'completed'")
        return {job for job, flow in rows if flow_ids is None or flow in flow_ids}

    def assert_consistent(self, flows: dict[str, str]) -> None:
        """Every run completed with all phases; no lead twice per agency; no key charged twice;
        each agency charged exactly 1 (search) + 2 per completed audit, and its balance agrees;
        no credit left on hold; no job left waiting or running."""
        for flow_id, status, phases in self.q("SELECT id, status, phases FROM lead_gen_flows"):
            assert flow_id in flows
            assert status == "completed", (flow_id, status)
            assert all(p["status"] == "complete" for p in phases), (flow_id, phases)
        dupes = self.q(
            "SELECT agency_id, place_id, COUNT(*) FROM client_opportunities "
            "GROUP BY agency_id, place_id HAVING COUNT(*) > 1"
        )
        assert dupes == [], dupes
        keys = self.q(
            "SELECT idempotency_key, COUNT(*) FROM credit_ledger_entries WHERE kind = 'charge' "
            "GROUP BY idempotency_key HAVING COUNT(*) > 1"
        )
        assert keys == [], keys  # (the column is unique too: this is the belt to its braces)
        for flow_id, agency in flows.items():
            [(customer,)] = self.q("SELECT billing_customer_id FROM agencies WHERE id = %s", agency)
            completed = self.q(
                "SELECT id FROM audit_jobs WHERE lead_gen_flow_id = %s AND status = 'completed'", flow_id
            )
            charges = dict(
                self.q(
                    "SELECT idempotency_key, credits FROM credit_ledger_entries "
                    "WHERE customer_id = %s AND kind = 'charge'",
                    customer,
                )
            )
            expected_keys = {f"flow:{flow_id}:source"} | {f"audit:{job}" for (job,) in completed}
            assert set(charges) == expected_keys, (flow_id, sorted(charges), sorted(expected_keys))
            assert sum(charges.values()) == 1 + 2 * len(completed), (flow_id, charges)
            [(balance, held)] = self.q(
                "SELECT balance, held FROM credit_accounts WHERE customer_id = %s", customer
            )
            assert (balance, held) == (STARTING_CREDITS - sum(charges.values()), 0), (flow_id, balance)
        assert self.q("SELECT hold_key FROM credit_holds WHERE status = 'open'") == []
        pending = self.q("SELECT id, status FROM procrastinate_jobs WHERE status IN ('todo', 'doing')")
        assert pending == [], pending


@pytest.fixture
def cluster(
    tmp_path: Path, scale_db: str, sandbox_config: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cluster]:
    # Runs of a few seconds: enough for a kill to land mid-run, short enough for the suite.
    sandbox_config.configure(latency_scale=0.1)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADGEN_", "DATABASE_URL"))}
    env.update(
        DATABASE_URL=scale_db,
        LEADGEN_EXECUTOR="queue",
        LEADGEN_SANDBOX_URL=sandbox_config.url,
        LEADGEN_DATA_DIR=str(tmp_path / "data"),
        LEADGEN_STARTING_CREDITS=str(STARTING_CREDITS),
        **FAST_QUEUE,
    )
    # The client side (RunService in this process) reads the same settings.
    for name in [k for k in os.environ if k.startswith("LEADGEN_") or k == "DATABASE_URL"]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith("LEADGEN_") or name == "DATABASE_URL":
            monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    reset_settings()
    rig = Cluster(tmp_path, scale_db, env)
    try:
        yield rig
    finally:
        for worker in rig.workers:
            if worker.proc.poll() is None:
                worker.proc.kill()
                worker.proc.wait(timeout=30)
        reset_settings()
