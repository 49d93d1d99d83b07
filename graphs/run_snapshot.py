"""A run as every face shows it, typed: `RunService.snapshot` reads one in a single database session.

    snap = await runs.snapshot(agency_id, flow_id)              # RunSnapshot (leads=None)
    snap = await runs.snapshot(agency_id, flow_id, leads=True)  # with the ranked leads
    snap.status is FlowStatus.PAUSED_FOR_UPGRADE and snap.billing_block.credit_info.deficit

The typed fields are what code branches on; `snap.run` is the same run as `--json` prints it
(graphs/views.py `flow_json`), which the renderers of the three faces draw, so a face can never
show a field differently from the JSON. Two snapshots compare equal when everything a face could
draw is the same: the watch loop (graphs/run_watch.py) yields a snapshot only when it changed.

Light on purpose (dataclasses, the statuses, the views): the CLI's quick read path builds its
snapshot from plain rows with `RunSnapshot.from_json`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from db.statuses import FINAL_FLOW_STATUSES, FlowStatus, PhaseStatus
from graphs.views import flow_json, leads_json

if TYPE_CHECKING:
    from db.models import LeadGenFlow
    from db.repositories import LeadRecord

# A run in these is over for a live view: nothing will draw it differently (an `error` run can
# be resumed, and a resume opens a new view).
ENDED_FLOW_STATUSES = frozenset({*FINAL_FLOW_STATUSES, FlowStatus.ERROR})


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


@dataclass(frozen=True)
class CreditInfo:
    """What the billing provider answered when a step could not hold its credits."""

    allowed: bool
    required_balance: int
    balance: int
    deficit: int

    @classmethod
    def parse(cls, info: Mapping[str, Any] | None) -> CreditInfo:
        info = info or {}
        return cls(
            allowed=bool(info.get("allowed", False)),
            required_balance=_int(info.get("required_balance")),
            balance=_int(info.get("balance")),
            deficit=_int(info.get("deficit")),
        )


@dataclass(frozen=True)
class BillingBlock:
    """Why a run is paused (`lead_gen_flows.billing_block`): the step, the feature it bills and
    the provider's answer. `raw` is the stored block, as the JSON views print it."""

    phase: str
    feature_id: str
    audit_job_id: str | None
    created_at: str | None
    credit_info: CreditInfo
    raw: Mapping[str, Any] = field(compare=False, repr=False)

    @property
    def pause_key(self) -> str:
        """Names this pause (a new pause of the same run is a new paywall)."""
        return str(self.created_at or "pause")

    @classmethod
    def parse(cls, block: Mapping[str, Any] | None) -> BillingBlock | None:
        if not block:
            return None
        job = block.get("audit_job_id")
        created = block.get("created_at")
        return cls(
            phase=str(block.get("phase") or ""),
            feature_id=str(block.get("feature_id") or ""),
            audit_job_id=str(job) if job else None,
            created_at=str(created) if created else None,
            credit_info=CreditInfo.parse(block.get("credit_info")),
            raw=dict(block),
        )


@dataclass(frozen=True)
class PhaseView:
    name: str
    status: PhaseStatus
    progress: float
    started_at: str | None
    completed_at: str | None
    duration_ms: int | None

    @classmethod
    def parse(cls, phase: Mapping[str, Any]) -> PhaseView:
        try:
            status = PhaseStatus(phase.get("status") or PhaseStatus.PENDING)
        except ValueError:
            status = PhaseStatus.PENDING
        duration = phase.get("duration_ms")
        return cls(
            name=str(phase["name"]),
            status=status,
            progress=float(phase.get("progress") or 0.0),
            started_at=phase.get("started_at"),
            completed_at=phase.get("completed_at"),
            duration_ms=int(duration) if isinstance(duration, int | float) else None,
        )


@dataclass(frozen=True)
class RunCounts:
    """Totals over the run's own leads and audits (`Repository.flow_counts`)."""

    opportunities: int = 0
    with_website: int = 0
    ready: int = 0
    data_ready: int = 0
    auditing: int = 0
    audits_queued: int = 0
    audits_completed: int = 0
    audits_failed: int = 0
    reused: int = 0

    @property
    def audits_done(self) -> int:
        return self.audits_completed + self.audits_failed

    @classmethod
    def parse(cls, counts: Mapping[str, Any]) -> RunCounts:
        return cls(**{name: _int(counts.get(name)) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class LastEvent:
    type: str
    message: str | None
    timestamp: str | None

    @classmethod
    def parse(cls, event: Mapping[str, Any] | None) -> LastEvent | None:
        if not event:
            return None
        message = event.get("message")
        return cls(
            type=str(event.get("type") or ""),
            message=str(message) if message is not None else None,
            timestamp=event.get("timestamp"),
        )


@dataclass(frozen=True)
class RunSnapshot:
    """One run at one moment, read in one session (`RunService.snapshot`)."""

    id: str
    agency_id: str
    status: FlowStatus
    num_leads_requested: int
    num_leads_fetched: int
    vertical: str
    geography: str
    phases: tuple[PhaseView, ...]
    progress: float
    counts: RunCounts
    billing_block: BillingBlock | None
    last_event: LastEvent | None
    error: str | None
    created_at: str | None
    completed_at: str | None
    # The run's leads ranked, as `leads_json` prints them; None when they were not read.
    leads: tuple[dict[str, Any], ...] | None = None
    # The run as `--json` prints it (graphs/views.py): what the renderers draw.
    run: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def ended(self) -> bool:
        """Completed, cancelled or failed: a live view draws it one last time and stops."""
        return self.status in ENDED_FLOW_STATUSES

    @property
    def paused(self) -> bool:
        return self.status == FlowStatus.PAUSED_FOR_UPGRADE

    @property
    def campaign_label(self) -> str:
        return f"{self.num_leads_requested} {self.vertical} in {self.geography}"

    @property
    def lead_list(self) -> list[dict[str, Any]]:
        return list(self.leads or ())

    @classmethod
    def from_json(cls, run: Mapping[str, Any], leads: Sequence[dict[str, Any]] | None = None) -> RunSnapshot:
        """From the run's JSON (graphs/views.py `flow_json`) and, when read, its leads' JSON."""
        campaign = run.get("campaign") or {}
        return cls(
            id=str(run["id"]),
            agency_id=str(run["agency_id"]),
            status=FlowStatus(run["status"]),
            num_leads_requested=_int(run.get("num_leads_requested")),
            num_leads_fetched=_int(run.get("num_leads_fetched")),
            vertical=str(campaign.get("target_vertical") or ""),
            geography=str(campaign.get("target_geography") or ""),
            phases=tuple(PhaseView.parse(p) for p in run.get("phases") or []),
            progress=float(run.get("progress") or 0.0),
            counts=RunCounts.parse(run.get("counts") or {}),
            billing_block=BillingBlock.parse(run.get("billing_block")),
            last_event=LastEvent.parse(run.get("last_event")),
            error=run.get("error"),
            created_at=run.get("created_at"),
            completed_at=run.get("completed_at"),
            leads=tuple(leads) if leads is not None else None,
            run=dict(run),
        )


def snapshot_of(
    flow: LeadGenFlow,
    *,
    counts: Mapping[str, int],
    progress: float,
    leads: Sequence[LeadRecord] | None = None,
) -> RunSnapshot:
    """The snapshot of rows read together (the run service reads them in one session)."""
    run = flow_json(flow, counts=dict(counts), progress=progress)
    return RunSnapshot.from_json(run, leads_json(leads) if leads is not None else None)
