"""What the chat tools hand the faces: one typed artifact per tool answer.

A tool answers twice (LangChain's `response_format="content_and_artifact"`): the model reads the
JSON content (graphs/views.py's vocabulary, as it always has), and the faces receive the artifact
beside it and draw from that, dispatching on its type. A face never re-parses the model's JSON
nor switches on a tool's name.

The view payloads inside (a lead, a dossier, scraped pages) stay the dicts of graphs/views.py:
they are the one JSON vocabulary every renderer already draws.

Artifacts live for the turn that produced them: the agent passes them to the face and keeps
them out of the conversation's checkpoint (see `assistant.agent`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from db.statuses import FlowStatus

# A run in one of these needs no live view: nothing will move in it on its own.
TERMINAL_RUN_STATUSES = frozenset({FlowStatus.COMPLETED, FlowStatus.ERROR, FlowStatus.CANCELLED})
# What a resume answer says about the run that makes a live view worth drawing: it moves now, or
# it waits for credits (the view shows the paywall).
LIVE_RESUME_STATUSES = frozenset({"resuming", "running", str(FlowStatus.PAUSED_FOR_UPGRADE)})


# --- runs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunStarted:
    """A run was created and launched in the background: draw its live view."""

    run_id: str
    num_leads: int
    vertical: str | None
    geography: str | None


@dataclass(frozen=True)
class RunNeedsConfirmation:
    """A large or refreshed run, prepared: the face asks with a Start button (nothing started)."""

    run_id: str  # the id the run gets when the button is pressed (a second press finds it)
    num_leads: int
    vertical: str
    geography: str
    refresh: bool
    max_credits: int
    balance: int
    message: str


@dataclass(frozen=True)
class RunStatusShown:
    """The status of one run (the agent also lists the others in its text)."""

    run_id: str
    status: str

    @property
    def live(self) -> bool:
        return self.status not in TERMINAL_RUN_STATUSES


@dataclass(frozen=True)
class ResumeAnswered:
    """What the run service decided on a resume (`RunService.resume_if_funded`)."""

    run_id: str
    status: str  # completed | cancelled | running | resuming | paused_for_upgrade
    message: str

    @property
    def live(self) -> bool:
        return self.status in LIVE_RESUME_STATUSES


# --- leads, dossiers, reports ----------------------------------------------------------------


@dataclass(frozen=True)
class LeadsShown:
    """A run's leads, ranked (after the tool's filters)."""

    run_id: str
    run_status: str
    leads: list[dict[str, Any]]  # graphs.views.lead_json
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DossierShown:
    """One lead's research dossier."""

    opportunity_id: str
    lead: dict[str, Any]  # graphs.views.lead_json
    dossier: dict[str, Any]  # graphs.reports.ReportService.dossier_view


@dataclass(frozen=True)
class NoDossier:
    """The lead exists but has no dossier (no site of its own, or its audit did not finish)."""

    opportunity_id: str
    lead: dict[str, Any]
    message: str


@dataclass(frozen=True)
class ReportShared:
    """A new share link to a lead's report."""

    opportunity_id: str
    lead_name: str
    share: dict[str, Any]  # assistant.chat_tools.reports.share_json: what every face draws


@dataclass(frozen=True)
class ReportRevoked:
    opportunity_id: str
    lead_name: str
    revoked: int
    message: str


@dataclass(frozen=True)
class SourcesShown:
    """The pages read while auditing a lead (none when it was not audited)."""

    audit_job_id: str | None
    pages: list[dict[str, Any]]  # graphs.views.page_json
    opportunity_id: str | None = None
    lead_name: str | None = None


@dataclass(frozen=True)
class CandidatesToChoose:
    """What the person said is not one lead: ask which, one button per candidate."""

    action: str  # what was asked of the lead: open_dossier, call_lead, show_pages, share_report, ...
    reference: str
    candidates: list[dict[str, Any]]  # {id, name, address?, ...}: graphs.lead_lookup
    message: str
    found_none: bool  # no lead matched (the candidates are near misses) rather than several


# --- calls -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallPrepared:
    """A call ready to place: the face asks with a Call button (nothing dialled)."""

    opportunity_id: str
    lead_name: str
    phone: str | None  # None: the lead has no number (the face says so, no button)
    balance: int

    @property
    def message(self) -> str:
        name, credits = self.lead_name, f"{self.balance} credit{'s' if self.balance != 1 else ''}"
        return (
            f"Ready to call {name} at {self.phone}. A call costs 1 credit per started minute and you "
            f"have {credits}. Nothing is dialled until you press Call {name}."
        )


@dataclass(frozen=True)
class CallsShown:
    calls: list[dict[str, Any]]
    opportunity_id: str | None = None
    lead_name: str | None = None


# --- the account -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CreditsShown:
    customer_id: str
    balance: int


@dataclass(frozen=True)
class UpgradeOffered:
    """A free (self-service) upgrade, prepared: granted only by the person's Upgrade button."""

    plan_id: str
    credits: int
    tool_call_id: str  # the grant's idempotency: one grant per this question, whatever the clicks
    message: str


@dataclass(frozen=True)
class CheckoutOpened:
    """An upgrade that is paid: the checkout link (the credits arrive once paid)."""

    plan_id: str
    checkout_url: str
    message: str


@dataclass(frozen=True)
class UpgradeApplied:
    """An upgrade applied without a checkout (a plan attached by the provider)."""

    plan_id: str
    message: str


@dataclass(frozen=True)
class ProfileUpdated:
    vertical: str | None
    geography: str | None
    criteria: list[str]
    services: list[str]


@dataclass(frozen=True)
class BrandingSaved:
    branding: dict[str, Any]


@dataclass(frozen=True)
class SlackConnected:
    team_id: str


# --- refusals --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolRefused:
    """The tool did nothing (bad input, not allowed, not found...): the model explains it."""

    kind: str
    message: str


ChatArtifact = (
    RunStarted
    | RunNeedsConfirmation
    | RunStatusShown
    | ResumeAnswered
    | LeadsShown
    | DossierShown
    | NoDossier
    | ReportShared
    | ReportRevoked
    | SourcesShown
    | CandidatesToChoose
    | CallPrepared
    | CallsShown
    | CreditsShown
    | UpgradeOffered
    | CheckoutOpened
    | UpgradeApplied
    | ProfileUpdated
    | BrandingSaved
    | SlackConnected
    | ToolRefused
)
