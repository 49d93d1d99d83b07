"""Tenant-scoped data access: the only way the pipeline, CLI and UIs read and write our tables.

`Repository(session)` wraps an `AsyncSession`; the caller owns the transaction (commit or roll
back). `Database.transaction()` / `Database.reader()` in `db/__init__.py` hand out one ready-made.

Agency scope. Every method takes `agency_id` first and filters on it, so another agency's row
reads exactly like a missing one:

* `get_*` return None;
* `list_*` return only the agency's rows (a foreign flow id lists nothing);
* everything else that names a row (updates, `set_*`, `create_*` under a parent, leases,
  `flow_progress`, `flow_counts`) raises `NotFound` and writes nothing.

Four methods are unscoped on purpose, each documented at its definition: `sweep_running_flows`
(start-up recovery runs for every agency), `find_call_by_provider_id` and the webhook inbox
(providers call us back knowing only their own ids), and `find_report_link` (a prospect holds
only a share link's token).

Concurrency. Unique constraints are the backstop; inserts that can race use
`INSERT ... ON CONFLICT DO NOTHING/UPDATE` (SQLite and PostgreSQL), the lease is one conditional
UPDATE, and read-modify-write of JSON columns (phases, call metadata) locks the row with
`SELECT ... FOR UPDATE` on PostgreSQL. On SQLite run mutations in `db.engine.write_session`
(`BEGIN IMMEDIATE`): a deferred transaction that read before another writer committed cannot
upgrade to a write lock and fails with "database is locked".

Times inside JSON columns (phase `started_at`, `last_event.timestamp`) are ISO 8601 UTC strings
ending in `Z`, as the JSON output shows them.
"""

from __future__ import annotations

import copy
import os
import socket
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import case, func, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import Base, new_id, utcnow
from db.content_store import ContentStore
from db.models import (
    AUDIT_PHASES,
    OPPORTUNITY_STATUSES,
    PHASE_STATUSES,
    PHASES,
    Agency,
    AgencyProfile,
    AuditDossier,
    AuditJob,
    Call,
    ClientOpportunity,
    FlowLead,
    LeadGenFlow,
    ReportLink,
    ScrapedPage,
    WebhookInbox,
    initial_phases,
)
from db.progress import overall_progress

M = TypeVar("M", bound=Base)

WEBHOOK_STATUSES = ("received", "processed", "failed")
# Never writable through update_*: they are the row's identity and its tenant.
_IMMUTABLE = frozenset({"id", "agency_id"})
_MEMBER_IDENTITY = frozenset({"lead_gen_flow_id", "opportunity_id", "status", "created_at"})


class NotFound(LookupError):
    """The row does not exist, or belongs to another agency (the two are indistinguishable)."""

    def __init__(self, kind: str, ident: str) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"{kind} {ident!r} not found")


@dataclass(frozen=True)
class LeadInput:
    """One filtered, scored lead ready to persist. `domain` is the canonical own domain, None for
    no website or a social/aggregator one (which then never dedupes)."""

    place_id: str | None
    name: str
    domain: str | None = None
    website: str | None = None
    phone: str | None = None
    address: str | None = None
    rating: float | None = None
    reviews_count: int | None = None
    signals: Sequence[str] = ()
    qualification_score: float = 0.0
    opportunity_score: float = 0.0
    score_reasons: Sequence[str] = ()
    business_status: str | None = None


@dataclass(frozen=True)
class PageInput:
    """One scraped page to store: its text goes to the content store, the rest to the row."""

    url: str
    title: str | None
    content: str
    status_code: int | None = None


@dataclass(frozen=True)
class UpsertCounts:
    created: int
    updated: int
    skipped: int


@dataclass(frozen=True)
class LeadRecord:
    """A lead as the faces show it: the opportunity, the runs that found it (newest first),
    and what one run made of it: in a run's list, that run's status, score, audit and dossier
    (`dossier_reused` when the run linked an earlier dossier instead of researching again); on
    its own, the lead's latest status and its newest dossier."""

    opportunity: ClientOpportunity
    runs: list[str]
    status: str
    qualification_score: float
    audit_job_id: str | None
    dossier_id: str | None
    dossier_reused: bool = False
    opportunity_score: float = 0.0
    score_reasons: Sequence[str] = ()


