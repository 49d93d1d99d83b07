"""Throughput of the queue executor with 1, 2 and 4 `leadgen worker` processes on one PostgreSQL.

For each worker count: a fresh database, the workers started (each `--concurrency 2`) and ready,
then `--runs` runs (one agency each, so each has its own dedupe and ledger) queued through the
real RunService (LEADGEN_EXECUTOR=queue) and timed from the first enqueue to the last
completion (the workers' start-up is outside the window; their first job's warm-up is inside). The sandbox runs as its own process with the realistic latency profile scaled down
(`--latency`), every lead auditable. Prints runs/minute, the speed-up over one worker, and the
database load per run; asserts that no run was lost or duplicated (every run completed, its
source ran once, no lead twice per agency, no key charged twice, ledger totals exact).

Database load: `pg_stat_statements` calls when the extension is loadable, else the
`pg_stat_database` deltas of the benchmark's own database (transactions committed and rows
read/written), read after the workers have exited so every backend has flushed its counters.
Both include the queue's own traffic (polling, heartbeats) over the measured window.

    .venv/bin/python bench/scale.py [--latency 0.25] [--runs 12] [--leads 5] [--workers 1,2,4]
        [--pg postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
from pipeline import SandboxProcess, table  # bench/pipeline.py: the sandbox in its own process

LEADGEN = str(Path(sys.executable).with_name("leadgen"))
CREDITS = 1000
STAT_COLUMNS = ("xact_commit", "tup_returned", "tup_fetched", "tup_inserted", "tup_updated", "tup_deleted")


def q(dsn: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(sql, args)
        return cur.fetchall() if cur.description else []


def statements_available(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("SELECT 1 FROM pg_stat_statements LIMIT 1")
        return True
    except psycopg.Error:
        return False


def db_load(dsn: str, name: str, statements: bool) -> dict[str, int]:
    if statements:
        [(calls,)] = q(
            dsn,
            "SELECT COALESCE(SUM(calls), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
            "WHERE d.datname = %s",
            name,
        )
        return {"statements": int(calls)}
    [row] = q(dsn, f"SELECT {', '.join(STAT_COLUMNS)} FROM pg_stat_database WHERE datname = %s", name)
    return dict(zip(STAT_COLUMNS, (int(v) for v in row), strict=True))


class Workers:
    def __init__(self, count: int, env: dict[str, str], workdir: Path) -> None:
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []
        for i in range(count):
            log = workdir / f"worker-{i}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [LEADGEN, "worker", "--concurrency", "2", "--name", f"w{i}"],
                    env={**env, "LEADGEN_NODE_LOG": str(workdir / f"nodes-{i}.log")},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            self.procs.append((proc, log))

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        for proc, log in self.procs:
            while "Starting worker" not in log.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker did not start: {log.read_text()[-2000:]}")
                time.sleep(0.1)

    def stop(self) -> list[int]:
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        return [proc.wait(timeout=120) for proc, _ in self.procs]


async def enqueue(runs_count: int, leads: int, tag: str) -> tuple[dict[str, str], float]:
    """Queue the runs; returns them and the moment the first was queued (the clock starts there,
    not before this process has loaded the run service)."""
    from graphs.service import RunService

    flows: dict[str, str] = {}
    async with RunService.open() as runs:
        started = time.perf_counter()
        for i in range(runs_count):
            agency = f"bench-{tag}-{i}"
            flow = await runs.start(agency, num_leads=leads, vertical="dentists", geography="Austin, TX")
            outcome = await runs.execute(agency, flow.id, wait=False)
            assert outcome.status == "queued", outcome
            flows[flow.id] = agency
    return flows, started


def check(dsn: str, flows: dict[str, str], workdir: Path) -> dict[str, int]:
    """No run lost or duplicated: raises AssertionError naming what broke."""
    statuses = dict(q(dsn, "SELECT id, status FROM lead_gen_flows"))
    assert set(statuses) == set(flows) and all(s == "completed" for s in statuses.values()), statuses
    nodes: Counter[str] = Counter()
    for log in workdir.glob("nodes-*.log"):
        nodes.update(log.read_text().splitlines())
    assert all(nodes[f"source:{f}"] == 1 and nodes[f"finalize_rank:{f}"] == 1 for f in flows), (
        "a run executed twice"
    )
    dupes = q(
        dsn,
        "SELECT agency_id, place_id FROM client_opportunities GROUP BY agency_id, place_id HAVING COUNT(*) > 1",
    )
    assert not dupes, f"duplicate leads: {dupes}"
    keys = q(dsn, "SELECT idempotency_key FROM credit_ledger_entries WHERE kind = 'charge'")
    assert len(keys) == len(set(keys)), "a key charged twice"
    [(charged,)] = q(dsn, "SELECT COALESCE(SUM(credits), 0) FROM credit_ledger_entries WHERE kind = 'charge'")
    [(audits,)] = q(dsn, "SELECT COUNT(*) FROM audit_jobs WHERE status = 'completed'")
    assert charged == len(flows) + 2 * audits, (charged, len(flows), audits)
    [(leads,)] = q(dsn, "SELECT COUNT(*) FROM client_opportunities")
    return {"audits": int(audits), "charged": int(charged), "leads": int(leads)}


def measure(count: int, args: argparse.Namespace, sandbox_url: str, statements: bool) -> dict[str, Any]:
    name = f"leadgen_bench_scale_{uuid.uuid4().hex[:8]}"
    q(args.pg, f'CREATE DATABASE "{name}"')
    try:
        return measure_in(name, count, args, sandbox_url, statements)
    finally:
        q(args.pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure_in(
    name: str, count: int, args: argparse.Namespace, sandbox_url: str, statements: bool
) -> dict[str, Any]:
    dsn = f"{args.pg.rsplit('/', 1)[0]}/{name}"
    workdir = Path(tempfile.mkdtemp(prefix=f"leadgen-scale-{count}w-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADGEN_", "DATABASE_URL"))}
    env.update(
        DATABASE_URL=dsn,
        LEADGEN_EXECUTOR="queue",
        LEADGEN_SANDBOX_URL=sandbox_url,
        LEADGEN_DATA_DIR=str(workdir / "data"),
        LEADGEN_STARTING_CREDITS=str(CREDITS),
        LEADGEN_WORKER_POLL_SECONDS="0.5",
    )
    os.environ.update({k: v for k, v in env.items() if k.startswith("LEADGEN_") or k == "DATABASE_URL"})
    from leadgen.settings import reset_settings

    reset_settings()
    workers = Workers(count, env, workdir)
    try:
        workers.wait_ready()
        before = db_load(args.pg, name, statements)
        flows, started = asyncio.run(enqueue(args.runs, args.leads, f"{count}w"))
        while True:
            done = q(dsn, "SELECT COUNT(*) FROM lead_gen_flows WHERE status = 'completed'")[0][0]
            failed = q(
                dsn,
                "SELECT id, status, error FROM lead_gen_flows WHERE status IN ('error', 'paused_for_upgrade')",
            )
            assert not failed, failed
            if done == len(flows):
                break
            time.sleep(0.2)
        wall = time.perf_counter() - started
    finally:
        codes = workers.stop()
    time.sleep(0.5)  # exited backends' counters reach pg_stat_database
    after = db_load(args.pg, name, statements)
    load = {k: after[k] - before[k] for k in after}
    facts = check(dsn, flows, workdir)
    assert codes == [0] * count, f"worker exit codes {codes}"
    return {"workers": count, "wall": wall, "runs": len(flows), "load": load, **facts}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.25, help="sandbox latency scale (1 = realistic)")
    parser.add_argument("--runs", type=int, default=12, help="runs per worker count")
    parser.add_argument("--leads", type=int, default=5, help="leads per run (all auditable)")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument(
        "--pg", default=os.environ.get("LEADGEN_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args(argv)

    sandbox = SandboxProcess(args.latency)
    if "world_profile" in sandbox.config():
        sandbox.configure(world_profile="all_auditable")
    statements = statements_available(args.pg)
    results = []
    try:
        for count in (int(c) for c in args.workers.split(",")):
            print(f"... {count} worker(s)", file=sys.stderr, flush=True)
            results.append(measure(count, args, sandbox.url, statements))
    finally:
        sandbox.stop()

    base = results[0]["runs"] / results[0]["wall"] * 60
    print(
        f"\nQueue executor: {args.runs} runs x {args.leads} leads per worker count, each worker "
        f"--concurrency 2, sandbox latency x{args.latency}, {os.cpu_count()} CPU cores\n"
    )
    load_kind = (
        "pg_stat_statements calls" if statements else "pg_stat_database deltas (no pg_stat_statements)"
    )
    rows = [
        [
            "workers",
            "wall s",
            "runs/min",
            "vs 1 worker",
            "audits",
            "lost/dup",
            "xacts/run",
            "rows read/run",
            "rows written/run",
        ]
    ]
    for r in results:
        rate = r["runs"] / r["wall"] * 60
        load = r["load"]
        if statements:
            xacts, read, written = str(load["statements"] // r["runs"]) + " stmts", "-", "-"
        else:
            xacts = str(load["xact_commit"] // r["runs"])
            read = str((load["tup_returned"] + load["tup_fetched"]) // r["runs"])
            written = str((load["tup_inserted"] + load["tup_updated"] + load["tup_deleted"]) // r["runs"])
        rows.append(
            [str(r["workers"]), f"{r['wall']:.1f}", f"{rate:.1f}", f"{rate / base:.2f}x", str(r["audits"]),
             "0/0", xacts, read, written]
        )  # fmt: skip
    print(table(rows))
    print(f"\ndatabase load: {load_kind}, over the measured window, queue polling and heartbeats included")
    two = next((r for r in results if r["workers"] == 2), None)
    if two:
        ratio = (two["runs"] / two["wall"] * 60) / base
        print(f"2 workers / 1 worker = {ratio:.2f}x (target >= 1.7x): {'met' if ratio >= 1.7 else 'NOT met'}")
    print(
        "every run completed once: no run lost, none executed twice, no lead or charge duplicated (asserted)"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
