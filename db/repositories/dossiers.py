"""Dossiers: one per audit, replaced in place; the lead's newest, and a fresh one to reuse."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from db.base import new_id, utcnow
from db.models import AuditDossier, AuditJob, ClientOpportunity
from db.repositories.base import RepositoryBase


class DossierRecords(RepositoryBase):
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
