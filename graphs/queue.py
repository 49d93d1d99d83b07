"""Runs as jobs in a Postgres queue (procrastinate), executed by `leadgen worker` processes.

With `LEADGEN_EXECUTOR=queue` (PostgreSQL only), `RunService.execute/resume` do not run the graph
in the calling process: they enqueue one job per flow and, by default, wait for it by reading the
flow row. Any number of `leadgen worker` processes, on any number of hosts, take the jobs::

    client (CLI, chat, Slack)                 worker (leadgen worker --concurrency N)
    RunService.execute(...)  --enqueue-->  procrastinate_jobs  --fetch-->  RunService.execute(...)
         ... polls lead_gen_flows <--------------------------- writes phases, leads, dossiers

One execution per flow holds on two levels. The job's `lock` and `queueing_lock` are the flow id:
procrastinate never runs two jobs with the same lock at once, and never keeps two waiting for
the same flow. Under that, the flow lease (the row's compare-and-set lease, renewed while a run
executes) still guards every execution, so an in-process `leadgen run` against the same
database, or a job retried while its first worker is merely slow, cannot run the flow twice.

A dead worker's runs come back by two clocks, both in seconds and configurable (`QueueSettings`):
its heartbeat stops, so after `stalled_seconds` any live worker's recovery loop (every
`recovery_seconds`) puts its jobs back to `todo`; the worker that then takes a job takes the flow
lease over at once when the dead holder was on this host, else once the lease expires
(`LEADGEN_LEASE_SECONDS`; until then the job is retried every `busy_retry_seconds`). The graph
resumes from its last checkpoint (durability "sync"), so finished steps and audits are not redone
and their idempotency keys are never charged twice.

The worker process itself (its loop, heartbeat thread and recovery rounds) is graphs/worker.py;
this module is the queue: the job, the client that enqueues, waiting on and recovering jobs.

SIGTERM (or Ctrl-C) drains a worker: it stops taking jobs, lets running flows finish for up to
`drain_seconds`, then cancels the rest. A cancelled run keeps every finished step in its
checkpoint, releases its lease, and its job goes back to the queue for another worker.

Procrastinate's schema is applied here, idempotently, when a worker starts or a client first
enqueues (under an advisory lock, only when its tables are missing), not by an Alembic
revision: it is procrastinate's own schema, versioned with the package. Upgrading procrastinate
to a version with schema changes means applying its migrations
(`procrastinate schema --migrations-path`), as its docs describe.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import psycopg
from procrastinate import App, JobContext, PsycopgConnector
from procrastinate import exceptions as pq_errors
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from procrastinate.schema import SchemaManager
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import text
from sqlalchemy.engine import make_url

from db.models import LeadGenFlow
from db.statuses import FlowStatus, PhaseStatus
from graphs.checkpoints import bootstrap_lock
from graphs.run_errors import AlreadyRunning, RunNotFound
from graphs.run_lease import RunKind as RunKind  # re-exported: its old import path
from graphs.run_lease import lease_is_stale
from leadgen.settings import Settings

if TYPE_CHECKING:
    from db import Database

log = logging.getLogger(__name__)

TASK_NAME = "leadgen.run_flow"
QUEUE_NAME = "leadgen_runs"
EventSink = Callable[[dict[str, Any]], Awaitable[None]]


class RunEnded(Protocol):
    @property
    def status(self) -> str: ...


class FlowRunner(Protocol):
    """What the queue needs of a run service (RunService is one): the queue is the service's
    executor, so it takes the service as a parameter instead of importing it."""

    db: Database

    async def get(self, agency_id: str, flow_id: str) -> LeadGenFlow: ...

    async def execute(self, agency_id: str, flow_id: str) -> RunEnded: ...

    async def resume(self, agency_id: str, flow_id: str) -> RunEnded: ...


class QueueSettings(BaseSettings):
    """The queue's timings and sizes, from `LEADGEN_WORKER_*` variables (or `.env`); all in seconds.

    Defaults suit production: a dead worker's runs restart within about
    `stalled_seconds + recovery_seconds` (25 s), plus the flow lease's expiry when the worker was
    on another host. Tests and benchmarks dial them down.
    """

    model_config = SettingsConfigDict(
        env_prefix="LEADGEN_WORKER_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    concurrency: int = Field(default=2, ge=1, le=64)  # flows one worker runs at once
    heartbeat_seconds: float = Field(default=5.0, gt=0)  # how often a worker says it is alive
    stalled_seconds: float = Field(default=20.0, gt=0)  # silent this long = dead; its jobs are retried
    recovery_seconds: float = Field(default=5.0, gt=0)  # how often each worker looks for stalled jobs
    poll_seconds: float = Field(default=1.0, gt=0)  # fetch interval (NOTIFY wakes it sooner on new jobs)
    drain_seconds: float = Field(default=25.0, ge=0)  # on SIGTERM: let runs finish this long, then requeue
    busy_retry_seconds: float = Field(default=3.0, gt=0)  # retry delay while another holder has the lease
    queue_pool_size: int = Field(default=4, ge=2)  # procrastinate's connections (one of them LISTENs)
    checkpoint_pool_size: int = Field(default=2, ge=1)  # the saver serialises its calls: 2 is plenty

    @model_validator(mode="after")
    def _heartbeats_fit_in_the_stall_window(self) -> QueueSettings:
        # A live worker must beat at least twice within the window, or it would be declared dead
        # (and its runs retried elsewhere) while still working.
        if self.stalled_seconds < 2 * self.heartbeat_seconds:
            raise ValueError(
                f"LEADGEN_WORKER_STALLED_SECONDS ({self.stalled_seconds}) must be at least twice "
                f"LEADGEN_WORKER_HEARTBEAT_SECONDS ({self.heartbeat_seconds})"
            )
        return self


class QueueNotAvailable(RuntimeError):
    """The queue executor was asked for on a database that cannot hold the queue (not PostgreSQL)."""


def is_postgres(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() in ("postgresql", "postgres")


def require_postgres(settings: Settings) -> str:
    """The libpq DSN of the settings' database; QueueNotAvailable when it is not PostgreSQL."""
    url = settings.resolved_database_url
    if not is_postgres(url):
        raise QueueNotAvailable(
            "LEADGEN_EXECUTOR=queue needs a PostgreSQL DATABASE_URL (the queue and the workers "
            f"share it), but the database is {make_url(url).get_backend_name()}; set "
            "DATABASE_URL=postgresql://... or use LEADGEN_EXECUTOR=inprocess."
        )
    return libpq_dsn(url)


