"""Who executes runs: one interface for the run service, two implementations.

    runs.executor.launch(agency_id, flow_id)          # in the background; False if already here
    runs.executor.subscribe(flow_id, sink)            # its typed events (graphs/run_events.py), then RunEnded
    await runs.executor.wait(flow_id)                 # its outcome status
    await runs.executor.run(agency_id, flow_id, ...)  # blocking: what RunService.execute/resume use
    await runs.executor.stop(flow_id)                 # stop its execution here (RunService.cancel)

- `InProcessExecutor` (LEADGEN_EXECUTOR=inprocess, the default) runs the graph in this process
  (`RunService.run_here`: the flow's lease, the stream, the final status).
- `QueueExecutor` (LEADGEN_EXECUTOR=queue, PostgreSQL) enqueues one job per flow for
  `leadgen worker` processes (graphs/queue.py) and follows the flow row until the job ends.

The executor is the one owner of execution in this process: every execution of a flow here,
launched in the background or awaited by its caller, is a task of the executor's (`_runs`), the
one that `stop` cancels; there is no other registry of running flows.

Both keep this process's background executions (`launch`), fan their events out to subscribers
(the live views of the chat and Slack), and know which runs a face of this process is resuming
now, so a second face asking an instant later is told "resuming" and watches. Across processes
the flow's lease (in-process) or the job's queueing lock (queue) decides who executes.

`BackgroundTasks` is the one helper for work started after an answer was sent (the HTTP
server's webhooks, Slack's listeners): kept referenced, failures logged, awaited on shutdown.

The executors take the run service as a parameter (`RunHost`) instead of importing it: the
service builds its executor, and the dependency runs one way.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from db.statuses import FINAL_FLOW_STATUSES
from graphs.run_errors import AlreadyRunning, RunNotFound
from graphs.run_events import RunEnded, RunEvent, parse_event
from graphs.run_lease import RunKind, lease_is_stale
from graphs.run_results import QUEUED, Outcome

if TYPE_CHECKING:
    from langgraph.types import Command

    from db import Database
    from db.models import LeadGenFlow
    from graphs.queue import RunQueue

log = logging.getLogger(__name__)

EventSink = Callable[[dict[str, Any]], Awaitable[None]]
# What a subscriber (a live view) receives: the events parsed once, here, where they leave the run.
Subscriber = Callable[[RunEvent], Awaitable[None]]
# What a background execution runs: given the sink for its events, the execution to its end.
Start = Callable[[EventSink], Awaitable[Outcome]]

# How long shutdown waits for work already acknowledged.
DRAIN_SECONDS = 20.0

# The execution the running code belongs to (executor, flow id): set in an execution's task and
# inherited by the tasks it starts (the graph's), so the executor knows a call from inside one of
# its executions (the run's own events) from a call from outside.
_EXECUTING: contextvars.ContextVar[tuple[Executor, str] | None] = contextvars.ContextVar(
    "leadgen_executing", default=None
)


class BackgroundTasks:
    """Tasks started after an answer was sent. Kept referenced (asyncio holds tasks weakly),
    failures logged, and awaited on shutdown so acknowledged work is not dropped mid-way."""

    def __init__(self, label: str = "background work") -> None:
        self.label = label
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(self._guarded(work, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guarded(self, work: Coroutine[Any, Any, Any], name: str) -> None:
        try:
            await work
        except Exception:  # a background task has nobody to raise to: log it
            log.exception("%s %s failed", self.label, name)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(
        self, seconds: float = DRAIN_SECONDS, *, exclude: Callable[[], Collection[asyncio.Task[Any]]] = set
    ) -> None:
        """Wait for the work started so far, and what it starts meanwhile, up to `seconds`;
        tasks `exclude()` names (long-lived watchers) are not waited for."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            skip = exclude()
            pending = [t for t in self._tasks if not t.done() and t not in skip]
            if not pending:
                return
            await asyncio.wait(pending, timeout=max(0.0, deadline - time.monotonic()))

    async def aclose(self) -> None:
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class RunHost(Protocol):
    """What an executor needs of the run service (RunService is one)."""

    db: Database
    queue: RunQueue | None

    async def get(self, agency_id: str, flow_id: str) -> LeadGenFlow: ...

    async def execute(
        self, agency_id: str, flow_id: str, *, on_event: EventSink | None = None, wait: bool = True
    ) -> Outcome: ...

    async def resume(
        self, agency_id: str, flow_id: str, *, on_event: EventSink | None = None, wait: bool = True
    ) -> Outcome: ...

    async def run_here(
        self,
        agency_id: str,
        flow_id: str,
        command: Command[Any] | None,
        on_event: EventSink | None,
        *,
        owner: str | None = None,
    ) -> Outcome: ...


