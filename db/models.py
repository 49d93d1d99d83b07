"""Every table of the product, with the fields and indexes the seeds name (in snake_case).

Seed -> here: `agency_profile` -> Agency + AgencyProfile, `lead_gen_flow` -> LeadGenFlow,
`client_opportunities` -> ClientOpportunity, `audit_jobs` -> AuditJob, `audit_scraped_pages` ->
ScrapedPage (content lives in the content store), `audit_dossier` -> AuditDossier, calls -> Call.
Billing: CreditAccount / CreditLedgerEntry / CreditHold (the local ledger, and the holds kept
beside Autumn). Webhooks land in WebhookInbox before they are processed.

Every row that belongs to an agency carries `agency_id`; repositories filter on it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, JSONType, UTCDateTime, new_id, utcnow
from db.progress import PHASE_WEIGHTS as PHASE_WEIGHTS
from db.signals import SIGNALS as SIGNALS  # re-exported: the models name the signals too
from db.statuses import AuditStatus, FlowStatus, OpportunityStatus, PhaseStatus

# The six phases, in order (README, "What a run does").
PHASES: tuple[str, ...] = (
    "source",
    "filter_rank",
    "persist_leads",
    "scrape_content",
    "generate_dossier",
    "finalize_rank",
)
AUDIT_PHASES: tuple[str, ...] = ("map_urls", "filter_urls", "scrape_content", "generate_dossier")

# The values of each status, as plain strings (for messages and checks); the names: db/statuses.py.
FLOW_STATUSES: tuple[str, ...] = tuple(s.value for s in FlowStatus)
PHASE_STATUSES: tuple[str, ...] = tuple(s.value for s in PhaseStatus)
OPPORTUNITY_STATUSES: tuple[str, ...] = tuple(s.value for s in OpportunityStatus)
AUDIT_STATUSES: tuple[str, ...] = tuple(s.value for s in AuditStatus)
# Rows written before a JSON list column existed read as an empty list (migration 0006).
EMPTY_LIST = text("'[]'")


def initial_phases() -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "status": PhaseStatus.PENDING.value,
            "progress": 0.0,
            "started_at": None,
            "completed_at": None,
            "duration_ms": None,
        }
        for name in PHASES
    ]


def initial_audit_phases() -> list[dict[str, Any]]:
    return [{"name": name, "status": PhaseStatus.PENDING.value} for name in AUDIT_PHASES]


class Agency(Base):
    __tablename__ = "agencies"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Who pays: the local ledger's account id, or the Autumn customer id.
    billing_customer_id: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AgencyProfile(Base):
    __tablename__ = "agency_profiles"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"), unique=True)
    target_vertical: Mapped[str | None] = mapped_column(String(200))
    target_geography: Mapped[str | None] = mapped_column(String(200))
    criteria: Mapped[list[str]] = mapped_column(JSONType, default=list)  # signals the agency sells against
    services_offered: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # What the agency's prospect reports carry (graphs/branding.py): name, logo_url, colours,
    # contact_email, contact_phone, cta_label, cta_url; {} until set.
    branding: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, server_default=text("'{}'"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


ROLES = ("admin", "member")


class AgencyUser(Base):
    """A person who signs in (web UI, Slack) and acts for one agency, as `admin` or `member`
    (graphs/accounts.py says what each may do). `slack_user` links the person's Slack identity
    (`TEAM_ID:USER_ID`), so their Slack clicks carry their role."""

    __tablename__ = "agency_users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"), index=True)
    username: Mapped[str] = mapped_column(String(200), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The least privilege by default; migration 0005 made the users that existed before roles admins.
    role: Mapped[str] = mapped_column(String(16), default="member", server_default="member")
    slack_user: Mapped[str | None] = mapped_column(String(100), index=True, unique=True)


class SignInFailure(Base):
    """A failed password sign-in, kept for the throttle's window (graphs/identity.py), in the
    database so every process of the web UI counts the same attempts. `username` is lower-cased;
    the password is never stored."""

    __tablename__ = "sign_in_failures"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        Index("ix_sign_in_failures_by_username", "username", "failed_at"),
        Index("ix_sign_in_failures_by_address", "address", "failed_at"),
        Index("ix_sign_in_failures_by_time", "failed_at"),
    )


class LeadGenFlow(Base):
    __tablename__ = "lead_gen_flows"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(String(200))
    agency_profile_id: Mapped[str | None] = mapped_column(String(32))
    billing_customer_id: Mapped[str] = mapped_column(String(128))
    num_leads_requested: Mapped[int] = mapped_column(Integer)
    num_leads_fetched: Mapped[int] = mapped_column(Integer, default=0)
    target_vertical: Mapped[str] = mapped_column(String(200))
    target_geography: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(32), default=FlowStatus.IDLE.value)
    # `leadgen run --refresh`: audit every lead again, even one with a dossier younger than
    # LEADGEN_DOSSIER_MAX_AGE_DAYS (kept on the row so a resume or a queue worker knows).
    refresh_dossiers: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    phases: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=initial_phases)
    last_event: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # Up to 60 places as sourced: read by the filter only (Repository.get_places_snapshot), never
    # loaded with the flow, which every face polls.
    places_snapshot: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType, deferred=True)
    billing_block: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)
    # One execution per flow: compare-and-set on (lease_owner, lease_expires_at).
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_lead_gen_flows_by_user_id", "user_id"),
        Index("ix_lead_gen_flows_by_agency_id", "agency_id", "created_at"),
        Index("ix_lead_gen_flows_by_status", "status"),
    )


class ClientOpportunity(Base):
    """A lead of one agency, deduplicated across runs. Which runs found it is in FlowLead;
    `lead_gen_flow_id` only names the newest of them, and `status` is its latest status."""

    __tablename__ = "client_opportunities"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"))
    lead_gen_flow_id: Mapped[str | None] = mapped_column(ForeignKey("lead_gen_flows.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(300))
    domain: Mapped[str | None] = mapped_column(String(253))  # canonical, own domain only (never social)
    website: Mapped[str | None] = mapped_column(String(2048))
    phone: Mapped[str | None] = mapped_column(String(32))  # E.164
    place_id: Mapped[str | None] = mapped_column(String(300))
    address: Mapped[str | None] = mapped_column(String(500))
    rating: Mapped[float | None] = mapped_column(Float)
    reviews_count: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(32), default="google_places")
    status: Mapped[str] = mapped_column(String(16), default=OpportunityStatus.SOURCED.value)
    target_vertical: Mapped[str | None] = mapped_column(String(200))
    target_geography: Mapped[str | None] = mapped_column(String(200))
    qualification_score: Mapped[float] = mapped_column(Float, default=0.0)
    signals: Mapped[list[str]] = mapped_column(JSONType, default=list)
    fit_reason: Mapped[str | None] = mapped_column(Text)
    # The lead's latest brief and score (graphs/lead_scores.py): what it could buy, and why.
    # `findings` are those its score was computed from: Places' and, once audited, the site's
    # (SITE_DOWN included, which has no dossier); the same shape as a dossier's findings.
    opportunity_score: Mapped[float] = mapped_column(Float, default=0.0, server_default=text("0"))
    score_reasons: Mapped[list[str]] = mapped_column(JSONType, default=list, server_default=EMPTY_LIST)
    talking_points: Mapped[list[str]] = mapped_column(JSONType, default=list, server_default=EMPTY_LIST)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list, server_default=EMPTY_LIST)
    # Places' businessStatus (OPERATIONAL, CLOSED_TEMPORARILY): a temporarily closed business is
    # flagged and never audited or charged.
    business_status: Mapped[str | None] = mapped_column(String(32))
    # [{kind, value, source_url}] read from the pages an audit scraped (graphs/contacts.py); the
    # Places phone is added when shown, not stored here.
    contacts: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONType, default=list, server_default=text("'[]'")
    )
    # The newest dossier's outreach drafts (graphs/outreach.py); null: built from the facts when shown.
    outreach: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    meeting_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index("ix_client_opportunities_by_agency", "agency_id"),
        # Dedupe keys: one opportunity per place and per own domain within an agency.
        Index(
            "uq_client_opportunities_by_place_id",
            "agency_id",
            "place_id",
            unique=True,
            sqlite_where=text("place_id IS NOT NULL"),
            postgresql_where=text("place_id IS NOT NULL"),
        ),
        Index(
            "uq_client_opportunities_by_agency_and_domain",
            "agency_id",
            "domain",
            unique=True,
            sqlite_where=text("domain IS NOT NULL"),
            postgresql_where=text("domain IS NOT NULL"),
        ),
        Index(
            "ix_client_opportunities_by_agency_and_campaign",
            "agency_id",
            "target_vertical",
            "target_geography",
        ),
        Index("ix_client_opportunities_by_lead_gen_flow", "lead_gen_flow_id"),
        Index("ix_client_opportunities_by_lead_gen_flow_and_domain", "lead_gen_flow_id", "domain"),
    )


class FlowLead(Base):
    """One lead found by one run: the run's own list, kept for as long as the run exists, however
    often later runs find the same business again. It holds what the run made of the lead: its
    place in the run's ranking, the score it was ranked by, its status in this run, and the
    audit and dossier this run shows for it (its own, or one it reused: `dossier_reused`)."""

    __tablename__ = "lead_gen_flow_leads"

    lead_gen_flow_id: Mapped[str] = mapped_column(
        ForeignKey("lead_gen_flows.id", ondelete="CASCADE"), primary_key=True
    )
    opportunity_id: Mapped[str] = mapped_column(
        ForeignKey("client_opportunities.id", ondelete="CASCADE"), primary_key=True
    )
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"))
    rank: Mapped[int] = mapped_column(Integer)  # 0 = best; written by graphs/ranking.py's order
    qualification_score: Mapped[float] = mapped_column(Float, default=0.0)
    # What this run ranked the lead by, and why (a later run rescoring the lead leaves them be).
    opportunity_score: Mapped[float] = mapped_column(Float, default=0.0, server_default=text("0"))
    score_reasons: Mapped[list[str]] = mapped_column(JSONType, default=list, server_default=EMPTY_LIST)
    status: Mapped[str] = mapped_column(String(16), default=OpportunityStatus.SOURCED.value)
    audit_job_id: Mapped[str | None] = mapped_column(String(32))
    dossier_id: Mapped[str | None] = mapped_column(String(32))
    dossier_reused: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    # Every read names the run (or the lead) and the agency. The agency sits in each index, and
    # no index leads with it: planners without statistics (SQLite as shipped, PostgreSQL right
    # after a bulk load) took an agency-only index and read the agency's every row (bench/queries.py).
    __table_args__ = (
        # A run's leads in rank order, straight off the index.
        Index("ix_lead_gen_flow_leads_by_flow_and_rank", "lead_gen_flow_id", "agency_id", "rank"),
        # A lead's runs (`runs[]`).
        Index("ix_lead_gen_flow_leads_by_opportunity", "opportunity_id", "agency_id"),
    )


class AuditJob(Base):
    __tablename__ = "audit_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"))
    opportunity_id: Mapped[str] = mapped_column(ForeignKey("client_opportunities.id", ondelete="CASCADE"))
    lead_gen_flow_id: Mapped[str | None] = mapped_column(ForeignKey("lead_gen_flows.id", ondelete="SET NULL"))
    target_url: Mapped[str] = mapped_column(String(2048))
    status: Mapped[str] = mapped_column(String(16), default=AuditStatus.QUEUED.value)
    phases: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=initial_audit_phases)
    dossier_id: Mapped[str | None] = mapped_column(String(32))
    analysis_thread: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    # True once dossier_research was settled for this audit (the seed's `metered` flag).
    metered: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index("ix_audit_jobs_by_opportunity", "opportunity_id"),
        Index("ix_audit_jobs_by_agency", "agency_id"),
        # A run's audits in order; with the agency in it, planners no longer prefer the agency index.
        Index("ix_audit_jobs_by_lead_gen_flow", "lead_gen_flow_id", "agency_id", "created_at"),
        # Queueing audits twice (a crash, a resume) finds the job it made before.
        UniqueConstraint("lead_gen_flow_id", "opportunity_id", name="uq_audit_jobs_flow_opportunity"),
    )


class ScrapedPage(Base):
    __tablename__ = "audit_scraped_pages"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"))
    audit_job_id: Mapped[str] = mapped_column(ForeignKey("audit_jobs.id", ondelete="CASCADE"))
    opportunity_id: Mapped[str] = mapped_column(ForeignKey("client_opportunities.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    title: Mapped[str | None] = mapped_column(String(500))
    content_ref: Mapped[str] = mapped_column(String(300))  # key in the content store
    content_sha256: Mapped[str] = mapped_column(String(64))
    content_length: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    scraped_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        Index("ix_audit_scraped_pages_by_audit_job_id", "audit_job_id"),
        Index("ix_audit_scraped_pages_by_opportunity_id", "opportunity_id"),
        UniqueConstraint("audit_job_id", "url", name="uq_audit_scraped_pages_by_audit_job_id_and_url"),
    )


class AuditDossier(Base):
    __tablename__ = "audit_dossiers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"))
    audit_job_id: Mapped[str] = mapped_column(ForeignKey("audit_jobs.id", ondelete="CASCADE"), unique=True)
    opportunity_id: Mapped[str] = mapped_column(ForeignKey("client_opportunities.id", ondelete="CASCADE"))
    summary: Mapped[str] = mapped_column(Text)
    # [{code, title, detail, evidence_url, evidence, source}]: graphs/audit_checks.py's findings,
    # Places', and the gaps the model added that quote a scraped page (DESIGN "JSON shapes").
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list, server_default=EMPTY_LIST)
    gaps: Mapped[list[str]] = mapped_column(JSONType, default=list)
    talking_points: Mapped[list[str]] = mapped_column(JSONType, default=list)
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)  # [{url, title}]
    fit_reason: Mapped[str | None] = mapped_column(Text)
    # {email_subject, email_body, call_opener}: written with the dossier (graphs/outreach.py).
    outreach: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    model: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_audit_dossiers_by_opportunity", "opportunity_id"),)


class ReportLink(Base):
    """A share link to one lead's report (graphs/reports.py). Only the SHA-256 of the token is
    kept: the link is shown once, when made, and a copy of the database cannot open reports."""

    __tablename__ = "report_links"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"))
    opportunity_id: Mapped[str] = mapped_column(ForeignKey("client_opportunities.id", ondelete="CASCADE"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_report_links_by_opportunity", "opportunity_id", "agency_id"),)


class Call(Base):
    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"))
    opportunity_id: Mapped[str] = mapped_column(ForeignKey("client_opportunities.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(String(200))
    provider_call_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    to_number: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), default="queued")
    ended_reason: Mapped[str | None] = mapped_column(String(200))
    billing_seconds: Mapped[float | None] = mapped_column(Float)
    transcript: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # billing_customer_id, preflight_balance, ai_call_metering{...}: merged, never overwritten.
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index("ix_calls_by_agency", "agency_id", "created_at"),
        Index("ix_calls_by_opportunity", "opportunity_id"),
    )


class CreditAccount(Base):
    """Credits of one billing customer. `balance` is what was granted minus what was charged;
    `held` is reserved by open holds; available = balance - held (never below zero)."""

    __tablename__ = "credit_accounts"

    customer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    balance: Mapped[int] = mapped_column(Integer, default=0)
    held: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class CreditLedgerEntry(Base):
    """One row per metered event, grant or adjustment. Charges carry a positive `credits` and
    their idempotency key; the unique constraint makes a second write of the same key a no-op."""

    __tablename__ = "credit_ledger_entries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # charge | grant | adjustment
    feature_id: Mapped[str | None] = mapped_column(String(64))
    units: Mapped[int] = mapped_column(Integer, default=0)
    credits: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    balance_after: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_credit_ledger_entries_by_customer", "customer_id", "created_at"),)


class CreditHold(Base):
    """Credits reserved for work in flight (an audit), settled when it succeeds, released when not."""

    __tablename__ = "credit_holds"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    hold_key: Mapped[str] = mapped_column(String(300), unique=True)  # also the charge's idempotency key
    customer_id: Mapped[str] = mapped_column(String(128))
    feature_id: Mapped[str] = mapped_column(String(64))
    units: Mapped[int] = mapped_column(Integer)
    credits: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | settled | released
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_credit_holds_open_by_customer", "customer_id", "status"),)


class WebhookInbox(Base):
    """Webhooks as received (after authentication), before processing. (provider, event_id) is
    unique so a redelivery is recognised and processed once."""

    __tablename__ = "webhook_inbox"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(300))
    event_type: Mapped[str | None] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16), default="received")  # received|processed|failed
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("provider", "event_id", name="uq_webhook_inbox_provider_event"),
        Index("ix_webhook_inbox_by_status", "status", "received_at"),
    )


class SlackInstall(Base):
    """A Slack workspace (team) connected to one agency: every request from the workspace acts
    for that agency. `bot_token` is set when the workspace has a bot token of its own (several
    workspaces); without it the adapter uses SLACK_BOT_TOKEN."""

    __tablename__ = "slack_installs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    team_id: Mapped[str] = mapped_column(String(64), unique=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"), index=True)
    bot_token: Mapped[str | None] = mapped_column(String(300))
    # "claimed" when an unknown workspace took the default agency on first contact, else "admin".
    source: Mapped[str] = mapped_column(String(16), default="admin")
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