def libpq_dsn(database_url: str) -> str:
    """`postgresql+asyncpg://...` (SQLAlchemy) as a plain `postgresql://...` for psycopg."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


# -- schema -------------------------------------------------------------------------------------


async def ensure_queue_schema(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Apply procrastinate's schema when its tables are missing; True when it did. Call it under
    `bootstrap_lock`: procrastinate's schema file is plain CREATEs, not re-runnable."""
    row = await (await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")).fetchone()
    if row and row[0]:
        return False
    async with conn.transaction():
        # No parameters, so psycopg sends the file as is (its '%' signs need no escaping).
        await conn.execute(SchemaManager.get_schema().encode())
    log.info("applied procrastinate's schema")
    return True


# -- the task -----------------------------------------------------------------------------------


class FlowBusy(Exception):
    """Another holder has the flow's lease: try again later (it may be a dead worker elsewhere
    whose lease has not expired yet, or a live run that will finish)."""


@dataclass(frozen=True)
class FlowRetry(BaseRetryStrategy):
    """When a flow's job is tried again.

    - the worker is shutting down (its run was cancelled after the drain): at once, elsewhere;
    - the flow's lease is held by someone else: after `busy_seconds`, for as long as it takes;
    - anything else escaping the run service (a database outage ...; graph errors never escape,
      they mark the flow `error`): a few times, backing off.
    """

    busy_seconds: float
    max_failures: int = 5

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, asyncio.CancelledError):
            return RetryDecision(retry_in={"seconds": 0})
        if isinstance(exception, FlowBusy):
            return RetryDecision(retry_at=_utcnow() + timedelta(seconds=self.busy_seconds))
        if isinstance(exception, Exception) and job.attempts < self.max_failures:
            # `attempts` counts busy retries too, hence the cap.
            return RetryDecision(retry_in={"seconds": min(2 ** (job.attempts + 1), 60)})
        return None


