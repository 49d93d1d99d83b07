"""What `leadgen run`, `resume` and `status` draw: a run's phases, leads, audits and billing block.

`RunMonitor` receives a run's custom-stream events (graphs/events.py) as the `on_event` of
`RunService.execute`/`resume`. On a terminal it keeps a `rich` live view on stderr: the six
phases with status, progress bar and duration, the last event, the leads as they are saved and
the audits finished. Elsewhere (a pipe, a log file, `--json`) it writes one short line per phase
change on stderr, so stdout stays free for the command's own output.

The renderers below work on the JSON shapes of graphs/views.py, so the live view, the final
summary and `leadgen status` show exactly what `--json` would print.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

from graphs.service import RunService
from graphs.views import flow_json, leads_json, run_notes

log = logging.getLogger(__name__)

PHASES = ("source", "filter_rank", "persist_leads", "scrape_content", "generate_dossier", "finalize_rank")
PHASE_LABELS = {
    "source": "Source businesses",
    "filter_rank": "Filter and score",
    "persist_leads": "Save leads",
    "scrape_content": "Queue audits",
    "generate_dossier": "Audit and research",
    "finalize_rank": "Final ranking",
}
STATUS_STYLES = {
    "paused for credits": "bold yellow",
    "failed": "bold red",
    "pending": "dim",
    "running": "bold cyan",
    "complete": "green",
    "error": "bold red",
    "completed": "bold green",
    "paused_for_upgrade": "bold yellow",
    "cancelled": "yellow",
    "idle": "dim",
}
FLOW_STATUS_WORDS = {
    "completed": "completed",
    "paused_for_upgrade": "paused for credits",
    "error": "failed",
    "running": "running",
    "cancelled": "cancelled",
    "idle": "not started",
}
LIVE_LEAD_ROWS = 10
LIVE_FIXED_LINES = 20  # header, phases table, event and audit lines, leads table header


@dataclass
class RunSnapshot:
    """A run as `--json` shows it: the run JSON and its ranked leads."""

    run: dict[str, Any]
    leads: list[dict[str, Any]]


async def load_snapshot(runs: RunService, agency_id: str, flow_id: str) -> RunSnapshot:
    """Read the run, its counts, progress and ranked leads (RunNotFound when it is not the agency's)."""
    flow = await runs.get(agency_id, flow_id)
    counts = await runs.counts(agency_id, flow_id)
    progress = await runs.progress(agency_id, flow_id)
    leads = await runs.run_leads(agency_id, flow_id)
    return RunSnapshot(flow_json(flow, counts=counts, progress=progress), leads_json(leads))


# ---- renderers -----------------------------------------------------------------------------


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def format_duration(ms: float | None) -> str:
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


def phase_duration_ms(phase: dict[str, Any], now: datetime | None = None) -> float | None:
    """The stored duration of a finished phase; for a running one, the time since it started."""
    if phase.get("duration_ms") is not None:
        return float(phase["duration_ms"])
    started = _parse_time(phase.get("started_at"))
    if phase.get("status") == "running" and started is not None:
        return max(0.0, ((now or datetime.now(UTC)) - started).total_seconds() * 1000)
    return None


def styled_status(status: str | None) -> Text:
    status = status or "pending"
    return Text(status, style=STATUS_STYLES.get(status, ""))


def phases_table(run: dict[str, Any]) -> Table:
    table = Table(title="Phases", title_justify="left", expand=False)
    table.add_column("phase")
    table.add_column("status")
    table.add_column("progress", width=24)
    table.add_column("", justify="right")  # percent
    table.add_column("duration", justify="right")
    by_name = {p["name"]: p for p in run.get("phases", [])}
    for name in PHASES:
        phase = by_name.get(name, {"name": name, "status": "pending", "progress": 0.0})
        progress = float(phase.get("progress") or 0.0)
        status = phase.get("status")
        if status == "running" and run["status"] != "running":
            # Stopped mid-phase (paused, failed, interrupted): no clock is running any more.
            shown_status, duration = styled_status(FLOW_STATUS_WORDS.get(run["status"], "stopped")), ""
        else:
            shown_status, duration = styled_status(status), format_duration(phase_duration_ms(phase))
        table.add_row(
            PHASE_LABELS[name],
            shown_status,
            ProgressBar(total=1.0, completed=progress, width=24),
            f"{progress:.0%}",
            duration,
        )
    return table


def audits_line(counts: dict[str, int]) -> str:
    """`audits_queued` counts every audit job of the run, finished or not; reused dossiers
    were not audited (or charged) again."""
    finished = counts.get("audits_completed", 0) + counts.get("audits_failed", 0)
    total = counts.get("audits_queued", 0)
    failed = counts.get("audits_failed", 0)
    reused = counts.get("reused", 0)
    return (
        f"audits {finished}/{total} finished"
        + (f" ({failed} failed)" if failed else "")
        + (f"; {reused} recent dossier{'s' if reused != 1 else ''} reused, not charged" if reused else "")
    )


def counts_line(run: dict[str, Any]) -> str:
    counts = run["counts"]
    return (
        f"{counts['opportunities']} leads ({counts['with_website']} with a website): "
        f"{counts['ready']} researched, {counts['data_ready']} data-ready, {counts['auditing']} auditing; "
        + audits_line(counts)
    )


def notes_view(run: dict[str, Any]) -> Text:
    return Text("\n".join(run_notes(run)), style="yellow")


SIGNAL_SHORT = {
    "MISSING_WEBSITE": "no website",
    "WEAK_WEB_PRESENCE": "weak web",
    "LOW_GOOGLE_RATING": "low rating",
    "FEW_GOOGLE_REVIEWS": "few reviews",
}


def leads_table(
    leads: list[dict[str, Any]], *, limit: int | None = None, title: str = "Leads", full: bool = False
) -> Table:
    """Leads in the order given (already ranked by `leads_json`). Each lead's id sits under its
    name, never cut: it is what `leadgen dossier` takes. `full` adds website and phone."""
    shown = leads if limit is None else leads[:limit]
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("opportunity", justify="right", no_wrap=True)
    table.add_column("lead (id)", min_width=32, ratio=2)
    table.add_column("signals", min_width=10, ratio=1)
    table.add_column("status", no_wrap=True)
    if full:
        table.add_column("website / phone", overflow="fold", min_width=14, ratio=2)
    for rank, lead in enumerate(shown, start=1):
        row: list[Text | str] = [
            str(rank),
            f"{lead.get('opportunity_score', 0):.0f}",
            Text.assemble(lead["name"], "\n", (lead["id"], "dim")),
            ", ".join(SIGNAL_SHORT.get(s, s) for s in lead["signals"]) or "—",
            lead["status"] + ("\n(reused)" if lead.get("dossier_reused") else ""),
        ]
        if full:
            row.append(f"{lead['website'] or 'no website'}\n{lead['phone'] or ''}")
        table.add_row(*row)
    if not leads:
        table.caption = "no leads yet"
    elif limit is not None and len(leads) > limit:
        table.caption = f"top {limit} of {len(leads)}"
    return table


def agency_flag(agency_id: str) -> str:
    """`--agency X` for commands we suggest, left out for the default agency."""
    return "" if agency_id == "default" else f" --agency {agency_id}"


def credits_to_finish(run: dict[str, Any]) -> int | None:
    """Credits that would let every audit still waiting finish (None outside the audit phase)."""
    block = run.get("billing_block") or {}
    info = block.get("credit_info") or {}
    counts = run["counts"]
    waiting = counts["audits_queued"] - counts["audits_completed"] - counts["audits_failed"]
    per_audit, balance = info.get("required_balance"), info.get("balance")
    if block.get("phase") != "generate_dossier" or waiting < 1:
        return None
    if not isinstance(per_audit, int) or not isinstance(balance, int):
        return None
    return max(0, waiting * per_audit - balance)


def billing_explanation(run: dict[str, Any], agency_id: str) -> Text:
    """The pause in words, and the exact commands that continue the run."""
    block = run.get("billing_block") or {}
    info = block.get("credit_info") or {}
    phase = block.get("phase") or "?"
    feature = block.get("feature_id") or info.get("feature_id") or "?"
    required = info.get("required_balance")
    balance = info.get("balance")
    deficit = info.get("deficit")
    if not isinstance(deficit, int) or deficit < 1:
        # A stale block may say "allowed"; the user still needs at least one credit to move on.
        deficit = max(1, (required or 1) - (balance or 0))
    text = Text()
    text.append("Paused for credits", style="bold yellow")
    text.append(
        f" in phase {phase}: {feature} needs {required} credit(s), the available balance is "
        f"{balance}, short by {deficit}."
    )
    if block.get("audit_job_id"):
        text.append(f"\nWaiting audit job: {block['audit_job_id']}")
    grant = deficit
    to_finish = credits_to_finish(run)
    if to_finish is not None and to_finish > deficit:
        # Granting only the deficit lets one audit through and pauses at the next one.
        text.append(
            f"\n{deficit} credit(s) let the next audit run; {to_finish} let every waiting audit finish."
        )
        grant = to_finish
    text.append("\nTo continue, add credits and resume:\n")
    text.append(f"  leadgen credits grant {grant}{agency_flag(agency_id)}\n", style="bold")
    text.append(f"  leadgen resume {run['id']}{agency_flag(agency_id)}", style="bold")
    return text


def run_header(run: dict[str, Any]) -> Text:
    campaign = run["campaign"]
    status = run["status"]
    text = Text()
    text.append(f"Run {run['id']} ", style="bold")
    text.append(FLOW_STATUS_WORDS.get(status, status), style=STATUS_STYLES.get(status, ""))
    text.append(
        f" · {campaign['target_vertical']} in {campaign['target_geography']}"
        f" · {run['counts']['opportunities']}/{run['num_leads_requested']} leads"
        f" ({run['num_leads_fetched']} places read)"
        f" · {run['progress']:.0%}"
    )
    return text


def last_event_line(run: dict[str, Any]) -> Text:
    event = run.get("last_event") or {}
    if not event.get("message"):
        return Text("")
    return Text.assemble(("last: ", "dim"), str(event["message"]))


def status_view(snapshot: RunSnapshot, agency_id: str) -> RenderableType:
    """`leadgen status` in human mode: header, phases, counts, and why it stopped if it did."""
    run = snapshot.run
    parts: list[RenderableType] = [run_header(run), phases_table(run), Text(counts_line(run))]
    if run_notes(run):
        parts.append(notes_view(run))
    parts.append(last_event_line(run))
    if run["status"] == "paused_for_upgrade":
        parts.append(billing_explanation(run, agency_id))
    if run["status"] == "error" and run.get("error"):
        parts.append(Text(f"error: {run['error']}", style="red"))
    return Group(*parts)


def summary_view(snapshot: RunSnapshot, agency_id: str, *, top: int = 10) -> RenderableType:
    """The end of `run`/`resume` in human mode: status, counts, the best leads, what to do next."""
    run = snapshot.run
    parts: list[RenderableType] = [run_header(run), Text(counts_line(run))]
    if run_notes(run):
        parts.append(notes_view(run))
    if snapshot.leads:
        parts.append(leads_table(snapshot.leads, limit=top, title="Top leads"))
    if run["status"] == "paused_for_upgrade":
        parts.append(billing_explanation(run, agency_id))
    elif run["status"] == "error":
        parts.append(Text(f"error: {run.get('error') or 'unknown'}", style="red"))
        parts.append(Text(f"Retry with: leadgen resume {run['id']}{agency_flag(agency_id)}"))
    elif run["status"] == "completed":
        parts.append(
            Text(
                f"More: leadgen leads {run['id']}{agency_flag(agency_id)} · "
                f"leadgen audits {run['id']}{agency_flag(agency_id)} · leadgen dossier LEAD_ID",
                style="dim",
            )
        )
    return Group(*parts)


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
        try:
            self.snapshot = await load_snapshot(self.runs, self.agency_id, self.flow_id)
        except SQLAlchemyError as exc:  # a busy database: keep the last picture
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
