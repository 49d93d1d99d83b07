"""The one watch loop of a run: every live view (the web chat, Slack, the CLI) consumes it and
only draws what it yields.

    async with RunWatch(runs, agency_id, flow_id, events=runs.executor) as watch:
        async for snap in watch:          # RunSnapshot, only when something changed
            draw(snap)

It wakes on the run's events (when this process executes the run, through the executor's
subscribers; or `feed(event)` from a caller that receives them itself, as the CLI does) and on a
timer (when another process executes it: a worker, another face's server), reads one snapshot per
wake (`RunService.snapshot`, one database session), and yields it only when it differs from the
last one yielded. It ends after yielding a run that ended (completed, cancelled, failed), whose
snapshot carries its ranked leads when `final_leads` is set.

A face may `poke()` it (read now) or `repeat()` (yield the next snapshot even when unchanged:
Slack when its edit was throttled, and while it watches a paywall); `restate_seconds` yields an
unchanged snapshot again after that long (a face that words times relative to now: "2 minutes
ago").
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Protocol

from graphs.run_events import RunEvent
from graphs.run_snapshot import RunSnapshot

POLL_SECONDS = 1.5


class SnapshotReader(Protocol):
    """What the loop reads (RunService is one)."""

    async def snapshot(self, agency_id: str, flow_id: str, *, leads: bool = False) -> RunSnapshot: ...


class EventSource(Protocol):
    """Who tells the loop a run moved (the run service's executor is one)."""

    def subscribe(self, flow_id: str, sink: Callable[[RunEvent], Awaitable[None]]) -> Callable[[], None]: ...


class RunWatch:
    """The live snapshots of one run. Iterate it once; `close()` (or leaving `async with`) stops
    listening to events."""

    def __init__(
        self,
        runs: SnapshotReader,
        agency_id: str,
        flow_id: str,
        *,
        events: EventSource | None = None,
        poll_seconds: float = POLL_SECONDS,
        min_interval: float = 0.0,
        leads: bool = False,
        final_leads: bool = False,
        limit_seconds: float | None = None,
        restate_seconds: float | None = None,
    ) -> None:
        self.runs = runs
        self.agency_id = agency_id
        self.flow_id = flow_id
        self.poll_seconds = poll_seconds
        self.min_interval = min_interval  # at least this long between two reads (events come by the hundred)
        self.leads = leads
        self.final_leads = final_leads
        self.limit_seconds = limit_seconds
        self.restate_seconds = restate_seconds
        self._yielded_at = 0.0
        self.last: RunSnapshot | None = None
        self.reads = 0
        self._wake = asyncio.Event()
        self._repeat = False
        self._unsubscribe = events.subscribe(flow_id, self._on_event) if events is not None else None

    async def __aenter__(self) -> RunWatch:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def poke(self) -> None:
        """Read the run again now."""
        self._wake.set()

    def repeat(self) -> None:
        """Yield the next snapshot read even when it is unchanged."""
        self._repeat = True

    def feed(self, event: RunEvent) -> None:
        """An event of the run, from a caller that receives them itself."""
        if not event.cached:  # a replay of work already shown (a resumed run)
            self._wake.set()

    async def _on_event(self, event: RunEvent) -> None:
        self.feed(event)

    async def read(self) -> RunSnapshot:
        self.reads += 1
        return await self.runs.snapshot(self.agency_id, self.flow_id, leads=self.leads)

    def __aiter__(self) -> AsyncIterator[RunSnapshot]:
        return self._snapshots()

    async def _snapshots(self) -> AsyncIterator[RunSnapshot]:
        deadline = None if self.limit_seconds is None else time.monotonic() + self.limit_seconds
        try:
            while deadline is None or time.monotonic() < deadline:
                self._wake.clear()
                snap = await self.read()
                if snap.ended and self.final_leads and snap.leads is None:
                    self.reads += 1
                    snap = await self.runs.snapshot(self.agency_id, self.flow_id, leads=True)
                stale = self.restate_seconds is not None and (
                    time.monotonic() - self._yielded_at >= self.restate_seconds
                )
                if snap != self.last or self._repeat or stale:
                    self._repeat = False
                    self.last = snap
                    self._yielded_at = time.monotonic()
                    yield snap
                if snap.ended:
                    return
                if self.min_interval > 0:
                    await asyncio.sleep(self.min_interval)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
        finally:
            self.close()


def watch(
    runs: SnapshotReader,
    agency_id: str,
    flow_id: str,
    *,
    events: EventSource | None = None,
    poll_seconds: float = POLL_SECONDS,
    leads: bool = False,
    final_leads: bool = False,
) -> AsyncIterator[RunSnapshot]:
    """`async for snap in watch(runs, agency, flow_id, events=runs.executor)`: RunWatch's snapshots."""
    return aiter(
        RunWatch(
            runs,
            agency_id,
            flow_id,
            events=events,
            poll_seconds=poll_seconds,
            leads=leads,
            final_leads=final_leads,
        )
    )
