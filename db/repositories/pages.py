"""Scraped pages: the row per (audit job, url), its text in the content store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from db.base import new_id, utcnow
from db.content_store import ContentStore
from db.models import AuditJob, ScrapedPage
from db.repositories.base import RepositoryBase


@dataclass(frozen=True)
class PageInput:
    """One scraped page to store: its text goes to the content store, the rest to the row."""

    url: str
    title: str | None
    content: str
    status_code: int | None = None


class PageRecords(RepositoryBase):
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