class Executor:
    """Executes runs for the run service, and keeps this process's background executions.

    Subscribers (live views) receive every custom-stream event of a run executed here, typed
    (graphs/run_events.py), then `RunEnded` when the execution ends (completed, paused, error,
    cancelled, already_running or not_found). A failing subscriber is dropped, never the run.
    """

    name = "executor"

    def __init__(self, host: RunHost) -> None:
        self.host = host
        # The one registry of this process's executions: flow id -> the task executing (or, queue
        # executor, following) it, background or awaited.
        self._runs: dict[str, asyncio.Task[Any]] = {}
        self._subscribers: dict[str, list[Subscriber]] = {}
        self._resuming: set[str] = set()
        self._stopping: set[str] = set()  # flows `stop` cancelled: their end is an outcome, not an error
        self.outcomes: dict[str, str] = {}  # flow id -> last outcome status (for tests and views)

    async def run(
        self,
        agency_id: str,
        flow_id: str,
        command: Command[Any] | None,
        on_event: EventSink | None,
        kind: RunKind,
        wait: bool,
    ) -> Outcome:
        """Execute the flow (new, crashed or, with `command`, resumed) and return how it ended."""
        raise NotImplementedError

    # -- this process's executions --------------------------------------------------------------

    def _inside(self, flow_id: str) -> bool:
        return _EXECUTING.get() == (self, flow_id)

    async def own(self, agency_id: str, flow_id: str, work: Callable[[], Awaitable[Outcome]]) -> Outcome:
        """Execute `work` (the flow's execution here) as a task of the executor's, which `stop`
        can cancel, and return its outcome; its errors are raised to the caller. Inside a
        background execution of the flow it is that execution: `work` runs in it. While another
        task of this process still executes the flow, `work` runs as it is: the flow's lease
        decides (it refuses a second holder)."""
        if self._inside(flow_id) or self.active(flow_id):
            return await work()

        async def execution() -> Outcome:
            _EXECUTING.set((self, flow_id))
            return await work()

        task = asyncio.ensure_future(execution())
        self._runs[flow_id] = task
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if flow_id not in self._stopping or (current is not None and current.cancelling()):
                raise  # the caller itself is being cancelled (shutdown, Ctrl-C)
            return await self._stopped(agency_id, flow_id)
        finally:
            if self._runs.get(flow_id) is task:
                del self._runs[flow_id]
            self._stopping.discard(flow_id)

    async def _stopped(self, agency_id: str, flow_id: str) -> Outcome:
        """The outcome of an execution `stop` cancelled before its graph could say so (taking its
        lease, settling its status): as the flow row stands (`cancelled` after RunService.cancel)."""
        flow = await self.host.get(agency_id, flow_id)
        return Outcome(flow.status, flow)

    async def stop(self, flow_id: str) -> bool:
        """Stop this process's execution of the flow (cancel its task: the graph stops where it
        stands and the lease is given back) and wait for it to end, so that what it held is
        settled when this returns. False when this process does not execute it. Called from
        inside the execution (one of its events), it only asks: the execution ends when this
        returns to it."""
        task = self._runs.get(flow_id)
        if task is None or task.done():
            return False
        self._stopping.add(flow_id)
        task.cancel()
        if not self._inside(flow_id):
            await self.wait(flow_id)
        return True

    def active(self, flow_id: str) -> bool:
        task = self._runs.get(flow_id)
        return task is not None and not task.done()

    def resuming(self, flow_id: str) -> bool:
        """A face of this process is resuming the run now: a second face should watch, not resume."""
        return flow_id in self._resuming

    def begin_resume(self, flow_id: str) -> None:
        self._resuming.add(flow_id)

    def end_resume(self, flow_id: str) -> None:
        self._resuming.discard(flow_id)

    def note(self, flow_id: str, status: str) -> None:
        """Record an outcome decided without a background execution (another holder runs it)."""
        self.outcomes[flow_id] = status

    def launch(
        self, agency_id: str, flow_id: str, *, resume: bool = False, start: Start | None = None
    ) -> bool:
        """Start executing (or resuming) the flow in the background; False when this process is
        already running it. `start` replaces the default execution (a resume that holds the
        flow's lease already)."""
        if self.active(flow_id):
            return False
        if resume:
            self._resuming.add(flow_id)
        if start is None:
            runner = self.host.resume if resume else self.host.execute

            async def default(sink: EventSink) -> Outcome:
                return await runner(agency_id, flow_id, on_event=sink)

            start = default
        self._runs[flow_id] = asyncio.create_task(
            self._drive(agency_id, flow_id, start), name=f"leadgen-run-{flow_id}"
        )
        return True

    async def wait(self, flow_id: str) -> str | None:
        """Wait for the flow's background execution to end; its outcome status."""
        task = self._runs.get(flow_id)
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)
        return self.outcomes.get(flow_id)

    def subscribe(self, flow_id: str, sink: Subscriber) -> Callable[[], None]:
        """Receive the flow's events; returns the function that unsubscribes."""
        sinks = self._subscribers.setdefault(flow_id, [])
        sinks.append(sink)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                sinks.remove(sink)

        return unsubscribe

    async def aclose(self) -> None:
        """Stop this process's executions (shutdown). Their flows keep status `running` with an
        expiring lease (or their job), which recovery picks up."""
        tasks = [t for t in self._runs.values() if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def publish(self, flow_id: str, event: RunEvent) -> None:
        for sink in list(self._subscribers.get(flow_id, [])):
            try:
                await sink(event)
            except Exception:  # a broken view (closed tab) must never stop the run
                log.warning("dropping a subscriber of run %s", flow_id, exc_info=True)
                with contextlib.suppress(ValueError):
                    self._subscribers[flow_id].remove(sink)

    async def _drive(self, agency_id: str, flow_id: str, start: Start) -> None:
        _EXECUTING.set((self, flow_id))

        async def on_event(event: dict[str, Any]) -> None:
            await self.publish(flow_id, parse_event(event))

        status: str
        ran = True
        error: Exception | None = None
        try:
            outcome = await start(on_event)
            status, ran = outcome.status, outcome.ran
        except asyncio.CancelledError:
            if flow_id not in self._stopping:
                raise  # shutdown (aclose)
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()  # stopped on purpose: the execution ends here, with an outcome
            outcome = await self._stopped(agency_id, flow_id)
            status, ran = outcome.status, outcome.ran
        except AlreadyRunning as exc:
            status, error = "already_running", exc
        except RunNotFound as exc:
            status, error = "not_found", exc
        except Exception as exc:  # a background task has nobody else to report to
            log.exception("background run %s failed", flow_id)
            status, error = "error", exc
        finally:
            self._resuming.discard(flow_id)
            self._stopping.discard(flow_id)
        self.outcomes[flow_id] = status
        await self.publish(flow_id, RunEnded(flow_id, status, ran=ran, error=error))


class InProcessExecutor(Executor):
    """Runs the graph in this process, under the flow's lease."""

    name = "inprocess"

    async def run(
        self,
        agency_id: str,
        flow_id: str,
        command: Command[Any] | None,
        on_event: EventSink | None,
        kind: RunKind,
        wait: bool,
    ) -> Outcome:
        host = self.host
        return await self.own(
            agency_id, flow_id, lambda: host.run_here(agency_id, flow_id, command, on_event)
        )


class QueueExecutor(Executor):
    """One job per flow in the Postgres queue (its lock and queueing lock are the flow id), run by
    `leadgen worker`; waiting follows the flow row. `command` is not sent: the worker's `resume`
    rebuilds it from the checkpoint's pending interrupts."""

    name = "queue"

    async def run(
        self,
        agency_id: str,
        flow_id: str,
        command: Command[Any] | None,
        on_event: EventSink | None,
        kind: RunKind,
        wait: bool,
    ) -> Outcome:
        from db.base import utcnow
        from graphs.queue import RunQueue, libpq_dsn, pending_jobs, wait_for

        host = self.host
        flow = await host.get(agency_id, flow_id)
        if flow.status in FINAL_FLOW_STATUSES:
            return Outcome(flow.status, flow, ran=False)
        held = not lease_is_stale(flow.lease_owner, flow.lease_expires_at, utcnow())
        if held or await pending_jobs(host.db, flow_id):
            raise AlreadyRunning(f"run {flow_id} is already queued or running")
        if host.queue is not None:
            job_id = await host.queue.enqueue(agency_id, flow_id, kind)
        else:
            async with RunQueue.connect(libpq_dsn(host.db.url)) as queue:
                job_id = await queue.enqueue(agency_id, flow_id, kind)
        if job_id is None:  # another caller queued it between our check and our insert
            raise AlreadyRunning(f"run {flow_id} is already queued or running")
        if not wait:
            return Outcome(QUEUED, flow, ran=False, job_id=job_id)
        flow = await wait_for(host, agency_id, flow_id, on_event=on_event)
        return Outcome(flow.status, flow, job_id=job_id)

    async def stop(self, flow_id: str) -> bool:
        """A worker executes the flow, not this process: it stops at its next lease renewal,
        when it reads the flow cancelled, and this process's followers see the row end."""
        return False


def executor_for(kind: str, host: RunHost) -> Executor:
    """The executor LEADGEN_EXECUTOR names."""
    return QueueExecutor(host) if kind == "queue" else InProcessExecutor(host)