async def run_flow(context: JobContext, agency_id: str, flow_id: str, kind: RunKind) -> str:
    """The job: execute (or resume) the flow here, with this worker's run service, to its end or
    pause. Returns the outcome's status (procrastinate logs it)."""
    runs: FlowRunner = context.additional_context["runs"]
    runner = runs.resume if kind == "resume" else runs.execute
    assert context.job.id is not None
    RUNNING_HERE.add(context.job.id)
    try:
        outcome = await runner(agency_id, flow_id)
    except AlreadyRunning as exc:
        raise FlowBusy(str(exc)) from exc
    except RunNotFound:
        log.warning("job for run %s of %s: no such run; dropped", flow_id, agency_id)
        return "not_found"
    finally:
        RUNNING_HERE.discard(context.job.id)
    return outcome.status


# The jobs this process is executing now: never "stalled" in its own eyes, whatever the clock says.
RUNNING_HERE: set[int] = set()


def make_app(dsn: str, queue: QueueSettings | None = None, *, pool_size: int = 2) -> App:
    """A procrastinate app on `dsn` with the flow task registered (open it with `open_async`)."""
    queue = queue or QueueSettings()
    app = App(connector=PsycopgConnector(conninfo=dsn, min_size=1, max_size=pool_size))
    app.task(
        name=TASK_NAME,
        queue=QUEUE_NAME,
        pass_context=True,
        retry=FlowRetry(busy_seconds=queue.busy_retry_seconds),
    )(run_flow)
    return app


class RunQueue:
    """The client side: enqueue a flow's job. One per process (it holds a small pool)."""

    def __init__(self, app: App) -> None:
        self.app = app

    @classmethod
    @asynccontextmanager
    async def connect(cls, dsn: str) -> AsyncIterator[RunQueue]:
        async with bootstrap_lock(dsn) as conn:
            await ensure_queue_schema(conn)
        app = make_app(dsn)
        async with app.open_async():
            yield cls(app)

    async def enqueue(self, agency_id: str, flow_id: str, kind: RunKind) -> int | None:
        """Queue the flow's job; its id, or None when a job for this flow is already waiting
        (the queueing lock: that one will do the same work)."""
        deferrer = self.app.configure_task(TASK_NAME, queue=QUEUE_NAME, lock=flow_id, queueing_lock=flow_id)
        try:
            return await deferrer.defer_async(agency_id=agency_id, flow_id=flow_id, kind=kind)
        except pq_errors.AlreadyEnqueued:
            return None


async def pending_jobs(db: Database, flow_id: str) -> int:
    """Jobs of this flow waiting or running (a dead worker's count until they are recovered)."""
    async with db.reader() as repo:
        result = await repo.session.execute(
            text(
                "SELECT count(*) FROM procrastinate_jobs WHERE lock = :flow AND status IN ('todo', 'doing')"
            ),
            {"flow": flow_id},
        )
        return int(result.scalar_one())


# -- waiting on a queued run ----------------------------------------------------------------------


