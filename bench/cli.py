"""How long `leadgen` commands take as whole processes, the way a person or a script runs them.

Starts `leadgen sandbox` (latency scale 0.2, every lead auditable, as bench/pipeline.py runs),
fills a fresh SQLite database through the CLI itself (`leadgen run -n 20` at audit concurrency
20, a call), then times every read command and a few others as separate processes: median and
p95 wall time of 10 runs after one warm-up, CPU time (from `wait4`), and the process's peak RSS
(one more run under GNU time), beside `python -c pass`. Then it times `leadgen run -n 20 --json` at concurrency 20
three more times in its own process and three times handed to a `leadgen runner` (alternately; a
fresh agency each, so no dossier is reused) and compares each median with the in-process critical
path that bench/pipeline.py prints (run here unless `--critical-path S` gives it; `--skip-run`
skips the comparison). The 1-minute load average is printed beside each run: the machine is
shared, and wall times move with it.

    .venv/bin/python bench/cli.py [--runs 10] [--latency 0.2] [--critical-path S] [--skip-run]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
LEADGEN = str(BIN / "leadgen")
ROOT = Path(__file__).resolve().parents[1]
READ_TARGET_SECONDS, READ_TARGET_MIB = 0.30, 60


@dataclass
class Timing:
    label: str
    walls: list[float]
    cpus: list[float]
    peak_kib: int
    code: int

    @property
    def median(self) -> float:
        return statistics.median(self.walls)

    @property
    def p95(self) -> float:
        return (
            statistics.quantiles(self.walls, n=20, method="inclusive")[18]
            if len(self.walls) > 1
            else self.walls[0]
        )


def run_process(argv: Sequence[str], env: dict[str, str]) -> tuple[float, float, int, int, bytes]:
    """(wall seconds, CPU seconds, peak RSS KiB, exit code, stdout) of one process."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, proc.returncode, stdout


def peak_rss_kib(argv: Sequence[str], env: dict[str, str]) -> int:
    """The process's own peak RSS, measured by GNU time. (`wait4` of a child of this process
    also counts the pages the child shared with us between fork and exec.)"""
    with tempfile.NamedTemporaryFile("r") as report:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", report.name, *argv], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)  # fmt: skip
        return int(report.read().split()[-1])


def timed(label: str, argv: Sequence[str], env: dict[str, str], runs: int) -> Timing:
    run_process(argv, env)  # warm-up: file cache, .pyc files
    walls, cpus, code = [], [], 0
    for _ in range(runs):
        wall, cpu, _rss, code, _ = run_process(argv, env)
        walls.append(wall)
        cpus.append(cpu)
    return Timing(label, walls, cpus, peak_rss_kib(argv, env), code)


