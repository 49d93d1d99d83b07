"""`leadgen worker`: execute queued runs (LEADGEN_EXECUTOR=queue, PostgreSQL; graphs/worker.py).
`leadgen runner`: keep the stack loaded for `leadgen run` and `resume` (assistant/cli/runner.py).

    leadgen worker [--concurrency N] [--name NAME]
    leadgen runner [--socket PATH]

Runs in the foreground until SIGTERM or Ctrl-C, which drain it: no new job is taken, running
flows get `LEADGEN_WORKER_DRAIN_SECONDS` to finish, the rest are checkpointed, their leases
released and their jobs put back for another worker; then it exits 0. Start as many as you like,
on as many hosts, against one database. Timings and pool sizes: `LEADGEN_WORKER_*` (QueueSettings).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from assistant.cli.app import ExitCode, app, err, fail

if TYPE_CHECKING:
    from leadgen.settings import ProviderName

# What the runs a worker executes reach (as `leadgen run` checks before it writes anything).
WORKER_PROVIDERS: tuple[ProviderName, ...] = ("places", "firecrawl", "openai")


@app.command("worker")
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            "-c",
            min=1,
            max=64,
            help="Flows run at once by this worker (default: $LEADGEN_WORKER_CONCURRENCY, else 2).",
        ),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Name in logs (default: host:pid).")] = None,
) -> None:
    """Execute queued runs (PostgreSQL, LEADGEN_EXECUTOR=queue) until SIGTERM or Ctrl-C."""
    from pydantic import ValidationError

    from graphs.queue import QueueNotAvailable, QueueSettings, require_postgres
    from graphs.worker import WorkerStopped, run_worker
    from leadgen.settings import MissingProviderKey, get_settings

    settings = get_settings()
    try:
        require_postgres(settings)
        queue = QueueSettings()
        for provider in WORKER_PROVIDERS:
            settings.endpoint(provider)
    except QueueNotAvailable as exc:
        fail(str(exc), ExitCode.BAD_INPUT)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        fail(f"bad LEADGEN_WORKER_* setting: {problems}", ExitCode.BAD_INPUT)
    except MissingProviderKey as exc:
        fail(str(exc), ExitCode.FAILED)
    if concurrency is not None:
        queue = queue.model_copy(update={"concurrency": concurrency})

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Our own lines and procrastinate's job lines; the HTTP clients' per-request lines are noise.
    for noisy in ("httpx", "httpcore", "openai", "firecrawl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    err.print(
        f"worker: {queue.concurrency} run(s) at a time; SIGTERM or Ctrl-C drains and stops it",
        highlight=False,
    )
    try:
        asyncio.run(run_worker(settings, queue, name=name))
    except OSError as exc:
        fail(f"cannot reach the database: {exc}", ExitCode.FAILED)
    except WorkerStopped as exc:
        fail(str(exc), ExitCode.FAILED)


@app.command("runner")
def runner(
    socket_path: Annotated[
        Path | None,
        typer.Option(
            "--socket",
            help="Unix socket to listen on (default: $LEADGEN_RUNNER, else runner.sock in LEADGEN_DATA_DIR).",
        ),
    ] = None,
) -> None:
    """Keep the stack loaded and start `leadgen run`/`resume` from it (export LEADGEN_RUNNER=SOCKET)."""
    import os
    import sys

    from assistant.cli.runner import RUNNER_VARIABLE
    from leadgen.settings import get_settings

    path = socket_path or Path(
        os.environ.get(RUNNER_VARIABLE) or get_settings().leadgen_data_dir / "runner.sock"
    )
    # A fresh interpreter: this one has loaded the CLI's modules, whose consoles are bound to this
    # terminal; the runner's children must build theirs on the terminal of each command.
    os.execv(sys.executable, [sys.executable, "-m", "assistant.cli.runner", "--socket", str(path.absolute())])
