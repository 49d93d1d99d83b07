"""What `leadgen run`, `resume` and `status` draw: a run's phases, leads, audits and billing block.

`RunMonitor` receives a run's custom-stream events (graphs/events.py) as the `on_event` of
`RunService.execute`/`resume`, and parses each once (graphs/run_events.py). On a terminal it keeps
a `rich` live view on stderr, fed by the one watch loop of every face (graphs/run_watch.py: a
snapshot read in one session when an event wakes it, yielded when something changed): the six
phases with status, progress bar and duration, the last event, the leads as they are saved and
the audits finished. Elsewhere (a pipe, a log file, `--json`) it writes one short line per phase
change on stderr, so stdout stays free for the command's own output.

The renderers (assistant/cli/run_views.py) work on the JSON shapes of graphs/views.py, so the
live view, the final summary and `leadgen status` show exactly what `--json` would print.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from assistant.cli.run_views import (  # noqa: F401  (re-exported: the renderers lived here)
    FLOW_STATUS_WORDS,
    LIVE_FIXED_LINES,
    LIVE_LEAD_ROWS,
    PHASE_LABELS,
    PHASES,
    SIGNAL_SHORT,
    STATUS_STYLES,
    RunSnapshot,
    _parse_time,
    agency_flag,
    audits_line,
    billing_explanation,
    counts_line,
    credits_to_finish,
    format_duration,
    last_event_line,
    leads_table,
    notes_view,
    phase_duration_ms,
    phases_table,
    run_header,
    status_view,
    styled_status,
    summary_view,
)
from graphs.run_events import AuditStep, BillingPaused, PhaseChanged, RunEvent, describe, parse_event
from graphs.run_watch import RunWatch

if TYPE_CHECKING:
    from graphs.service import RunService

log = logging.getLogger(__name__)


async def load_snapshot(runs: RunService, agency_id: str, flow_id: str) -> RunSnapshot:
    """The run with its ranked leads, in one read (RunNotFound when it is not the agency's)."""
    return await runs.snapshot(agency_id, flow_id, leads=True)


def describe_event(event: dict[str, Any]) -> str | None:
    """One short line for a custom-stream event, or None for the ones too small to mention."""
    return describe(parse_event(event))


# ---- the monitor -----------------------------------------------------------------------------


class StartingView:
    """The first screen of `run` and `resume` on a terminal: a spinner and what is starting, drawn
    at once and kept turning (Rich redraws it from its own thread) while the pipeline loads and
    the run is created. `stop()` clears it, for the live view of the run to take its place."""

    def __init__(self, console: Console, message: str, *, live: bool) -> None:
        self._live: Live | None = None
        if live:
            self._live = Live(
                Spinner("dots", Text(message, style="bold")),
                console=console,
                refresh_per_second=8,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )

    def __enter__(self) -> StartingView:
        if self._live is not None:
            self._live.start(refresh=True)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


class RunMonitor:
    """The `on_event` of a run: a live view on a terminal, else short lines on stderr.

    The live view applies each event at once to the picture it draws (so the bars move
    smoothly), and takes the stored run from the watch loop, which re-reads it when events wake
    it, at most every `refresh_seconds` (so leads, audit counts and durations are the stored ones).
    A failed re-read never disturbs the run: it is the run's own task that calls us.
    """

    def __init__(
        self,
        runs: RunService,
        agency_id: str,
        flow_id: str,
        console: Console,
        *,
        live: bool,
        refresh_seconds: float = 0.5,
    ) -> None:
        self.runs = runs
        self.agency_id = agency_id
        self.flow_id = flow_id
        self.console = console
        self.live = live
        self.refresh_seconds = refresh_seconds
        self.snapshot: RunSnapshot | None = None
        self.picture: dict[str, Any] | None = None  # the snapshot's run, moved on by later events
        self.events_seen = 0
        self._live: Live | None = None
        self._watch: RunWatch | None = None
        self._follow: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RunMonitor:
        if self.live:
            await self.refresh()
            self._live = Live(
                get_renderable=self.render,
                console=self.console,
                refresh_per_second=4,
                transient=True,  # the summary that follows replaces it
                redirect_stdout=False,  # stdout belongs to the command's output
            )
            self._live.start()
            self._watch = RunWatch(
                self.runs,
                self.agency_id,
                self.flow_id,
                poll_seconds=max(self.refresh_seconds, 0.5) * 4,
                min_interval=self.refresh_seconds,
                leads=True,
            )
            self._follow = asyncio.create_task(self._follow_watch(self._watch), name=f"live-{self.flow_id}")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._follow is not None:
            self._follow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follow
            self._follow = None
        if self._watch is not None:
            self._watch.close()
        if self._live is not None:
            self._live.stop()
            self._live = None

    async def _follow_watch(self, watch: RunWatch) -> None:
        from db.engine import DatabaseError  # loaded by the run service already

        while True:
            try:
                async for snap in watch:
                    self._show(snap)
                return
            except DatabaseError as exc:  # a busy database: keep the last picture, read again
                log.debug("live view refresh failed: %s", exc)
                await asyncio.sleep(self.refresh_seconds)

    def _show(self, snap: RunSnapshot) -> None:
        self.snapshot = snap
        self.picture = copy.deepcopy(snap.run)
        if self._live is not None:
            self._live.refresh()

    async def refresh(self) -> None:
        """Read the run now (the watch loop does it on its own; callers that want the stored run
        at once, such as the end of a run, ask here)."""
        from db.engine import DatabaseError  # loaded by the run service already

        try:
            self._show(await load_snapshot(self.runs, self.agency_id, self.flow_id))
        except DatabaseError as exc:  # a busy database: keep the last picture
            log.debug("live view refresh failed: %s", exc)

    async def on_event(self, event: dict[str, Any]) -> None:
        self.events_seen += 1
        typed = parse_event(event)
        if not self.live:
            line = describe(typed)
            if line and not isinstance(typed, AuditStep):  # per-page audit steps are too chatty here
                self.console.print(line, highlight=False, markup=False, soft_wrap=True)
            return
        self._apply(typed)
        if self._watch is not None:
            self._watch.feed(typed)
        if self._live is not None:
            self._live.refresh()

    def _apply(self, event: RunEvent) -> None:
        """Move the drawn picture forward by one event, ahead of the next database read."""
        run = self.picture
        if run is None:
            return
        line = describe(event)
        if line and isinstance(event, PhaseChanged | BillingPaused | AuditStep):
            run["last_event"] = {"type": _event_type(event), "message": line, "timestamp": event.timestamp}
        if not isinstance(event, PhaseChanged):
            return
        phase = next((p for p in run.get("phases", []) if p["name"] == event.phase), None)
        if phase is None:
            return
        if event.progress is not None:
            phase["progress"] = event.progress
        if event.status:
            phase["status"] = event.status
            if event.status == "running" and not phase.get("started_at"):
                phase["started_at"] = event.timestamp
            if event.status == "complete" and phase.get("duration_ms") is None:
                started = _parse_time(phase.get("started_at"))
                ended = _parse_time(event.timestamp)
                if started and ended:
                    phase["duration_ms"] = int((ended - started).total_seconds() * 1000)

    def _lead_rows(self) -> int:
        """As many leads as fit under the phases (each takes two lines), at least three."""
        return max(3, min(LIVE_LEAD_ROWS, (self.console.height - LIVE_FIXED_LINES) // 2))

    def render(self) -> RenderableType:
        run, snap = self.picture, self.snapshot
        if run is None or snap is None:
            return Text(f"Run {self.flow_id}: starting…")
        return Group(
            run_header(run),
            phases_table(run),
            last_event_line(run),
            Text(audits_line(run["counts"])),
            leads_table(snap.lead_list, limit=self._lead_rows()),
        )


def _event_type(event: PhaseChanged | BillingPaused | AuditStep) -> str:
    if isinstance(event, PhaseChanged):
        return event.kind
    return "billing_pause" if isinstance(event, BillingPaused) else "audit"
