"""What `leadgen run`, `resume` and `status` draw: a run's phases, leads, audits and billing block.

`RunMonitor` receives a run's custom-stream events (graphs/events.py) as the `on_event` of
`RunService.execute`/`resume`. On a terminal it keeps a `rich` live view on stderr: the six
phases with status, progress bar and duration, the last event, the leads as they are saved and
the audits finished. Elsewhere (a pipe, a log file, `--json`) it writes one short line per phase
change on stderr, so stdout stays free for the command's own output.

The renderers (assistant/cli/run_views.py) work on the JSON shapes of graphs/views.py, so the
live view, the final summary and `leadgen status` show exactly what `--json` would print.
"""

from __future__ import annotations

import logging
import time
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
from graphs.views import flow_json, leads_json

if TYPE_CHECKING:
    from graphs.service import RunService

log = logging.getLogger(__name__)


async def load_snapshot(runs: RunService, agency_id: str, flow_id: str) -> RunSnapshot:
    """Read the run, its counts, progress and ranked leads (RunNotFound when it is not the agency's)."""
    flow = await runs.get(agency_id, flow_id)
    counts = await runs.counts(agency_id, flow_id)
    progress = await runs.progress(agency_id, flow_id)
    leads = await runs.run_leads(agency_id, flow_id)
    return RunSnapshot(flow_json(flow, counts=counts, progress=progress), leads_json(leads))


# ---- the monitor -----------------------------------------------------------------------------


def describe_event(event: dict[str, Any]) -> str | None:
    """One short line for an event, or None for the ones too small to mention on their own."""
    kind = event.get("type")
    if kind in ("phase", "completed", "audit_progress"):
        label = event.get("phase") or "?"
        status = event.get("status")
        progress = event.get("progress")
        bits = [f"[{label}]"]
        if status:
            bits.append(str(status))
        if isinstance(progress, int | float):
            bits.append(f"{progress:.0%}")
        if event.get("message"):
            bits.append(str(event["message"]))
        return " ".join(bits)
    if kind == "billing_pause":
        block = event.get("billing_block") or {}
        info = block.get("credit_info") or {}
        return (
            f"[{event.get('phase')}] paused: {block.get('feature_id')} needs "
            f"{info.get('required_balance')} credit(s), balance {info.get('balance')}"
        )
    if kind == "audit":
        job = str(event.get("audit_job_id") or "")[:8]
        step = event.get("step")
        if step == "map_urls":
            return f"audit {job}: found {event.get('found')} URLs"
        if step == "scrape_content":
            return f"audit {job}: scraped {event.get('pages')} pages"
        if step == "failed":
            return f"audit {job} failed: {event.get('message')}"
        return f"audit {job}: {step}"
    return None


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

    The live view applies each event at once (so the bars move smoothly) and re-reads the run
    from the database now and then (so leads, audit counts and durations are the stored ones).
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
        self.events_seen = 0
        self._last_refresh = 0.0
        self._live: Live | None = None

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
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    async def refresh(self) -> None:
        from db.engine import DatabaseError  # loaded by the run service already

        try:
            self.snapshot = await load_snapshot(self.runs, self.agency_id, self.flow_id)
        except DatabaseError as exc:  # a busy database: keep the last picture
            log.debug("live view refresh failed: %s", exc)
        self._last_refresh = time.monotonic()

    async def on_event(self, event: dict[str, Any]) -> None:
        self.events_seen += 1
        if not self.live:
            line = describe_event(event)
            if line and event.get("type") != "audit":  # per-page audit steps are too chatty here
                self.console.print(line, highlight=False, markup=False, soft_wrap=True)
            return
        self._apply(event)
        finished_something = event.get("status") == "complete" or event.get("type") in (
            "audit_progress",
            "billing_pause",
            "completed",
        )
        if finished_something or time.monotonic() - self._last_refresh >= self.refresh_seconds:
            await self.refresh()
        if self._live is not None:
            self._live.refresh()

    def _apply(self, event: dict[str, Any]) -> None:
        """Move the in-memory picture forward by one event, ahead of the next database read."""
        if self.snapshot is None:
            return
        run = self.snapshot.run
        line = describe_event(event)
        if line:
            run["last_event"] = {
                "type": event.get("type"),
                "message": line,
                "timestamp": event.get("timestamp"),
            }
        name = event.get("phase")
        phase = next((p for p in run.get("phases", []) if p["name"] == name), None)
        if phase is None or event.get("type") == "billing_pause":
            return
        if isinstance(event.get("progress"), int | float):
            phase["progress"] = float(event["progress"])
        status = event.get("status")
        if status:
            phase["status"] = status
            if status == "running" and not phase.get("started_at"):
                phase["started_at"] = event.get("timestamp")
            if status == "complete" and phase.get("duration_ms") is None:
                started = _parse_time(phase.get("started_at"))
                ended = _parse_time(event.get("timestamp"))
                if started and ended:
                    phase["duration_ms"] = int((ended - started).total_seconds() * 1000)

    def _lead_rows(self) -> int:
        """As many leads as fit under the phases (each takes two lines), at least three."""
        return max(3, min(LIVE_LEAD_ROWS, (self.console.height - LIVE_FIXED_LINES) // 2))

    def render(self) -> RenderableType:
        if self.snapshot is None:
            return Text(f"Run {self.flow_id}: starting…")
        run = self.snapshot.run
        return Group(
            run_header(run),
            phases_table(run),
            last_event_line(run),
            Text(audits_line(run["counts"])),
            leads_table(self.snapshot.leads, limit=self._lead_rows()),
        )
