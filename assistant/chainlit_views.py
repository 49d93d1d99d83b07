"""What the web chat draws for a run: pure renderers from a `RunSnapshot` (graphs/run_snapshot.py)
to Chainlit's markdown and task list, apart from the app's callbacks (assistant/chainlit_ui/),
which only send what these return.

The words come from graphs/wording.py (statuses, phase names, plurals, times), the same table
Slack and the terminal draw from.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import chainlit as cl

from graphs.run_results import CreditGap
from graphs.run_snapshot import RunSnapshot
from graphs.views import run_notes
from graphs.wording import ago, duration, phase_label, plural, run_status_label

# Each run a thread shows has stable message ids (per thread, run and part), so a reopened thread
# redraws the same messages in place - progress, paywall, results - instead of adding a second,
# current copy under a stale one.
VIEW_IDS = uuid.UUID("6f0c1f3e-3c55-4c1e-9d55-0d8f3b1b2a10")
PHASE_MARKS = {"pending": "○", "running": "◐", "complete": "✓", "error": "✕"}  # no emoji font needed
TASK_STATUS = {
    "pending": cl.TaskStatus.READY,
    "running": cl.TaskStatus.RUNNING,
    "complete": cl.TaskStatus.DONE,
    "error": cl.TaskStatus.FAILED,
}


def view_id(thread_id: str, run_id: str, part: str) -> str:
    return str(uuid.uuid5(VIEW_IDS, f"{thread_id}/{run_id}/{part}"))


def parse_iso(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        return None
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


def progress_markdown(snap: RunSnapshot) -> str:
    """The run's progress message: status, bar, each phase, counts, notes, the last event."""
    pct = round(snap.progress * 100)
    bar = "█" * (pct // 10) + "░" * (10 - pct // 10)
    lines = [
        f"**Run · {snap.campaign_label}** · **{run_status_label(snap.status)}** · {pct}%",
        f"`{bar}`",
        "",
    ]
    for phase in snap.phases:
        status = phase.status
        if status == "running":
            state = "paused" if snap.paused else f"{round(phase.progress * 100)}%"
        elif status == "complete":
            took = duration(phase.duration_ms / 1000) if phase.duration_ms is not None else ""
            state = f"done{f' in {took}' if took else ''}"
        elif status == "error":
            state = "failed"
        else:
            state = "waiting"
        lines.append(f"- {PHASE_MARKS.get(status, '○')} {phase_label(phase.name)} · {state}")
    counts = snap.counts
    lines += [
        "",
        f"{plural(counts.opportunities, 'lead')} found · {counts.ready} researched · "
        f"{counts.audits_done} of {plural(counts.audits_queued, 'audit')} done"
        + (f", {counts.audits_failed} failed" if counts.audits_failed else ""),
    ]
    lines += run_notes(snap.run)
    event = snap.last_event
    if event is not None:
        when = parse_iso(event.timestamp)
        lines.append(f"Last: {event.message or event.type}" + (f" · {ago(when)}" if when else ""))
    return "\n".join(lines)


def task_list(runs: Mapping[str, RunSnapshot]) -> tuple[list[cl.Task], str]:
    """The session's Tasks panel over every run it follows: each run's phases (labelled by
    campaign when there are several; a paused run's phase waits, no spinner) and the overall
    status line."""
    tasks: list[cl.Task] = []
    several = len(runs) > 1
    for snap in runs.values():
        for phase in snap.phases:
            status = TASK_STATUS.get(phase.status, cl.TaskStatus.READY)
            if snap.paused and status == cl.TaskStatus.RUNNING:
                status = cl.TaskStatus.READY
            pct = round(phase.progress * 100)
            title = phase_label(phase.name) + (f" · {pct}%" if phase.status == "running" else "")
            tasks.append(
                cl.Task(title=f"{snap.campaign_label}: {title}" if several else title, status=status)
            )
    active = [s for s in runs.values() if not s.ended]
    if any(s.paused for s in active):
        overall = "Paused: out of credits"
    elif active:
        overall = f"Running {plural(len(active), 'run')}" if several else "Running"
    else:
        overall = "Done"
    return tasks, overall


def paywall_markdown(snap: RunSnapshot, gap: CreditGap, *, plans: Sequence[Any], offer_message: str) -> str:
    """Why the run paused and how it goes on: the step, the balance against what the cheapest
    pending step needs (the service's rule), the plans this person may buy (`plans`: none when
    they may not), and the automatic resume."""
    block = snap.billing_block
    info_balance = (block.raw.get("credit_info") or {}).get("balance") if block is not None else None
    listed = " · ".join(f"**{p.name}** (+{plural(p.credits, 'credit')})" for p in plans)
    return "\n".join(
        [
            f"### Paused: out of credits · {snap.campaign_label}",
            f"**{phase_label(block.phase if block else '')}** needs more credits "
            f"({(block.feature_id if block else '').replace('_', ' ')}).",
            f"Balance: **{gap.balance}** · required: **{gap.required}** · short by: **{gap.deficit}**"
            + (f" (balance at the pause: {info_balance})" if info_balance is not None else ""),
            *([f"Plans: {listed}"] if plans else []),
            offer_message,
            "",
            "Nothing is charged twice: when your balance covers the next step the run resumes by "
            "itself after a short countdown, or press *I've upgraded — resume*.",
        ]
    )
