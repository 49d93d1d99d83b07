"""Leads: the agency's opportunities (deduplicated by place id, then own domain) and each run's
membership rows (rank, score, status, audit and dossier as that run saw the lead)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, select, update

from db.base import new_id, utcnow
from db.models import OPPORTUNITY_STATUSES, AuditDossier, AuditJob, ClientOpportunity, FlowLead, LeadGenFlow
from db.repositories.base import NotFound
from db.repositories.dossiers import DossierRecords

_MEMBER_IDENTITY = frozenset({"lead_gen_flow_id", "opportunity_id", "status", "created_at"})


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


class OpportunityRecords(DossierRecords):
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
