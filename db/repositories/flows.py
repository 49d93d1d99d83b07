"""Lead-gen flows (runs): creation, phases and `last_event`, progress and the UI's totals."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import case, func, select, true

from db.base import utcnow
from db.models import (
    PHASE_STATUSES,
    PHASES,
    AuditJob,
    ClientOpportunity,
    FlowLead,
    LeadGenFlow,
    initial_phases,
)
from db.progress import overall_progress
from db.repositories.agencies import AgencyRecords
from db.repositories.base import NotFound, _parse_iso, iso


class FlowRecords(AgencyRecords):
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
