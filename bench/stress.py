"""Many processes, one SQLite file: no "database is locked", every run completes, ledger exact.

Real processes, all on one database file (and its checkpoint file) for `--seconds`:

* the chat server's data layer (assistant/chat_data.py, Chainlit's SQLAlchemy layer on our engine)
  writing thread history: threads, user and assistant steps, updates, reads; a process of its own
  (this script with `--role history`);
* `leadgen serve` receiving Vapi webhooks: the sandbox's end-of-call reports for the calls placed
  below, and this driver's own redeliveries and status updates of them;
* rounds of `leadgen run` x 2, plus a third `leadgen run` that is interrupted with Ctrl-C in the
  middle of its audits (held there by LEADGEN_STALL_AT) and then `leadgen resume`d while the next
  two runs go; `leadgen call --no-wait` on leads found earlier.

At the end it checks: no process printed "database is locked" (or failed any other way), every
run completed, each interrupted run exited 130 and resumed to completion, and the ledger is exact:
every charge key once, charges = 1 per run + 2 per completed audit + the minutes billed on calls,
balance = starting credits - charges, no credit left on hold, every call metered once.

    .venv/bin/python bench/stress.py [--seconds 60] [--leads 4] [--latency 0.05] [--json]

Prints figures (runs, audits, calls, webhooks, history writes, durations) and exits 0 when every
check holds, 1 otherwise. tests/reliability/test_stress.py runs a shortened variant.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

LEADGEN = str(Path(sys.executable).with_name("leadgen"))
# Started processes must be able to receive Ctrl-C even when this script runs as a background job
# (which starts children with SIGINT ignored).
WITH_DEFAULT_SIGINT = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
SECRET = "stress-webhook-secret"
AGENCY = "stress"
STARTING_CREDITS = 100_000
CITIES = [
    f"{town}, {state}"
    for state, towns in {
        "TX": ["Austin", "Dallas", "Houston", "El Paso", "Plano", "Waco", "Tyler", "Frisco"],
        "CA": ["Fresno", "Irvine", "Modesto", "Oxnard", "Salinas", "Visalia", "Ontario", "Chico"],
        "FL": ["Tampa", "Orlando", "Miami", "Naples", "Ocala", "Sarasota", "Destin", "Jupiter"],
        "OH": ["Akron", "Dayton", "Toledo", "Canton", "Lorain", "Xenia", "Kent", "Parma"],
    }.items()
    for town in towns
]
VERTICALS = ["dentists", "plumbers", "roofers", "florists", "bakeries", "gyms", "lawyers", "vets"]
LOCKED = "database is locked"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[Any], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=2).raise_for_status()
            return
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.2)


@dataclass
class Proc:
    """A `leadgen` process of the stress, its output kept in files."""

    name: str
    args: list[str]
    popen: subprocess.Popen[str]
    out: Path
    err: Path
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None

    def poll(self) -> int | None:
        code = self.popen.poll()
        if code is not None and self.ended is None:
            self.ended = time.monotonic()
        return code

    def wait(self, timeout: float) -> int:
        code = self.popen.wait(timeout=timeout)
        self.poll()
        return code

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")


class Stress:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.dir = workdir
        self.db = workdir / "leadgen.db"
        self.procs: list[Proc] = []
        self.problems: list[str] = []
        self.runs: dict[str, str] = {}  # flow id -> how it went ("run", "interrupted+resumed")
        self.calls: list[str] = []
        self.posted = 0
        self.round_seconds: list[float] = []
        self.serve_port = free_port()
        self.serve_url = f"http://127.0.0.1:{self.serve_port}"
        self.campaigns = iter([(v, c) for c in CITIES for v in VERTICALS])

    # -- processes -------------------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADGEN_", "DATABASE_URL", "VAPI_"))}
        env.update(
            DATABASE_URL=f"sqlite+aiosqlite:///{self.db}",
            LEADGEN_DATA_DIR=str(self.dir / "data"),
            LEADGEN_SANDBOX_URL=self.sandbox_url,
            LEADGEN_AGENCY=AGENCY,
            LEADGEN_STARTING_CREDITS=str(STARTING_CREDITS),
            LEADGEN_AUDIT_CONCURRENCY="2",
            LEADGEN_LEASE_SECONDS="5",
            LEADGEN_PUBLIC_URL=self.serve_url,
            VAPI_WEBHOOK_SECRET=SECRET,
            AUTUMN_SECRET_KEY="",
        )
        env.update(extra)
        return env

    def start(self, name: str, *args: str, env: dict[str, str] | None = None, python: bool = False) -> Proc:
        out, err = self.dir / f"{name}.out", self.dir / f"{name}.err"
        command = (
            [sys.executable, *args] if python else [sys.executable, "-c", WITH_DEFAULT_SIGINT, LEADGEN, *args]
        )
        with out.open("w") as o, err.open("w") as e:
            popen = subprocess.Popen(
                command, env=env or self.env(), stdout=o, stderr=e, text=True, cwd=self.dir
            )
        proc = Proc(name, list(args), popen, out, err)
        self.procs.append(proc)
        return proc

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.db, timeout=60)
        try:
            return conn.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        finally:
            conn.close()

    # -- the stress ------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        began = time.monotonic()
        port = free_port()
        self.sandbox_url = f"http://127.0.0.1:{port}"
        sandbox = subprocess.Popen(
            [LEADGEN, "sandbox", "--port", str(port), "--latency", str(self.args.latency)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_http(f"{self.sandbox_url}/_sandbox/health", sandbox, "the sandbox")
            httpx.post(
                f"{self.sandbox_url}/_sandbox/config",
                # Every lead has a phone and a site of its own: every run audits (and can be held).
                json={
                    "vapi_webhook_auth": "x-vapi-secret",
                    "vapi_webhook_secret": SECRET,
                    "world_profile": "all_auditable",
                },
            ).raise_for_status()
            return self._stress(began)
        finally:
            for proc in self.procs:
                if proc.poll() is None:
                    proc.popen.kill()
            sandbox.terminate()
            sandbox.wait(timeout=20)

    def _stress(self, began: float) -> dict[str, Any]:
        serve = self.start("serve", "serve", "--port", str(self.serve_port))
        history = self.start(
            "history", __file__, "--role", "history", "--stop-file", str(self.dir / "stop"), python=True
        )
        wait_http(f"{self.serve_url}/healthz", serve.popen, "leadgen serve")
        deadline = time.monotonic() + self.args.seconds
        rounds = 0
        while rounds == 0 or time.monotonic() < deadline:
            self._round(rounds)
            rounds += 1
        (self.dir / "stop").touch()
        self._expect(history, 0, timeout=120)
        self._wait_calls_metered(timeout=120)
        serve.popen.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
        stress_seconds = time.monotonic() - began
        return self._report(rounds, stress_seconds, history)

    def _round(self, number: int) -> None:
        """Two runs and a third interrupted mid-audits with Ctrl-C, resumed while the two go on;
        calls on leads found earlier; webhooks posted for calls placed earlier."""
        started = time.monotonic()
        runs = [self._start_run(f"r{number}-{i}") for i in range(2)]
        interrupted = self._start_run(f"r{number}-c", LEADGEN_STALL_AT="audit:map_urls#2")
        self._wait_for(lambda: "stalled:" in self._node_log(interrupted), interrupted, "a run to be held")
        self._place_calls(number)  # on leads saved by now (the held run is past saving its leads)
        interrupted.popen.send_signal(signal.SIGINT)
        self._expect(interrupted, 130, timeout=120)
        flow_id = self._flow_of(interrupted)
        resumed = self.start(f"r{number}-c-resume", "resume", flow_id, "--json")
        self._post_webhooks()
        for proc in [*runs, resumed]:
            self._expect(proc, 0, timeout=600)
        for proc in runs:
            self.runs[self._flow_of(proc)] = "run"
        self.runs[flow_id] = "interrupted+resumed"
        self.round_seconds.append(time.monotonic() - started)

    def _start_run(self, name: str, **extra: str) -> Proc:
        vertical, city = next(self.campaigns)
        env = self.env(LEADGEN_NODE_LOG=str(self.dir / f"{name}.nodes"), **extra)
        args = ["run", "-n", str(self.args.leads), "--vertical", vertical, "--geography", city, "--json"]
        return self.start(name, *args, env=env)

    def _node_log(self, proc: Proc) -> str:
        log = self.dir / f"{proc.name}.nodes"
        return log.read_text() if log.exists() else ""

    def _flow_of(self, proc: Proc) -> str:
        """The run id the process printed (`run ID: working…` on stderr)."""
        for line in proc.stderr().splitlines():
            if line.startswith("run ") and ":" in line:
                return line.split()[1].rstrip(":")
        raise AssertionError(f"{proc.name} printed no run id:\n{proc.stderr()[-2000:]}")

    def _wait_for(self, condition: Any, proc: Proc, what: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if proc.poll() is not None:
                raise AssertionError(
                    f"{proc.name} exited {proc.poll()} before {what}:\n{proc.stderr()[-3000:]}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout:g} s")
            time.sleep(0.05)

    def _expect(self, proc: Proc, code: int, timeout: float) -> None:
        try:
            got = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.popen.kill()
            got = proc.wait(timeout=30)
        if got != code:
            self.problems.append(
                f"{proc.name} ({' '.join(proc.args[:3])}) exited {got}, not {code}: {proc.stderr()[-1500:]}"
            )

    def _place_calls(self, number: int) -> None:
        """`leadgen call --no-wait` on two leads with a phone, not called before."""
        called = {opp for (opp,) in self.query("SELECT opportunity_id FROM calls")}
        leads = [
            opp
            for (opp,) in self.query(
                "SELECT id FROM client_opportunities WHERE agency_id = ? AND phone IS NOT NULL ORDER BY id",
                AGENCY,
            )
            if opp not in called
        ][:2]
        for i, opp in enumerate(leads):
            proc = self.start(f"r{number}-call{i}", "call", opp, "--no-wait", "--json")
            self._expect(proc, 0, timeout=120)
            if proc.poll() == 0:
                self.calls.append(json.loads(proc.stdout())["id"])

    def _post_webhooks(self) -> None:
        """Redeliveries of what Vapi sends, for every call so far: a status update and an
        end-of-call report (processed at most once each, billed once)."""
        rows = self.query("SELECT id, provider_call_id FROM calls WHERE provider_call_id IS NOT NULL")
        with httpx.Client(timeout=30) as http:
            for call_id, provider_id in rows:
                for message in (
                    {"type": "status-update", "status": "in-progress", "call": {"id": provider_id}},
                    {
                        "type": "end-of-call-report",
                        "call": {"id": provider_id},
                        "endedReason": "customer-ended-call",
                        "durationSeconds": 75,
                        "summary": f"stress redelivery for {call_id}",
                    },
                ):
                    answer = http.post(
                        f"{self.serve_url}/webhooks/vapi",
                        json={"message": message},
                        headers={"X-Vapi-Secret": SECRET},
                    )
                    self.posted += 1
                    if answer.status_code != 200:
                        self.problems.append(f"webhook answered {answer.status_code}: {answer.text[:300]}")

    def _wait_calls_metered(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.query("SELECT id, status, metadata FROM calls")
            pending = [cid for cid, status, meta in rows if 'ai_call_metering"' not in (meta or "")]
            if not pending:
                return
            if time.monotonic() > deadline:
                self.problems.append(f"calls never metered: {pending}")
                return
            time.sleep(0.2)

    # -- the checks -----------------------------------------------------------------------------

    def _report(self, rounds: int, seconds: float, history: Proc) -> dict[str, Any]:
        for proc in self.procs:
            for text in (proc.stderr(), proc.stdout()):
                if LOCKED in text:
                    line = next(line for line in text.splitlines() if LOCKED in line)
                    self.problems.append(f"{proc.name}: {line.strip()[:300]}")
        flows = self.query("SELECT id, status FROM lead_gen_flows")
        not_done = [(f, s) for f, s in flows if s != "completed"]
        if not_done:
            self.problems.append(f"runs not completed: {not_done}")
        if {f for f, _ in flows} != set(self.runs):
            self.problems.append(f"runs in the database {len(flows)} != runs started {len(self.runs)}")
        completed_audits = self.query(
            "SELECT COUNT(*) FROM audit_jobs a JOIN lead_gen_flows f ON f.id = a.lead_gen_flow_id "
            "WHERE a.status = 'completed'"
        )[0][0]
        charges = self.query(
            "SELECT idempotency_key, credits, feature_id FROM credit_ledger_entries WHERE kind = 'charge'"
        )
        keys = [k for k, _, _ in charges]
        if len(keys) != len(set(keys)):
            self.problems.append("a key was charged twice")
        billed = 0
        for _, meta in self.query("SELECT id, metadata FROM calls"):
            metering = json.loads(meta or "{}").get("ai_call_metering") or {}
            billed += int(metering.get("billed_minutes") or 0)
        expected = len(flows) + 2 * completed_audits + billed
        charged = sum(c for _, c, _ in charges)
        if charged != expected:
            self.problems.append(f"charged {charged} credits, expected {expected}")
        [(balance, held)] = self.query(
            "SELECT balance, held FROM credit_accounts WHERE customer_id = ?", AGENCY
        ) or [(None, None)]
        if (balance, held) != (STARTING_CREDITS - charged, 0):
            self.problems.append(
                f"balance {balance} held {held}, expected {STARTING_CREDITS - charged} and 0"
            )
        if self.query("SELECT hold_key FROM credit_holds WHERE status = 'open'"):
            self.problems.append("credits left on hold")
        webhooks = dict(self.query("SELECT status, COUNT(*) FROM webhook_inbox GROUP BY status"))
        if set(webhooks) - {"processed"}:
            self.problems.append(f"webhooks not processed: {webhooks}")
        written = json.loads(history.stdout() or "{}")
        if written.get("errors"):
            self.problems.append(f"history writer: {written['errors']} failed writes")
        cli = [p for p in self.procs if p.ended is not None and p.name.startswith("r")]
        return {
            "ok": not self.problems,
            "problems": self.problems,
            "seconds": round(seconds, 1),
            "rounds": rounds,
            "round_seconds": [round(s, 1) for s in self.round_seconds],
            "runs_completed": sum(1 for _, s in flows if s == "completed"),
            "runs_interrupted_and_resumed": sum(1 for how in self.runs.values() if how != "run"),
            "audits_completed": completed_audits,
            "calls": len(self.calls),
            "call_minutes_billed": billed,
            "credits_charged": charged,
            "webhooks_posted_by_driver": self.posted,
            "webhook_inbox": webhooks,
            "history_writes": written.get("writes", 0),
            "history_reads": written.get("reads", 0),
            "cli_processes": len(cli),
            "cli_process_seconds_max": round(max(((p.ended or 0) - p.started for p in cli), default=0), 1),
            "lock_errors": sum(1 for p in self.problems if LOCKED in p),
        }


# -- the chat server's data layer, in a process of its own -------------------------------------------


async def write_history(stop_file: Path) -> dict[str, int]:
    """What the chat server's data layer writes while people chat: a user, then threads, each with
    a user message and an assistant answer (created, then updated), renamed, and read back."""
    import logging

    import chainlit.data as chainlit_data
    from chainlit.context import init_http_context
    from chainlit.step import Step
    from chainlit.user import User
    from chainlit.utils import utc_now

    from assistant.chat_data import make_data_layer
    from db import open_database
    from leadgen.settings import get_settings

    failures: list[str] = []

    class Failures(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING and "error" in record.getMessage().lower():
                failures.append(record.getMessage())

    logging.getLogger("chainlit").addHandler(Failures())
    database = await open_database(get_settings().resolved_database_url)  # migrated, as the server does
    await database.close()
    layer = make_data_layer(get_settings().resolved_database_url)
    chainlit_data._data_layer, chainlit_data._data_layer_initialized = layer, True
    writes = reads = 0
    user = await layer.create_user(User(identifier=f"stress-{uuid.uuid4().hex[:6]}"))
    writes += 1
    assert user is not None
    while not await asyncio.to_thread(stop_file.exists):
        thread_id = str(uuid.uuid4())
        init_http_context(thread_id=thread_id)
        await layer.update_thread(thread_id, name="Find dentists", user_id=user.id)
        for turn in range(3):
            question = Step(name=user.identifier, type="user_message")
            question.output, question.start, question.end = f"question {turn}", utc_now(), utc_now()
            answer = Step(name="Atlas", type="assistant_message")
            answer.output, answer.start = "thinking…", utc_now()
            await layer.create_step(question.to_dict())
            await layer.create_step(answer.to_dict())
            answer.output, answer.end = f"answer {turn}", utc_now()
            await layer.update_step(answer.to_dict())
            writes += 3
            await asyncio.sleep(0.02)  # a busy chat server, not a loop hogging a core
        await layer.update_thread(thread_id, name=f"Find dentists ({thread_id[:6]})")
        writes += 2
        thread = await layer.get_thread(thread_id)
        reads += 1
        if thread is None or len(thread["steps"]) != 6:
            failures.append(f"thread {thread_id} read back {thread and len(thread['steps'])} steps, not 6")
    await layer.close()
    return {
        "writes": writes,
        "reads": reads,
        "errors": len(failures),
        "first_error": failures[0] if failures else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="how long to keep starting rounds")
    parser.add_argument("--leads", type=int, default=4, help="leads per run (-n)")
    parser.add_argument("--latency", type=float, default=0.05, help="sandbox latency scale")
    parser.add_argument("--json", action="store_true", help="print the report as JSON only")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (logs, database)")
    parser.add_argument("--role", choices=["driver", "history"], default="driver", help=argparse.SUPPRESS)
    parser.add_argument("--stop-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "history":
        print(json.dumps(asyncio.run(write_history(args.stop_file))))
        return
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        report = Stress(args, args.keep).run()
    else:
        with tempfile.TemporaryDirectory(prefix="leadgen-stress-") as tmp:
            report = Stress(args, Path(tmp)).run()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, value in report.items():
            if name != "problems":
                print(f"{name:32} {value}")
        for problem in report["problems"]:
            print(f"PROBLEM: {problem}")
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()