def _phase_events(before: LeadGenFlow | None, now: LeadGenFlow) -> list[dict[str, Any]]:
    """The flow row's changes as the events a live run would have streamed (phase status and
    progress, a billing pause), so the same monitors draw a run executing on another host."""
    events: list[dict[str, Any]] = []
    old = {p["name"]: p for p in (before.phases if before else [])}
    for phase in now.phases:
        prior = old.get(phase["name"], {})
        if (prior.get("status"), prior.get("progress")) == (phase.get("status"), phase.get("progress")):
            continue
        if before is None and phase.get("status") == PhaseStatus.PENDING:
            continue
        events.append(
            {
                "type": "phase",
                "flow_id": now.id,
                "phase": phase["name"],
                "status": phase.get("status"),
                "progress": phase.get("progress"),
                "message": None,
                "timestamp": _iso(now.updated_at),
            }
        )
    if now.status == FlowStatus.PAUSED_FOR_UPGRADE and (before is None or before.status != now.status):
        block = now.billing_block or {}
        events.append(
            {
                "type": "billing_pause",
                "flow_id": now.id,
                "phase": block.get("phase"),
                "billing_block": block,
                "timestamp": _iso(now.updated_at),
            }
        )
    return events


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


async def wait_for(
    runs: FlowRunner,
    agency_id: str,
    flow_id: str,
    *,
    on_event: EventSink | None = None,
    poll_seconds: float = 0.5,
) -> LeadGenFlow:
    """Block until the flow has no job waiting or running and its row is no longer `running`;
    returns the row. Progress comes from the flow row (it is all a client on another host can
    see), forwarded to `on_event` as phase events."""
    seen: LeadGenFlow | None = None
    while True:
        flow = await runs.get(agency_id, flow_id)
        if on_event is not None:
            for event in _phase_events(seen, flow):
                await on_event(event)
        seen = flow
        if flow.status != FlowStatus.RUNNING and await pending_jobs(runs.db, flow_id) == 0:
            return flow
        await asyncio.sleep(poll_seconds)


# -- recovery (run by every worker, graphs/worker.py) ---------------------------------------------------------------------------------


async def recover_stalled_jobs(app: App, stalled_seconds: float) -> list[int]:
    """Put the jobs of workers silent for `stalled_seconds` back in the queue; returns their ids.

    Safe to run on every worker at once: a job another worker already retried fails the
    status check in procrastinate's retry function and is skipped here.
    """
    retried: list[int] = []
    stalled = await app.job_manager.get_stalled_jobs(
        seconds_since_heartbeat=stalled_seconds, task_name=TASK_NAME
    )
    for job in stalled:
        assert job.id is not None
        if job.id in RUNNING_HERE:
            continue  # ours, alive: only a heartbeat came late
        try:
            await app.job_manager.retry_job(job)
            retried.append(job.id)
            log.warning("job %s (run %s) of a dead worker: back in the queue", job.id, job.lock)
        except pq_errors.UniqueViolation:
            # Another job for this flow is already waiting (someone resumed it meanwhile): it
            # will do this one's work, so this one ends here.
            await app.job_manager.finish_job(job, status=_aborted(), delete_job=False)
            log.warning("job %s (run %s) of a dead worker: superseded by a queued job", job.id, job.lock)
        except pq_errors.ConnectorException as exc:
            log.debug("job %s: not retried (%s); another worker got there first", job.id, exc)
    await app.job_manager.prune_stalled_workers(stalled_seconds)
    return retried


def _aborted() -> Any:
    from procrastinate.jobs import Status

    return Status.ABORTED


async def requeue_orphans(db: Database, queue: RunQueue) -> list[str]:
    """Flows left `running` by a holder that died (an in-process run killed, say) and with no job
    in the queue: queue a resume for each. Returns their ids."""
    async with db.reader() as repo:
        running = await repo.sweep_running_flows()
    now = _utcnow()
    queued: list[str] = []
    for flow in running:
        if not lease_is_stale(flow.lease_owner, flow.lease_expires_at, now):
            continue
        if await pending_jobs(db, flow.id):
            continue
        if await queue.enqueue(flow.agency_id, flow.id, "resume") is not None:
            queued.append(flow.id)
            log.warning("run %s was left running by a dead holder: queued to resume", flow.id)
    return queued


def _utcnow() -> datetime:
    from db.base import utcnow

    return utcnow()