def leadgen_json(env: dict[str, str], *args: str) -> Any:
    done = subprocess.run([LEADGEN, *args, "--json"], env=env, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 3):
        raise RuntimeError(f"leadgen {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


class Sandbox:
    def __init__(self, latency: float, env: dict[str, str]) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [LEADGEN, "sandbox", "--port", str(port), "--latency", str(latency)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/_sandbox/health", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError("the sandbox did not start within 60 s")
        request = urllib.request.Request(
            f"{self.url}/_sandbox/config",
            data=json.dumps({"world_profile": "all_auditable"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=5).close()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def critical_path(latency: float) -> tuple[float, str]:
    """bench/pipeline.py's critical-path lower bound (and its concurrency-20 wall), in process."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "pipeline.py"), "--latency", str(latency), "--leads", "20"],
        capture_output=True,
        text=True,
        check=True,
    )
    bound = re.search(r"critical-path lower bound[^:]*: ([0-9.]+) s", done.stdout)
    wide = re.search(r"concurrency 20\s+([0-9.]+)", done.stdout)
    if bound is None:
        raise RuntimeError(f"no critical path in bench/pipeline.py's output:\n{done.stdout}")
    return float(bound.group(1)), (f"{float(wide.group(1)):.2f} s" if wide else "?")


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--critical-path", type=float, default=None, help="seconds, from bench/pipeline.py")
    parser.add_argument("--skip-run", action="store_true", help="time the read commands only")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="leadgen-bench-cli-"))
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LEADGEN_", "DATABASE_URL", "AUTUMN_", "OPENAI_", "FIRECRAWL_", "GOOGLE_"))
    }
    env.update(
        DATABASE_URL=f"sqlite:///{work / 'bench.db'}",
        LEADGEN_DATA_DIR=str(work / "data"),
        LEADGEN_AUDIT_CONCURRENCY="20",
        LEADGEN_AGENCY="bench",
    )
    os.chdir(work)  # no developer `.env`
    sandbox = Sandbox(args.latency, env)
    env["LEADGEN_SANDBOX_URL"] = sandbox.url
    try:
        leadgen_json(env, "credits", "set", "1000")
        leadgen_json(env, "agency", "set", "--vertical", "dentists", "--geography", "Austin, TX",
                     "--criteria", "MISSING_WEBSITE,WEAK_WEB_PRESENCE,LOW_GOOGLE_RATING,FEW_GOOGLE_REVIEWS")  # fmt: skip
        run = leadgen_json(env, "run", "-n", "20")
        leads = leadgen_json(env, "leads", run["id"])
        audits = leadgen_json(env, "audits", run["id"])
        with_dossier = next(lead["id"] for lead in leads if lead["dossier_id"])
        audit = next(job["id"] for job in audits if job["status"] == "completed")
        subprocess.run(
            [LEADGEN, "call", leads[0]["id"], "--no-wait", "--json"],
            env=env,
            capture_output=True,
            check=False,
        )

        reads: list[tuple[str, list[str]]] = [
            ("credits", ["credits"]),
            ("credits --json", ["credits", "--json"]),
            ("credits history", ["credits", "history"]),
            ("agency show", ["agency", "show"]),
            ("status RUN", ["status", run["id"]]),
            ("status RUN --json", ["status", run["id"], "--json"]),
            ("status <unknown id>", ["status", "no-such-run"]),
            ("runs", ["runs"]),
            ("leads RUN", ["leads", run["id"]]),
            ("leads RUN --json", ["leads", run["id"], "--json"]),
            ("leads RUN --csv", ["leads", run["id"], "--csv"]),
            ("audits RUN", ["audits", run["id"]]),
            ("dossier LEAD", ["dossier", with_dossier]),
            ("pages AUDIT_JOB", ["pages", audit]),
            ("calls --json", ["calls", "--json"]),
        ]
        others: list[tuple[str, list[str]]] = [
            ("credits grant 1 (writes: full CLI)", ["credits", "grant", "1"]),
            ("leadgen --help (full CLI)", ["--help"]),
        ]
        baseline = timed("python -c pass", [sys.executable, "-c", "pass"], env, args.runs)
        read_timings = [timed(label, [LEADGEN, *cmd], env, args.runs) for label, cmd in reads]
        other_timings = [timed(label, [LEADGEN, *cmd], env, args.runs) for label, cmd in others]

        runs_walls: dict[str, list[float]] = {"own process": [], "through `leadgen runner`": []}
        run_loads: dict[str, list[float]] = {name: [] for name in runs_walls}
        if not args.skip_run:
            socket_path = work / "runner.sock"
            runner = subprocess.Popen([LEADGEN, "runner", "--socket", str(socket_path)], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
            try:
                assert runner.stderr is not None
                if "listening on" not in runner.stderr.readline():
                    raise RuntimeError("`leadgen runner` did not start")
                # Alternated, so both see the same load.
                for i in range(3):
                    for name, extra in (("own process", {}), ("through `leadgen runner`",
                                                              {"LEADGEN_RUNNER": str(socket_path)})):  # fmt: skip
                        run_env = env | extra | {"LEADGEN_AGENCY": f"bench-run-{i}-{len(extra)}"}
                        leadgen_json(run_env, "credits", "set", "1000")
                        run_loads[name].append(os.getloadavg()[0])
                        wall, _cpu, _rss, code, out = run_process([LEADGEN, "run", "-n", "20", "--vertical", "dentists",
                                                                  "--geography", "Austin, TX", "--json"], run_env)  # fmt: skip
                        result = json.loads(out)
                        if code != 0 or result["status"] != "completed":
                            raise RuntimeError(f"run {i} ({name}) ended {result['status']} (exit {code})")
                        runs_walls[name].append(wall)
            finally:
                runner.terminate()
                runner.wait(timeout=30)
    finally:
        sandbox.stop()

    print(f"\n`leadgen` as whole processes: median and p95 of {args.runs} runs after a warm-up ({work})\n")
    rows = [["command", "median s", "p95 s", "CPU s (median)", "peak RSS MiB", "exit"]]
    for t in [baseline, *read_timings, *other_timings]:
        rows.append([t.label, f"{t.median:.3f}", f"{t.p95:.3f}", f"{statistics.median(t.cpus):.3f}",
                     f"{t.peak_kib / 1024:.0f}", str(t.code)])  # fmt: skip
    print(table(rows))
    slowest = max(read_timings, key=lambda t: t.median)
    heaviest = max(read_timings, key=lambda t: t.peak_kib)
    print(
        f"\nread commands: slowest median {slowest.median:.3f} s ({slowest.label}; target <= {READ_TARGET_SECONDS}), "
        f"largest peak {heaviest.peak_kib / 1024:.0f} MiB ({heaviest.label}; target <= {READ_TARGET_MIB})"
    )
    load = os.getloadavg()
    print(
        f"load average during the benchmark: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores"
    )
    if not args.skip_run:
        pipeline_load = os.getloadavg()[0]
        bound, inprocess = (
            (args.critical_path, "not run") if args.critical_path else critical_path(args.latency)
        )
        print(f"\n`leadgen run -n 20 --json` at concurrency 20, latency {args.latency}, as a whole process:")
        for name, walls in runs_walls.items():
            median = statistics.median(walls)
            print(
                f"  {name}: {', '.join(f'{w:.2f}' for w in walls)} s (median {median:.2f} s; "
                f"1-min load {', '.join(f'{x:.2f}' for x in run_loads[name])}); "
                f"/ critical path = {median / bound:.2f}  (target <= 1.5)"
            )
        print(
            f"in-process critical path (bench/pipeline.py): {bound:.2f} s; its in-process concurrency-20 wall "
            f"{inprocess} (1-min load {pipeline_load:.2f} when it started)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
