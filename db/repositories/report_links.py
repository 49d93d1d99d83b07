"""Share links to a lead's report (stored as token hashes), and their revocation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from db.base import utcnow
from db.models import ClientOpportunity, ReportLink
from db.repositories.base import RepositoryBase


class ReportLinkRecords(RepositoryBase):
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
