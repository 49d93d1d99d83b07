"""The events of a run, typed: what the pipeline emits (graphs/events.py, as dicts on LangGraph's
custom stream) parsed once, where they leave the graph, into the dataclasses faces read.

    PhaseChanged   a phase's status or progress moved (`kind`: phase, audit_progress, completed)
    AuditStep      one lead's research went a step further (map_urls, scrape_content, failed)
    BillingPaused  a step could not hold its credits: the run will pause
    RunEnded       the execution ended (the executor's last word to its subscribers)
    OtherEvent     anything else, kept as it came

`cached` marks a replay of work already shown (a resumed run's stream replays finished steps):
live views skip those. `raw` keeps the dict an event was parsed from, as it came, for the callers
whose contract is the dicts themselves (`RunService.stream`); faces read the typed fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from db.statuses import PhaseStatus
from graphs.run_snapshot import BillingBlock


@dataclass(frozen=True)
class PhaseChanged:
    flow_id: str | None
    phase: str
    status: PhaseStatus | None
    progress: float | None
    message: str | None
    kind: str = "phase"
    timestamp: str | None = None
    cached: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def finishes_something(self) -> bool:
        """A phase finished, an audit finished, or the run's last phase: worth a fresh read."""
        return self.status == PhaseStatus.COMPLETE or self.kind in ("audit_progress", "completed")


@dataclass(frozen=True)
class AuditStep:
    audit_job_id: str
    step: str
    found: int | None = None
    pages: int | None = None
    message: str | None = None
    timestamp: str | None = None
    cached: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class BillingPaused:
    flow_id: str | None
    phase: str | None
    audit_job_id: str | None
    billing_block: BillingBlock | None
    timestamp: str | None = None
    cached: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class RunEnded:
    """The execution ended: `status` is the outcome's (completed, paused_for_upgrade, error,
    cancelled, already_running, not_found)."""

    flow_id: str
    status: str
    cached: bool = False
    ran: bool = True  # False when nothing was executed (a finished run, a resume still short)
    # What stopped it, when something was raised (AlreadyRunning, RunNotFound, a lost lease):
    # for the caller that launched it and re-raises (`RunService.stream`); views only draw.
    error: BaseException | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class OtherEvent:
    type: str
    data: Mapping[str, Any] = field(compare=False)
    cached: bool = False

    @property
    def raw(self) -> Mapping[str, Any]:
        return self.data


RunEvent = PhaseChanged | AuditStep | BillingPaused | RunEnded | OtherEvent


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return str(value) if value is not None else None


def parse_event(event: Mapping[str, Any]) -> RunEvent:
    """The typed event of one custom-stream dict (never raises: an unknown shape is OtherEvent)."""
    cached = bool((event.get("__metadata__") or {}).get("cached"))
    kind = str(event.get("type") or "")
    stamp = _text(event.get("timestamp"))
    if kind in ("phase", "audit_progress", "completed") and event.get("phase"):
        status: PhaseStatus | None
        try:
            status = PhaseStatus(event["status"]) if event.get("status") else None
        except ValueError:
            status = None
        return PhaseChanged(
            flow_id=_text(event.get("flow_id")),
            phase=str(event["phase"]),
            status=status,
            progress=_float(event.get("progress")),
            message=_text(event.get("message")),
            kind=kind,
            timestamp=stamp,
            cached=cached,
            raw=event,
        )
    if kind == "audit" and event.get("audit_job_id"):
        found, pages = event.get("found"), event.get("pages")
        return AuditStep(
            audit_job_id=str(event["audit_job_id"]),
            step=str(event.get("step") or ""),
            found=found if isinstance(found, int) else None,
            pages=pages if isinstance(pages, int) else None,
            message=_text(event.get("message")),
            timestamp=stamp,
            cached=cached,
            raw=event,
        )
    if kind == "billing_pause":
        return BillingPaused(
            flow_id=_text(event.get("flow_id")),
            phase=_text(event.get("phase")),
            audit_job_id=_text(event.get("audit_job_id")),
            billing_block=BillingBlock.parse(event.get("billing_block")),
            timestamp=stamp,
            cached=cached,
            raw=event,
        )
    if kind == "outcome" and event.get("flow_id"):
        return RunEnded(
            flow_id=str(event["flow_id"]),
            status=str(event.get("status") or ""),
            cached=cached,
            ran=event.get("ran") is not False,
        )
    return OtherEvent(type=kind, data=dict(event), cached=cached)


def describe(event: RunEvent) -> str | None:
    """One short line for an event (the CLI's log lines, its live view's last event), or None for
    the ones too small to mention on their own."""
    if isinstance(event, PhaseChanged):
        bits = [f"[{event.phase}]"]
        if event.status:
            bits.append(str(event.status))
        if event.progress is not None:
            bits.append(f"{event.progress:.0%}")
        if event.message:
            bits.append(event.message)
        return " ".join(bits)
    if isinstance(event, BillingPaused):
        block = event.billing_block
        info = block.credit_info if block is not None else None
        return (
            f"[{event.phase}] paused: {block.feature_id if block else None} needs "
            f"{info.required_balance if info else None} credit(s), balance {info.balance if info else None}"
        )
    if isinstance(event, AuditStep):
        job = event.audit_job_id[:8]
        if event.step == "map_urls":
            return f"audit {job}: found {event.found} URLs"
        if event.step == "scrape_content":
            return f"audit {job}: scraped {event.pages} pages"
        if event.step == "failed":
            return f"audit {job} failed: {event.message}"
        return f"audit {job}: {event.step}"
    return None
