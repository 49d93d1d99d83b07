"""What the views say about a lead beyond its row: its coded findings (the site's and Places'),
its contacts, its outreach drafts and how it compares with the run's other leads.

Light on purpose (no SQLAlchemy, pydantic or HTML parser at import): the quick read path
(db/sqlite_reads.py) renders its plain rows through these, as the repositories' records do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from graphs.comparison import Peer, compare
from graphs.contacts import places_source_url, with_places_phone
from graphs.finding_guide import GUIDE, coded
from graphs.outreach import OutreachFacts, outreach_json

if TYPE_CHECKING:
    from db.models import AuditDossier, ClientOpportunity
    from db.repositories import LeadRecord


def _places_findings(opp: ClientOpportunity) -> list[dict[str, Any]]:
    """The Places signals as findings (DESIGN: source `places`), with the numbers behind them."""
    where = places_source_url(opp.place_id)
    evidence = {
        "MISSING_WEBSITE": "No website on the Google Business Profile",
        "WEAK_WEB_PRESENCE": f"Website on the Google Business Profile: {opp.website or 'none'}",
        "LOW_GOOGLE_RATING": f"Google rating {opp.rating}" if opp.rating is not None else "Google rating",
        "FEW_GOOGLE_REVIEWS": f"{opp.reviews_count} Google reviews"
        if opp.reviews_count is not None
        else "Google reviews",
    }
    return [
        {
            "code": code,
            "title": GUIDE[code].title,
            "detail": GUIDE[code].why,
            "evidence_url": where,
            "evidence": evidence.get(code, ""),
            "source": "places",
        }
        for code in opp.signals or []
        if code in GUIDE
    ]


def lead_findings(opp: ClientOpportunity, dossier: AuditDossier | None) -> list[dict[str, Any]]:
    """The lead's coded findings (DESIGN shape): those its score was computed from (the site's
    and Places'), else its dossier's (a row scored before findings existed), then the Places
    signals themselves, each code once."""
    stored: list[dict[str, Any]] = list(opp.findings or [])
    if not stored and dossier is not None:
        stored = list(dossier.findings or [])
    return coded([*stored, *_places_findings(opp)])


def lead_codes(opp: ClientOpportunity, dossier: AuditDossier | None = None) -> frozenset[str]:
    return frozenset(f["code"] for f in lead_findings(opp, dossier))


def outreach_facts(
    opp: ClientOpportunity, codes: Sequence[str], *, sender: str | None = None, peers_line: str | None = None
) -> OutreachFacts:
    return OutreachFacts(
        business=opp.name,
        codes=list(codes),
        vertical=opp.target_vertical,
        geography=opp.target_geography,
        rating=opp.rating,
        reviews_count=opp.reviews_count,
        sender=sender,
        peers_line=peers_line,
    )


def lead_outreach(opp: ClientOpportunity) -> dict[str, str]:
    """The lead's drafts: its newest dossier's, else built from its facts (no site, old rows)."""
    return outreach_json(opp.outreach, outreach_facts(opp, sorted(lead_codes(opp))))


def lead_contacts(opp: ClientOpportunity) -> list[dict[str, Any]]:
    return with_places_phone(opp.contacts or [], opp.phone, opp.place_id)


def lead_comparison(
    opp: ClientOpportunity,
    dossier: AuditDossier | None,
    run_id: str | None,
    members: Sequence[LeadRecord],
    dossiers: Mapping[str, AuditDossier],
) -> dict[str, Any]:
    """The lead against the other leads of `run_id` (`members`, with their dossiers by id)."""
    me = Peer(opp.id, opp.rating, opp.reviews_count, lead_codes(opp, dossier), dossier is not None)
    peers = [
        Peer(
            m.opportunity.id,
            m.opportunity.rating,
            m.opportunity.reviews_count,
            lead_codes(m.opportunity, dossiers.get(m.dossier_id or "")),
            m.dossier_id is not None,
        )
        for m in members
    ]
    return {**compare(me, peers), "run_id": run_id}
