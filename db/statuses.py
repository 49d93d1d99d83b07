"""The statuses the tables hold, as `StrEnum`s.

A member is a `str` equal to its value (`FlowStatus.COMPLETED == "completed"`), so rows, JSON
views and checkpoints keep the plain strings they always had; the names only give code one
spelling to compare against (a typo is an AttributeError, not a comparison that is never true).
"""

from __future__ import annotations

from enum import StrEnum


class FlowStatus(StrEnum):
    """`lead_gen_flows.status`: the run."""

    IDLE = "idle"  # written, not started yet
    RUNNING = "running"
    PAUSED_FOR_UPGRADE = "paused_for_upgrade"  # a billing gate interrupted it; `billing_block` says why
    ERROR = "error"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class PhaseStatus(StrEnum):
    """A phase of a run (`lead_gen_flows.phases[].status`) or of an audit (`audit_jobs.phases`)."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETE = "complete"
    ERROR = "error"


class OpportunityStatus(StrEnum):
    """A lead in a run (`client_opportunities.status`, `flow_leads.status`)."""

    SOURCED = "SOURCED"  # found by the search, not researched yet
    AUDITING = "AUDITING"
    READY = "READY"  # researched, with a dossier
    DATA_READY = "DATA_READY"  # saved without a dossier (no site, or its audit failed)


class AuditStatus(StrEnum):
    """`audit_jobs.status`: the research of one lead's website."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    ERROR = "error"


# Nothing will run a flow in these again (an `error` run can be resumed; a cancelled one cannot).
FINAL_FLOW_STATUSES = frozenset({FlowStatus.COMPLETED, FlowStatus.CANCELLED})
# An audit in these is done with, one way or the other: it is not started again.
FINAL_AUDIT_STATUSES = frozenset({AuditStatus.COMPLETED, AuditStatus.ERROR})
