"""Audit jobs: one per (flow, lead with an own website), with their phase statuses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update

from db.base import new_id, utcnow
from db.models import AUDIT_PHASES, PHASE_STATUSES, AuditJob, ClientOpportunity, LeadGenFlow
from db.repositories.base import NotFound, RepositoryBase


class AuditRecords(RepositoryBase):
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
            read = read.with_for_update(key_share=True)  # see RepositoryBase._one
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
