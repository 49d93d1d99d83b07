"""A lead's report (what the agency shows the prospect) and its share links.

`ReportService.report(agency_id, lead_id)` gathers what the report page says: the agency's
branding, the business's facts, its findings graded by category with their evidence and why they
matter, and how it compares with the other leads of its newest run. Everything comes from our
tables: no provider call and no credit, however often a report is opened or rendered.

Share links (`leadgen report LEAD_ID --share`, the chat, Slack): a random 256-bit token in the URL
`<public url>/r/<token>`; only its SHA-256 is stored. A link answers until it expires
(`LEADGEN_REPORT_LINK_DAYS`, default 30) or is revoked (`--revoke` ends every open link to that
lead). An unknown, revoked or expired token, and a token whose lead is gone, all read as "not
found", so a link discloses nothing about what it was. Making and revoking links are scoped to the
agency like every other write; resolving a token is the one unscoped read (the prospect holds
only the token), and the report it opens is then read within the link's agency.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from db import Database
from db.base import utcnow
from db.models import AuditDossier
from db.repositories import LeadRecord, NotFound, Repository
from graphs.branding import branding_json
from graphs.comparison import comparison_sentences
from graphs.finding_guide import CATEGORIES, GUIDE, SITE_CODES, in_good_shape
from graphs.lead_facts import (
    lead_codes,
    lead_comparison,
    lead_contacts,
    lead_findings,
    lead_outreach,
    outreach_facts,
)
from graphs.outreach import outreach_json
from leadgen.settings import Settings

REPORT_PATH = "/r/"
TOKEN_BYTES = 32
# Codes that fail their whole category: a site that does not load has no basics to grade.
CRITICAL = frozenset({"SITE_DOWN", "MISSING_WEBSITE"})


class ReportNotFound(LookupError):
    """No such lead for this agency (another agency's lead reads the same)."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def grade(categories_codes: Sequence[tuple[str, str]]) -> str:
    """A-F from the checks of one category: (code, pass|fail|unknown) pairs; "–" when none known."""
    known = [(c, s) for c, s in categories_codes if s != "unknown"]
    if not known:
        return "–"
    failed = [c for c, s in known if s == "fail"]
    if any(c in CRITICAL for c in failed):
        return "F"
    share = len(failed) / len(known)
    for limit, letter in ((0.0, "A"), (0.25, "B"), (0.5, "C"), (0.75, "D")):
        if share <= limit:
            return letter
    return "F"


def graded_categories(findings: Sequence[dict[str, Any]], *, audited: bool) -> list[dict[str, Any]]:
    """Each category with its grade, its checks and the findings that failed them."""
    by_code = {f["code"]: f for f in findings}
    result: list[dict[str, Any]] = []
    for key, name in CATEGORIES:
        codes = [code for code, g in GUIDE.items() if g.category == key]
        checks = [
            (code, "fail" if code in by_code else "pass" if audited or code not in SITE_CODES else "unknown")
            for code in codes
        ]
        failed = [
            {**by_code[code], "plain_title": GUIDE[code].title, "why": GUIDE[code].why}
            for code, status in checks
            if status == "fail"
        ]
        passed = [in_good_shape(code) for code, status in checks if status == "pass"]
        result.append(
            {
                "key": key,
                "name": name,
                "grade": grade(checks),
                "checked": sum(1 for _, s in checks if s != "unknown"),
                "failed": len(failed),
                "findings": failed,
                "passed": passed,
            }
        )
    return result


@dataclass(frozen=True)
class ShareLink:
    url: str
    token: str
    expires_at: datetime


class ReportService:
    """Reports and their share links over one database (every face calls this)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    # -- the report ----------------------------------------------------------------------

    async def report(self, agency_id: str, opportunity_id: str) -> dict[str, Any]:
        async with self.db.reader() as repo:
            lead = await repo.get_lead(agency_id, opportunity_id)
            if lead is None:
                raise ReportNotFound(f"lead {opportunity_id!r} not found")
            agency = await repo.get_agency(agency_id)
            profile = await repo.get_profile(agency_id)
            dossier = await repo.get_dossier(agency_id, lead.dossier_id) if lead.dossier_id else None
            comparison = await self._comparison(repo, agency_id, lead, dossier)
        assert agency is not None
        opp = lead.opportunity
        brand = branding_json(profile.branding if profile else None, agency.name)
        findings = lead_findings(opp, dossier)
        sentences = comparison_sentences(comparison, opp.name, opp.target_vertical, opp.target_geography)
        return {
            "agency": brand,
            "lead": {
                "id": opp.id,
                "name": opp.name,
                "website": opp.website,
                "phone": opp.phone,
                "address": opp.address,
                "rating": opp.rating,
                "reviews_count": opp.reviews_count,
                "vertical": opp.target_vertical,
                "geography": opp.target_geography,
                "audited": dossier is not None,
                "audited_at": dossier.created_at.isoformat().replace("+00:00", "Z") if dossier else None,
                "sources": list(dossier.sources or []) if dossier else [],
            },
            "categories": graded_categories(findings, audited=dossier is not None),
            "comparison": comparison,
            "comparison_sentences": sentences,
            "generated_at": utcnow().isoformat().replace("+00:00", "Z"),
        }

    async def comparison(self, agency_id: str, opportunity_id: str) -> dict[str, Any]:
        async with self.db.reader() as repo:
            lead = await repo.get_lead(agency_id, opportunity_id)
            if lead is None:
                raise ReportNotFound(f"lead {opportunity_id!r} not found")
            dossier = await repo.get_dossier(agency_id, lead.dossier_id) if lead.dossier_id else None
            return await self._comparison(repo, agency_id, lead, dossier)

    @staticmethod
    async def _comparison(
        repo: Repository, agency_id: str, lead: LeadRecord, dossier: AuditDossier | None
    ) -> dict[str, Any]:
        """Against the lead's newest run (the competitors found with it most recently)."""
        if not lead.runs:
            return lead_comparison(lead.opportunity, dossier, None, [], {})
        members = await repo.list_flow_leads(agency_id, lead.runs[0])
        dossiers = await repo.get_dossiers(agency_id, [m.dossier_id for m in members if m.dossier_id])
        return lead_comparison(lead.opportunity, dossier, lead.runs[0], members, dossiers)

    async def dossier_view(self, agency_id: str, dossier: AuditDossier) -> dict[str, Any]:
        """The dossier's JSON with its lead's outreach drafts and comparison."""
        from graphs.views import dossier_json

        comparison = await self.comparison(agency_id, dossier.opportunity_id)
        async with self.db.reader() as repo:
            opp = await repo.get_opportunity(agency_id, dossier.opportunity_id)
        if opp is None:
            raise ReportNotFound(f"lead {dossier.opportunity_id!r} not found")
        facts = outreach_facts(opp, sorted(lead_codes(opp, dossier)))
        return dossier_json(dossier, outreach=outreach_json(dossier.outreach, facts), comparison=comparison)

    # -- share links ---------------------------------------------------------------------

    def link_url(self, token: str) -> str:
        base = (self.settings.leadgen_public_url or "http://127.0.0.1:8000").rstrip("/")
        return f"{base}{REPORT_PATH}{token}"

    async def share(self, agency_id: str, opportunity_id: str, *, created_by: str | None = None) -> ShareLink:
        """A new link to the lead's report; ReportNotFound when the lead is not the agency's."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        expires = utcnow() + timedelta(days=self.settings.leadgen_report_link_days)
        try:
            async with self.db.transaction() as repo:
                await repo.create_report_link(
                    agency_id,
                    opportunity_id,
                    token_sha256=token_hash(token),
                    expires_at=expires,
                    created_by=created_by,
                )
        except NotFound as exc:
            raise ReportNotFound(f"lead {opportunity_id!r} not found") from exc
        return ShareLink(self.link_url(token), token, expires)

    async def revoke(self, agency_id: str, opportunity_id: str) -> int:
        """End every open link to the lead's report; how many there were."""
        try:
            async with self.db.transaction() as repo:
                return await repo.revoke_report_links(agency_id, opportunity_id)
        except NotFound as exc:
            raise ReportNotFound(f"lead {opportunity_id!r} not found") from exc

    async def resolve(self, token: str) -> tuple[str, str] | None:
        """(agency id, lead id) of a token that still answers; None for any other token."""
        if not token or len(token) > 100:
            return None
        async with self.db.reader() as repo:
            link = await repo.find_report_link(token_hash(token))
            if link is None or link.revoked_at is not None or link.expires_at <= utcnow():
                return None
            if await repo.get_opportunity(link.agency_id, link.opportunity_id) is None:
                return None
            return link.agency_id, link.opportunity_id


__all__ = [
    "REPORT_PATH",
    "ReportNotFound",
    "ReportService",
    "ShareLink",
    "graded_categories",
    "lead_contacts",
    "lead_findings",
    "lead_outreach",
    "token_hash",
]