def new_lease_owner() -> str:
    """A lease owner id, `host:pid:uuid`: unique per holder, and tells a caller on the same host
    which process to check for liveness."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"


def parse_lease_owner(owner: str) -> tuple[str, int] | None:
    """(host, pid) of a `new_lease_owner()` id, None when it is not of that shape."""
    host, sep, rest = owner.rpartition(":")
    host, sep2, pid = host.rpartition(":")
    if not (sep and sep2 and pid.isdigit() and rest):
        return None
    return host, int(pid)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _parse_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- helpers -------------------------------------------------------------------------

    def _insert(self, model: type[Base]) -> Any:
        """The dialect's INSERT, which knows ON CONFLICT."""
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            return postgresql.insert(model)
        if dialect == "sqlite":
            return sqlite.insert(model)
        raise NotImplementedError(f"unsupported database dialect {dialect!r}")

    async def _one(self, model: type[M], agency_id: str, ident: str, *, lock: bool = False) -> M | None:
        stmt = select(model).where(
            model.id == ident,  # type: ignore[attr-defined]
            model.agency_id == agency_id,  # type: ignore[attr-defined]
        )
        if lock:
            # Re-read under the row lock: the identity map may hold an older copy.
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def _require(self, model: type[M], agency_id: str, ident: str, *, lock: bool = False) -> M:
        row = await self._one(model, agency_id, ident, lock=lock)
        if row is None:
            raise NotFound(model.__tablename__, ident)
        return row

    @staticmethod
    def _check_fields(
        model: type[Base], fields: Mapping[str, Any], *, also_forbidden: frozenset[str] = frozenset()
    ) -> None:
        columns = set(model.__mapper__.column_attrs.keys())
        for name in fields:
            if name in _IMMUTABLE or name in also_forbidden:
                raise ValueError(f"{model.__name__}.{name} cannot be changed here")
            if name not in columns:
                raise ValueError(f"{model.__name__} has no field {name!r}")

    @classmethod
    def _apply(
        cls, row: Base, fields: dict[str, Any], *, also_forbidden: frozenset[str] = frozenset()
    ) -> None:
        cls._check_fields(type(row), fields, also_forbidden=also_forbidden)
        for name, value in fields.items():
            setattr(row, name, value)

    # -- agencies ------------------------------------------------------------------------

    async def ensure_agency(self, agency_id: str, *, name: str | None = None) -> Agency:
        """The agency, created (with an empty profile) when missing. Its billing customer is the
        agency id. Safe when two callers create the same agency at once."""
        await self.session.execute(
            self._insert(Agency)
            .values(id=agency_id, name=name or agency_id, billing_customer_id=agency_id, created_at=utcnow())
            .on_conflict_do_nothing()
        )
        await self.session.execute(
            self._insert(AgencyProfile)
            .values(id=new_id(), agency_id=agency_id, criteria=[], services_offered=[], updated_at=utcnow())
            .on_conflict_do_nothing()
        )
        agency = await self.get_agency(agency_id)
        if agency is None:
            # The insert was swallowed by another unique key: billing_customer_id taken by another agency.
            raise ValueError(f"cannot create agency {agency_id!r}: its billing customer id is already in use")
        if name is not None and agency.name != name:
            agency.name = name
            await self.session.flush()
        return agency

    async def get_agency(self, agency_id: str) -> Agency | None:
        return (
            await self.session.execute(
                select(Agency).where(Agency.id == agency_id).execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()

    async def get_profile(self, agency_id: str) -> AgencyProfile | None:
        return (
            await self.session.execute(select(AgencyProfile).where(AgencyProfile.agency_id == agency_id))
        ).scalar_one_or_none()

    async def set_profile(
        self,
        agency_id: str,
        *,
        target_vertical: str | None = None,
        target_geography: str | None = None,
        criteria: Sequence[str] | None = None,
        services_offered: Sequence[str] | None = None,
        branding: Mapping[str, Any] | None = None,
    ) -> AgencyProfile:
        """Change the given fields only (None leaves a field as it is). `branding` is merged
        into the stored one key by key; a key given as None is removed."""
        profile = await self.get_profile(agency_id)
        if profile is None:
            if await self.get_agency(agency_id) is None:
                raise NotFound("agencies", agency_id)
            profile = AgencyProfile(agency_id=agency_id, criteria=[], services_offered=[])
            self.session.add(profile)
        if target_vertical is not None:
            profile.target_vertical = target_vertical
        if target_geography is not None:
            profile.target_geography = target_geography
        if criteria is not None:
            profile.criteria = list(criteria)
        if services_offered is not None:
            profile.services_offered = list(services_offered)
        if branding is not None:
            merged = {**(profile.branding or {}), **branding}
            profile.branding = {k: v for k, v in merged.items() if v is not None}
        await self.session.flush()
        return profile

    # -- flows ---------------------------------------------------------------------------

    async def create_flow(
        self,
        agency_id: str,
        *,
        target_vertical: str,
        target_geography: str,
        num_leads_requested: int,
        user_id: str | None = None,
        billing_customer_id: str | None = None,
        flow_id: str | None = None,
        refresh_dossiers: bool = False,
    ) -> LeadGenFlow:
        """A new `idle` flow with all six phases pending. Bills the agency's customer unless told.
        `flow_id` names it (LangGraph Server: the thread's id); otherwise a new id is drawn.
        `refresh_dossiers` makes the run audit leads again even when a recent dossier exists."""
        agency = await self.get_agency(agency_id)
        if agency is None:
            raise NotFound("agencies", agency_id)
        if num_leads_requested < 1:
            raise ValueError(f"num_leads_requested must be at least 1, got {num_leads_requested}")
        profile = await self.get_profile(agency_id)
        flow = LeadGenFlow(
            **({"id": flow_id} if flow_id is not None else {}),
            agency_id=agency_id,
            user_id=user_id,
            agency_profile_id=profile.id if profile else None,
            billing_customer_id=billing_customer_id or agency.billing_customer_id,
            num_leads_requested=num_leads_requested,
            num_leads_fetched=0,
            target_vertical=target_vertical,
            target_geography=target_geography,
            status="idle",
            refresh_dossiers=refresh_dossiers,
            phases=initial_phases(),
        )
        self.session.add(flow)
        await self.session.flush()
        return flow

    async def get_flow(self, agency_id: str, flow_id: str) -> LeadGenFlow | None:
        return await self._one(LeadGenFlow, agency_id, flow_id)

    async def get_places_snapshot(self, agency_id: str, flow_id: str) -> list[dict[str, Any]]:
        """The places the flow's source phase read ([] before it ran)."""
        snapshot = (
            await self.session.execute(
                select(LeadGenFlow.places_snapshot).where(
                    LeadGenFlow.id == flow_id, LeadGenFlow.agency_id == agency_id
                )
            )
        ).one_or_none()
        if snapshot is None:
            raise NotFound(LeadGenFlow.__tablename__, flow_id)
        return list(snapshot[0] or [])

    async def list_flows(self, agency_id: str, limit: int = 50) -> list[LeadGenFlow]:
        """Newest first."""
        stmt = (
            select(LeadGenFlow)
            .where(LeadGenFlow.agency_id == agency_id)
            .order_by(LeadGenFlow.created_at.desc(), LeadGenFlow.id.desc())
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def update_flow(self, agency_id: str, flow_id: str, /, **fields: Any) -> LeadGenFlow:
        flow = await self._require(LeadGenFlow, agency_id, flow_id)
        self._apply(flow, fields)
        await self.session.flush()
        return flow

    async def set_phase(
        self,
        agency_id: str,
        flow_id: str,
        phase: str,
        *,
        status: str | None = None,
        progress: float | None = None,
        message: str | None = None,
        event_type: str | None = None,
    ) -> LeadGenFlow:
        """Move one phase. `running` stamps started_at (once per run of the phase); `complete`
        and `error` stamp completed_at and duration_ms, and `complete` fills progress to 1 unless
        told otherwise; `pending` resets the phase (used when a resume re-runs it). Progress is
        clamped to 0..1. A status, message or event type also writes the flow's `last_event`."""
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}; phases: {', '.join(PHASES)}")
        if status is not None and status not in PHASE_STATUSES:
            raise ValueError(f"unknown phase status {status!r}; statuses: {', '.join(PHASE_STATUSES)}")
        # Parallel audits update the same JSON column: lock the row so no update is lost.
        flow = await self._require(LeadGenFlow, agency_id, flow_id, lock=True)
        now = utcnow()
        phases = copy.deepcopy(flow.phases)
        entry = next(p for p in phases if p["name"] == phase)
        if status == "pending":
            entry.update(started_at=None, completed_at=None, duration_ms=None, progress=0.0)
        elif status == "running" and entry["status"] != "running":
            entry.update(started_at=iso(now), completed_at=None, duration_ms=None)
        elif status in ("complete", "error"):
            started = _parse_iso(entry.get("started_at")) or now
            entry["started_at"] = entry.get("started_at") or iso(now)
            entry["completed_at"] = iso(now)
            entry["duration_ms"] = max(0, int((now - started).total_seconds() * 1000))
            if status == "complete" and progress is None:
                progress = 1.0
        if status is not None:
            entry["status"] = status
        if progress is not None:
            entry["progress"] = min(1.0, max(0.0, float(progress)))
        flow.phases = phases
        if status is not None or message is not None or event_type is not None:
            flow.last_event = {
                "type": event_type or f"{phase}.{status or 'progress'}",
                "message": message if message is not None else f"{phase}: {status or 'progress'}",
                "timestamp": iso(now),
            }
        await self.session.flush()
        return flow

    async def flow_progress(self, agency_id: str, flow_id: str) -> float:
        """Overall progress 0..1: the phases' progress weighted by their share of the work
        (PHASE_WEIGHTS: the audits are most of a run), 1.0 once the flow completed."""
        flow = await self._require(LeadGenFlow, agency_id, flow_id)
        return overall_progress(flow.status, flow.phases)

    async def flow_counts(self, agency_id: str, flow_id: str) -> dict[str, int]:
        """Totals for the UI chips, counted in the database over the run's own leads (its
        membership rows, so a later run finding the same businesses changes nothing here).

        `with_website`: leads with an own domain (the ones that get audited; a social or
        aggregator page does not count). Statuses are the leads' statuses in this run.
        `audits_queued`: every audit job queued for the flow (the seed's queuedCount, the
        denominator of generate_dossier's progress); `audits_completed` / `audits_failed`: those
        that finished either way. `reused`: leads whose dossier this run took from an earlier run
        instead of researching (and charging) again.
        """

        def count_status(column: Any, value: Any) -> Any:
            return func.coalesce(func.sum(case((column == value, 1), else_=0)), 0)

        # One statement (the faces poll this): the flow row, its leads' and its audits' totals.
        member = FlowLead
        leads = (
            select(
                func.count().label("opportunities"),
                func.count(ClientOpportunity.domain).label("with_website"),
                count_status(member.status, "READY").label("ready"),
                count_status(member.status, "DATA_READY").label("data_ready"),
                count_status(member.status, "AUDITING").label("auditing"),
                count_status(member.dossier_reused, True).label("reused"),
            )
            .select_from(member)
            .join(ClientOpportunity, ClientOpportunity.id == member.opportunity_id)
            .where(member.lead_gen_flow_id == flow_id, member.agency_id == agency_id)
            .subquery()
        )
        audits = (
            select(
                func.count().label("audits_queued"),
                count_status(AuditJob.status, "completed").label("audits_completed"),
                count_status(AuditJob.status, "error").label("audits_failed"),
            )
            .where(AuditJob.lead_gen_flow_id == flow_id, AuditJob.agency_id == agency_id)
            .subquery()
        )
        row = (
            await self.session.execute(
                select(leads, audits)
                .select_from(LeadGenFlow)
                .join(leads, true())
                .join(audits, true())
                .where(LeadGenFlow.id == flow_id, LeadGenFlow.agency_id == agency_id)
            )
        ).first()
        if row is None:
            raise NotFound(LeadGenFlow.__tablename__, flow_id)
        return {key: int(value) for key, value in row._mapping.items()}

    async def audit_tally(self, agency_id: str, flow_id: str) -> tuple[int, int]:
        """(finished, queued) audit jobs of the flow in one query: the numbers behind
        generate_dossier's progress, cheap enough to recount inside every audit's last write."""
        finished = func.coalesce(func.sum(case((AuditJob.status.in_(("completed", "error")), 1), else_=0)), 0)
        row = (
            await self.session.execute(
                select(finished, func.count(AuditJob.id))
                .select_from(LeadGenFlow)
                .outerjoin(
                    AuditJob,
                    (AuditJob.lead_gen_flow_id == LeadGenFlow.id)
                    & (AuditJob.agency_id == LeadGenFlow.agency_id),
                )
                .where(LeadGenFlow.id == flow_id, LeadGenFlow.agency_id == agency_id)
                .group_by(LeadGenFlow.id)
            )
        ).first()
        if row is None:
            raise NotFound(LeadGenFlow.__tablename__, flow_id)
        return int(row[0]), int(row[1])

    # -- the flow lease (one execution per flow) ------------------------------------------

    async def _lease_update(
        self, agency_id: str, flow_id: str, condition: Any, values: dict[str, Any]
    ) -> bool:
        result = await self.session.execute(
            update(LeadGenFlow)
            .where(LeadGenFlow.id == flow_id, LeadGenFlow.agency_id == agency_id, condition)
            .values(**values)
            .execution_options(synchronize_session="fetch")
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            return True
        await self._require(LeadGenFlow, agency_id, flow_id)
        return False

    async def acquire_lease(
        self,
        agency_id: str,
        flow_id: str,
        owner: str,
        ttl_seconds: float,
        *,
        take_over_from: str | None = None,
    ) -> bool:
        """Compare-and-set: take the flow's lease when nobody holds it, `owner` already does, or
        it expired. `take_over_from` also lets it be taken from that exact holder before expiry
        (the caller found that holder's process dead); still one conditional UPDATE, so of many
        contenders exactly one wins. Times are this host's clock."""
        now = utcnow()
        free = or_(
            LeadGenFlow.lease_owner.is_(None),
            LeadGenFlow.lease_owner == owner,
            LeadGenFlow.lease_expires_at.is_(None),
            LeadGenFlow.lease_expires_at < now,
        )
        if take_over_from is not None:
            free = or_(free, LeadGenFlow.lease_owner == take_over_from)
        return await self._lease_update(
            agency_id,
            flow_id,
            free,
            {"lease_owner": owner, "lease_expires_at": now + timedelta(seconds=ttl_seconds)},
        )

    async def renew_lease(self, agency_id: str, flow_id: str, owner: str, ttl_seconds: float) -> bool:
        """Extend the lease `owner` holds; False when it lost it (someone took it over)."""
        return await self._lease_update(
            agency_id,
            flow_id,
            LeadGenFlow.lease_owner == owner,
            {"lease_expires_at": utcnow() + timedelta(seconds=ttl_seconds)},
        )

    async def release_lease(self, agency_id: str, flow_id: str, owner: str) -> bool:
        """Give the lease up; False (and nothing changed) when `owner` did not hold it."""
        return await self._lease_update(
            agency_id,
            flow_id,
            LeadGenFlow.lease_owner == owner,
            {"lease_owner": None, "lease_expires_at": None},
        )

    async def sweep_running_flows(self) -> list[LeadGenFlow]:
        """Every flow left `running`, of every agency. UNSCOPED on purpose: the runner calls it
        at start-up to find runs whose holder died and resume them, before any agency is known.
        Its callers then work on each flow through the scoped methods with `flow.agency_id`."""
        stmt = select(LeadGenFlow).where(LeadGenFlow.status == "running").order_by(LeadGenFlow.created_at)
        return list((await self.session.execute(stmt)).scalars())

    # -- opportunities -------------------------------------------------------------------

    async def _opportunity_by(
        self, agency_id: str, column: Any, value: str | None
    ) -> ClientOpportunity | None:
        if value is None:
            return None
        stmt = select(ClientOpportunity).where(ClientOpportunity.agency_id == agency_id, column == value)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def _find_lead(self, agency_id: str, lead: LeadInput) -> ClientOpportunity | None:
        return await self._opportunity_by(
            agency_id, ClientOpportunity.place_id, lead.place_id
        ) or await self._opportunity_by(agency_id, ClientOpportunity.domain, lead.domain)

    async def upsert_opportunities(
        self,
        agency_id: str,
        flow_id: str,
        leads: Sequence[LeadInput],
        *,
        target_vertical: str,
        target_geography: str,
    ) -> UpsertCounts:
        """Persist a flow's leads, deduplicated per agency by place id, then by own domain, and
        record them as the flow's own (its membership rows), ranked in the order given.

        A lead matching an existing opportunity updates it (contact data, signals, score,
        campaign, newest flow) and leaves its status alone, so a re-run never moves a lead
        backwards; the runs that found it before keep it in their lists. A lead that lands on a
        row this call already wrote is `skipped`. The domain and place id of an existing row are
        kept when the new values would collide with another row. Concurrent calls are safe:
        inserts are ON CONFLICT DO NOTHING, and the loser updates. Calling it again for the
        same flow (a crash before the step was recorded) re-ranks and adds nothing twice.
        """
        await self._require(LeadGenFlow, agency_id, flow_id)
        created = updated = skipped = 0
        touched: set[str] = set()
        ranked: list[tuple[str, LeadInput]] = []
        for lead in leads:
            row = await self._find_lead(agency_id, lead)
            if row is None:
                row_id = new_id()
                now = utcnow()
                inserted = (
                    await self.session.execute(
                        self._insert(ClientOpportunity)
                        .values(
                            id=row_id,
                            agency_id=agency_id,
                            lead_gen_flow_id=flow_id,
                            name=lead.name,
                            domain=lead.domain,
                            website=lead.website,
                            phone=lead.phone,
                            place_id=lead.place_id,
                            address=lead.address,
                            rating=lead.rating,
                            reviews_count=lead.reviews_count,
                            source="google_places",
                            status="SOURCED",
                            target_vertical=target_vertical,
                            target_geography=target_geography,
                            qualification_score=lead.qualification_score,
                            signals=list(lead.signals),
                            opportunity_score=lead.opportunity_score,
                            score_reasons=list(lead.score_reasons),
                            business_status=lead.business_status,
                            created_at=now,
                            updated_at=now,
                        )
                        .on_conflict_do_nothing()
                        .returning(ClientOpportunity.id)
                    )
                ).first()
                if inserted is not None:
                    created += 1
                    touched.add(row_id)
                    ranked.append((row_id, lead))
                    continue
                # Another transaction inserted the same place or domain first: update theirs.
                row = await self._find_lead(agency_id, lead)
                if row is None:
                    raise RuntimeError(f"opportunity for {lead.name!r} conflicted but cannot be found")
            if row.id in touched:
                skipped += 1
                continue
            await self._update_from_lead(agency_id, row, lead, flow_id, target_vertical, target_geography)
            touched.add(row.id)
            ranked.append((row.id, lead))
            updated += 1
        await self.session.flush()
        await self._add_members(agency_id, flow_id, ranked)
        return UpsertCounts(created=created, updated=updated, skipped=skipped)

    async def _add_members(
        self, agency_id: str, flow_id: str, ranked: Sequence[tuple[str, LeadInput]]
    ) -> None:
        if not ranked:
            return
        now = utcnow()
        stmt = self._insert(FlowLead).values(
            [
                {
                    "lead_gen_flow_id": flow_id,
                    "opportunity_id": opp_id,
                    "agency_id": agency_id,
                    "rank": rank,
                    "qualification_score": lead.qualification_score,
                    "opportunity_score": lead.opportunity_score,
                    "score_reasons": list(lead.score_reasons),
                    "status": "SOURCED",
                    "dossier_reused": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for rank, (opp_id, lead) in enumerate(ranked)
            ]
        )
        # Again for the same flow: the ranking is refreshed, the lead's progress in it kept.
        stmt = stmt.on_conflict_do_update(
            index_elements=["lead_gen_flow_id", "opportunity_id"],
            set_={
                "rank": stmt.excluded.rank,
                "qualification_score": stmt.excluded.qualification_score,
                "opportunity_score": stmt.excluded.opportunity_score,
                "score_reasons": stmt.excluded.score_reasons,
            },
        )
        await self.session.execute(stmt)

    async def _update_from_lead(
        self,
        agency_id: str,
        row: ClientOpportunity,
        lead: LeadInput,
        flow_id: str,
        target_vertical: str,
        target_geography: str,
    ) -> None:
        if lead.domain != row.domain:
            holder = await self._opportunity_by(agency_id, ClientOpportunity.domain, lead.domain)
            if holder is None or holder.id == row.id:
                row.domain = lead.domain
        if row.place_id is None and lead.place_id is not None:
            # Matched by domain: we looked the place id up first, so no other row holds it.
            row.place_id = lead.place_id
        row.name = lead.name
        row.website = lead.website
        row.phone = lead.phone
        row.address = lead.address
        row.rating = lead.rating
        row.reviews_count = lead.reviews_count
        row.signals = list(lead.signals)
        row.qualification_score = lead.qualification_score
        row.business_status = lead.business_status
        if not any(f.get("source") == "check" for f in row.findings or []):
            # A lead researched before keeps the score its findings earned until it is rescored.
            row.opportunity_score = lead.opportunity_score
            row.score_reasons = list(lead.score_reasons)
        row.target_vertical = target_vertical
        row.target_geography = target_geography
        row.lead_gen_flow_id = flow_id

    def _run_leads_query(self, agency_id: str, flow_id: str) -> Any:
        return (
            select(ClientOpportunity, FlowLead)
            .join(FlowLead, FlowLead.opportunity_id == ClientOpportunity.id)
            .where(FlowLead.lead_gen_flow_id == flow_id, FlowLead.agency_id == agency_id)
            .order_by(FlowLead.rank, FlowLead.opportunity_id)
        )

    async def list_opportunities(self, agency_id: str, flow_id: str) -> list[ClientOpportunity]:
        """The leads this flow found, in the flow's ranking (graphs/ranking.py decides it)."""
        rows = await self.session.execute(self._run_leads_query(agency_id, flow_id))
        return [opp for opp, _member in rows]

    async def list_flow_leads(self, agency_id: str, flow_id: str) -> list[LeadRecord]:
        """The flow's leads ranked, each as this flow saw it, with every run that found it."""
        rows = list(await self.session.execute(self._run_leads_query(agency_id, flow_id)))
        runs = await self.runs_of(agency_id, [opp.id for opp, _member in rows])
        return [
            LeadRecord(
                opportunity=opp,
                runs=runs.get(opp.id, []),
                status=member.status,
                qualification_score=member.qualification_score,
                audit_job_id=member.audit_job_id,
                dossier_id=member.dossier_id,
                dossier_reused=member.dossier_reused,
                opportunity_score=member.opportunity_score,
                score_reasons=list(member.score_reasons or []),
            )
            for opp, member in rows
        ]

    async def get_lead(self, agency_id: str, opportunity_id: str) -> LeadRecord | None:
        """One lead on its own: latest status and score, its newest dossier (and the audit that
        wrote it, else its newest audit), and every run that found it."""
        opp = await self._one(ClientOpportunity, agency_id, opportunity_id)
        if opp is None:
            return None
        dossier = await self.get_dossier_for_opportunity(agency_id, opportunity_id)
        job_id = dossier.audit_job_id if dossier is not None else None
        if job_id is None:
            job_id = (
                await self.session.execute(
                    select(AuditJob.id)
                    .where(AuditJob.agency_id == agency_id, AuditJob.opportunity_id == opportunity_id)
                    .order_by(AuditJob.created_at.desc(), AuditJob.id.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
        runs = await self.runs_of(agency_id, [opportunity_id])
        return LeadRecord(
            opportunity=opp,
            runs=runs.get(opportunity_id, []),
            status=opp.status,
            qualification_score=opp.qualification_score,
            audit_job_id=job_id,
            dossier_id=dossier.id if dossier is not None else None,
            opportunity_score=opp.opportunity_score,
            score_reasons=list(opp.score_reasons or []),
        )

    async def runs_of(self, agency_id: str, opportunity_ids: Sequence[str]) -> dict[str, list[str]]:
        """Each lead's runs, newest first (by when the run was started)."""
        if not opportunity_ids:
            return {}
        rows = await self.session.execute(
            select(FlowLead.opportunity_id, FlowLead.lead_gen_flow_id)
            .join(LeadGenFlow, LeadGenFlow.id == FlowLead.lead_gen_flow_id)
            .where(FlowLead.agency_id == agency_id, FlowLead.opportunity_id.in_(list(opportunity_ids)))
            .order_by(FlowLead.opportunity_id, LeadGenFlow.created_at.desc(), LeadGenFlow.id.desc())
        )
        runs: dict[str, list[str]] = {}
        for opp_id, flow_id in rows:
            runs.setdefault(opp_id, []).append(flow_id)
        return runs

    async def get_flow_lead(self, agency_id: str, flow_id: str, opportunity_id: str) -> FlowLead | None:
        stmt = select(FlowLead).where(
            FlowLead.agency_id == agency_id,
            FlowLead.lead_gen_flow_id == flow_id,
            FlowLead.opportunity_id == opportunity_id,
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def set_flow_lead(
        self,
        agency_id: str,
        flow_id: str,
        opportunity_id: str,
        /,
        *,
        status: str | None = None,
        **fields: Any,
    ) -> None:
        """Record what the flow made of one of its leads (status, audit, dossier, reuse). A
        status is also the lead's latest status, except that a lead which has a dossier stays
        READY when this flow's audit of it failed (the earlier research still stands). Core
        statements: audits call this inside their last, writer-holding transaction."""
        if status is not None and status not in OPPORTUNITY_STATUSES:
            raise ValueError(f"unknown lead status {status!r}; statuses: {', '.join(OPPORTUNITY_STATUSES)}")
        self._check_fields(FlowLead, fields, also_forbidden=_MEMBER_IDENTITY)
        values = {**fields, "updated_at": utcnow()}
        if status is not None:
            values["status"] = status
        result = await self.session.execute(
            update(FlowLead)
            .where(
                FlowLead.agency_id == agency_id,
                FlowLead.lead_gen_flow_id == flow_id,
                FlowLead.opportunity_id == opportunity_id,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise NotFound(FlowLead.__tablename__, f"{flow_id}/{opportunity_id}")
        if status is None:
            return
        latest: Any = status
        if status == "DATA_READY":
            has_dossier = select(AuditDossier.id).where(
                AuditDossier.agency_id == agency_id, AuditDossier.opportunity_id == opportunity_id
            )
            latest = case((has_dossier.exists(), "READY"), else_="DATA_READY")
        await self.session.execute(
            update(ClientOpportunity)
            .where(ClientOpportunity.id == opportunity_id, ClientOpportunity.agency_id == agency_id)
            .values(status=latest, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )

    async def set_flow_ranks(self, agency_id: str, flow_id: str, ranked: Sequence[tuple[str, float]]) -> None:
        """Re-rank the flow's leads: `ranked` is (opportunity id, opportunity score) best first."""
        await self._require(LeadGenFlow, agency_id, flow_id)
        for rank, (opp_id, score) in enumerate(ranked):
            await self.session.execute(
                update(FlowLead)
                .where(
                    FlowLead.agency_id == agency_id,
                    FlowLead.lead_gen_flow_id == flow_id,
                    FlowLead.opportunity_id == opp_id,
                )
                .values(rank=rank, opportunity_score=score)
                .execution_options(synchronize_session=False)
            )

    async def fresh_dossier(
        self, agency_id: str, opportunity_id: str, *, newer_than: datetime, target_url: str
    ) -> AuditDossier | None:
        """The lead's newest dossier written after `newer_than` by an audit of `target_url` (a
        dossier about the site it has now), or None. Another agency's lead has none."""
        stmt = (
            select(AuditDossier)
            .join(AuditJob, AuditJob.id == AuditDossier.audit_job_id)
            .where(
                AuditDossier.agency_id == agency_id,
                AuditDossier.opportunity_id == opportunity_id,
                AuditDossier.created_at > newer_than,
                AuditJob.agency_id == agency_id,
                AuditJob.target_url == target_url,
                AuditJob.status == "completed",
            )
            .order_by(AuditDossier.created_at.desc(), AuditDossier.id.desc())
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_opportunity(self, agency_id: str, opportunity_id: str) -> ClientOpportunity | None:
        return await self._one(ClientOpportunity, agency_id, opportunity_id)

    async def list_agency_opportunities(self, agency_id: str, limit: int = 5000) -> list[ClientOpportunity]:
        """Every lead of the agency, most recently updated first (leads are looked up by name)."""
        stmt = (
            select(ClientOpportunity)
            .where(ClientOpportunity.agency_id == agency_id)
            .order_by(ClientOpportunity.updated_at.desc(), ClientOpportunity.id)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def list_opportunity_calls(
        self, agency_id: str, opportunity_id: str, limit: int = 20
    ) -> list[Call]:
        """The lead's calls, newest first."""
        stmt = (
            select(Call)
            .where(Call.agency_id == agency_id, Call.opportunity_id == opportunity_id)
            .order_by(Call.created_at.desc(), Call.id.desc())
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def set_contacts(
        self, agency_id: str, audit_job_id: str, contacts: Sequence[dict[str, Any]]
    ) -> None:
        """The contacts an audit found, on the lead it audited (replacing an older audit's)."""
        job = await self._require(AuditJob, agency_id, audit_job_id)
        opportunity = await self._require(ClientOpportunity, agency_id, job.opportunity_id)
        opportunity.contacts = [dict(c) for c in contacts]
        await self.session.flush()

    async def update_opportunity(
        self, agency_id: str, opportunity_id: str, /, **fields: Any
    ) -> ClientOpportunity:
        row = await self._require(ClientOpportunity, agency_id, opportunity_id)
        self._apply(row, fields)
        await self.session.flush()
        return row

    # -- audits --------------------------------------------------------------------------

    async def create_audit_job(
        self, agency_id: str, flow_id: str, opportunity_id: str, target_url: str
    ) -> AuditJob:
        """The flow's audit job for this opportunity, created on first call (idempotent, also
        across concurrent callers: the unique (flow, opportunity) pair decides)."""
        await self._require(LeadGenFlow, agency_id, flow_id)
        await self._require(ClientOpportunity, agency_id, opportunity_id)
        now = utcnow()
        await self.session.execute(
            self._insert(AuditJob)
            .values(
                id=new_id(),
                agency_id=agency_id,
                opportunity_id=opportunity_id,
                lead_gen_flow_id=flow_id,
                target_url=target_url,
                status="queued",
                metered=False,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing()
        )
        stmt = select(AuditJob).where(
            AuditJob.agency_id == agency_id,
            AuditJob.lead_gen_flow_id == flow_id,
            AuditJob.opportunity_id == opportunity_id,
        )
        return (await self.session.execute(stmt)).scalar_one()

    async def list_audit_jobs(self, agency_id: str, flow_id: str) -> list[AuditJob]:
        stmt = (
            select(AuditJob)
            .where(AuditJob.agency_id == agency_id, AuditJob.lead_gen_flow_id == flow_id)
            .order_by(AuditJob.created_at, AuditJob.id)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def get_audit_job(self, agency_id: str, audit_job_id: str) -> AuditJob | None:
        return await self._one(AuditJob, agency_id, audit_job_id)

    async def update_audit_job(self, agency_id: str, audit_job_id: str, /, **fields: Any) -> AuditJob:
        job = await self._require(AuditJob, agency_id, audit_job_id)
        self._apply(job, fields)
        await self.session.flush()
        return job

    async def set_audit_phase(self, agency_id: str, audit_job_id: str, phase: str, status: str) -> None:
        await self.set_audit_phases(agency_id, audit_job_id, {phase: status})

    async def set_audit_phases(
        self, agency_id: str, audit_job_id: str, changes: Mapping[str, str], /, **fields: Any
    ) -> None:
        """Several phase statuses (e.g. one completes, the next starts) and other fields of the
        job in one locked read and one write."""
        for phase, status in changes.items():
            if phase not in AUDIT_PHASES:
                raise ValueError(f"unknown audit phase {phase!r}; phases: {', '.join(AUDIT_PHASES)}")
            if status not in PHASE_STATUSES:
                raise ValueError(f"unknown phase status {status!r}; statuses: {', '.join(PHASE_STATUSES)}")
        self._check_fields(AuditJob, fields)
        # Core statements, not the ORM: each audit calls this five times while holding SQLite's
        # single writer, and loading and flushing the whole row held it ~25% longer.
        owned = (AuditJob.id == audit_job_id) & (AuditJob.agency_id == agency_id)
        read = select(AuditJob.phases).where(owned)
        if self.session.get_bind().dialect.name == "postgresql":
            read = read.with_for_update()
        current = (await self.session.execute(read)).scalar_one_or_none()
        if current is None:
            raise NotFound(AuditJob.__tablename__, audit_job_id)
        phases = [
            {**entry, "status": changes[entry["name"]]} if entry["name"] in changes else entry
            for entry in current
        ]
        await self.session.execute(
            update(AuditJob)
            .where(owned)
            .values(phases=phases, **fields)
            .execution_options(synchronize_session=False)
        )

    # -- scraped pages -------------------------------------------------------------------

    async def upsert_scraped_page(
        self,
        agency_id: str,
        audit_job_id: str,
        *,
        url: str,
        title: str | None,
        content: str,
        status_code: int | None = None,
        store: ContentStore,
    ) -> ScrapedPage:
        """Store the page's text in `store` and its row keyed by (audit job, url): scraping the
        same URL again replaces title, content ref and scraped_at on the same row."""
        job = await self._require(AuditJob, agency_id, audit_job_id)
        # Content first: if the transaction then fails, an unreferenced file is harmless.
        ref = await store.put(content)
        now = utcnow()
        stmt = self._insert(ScrapedPage).values(
            id=new_id(),
            agency_id=agency_id,
            audit_job_id=audit_job_id,
            opportunity_id=job.opportunity_id,
            url=url,
            title=title,
            content_ref=ref.key,
            content_sha256=ref.sha256,
            content_length=ref.length,
            status_code=status_code,
            scraped_at=now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["audit_job_id", "url"],
            set_={
                "title": stmt.excluded.title,
                "content_ref": stmt.excluded.content_ref,
                "content_sha256": stmt.excluded.content_sha256,
                "content_length": stmt.excluded.content_length,
                "status_code": stmt.excluded.status_code,
                "scraped_at": stmt.excluded.scraped_at,
            },
        ).returning(ScrapedPage.id)
        page_id = (await self.session.execute(stmt)).scalar_one()
        page = await self.session.execute(
            select(ScrapedPage).where(ScrapedPage.id == page_id).execution_options(populate_existing=True)
        )
        return page.scalar_one()

    async def upsert_scraped_pages(
        self, agency_id: str, audit_job_id: str, pages: Sequence[PageInput], *, store: ContentStore
    ) -> int:
        """`upsert_scraped_page` for a batch: one job check and one INSERT ... ON CONFLICT for
        all pages (the last of several with the same URL wins). Returns how many were stored."""
        job = await self._require(AuditJob, agency_id, audit_job_id)
        unique = list({page.url: page for page in pages}.values())
        if not unique:
            return 0
        now = utcnow()
        rows = []
        for page in unique:
            ref = await store.put(page.content)
            rows.append(
                {
                    "id": new_id(),
                    "agency_id": agency_id,
                    "audit_job_id": audit_job_id,
                    "opportunity_id": job.opportunity_id,
                    "url": page.url,
                    "title": page.title,
                    "content_ref": ref.key,
                    "content_sha256": ref.sha256,
                    "content_length": ref.length,
                    "status_code": page.status_code,
                    "scraped_at": now,
                }
            )
        stmt = self._insert(ScrapedPage).values(rows)
        stmt = stmt.on_conflict_do_update(
            index_elements=["audit_job_id", "url"],
            set_={
                name: getattr(stmt.excluded, name)
                for name in (
                    "title",
                    "content_ref",
                    "content_sha256",
                    "content_length",
                    "status_code",
                    "scraped_at",
                )
            },
        )
        await self.session.execute(stmt)
        return len(rows)

    async def list_scraped_pages(self, agency_id: str, audit_job_id: str) -> list[ScrapedPage]:
        stmt = (
            select(ScrapedPage)
            .where(ScrapedPage.agency_id == agency_id, ScrapedPage.audit_job_id == audit_job_id)
            .order_by(ScrapedPage.scraped_at, ScrapedPage.url)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def read_page_content(self, agency_id: str, page_id: str, store: ContentStore) -> str | None:
        """The page's text; None when the page is not the agency's. A page whose content is
        missing from the store raises `ContentNotFound` (that is data loss, not a lookup miss)."""
        page = await self._one(ScrapedPage, agency_id, page_id)
        if page is None:
            return None
        return await store.get(page.content_ref)

    # -- dossiers ------------------------------------------------------------------------

    async def save_dossier(
        self,
        agency_id: str,
        audit_job_id: str,
        *,
        summary: str,
        gaps: Sequence[str],
        talking_points: Sequence[str],
        sources: Sequence[dict[str, Any]],
        fit_reason: str | None,
        model: str | None = None,
        findings: Sequence[dict[str, Any]] = (),
        outreach: Mapping[str, str] | None = None,
    ) -> AuditDossier:
        """The audit's one dossier, created or replaced in place (same id, created_at kept).
        Also points the audit job at it and copies the fit reason onto the opportunity."""
        job = await self._require(AuditJob, agency_id, audit_job_id)
        content = {
            "summary": summary,
            "findings": [dict(f) for f in findings],
            "gaps": list(gaps),
            "talking_points": list(talking_points),
            "sources": [dict(s) for s in sources],
            "fit_reason": fit_reason,
            "model": model,
            "outreach": dict(outreach) if outreach is not None else None,
        }
        stmt = self._insert(AuditDossier).values(
            id=new_id(),
            agency_id=agency_id,
            audit_job_id=audit_job_id,
            opportunity_id=job.opportunity_id,
            created_at=utcnow(),
            **content,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["audit_job_id"], set_={k: stmt.excluded[k] for k in content}
        ).returning(AuditDossier.id)
        dossier_id = (await self.session.execute(stmt)).scalar_one()
        job.dossier_id = dossier_id
        opportunity = await self._require(ClientOpportunity, agency_id, job.opportunity_id)
        opportunity.fit_reason = fit_reason
        opportunity.outreach = dict(outreach) if outreach is not None else None
        await self.session.flush()
        dossier = await self.session.execute(
            select(AuditDossier)
            .where(AuditDossier.id == dossier_id)
            .execution_options(populate_existing=True)
        )
        return dossier.scalar_one()

    async def get_dossier(self, agency_id: str, dossier_id: str) -> AuditDossier | None:
        return await self._one(AuditDossier, agency_id, dossier_id)

    async def get_dossier_for_opportunity(self, agency_id: str, opportunity_id: str) -> AuditDossier | None:
        """The opportunity's latest dossier (one per audit; a re-run's audit writes a newer one)."""
        stmt = (
            select(AuditDossier)
            .where(AuditDossier.agency_id == agency_id, AuditDossier.opportunity_id == opportunity_id)
            .order_by(AuditDossier.created_at.desc(), AuditDossier.id.desc())
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_dossiers(self, agency_id: str, dossier_ids: Collection[str]) -> dict[str, AuditDossier]:
        """The agency's dossiers among `dossier_ids`, by id (others' ids are simply absent)."""
        if not dossier_ids:
            return {}
        stmt = select(AuditDossier).where(
            AuditDossier.agency_id == agency_id, AuditDossier.id.in_(list(dossier_ids))
        )
        return {d.id: d for d in (await self.session.execute(stmt)).scalars()}

    # -- report share links ----------------------------------------------------------------

    async def create_report_link(
        self,
        agency_id: str,
        opportunity_id: str,
        *,
        token_sha256: str,
        expires_at: datetime,
        created_by: str | None = None,
    ) -> ReportLink:
        await self._require(ClientOpportunity, agency_id, opportunity_id)
        link = ReportLink(
            agency_id=agency_id,
            opportunity_id=opportunity_id,
            token_sha256=token_sha256,
            expires_at=expires_at,
            created_by=created_by,
        )
        self.session.add(link)
        await self.session.flush()
        return link

    async def revoke_report_links(self, agency_id: str, opportunity_id: str) -> int:
        """End every open link to the lead's report; how many were open."""
        await self._require(ClientOpportunity, agency_id, opportunity_id)
        result = await self.session.execute(
            update(ReportLink)
            .where(
                ReportLink.agency_id == agency_id,
                ReportLink.opportunity_id == opportunity_id,
                ReportLink.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def list_report_links(self, agency_id: str, opportunity_id: str) -> list[ReportLink]:
        stmt = (
            select(ReportLink)
            .where(ReportLink.agency_id == agency_id, ReportLink.opportunity_id == opportunity_id)
            .order_by(ReportLink.created_at.desc())
        )
        return list((await self.session.execute(stmt)).scalars())

    async def find_report_link(self, token_sha256: str) -> ReportLink | None:
        """The link with this token hash, of whichever agency made it. UNSCOPED on purpose: a
        prospect opening a shared report knows only the token; the caller then reads the lead
        through the scoped methods with the link's `agency_id`."""
        stmt = select(ReportLink).where(ReportLink.token_sha256 == token_sha256)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    # -- calls ---------------------------------------------------------------------------

    async def create_call(
        self,
        agency_id: str,
        opportunity_id: str,
        *,
        to_number: str,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Call:
        await self._require(ClientOpportunity, agency_id, opportunity_id)
        call = Call(
            agency_id=agency_id,
            opportunity_id=opportunity_id,
            to_number=to_number,
            user_id=user_id,
            status="queued",
            metadata_=copy.deepcopy(metadata or {}),
        )
        self.session.add(call)
        await self.session.flush()
        return call

    async def active_call(
        self, agency_id: str, opportunity_id: str, *, statuses: Collection[str], since: datetime
    ) -> Call | None:
        """The lead's newest call in one of `statuses` created after `since`. Locks the lead's row
        first, so two placements for one lead serialise here (SQLite's writer lock does it there)."""
        await self._require(ClientOpportunity, agency_id, opportunity_id, lock=True)
        stmt = (
            select(Call)
            .where(
                Call.agency_id == agency_id,
                Call.opportunity_id == opportunity_id,
                Call.status.in_(tuple(statuses)),
                Call.created_at >= since,
            )
            .order_by(Call.created_at.desc(), Call.id.desc())
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def get_call(self, agency_id: str, call_id: str) -> Call | None:
        return await self._one(Call, agency_id, call_id)

    async def get_call_by_provider_id(self, agency_id: str, provider_call_id: str) -> Call | None:
        stmt = select(Call).where(Call.agency_id == agency_id, Call.provider_call_id == provider_call_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def find_call_by_provider_id(self, provider_call_id: str) -> Call | None:
        """UNSCOPED on purpose: a provider's webhook (Vapi's end-of-call report) names only its
        own call id. The webhook is authenticated before this runs, and the row found tells the
        caller which agency to continue with."""
        stmt = select(Call).where(Call.provider_call_id == provider_call_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def sweep_open_calls(self, statuses: Collection[str], since: datetime) -> list[Call]:
        """Calls of every agency placed at Vapi since `since` whose status is one of `statuses`,
        oldest first. UNSCOPED on purpose: a process calls it at start-up to follow again the
        calls a stopped process was following, before any agency is known; it then works on
        each call through the scoped methods with `call.agency_id`."""
        stmt = (
            select(Call)
            .where(
                Call.status.in_(list(statuses)),
                Call.provider_call_id.is_not(None),
                Call.created_at >= since,
            )
            .order_by(Call.created_at, Call.id)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def list_calls(self, agency_id: str, limit: int = 100) -> list[Call]:
        """Newest first."""
        stmt = (
            select(Call)
            .where(Call.agency_id == agency_id)
            .order_by(Call.created_at.desc(), Call.id.desc())
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def update_call(self, agency_id: str, call_id: str, /, **fields: Any) -> Call:
        """Any column but the metadata, which only `merge_call_metadata` changes."""
        call = await self._require(Call, agency_id, call_id)
        self._apply(call, fields, also_forbidden=frozenset({"metadata_"}))
        await self.session.flush()
        return call

    async def merge_call_metadata(self, agency_id: str, call_id: str, patch: dict[str, Any]) -> Call:
        """Deep-merge `patch` into the call's metadata: keys not in the patch are kept, nested
        objects are merged key by key. The row is locked so concurrent merges all land."""
        call = await self._require(Call, agency_id, call_id, lock=True)
        call.metadata_ = _deep_merge(call.metadata_ or {}, patch)
        await self.session.flush()
        return call

    # -- webhook inbox -------------------------------------------------------------------

    async def record_webhook(
        self, provider: str, event_id: str, event_type: str | None, payload: dict[str, Any]
    ) -> bool:
        """Note an authenticated delivery; False when (provider, event_id) was recorded before,
        so the caller skips the redelivery. UNSCOPED: a webhook arrives before we know the agency.
        Race-safe: the unique pair and ON CONFLICT DO NOTHING let exactly one caller win."""
        inserted = (
            await self.session.execute(
                self._insert(WebhookInbox)
                .values(
                    id=new_id(),
                    provider=provider,
                    event_id=event_id,
                    event_type=event_type,
                    payload=payload,
                    status="received",
                    received_at=utcnow(),
                )
                .on_conflict_do_nothing()
                .returning(WebhookInbox.id)
            )
        ).first()
        return inserted is not None

    async def mark_webhook(self, provider: str, event_id: str, status: str, error: str | None = None) -> None:
        """Record the outcome of processing (`processed` / `failed`, with the error)."""
        if status not in WEBHOOK_STATUSES:
            raise ValueError(f"unknown webhook status {status!r}; statuses: {', '.join(WEBHOOK_STATUSES)}")
        result = await self.session.execute(
            update(WebhookInbox)
            .where(WebhookInbox.provider == provider, WebhookInbox.event_id == event_id)
            .values(status=status, error=error, processed_at=None if status == "received" else utcnow())
            .execution_options(synchronize_session="fetch")
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise NotFound("webhook_inbox", f"{provider}:{event_id}")

    # -- Slack installs (workspace -> agency) ------------------------------------------------

    async def get_slack_install(self, team_id: str) -> SlackInstall | None:
        """The install of a Slack workspace (a `SlackInstall`), or None. UNSCOPED on purpose: a
        Slack request names only its team; the install found is what tells the adapter which
        agency to act for (the request's signature was verified before this runs)."""
        stmt = select(SlackInstall).where(SlackInstall.team_id == team_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def install_slack_team(
        self, agency_id: str, team_id: str, *, bot_token: str | None = None
    ) -> SlackInstall:
        """Connect the workspace `team_id` to the agency (created when missing), or move it to
        this agency; returns the `SlackInstall`. An admin action: nothing checks who asked."""
        await self.ensure_agency(agency_id)
        await self.session.execute(
            self._insert(SlackInstall)
            .values(
                id=new_id(),
                team_id=team_id,
                agency_id=agency_id,
                bot_token=bot_token,
                source="admin",
                installed_at=utcnow(),
            )
            .on_conflict_do_update(
                index_elements=[SlackInstall.team_id],
                set_={"agency_id": agency_id, "bot_token": bot_token, "source": "admin"},
            )
        )
        stmt = (
            select(SlackInstall)
            .where(SlackInstall.team_id == team_id)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(stmt)).scalar_one()

    async def claim_first_slack_install(self, team_id: str, agency_id: str) -> SlackInstall | None:
        """Single-workspace set-up: connect `team_id` to `agency_id` only when NO workspace is
        installed yet; returns the team's install (new, or its own existing one), or None when
        another workspace already holds an install (the caller refuses the request).

        Serialised so two unknown workspaces contacting us at once cannot both claim: SQLite's
        write transaction (`BEGIN IMMEDIATE`) already is; on PostgreSQL a transaction-scoped
        advisory lock is taken first."""
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(
                sql_text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SLACK_CLAIM_LOCK}
            )
        existing = await self.get_slack_install(team_id)
        if existing is not None:
            return existing
        others = (await self.session.execute(select(func.count()).select_from(SlackInstall))).scalar_one()
        if others:
            return None
        await self.ensure_agency(agency_id)
        install = SlackInstall(
            id=new_id(), team_id=team_id, agency_id=agency_id, source="claimed", installed_at=utcnow()
        )
        self.session.add(install)
        await self.session.flush()
        return install

    async def list_slack_installs(self, agency_id: str) -> list[SlackInstall]:
        """The workspaces connected to the agency, oldest first."""
        stmt = (
            select(SlackInstall)
            .where(SlackInstall.agency_id == agency_id)
            .order_by(SlackInstall.installed_at, SlackInstall.id)
        )
        return list((await self.session.execute(stmt)).scalars())


# Any fixed 64-bit number (distinct from db.migrate's lock): serialises first-contact Slack claims.
_SLACK_CLAIM_LOCK = 0x534C4143_4B434C4D


# Appended with the Slack installs (the imports above belong to the original module).
from sqlalchemy import text as sql_text  # noqa: E402

from db.models import SlackInstall  # noqa: E402
