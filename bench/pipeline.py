"""How fast a 20-lead flow runs, and where the time goes.

Runs the same campaign against the sandbox's realistic latency profile (scaled down so the whole
benchmark takes about a minute) three times: audits one by one (the seed's design), at the default
concurrency (4), and at concurrency 20. Prints wall times, the critical-path lower bound
(source + the slowest single audit + finalize, from the one-by-one run), their ratios,
checkpoint overhead per step (a timed SQLite saver at zero latency), and peak memory.

    .venv/bin/python bench/pipeline.py [--latency 0.25] [--leads 20]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver


class TimedSqliteSaver(AsyncSqliteSaver):
    """Counts and times every checkpoint and pending-write the graph stores."""

    seconds = 0.0
    puts = 0
    writes = 0

    async def aput(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return await super().aput(*args, **kwargs)
        finally:
            TimedSqliteSaver.seconds += time.perf_counter() - start
            TimedSqliteSaver.puts += 1

    async def aput_writes(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return await super().aput_writes(*args, **kwargs)
        finally:
            TimedSqliteSaver.seconds += time.perf_counter() - start
            TimedSqliteSaver.writes += 1


class SandboxProcess:
    """`leadgen sandbox` in a child process, driven over its control API."""

    def __init__(self, latency: float) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        leadgen = Path(sys.executable).with_name("leadgen")
        self.proc = subprocess.Popen(
            [str(leadgen), "sandbox", "--port", str(port), "--latency", str(latency)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/_sandbox/health", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("the sandbox did not start within 30 s")

    def config(self) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(f"{self.url}/_sandbox/config").json()
        return result

    def configure(self, **knobs: Any) -> None:
        httpx.post(f"{self.url}/_sandbox/config", json=knobs).raise_for_status()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def _ts(value: str | None) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else 0.0


async def run_once(concurrency: int, leads: int, workdir: Path, *, timed: bool = False) -> dict[str, Any]:
    os.environ["LEADGEN_AUDIT_CONCURRENCY"] = str(concurrency)
    os.environ["DATABASE_URL"] = (
        f"sqlite+aiosqlite:///{workdir / f'c{concurrency}-{uuid.uuid4().hex[:6]}.db'}"
    )
    from leadgen.settings import get_settings, reset_settings

    reset_settings()
    from db import open_database
    from graphs.checkpoints import checkpoint_location
    from graphs.service import RunService
    from tools.billing import billing_for
    from tools.billing.local import LocalLedger
    from tools.providers import Providers

    settings = get_settings()
    db = await open_database(settings.resolved_database_url)
    saver_cls = TimedSqliteSaver if timed else AsyncSqliteSaver
    async with (
        saver_cls.from_conn_string(checkpoint_location(db.url)) as saver,
        Providers.from_settings(settings) as providers,
    ):
        runs = RunService(db, billing_for(settings, db.engine), providers, saver, settings)
        # An agency per run: a second run of the campaign in one agency would reuse the first
        # run's dossiers (lead history) and audit nothing.
        agency = f"bench-{concurrency}-{uuid.uuid4().hex[:8]}"
        customer = await runs.ensure_agency(agency)
        assert isinstance(runs.billing, LocalLedger)
        await runs.billing.set_balance(customer, 1000)
        flow = await runs.start(agency, num_leads=leads, vertical="dentists", geography="Austin, TX")
        audit_done: list[float] = []

        async def on_event(event: dict[str, Any]) -> None:
            if event.get("type") == "audit_progress":
                audit_done.append(_ts(event["timestamp"]))

        started = time.perf_counter()
        outcome = await runs.execute(agency, flow.id, on_event=on_event)
        wall = time.perf_counter() - started
        jobs = await runs.audit_jobs(agency, flow.id)
    await db.close()
    phases = {p["name"]: p for p in outcome.flow.phases}
    audits_start = _ts(phases["generate_dossier"]["started_at"])
    # One by one, audit i runs from the end of audit i-1 to its own end.
    bounds = [audits_start, *sorted(audit_done)]
    durations = [b - a for a, b in itertools.pairwise(bounds)]
    before = (
        sum(
            (phases[p]["duration_ms"] or 0)
            for p in ("source", "filter_rank", "persist_leads", "scrape_content")
        )
        / 1000
    )
    after = (phases["finalize_rank"]["duration_ms"] or 0) / 1000
    return {
        "status": outcome.status,
        "wall": wall,
        "audits": len(jobs),
        "completed": sum(1 for j in jobs if j.status == "completed"),
        "durations": durations,
        "before": before,
        "after": after,
    }


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.25, help="sandbox latency scale (1 = realistic)")
    parser.add_argument("--leads", type=int, default=20)
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="leadgen-bench-"))
    # The providers are remote in real life: give the sandbox its own process (and CPU core).
    sandbox = SandboxProcess(args.latency)
    knobs = {"world_profile": "all_auditable"} if "world_profile" in sandbox.config() else {}
    if knobs:
        sandbox.configure(**knobs)
    os.environ.update(LEADGEN_SANDBOX_URL=sandbox.url, LEADGEN_DATA_DIR=str(workdir / "data"))
    try:
        # Warm-up (not measured): the first run in a process pays for imports done on first use.
        sandbox.configure(latency_scale=0)
        await run_once(4, 3, workdir)
        sandbox.configure(latency_scale=args.latency)
        serial = await run_once(1, args.leads, workdir)
        default = await run_once(4, args.leads, workdir)
        wide = await run_once(20, args.leads, workdir)
        sandbox.configure(latency_scale=0)
        TimedSqliteSaver.seconds = 0.0
        TimedSqliteSaver.puts = TimedSqliteSaver.writes = 0
        # tracemalloc slows Python down several-fold: it only watches this last, untimed run.
        tracemalloc.start()
        timed = await run_once(1, args.leads, workdir, timed=True)
    finally:
        sandbox.stop()
    _, peak_traced = tracemalloc.get_traced_memory()
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    audits = serial["audits"]
    durations = serial["durations"] or [0.0]
    slowest, mean = max(durations), statistics.fmean(durations)
    critical = serial["before"] + slowest + serial["after"]
    expected_default = serial["before"] + math.ceil(audits / 4) * mean + serial["after"]
    steps = TimedSqliteSaver.puts + TimedSqliteSaver.writes

    print(
        f"\nPipeline benchmark: {args.leads} leads requested, {audits} audits, latency scale {args.latency}"
    )
    print(f"(sandbox world: {'every lead auditable' if knobs else 'realistic mix'}; {workdir})\n")
    print(
        table(
            [
                ["run", "wall s", "audits ok", "ratio to one-by-one"],
                ["audits one by one (seed)", f"{serial['wall']:.2f}", f"{serial['completed']}/{audits}", "1.00"],
                ["default concurrency 4", f"{default['wall']:.2f}", f"{default['completed']}/{default['audits']}",
                 f"{serial['wall'] / default['wall']:.2f}x faster"],
                ["concurrency 20", f"{wide['wall']:.2f}", f"{wide['completed']}/{wide['audits']}",
                 f"{serial['wall'] / wide['wall']:.2f}x faster"],
            ]
        )
    )  # fmt: skip
    print()
    print(
        f"audit path: mean {mean:.2f} s, slowest {slowest:.2f} s; other phases {serial['before'] + serial['after']:.2f} s"
    )
    print(f"critical-path lower bound (source..queue + slowest audit + finalize): {critical:.2f} s")
    print(f"ceil({audits}/4) audit paths + other phases:                         {expected_default:.2f} s")
    print(f"default wall / ceil(N/4) paths = {default['wall'] / expected_default:.2f}  (target <= 1.5)")
    print(f"concurrency-20 wall / critical path = {wide['wall'] / critical:.2f}  (target <= 1.3)")
    print(
        f"checkpoint overhead (zero latency, one by one, under tracemalloc): "
        f"{TimedSqliteSaver.seconds * 1000:.0f} ms over {steps} saver calls"
        f" = {TimedSqliteSaver.seconds * 1000 / max(1, steps):.2f} ms per step; run wall {timed['wall']:.2f} s"
    )
    print(
        f"peak memory: {peak_rss_mb:.0f} MiB RSS for the whole benchmark; "
        f"{peak_traced / 2**20:.1f} MiB traced by Python during one 20-lead run"
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
