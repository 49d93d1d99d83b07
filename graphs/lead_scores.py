"""Keeping each lead's findings, brief and opportunity score current, and ranking a run by it.

`refresh_lead` recomputes a lead's score from its Places facts and the findings it has (its
audit's, when given, else those it had), writes them on the lead and on the run's membership row
(what that run ranks it by), and writes a brief when one is given. `rank_run` orders a run's
leads by the scores the run recorded (graphs/ranking.py decides the order). Both run inside the
caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from db.models import ClientOpportunity
from db.repositories import Repository
from graphs.audit_checks import Finding
from graphs.briefs import Brief, LeadFacts, places_findings
from graphs.ranking import ranked
from graphs.scoring import Score, opportunity_score


def lead_findings(opp: ClientOpportunity, site: Sequence[Finding] | None) -> list[Finding]:
    """Places' findings now, then the site's: `site` when given, else those the lead had."""
    kept = (
        list(site)
        if site is not None
        else [Finding.from_dict(f) for f in opp.findings or [] if f.get("source") != "places"]
    )
    return places_findings(LeadFacts.of(opp)) + kept


async def refresh_lead(
    repo: Repository,
    agency_id: str,
    opportunity_id: str,
    *,
    flow_id: str | None,
    site: Sequence[Finding] | None = None,
    brief: Brief | None = None,
) -> Score:
    opp = await repo.get_opportunity(agency_id, opportunity_id)
    if opp is None:
        raise LookupError(f"lead {opportunity_id!r} not found")
    profile = await repo.get_profile(agency_id)
    findings = lead_findings(opp, site)
    score = opportunity_score(
        opp.signals or [],
        profile.criteria if profile else [],
        findings,
        profile.services_offered if profile else [],
    )
    fields: dict[str, object] = {
        "findings": [f.as_dict() for f in findings],
        "opportunity_score": score.value,
        "score_reasons": score.reasons,
    }
    if brief is not None:
        fields |= {"fit_reason": brief.fit_reason, "talking_points": list(brief.talking_points)}
    await repo.update_opportunity(agency_id, opportunity_id, **fields)
    if flow_id is not None:
        await repo.set_flow_lead(
            agency_id, flow_id, opportunity_id, opportunity_score=score.value, score_reasons=score.reasons
        )
    return score


async def rank_run(repo: Repository, agency_id: str, flow_id: str) -> None:
    """Order the run's leads by the opportunity score the run recorded for each, best first."""
    leads = await repo.list_flow_leads(agency_id, flow_id)
    order = ranked(leads)
    await repo.set_flow_ranks(
        agency_id, flow_id, [(lead.opportunity.id, lead.opportunity_score) for lead in order]
    )
