"""How a run looks on a terminal: header, phases, counts, leads, billing pause, summary.

Pure renderers over the JSON shapes of graphs/views.py, so the live view, the final summary and
`leadgen status` show exactly what `--json` would print. Only `rich` and the views are imported
here: the quick read path (assistant/cli/quick.py) draws `status` through these same functions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from graphs.run_snapshot import RunSnapshot
from graphs.views import run_notes
from graphs.wording import RUN_STATUS_LABELS, phase_label

PHASES = ("source", "filter_rank", "persist_leads", "scrape_content", "generate_dossier", "finalize_rank")
# The phases in the words every face uses (the terminal had its own: "Source businesses").
PHASE_LABELS = {name: phase_label(name) for name in PHASES}
STATUS_STYLES = {
    "paused: out of credits": "bold yellow",
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
# The run's status in words: graphs/wording.py's table, the same in every face.
FLOW_STATUS_WORDS = RUN_STATUS_LABELS
LIVE_LEAD_ROWS = 10
LIVE_FIXED_LINES = 20  # header, phases table, event and audit lines, leads table header


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
        parts.append(leads_table(snapshot.lead_list, limit=top, title="Top leads"))
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
