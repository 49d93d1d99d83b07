"""The JSON shapes every face prints (`--json`, the chat, Slack, the API), built from our rows.

Every face (CLI `--json`, chat tools, Slack, HTTP) renders through these functions, so a field
means the same thing everywhere. Times are ISO 8601 UTC strings. Keep this module free of
heavy imports: `leadgen status`, `leads` ... answer through it in a fraction of a second
(tests/cli_reads checks what a read command loads).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from db.statuses import FlowStatus
from graphs.lead_facts import lead_contacts, lead_outreach
from tools.places_paging import MAX_RESULTS as PLACES_MAX_RESULTS

if TYPE_CHECKING:
    # Types only: the views read attributes, so the quick read path (db/sqlite_reads.py) renders
    # its plain rows through them without loading SQLAlchemy.
    from db.models import AuditDossier, AuditJob, Call, LeadGenFlow, ScrapedPage
    from db.repositories import LeadRecord


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def flow_json(flow: LeadGenFlow, *, counts: dict[str, int], progress: float) -> dict[str, Any]:
    return {
        "id": flow.id,
        "agency_id": flow.agency_id,
        "status": flow.status,
        "num_leads_requested": flow.num_leads_requested,
        "num_leads_fetched": flow.num_leads_fetched,
        "campaign": {"target_vertical": flow.target_vertical, "target_geography": flow.target_geography},
        "phases": [
            {
                "name": p["name"],
                "status": p["status"],
                "progress": p.get("progress", 0.0),
                "started_at": p.get("started_at"),
                "completed_at": p.get("completed_at"),
                "duration_ms": p.get("duration_ms"),
            }
            for p in flow.phases
        ],
        "progress": round(progress, 4),
        "last_event": flow.last_event,
        "billing_block": flow.billing_block,
        "counts": {
            key: counts.get(key, 0)
            for key in (
                "opportunities",
                "with_website",
                "ready",
                "data_ready",
                "auditing",
                "audits_queued",
                "audits_completed",
                "audits_failed",
                "reused",
            )
        },
        "error": flow.error,
        "created_at": iso(flow.created_at),
        "completed_at": iso(flow.completed_at),
    }


def lead_json(lead: LeadRecord) -> dict[str, Any]:
    """A lead; in a run's list, as that run saw it (`dossier_reused`: the run linked a dossier
    an earlier run wrote instead of researching again)."""
    opp = lead.opportunity
    return {
        "id": opp.id,
        "name": opp.name,
        "domain": opp.domain,
        "website": opp.website,
        "phone": opp.phone,
        "address": opp.address,
        "rating": opp.rating,
        "reviews_count": opp.reviews_count,
        "place_id": opp.place_id,
        "status": lead.status,
        "signals": list(opp.signals or []),
        "qualification_score": lead.qualification_score,
        "opportunity_score": round(lead.opportunity_score, 1),
        "score_reasons": list(lead.score_reasons),
        # Ours, beyond DESIGN's lead: the findings the score was computed from (Places', the
        # site's; SITE_DOWN and CLOSED_TEMPORARILY, which have no dossier, included).
        "findings": [finding_json(f) for f in opp.findings or []],
        "fit_reason": opp.fit_reason,
        "talking_points": list(opp.talking_points or []),
        "contacts": lead_contacts(opp),
        "runs": list(lead.runs),
        "audit_job_id": lead.audit_job_id,
        "dossier_id": lead.dossier_id,
        "dossier_reused": lead.dossier_reused,
        "meeting_time": iso(opp.meeting_time),
        # Ours, beyond DESIGN's lead: the drafts, so the list and its CSV carry them too.
        "outreach": lead_outreach(opp),
    }


def leads_json(leads: Sequence[LeadRecord]) -> list[dict[str, Any]]:
    """A run's leads in the run's ranking (the order the repository returns them in)."""
    return [lead_json(lead) for lead in leads]


def run_notes(run: dict[str, Any]) -> list[str]:
    """What every face says under a run beyond its counts: dossiers it reused instead of buying
    again, and, once it finished, that it found fewer leads than asked for (and why)."""
    counts = run["counts"]
    notes: list[str] = []
    reused = counts.get("reused", 0)
    if reused:
        notes.append(
            f"{reused} lead{'s' if reused != 1 else ''} reused a recent dossier from an earlier run: "
            "not researched or charged again (`leadgen run --refresh` researches them anew)."
        )
    found, wanted = counts.get("opportunities", 0), run["num_leads_requested"]
    if run["status"] == FlowStatus.COMPLETED and found < wanted:
        notes.append(shortfall_sentence(found, wanted, run["num_leads_fetched"]) + ".")
    return notes


def scoring_note(criteria: Sequence[str], services: Sequence[str]) -> str | None:
    """The offer every face makes to an agency that set no criteria or services: its leads are
    scored against all four signals, every finding weighed alike, until it does."""
    missing = [what for what, given in (("criteria", criteria), ("services", services)) if not given]
    if not missing:
        return None
    return (
        f"No {' or '.join(missing)} set yet: leads are scored against all four signals and every "
        "website finding weighs alike. Say which signals you sell against and what you sell (e.g. "
        '"we sell web design, SEO and online booking"), or run `leadgen agency set --criteria ... '
        "--services ...`, and scores will follow what you can sell."
    )


def shortfall_sentence(found: int, wanted: int, read: int) -> str:
    """Why a run has fewer leads than asked for (the run's last event says it too)."""
    cap = ", the most Places returns" if read >= PLACES_MAX_RESULTS else ""
    return (
        f"Found {found} of the {wanted} leads asked for: Places had no more businesses that pass "
        f"the filter (a phone, not closed for good; {read} places read{cap})"
    )


def dossier_json(
    dossier: AuditDossier,
    *,
    outreach: dict[str, str] | None = None,
    comparison: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A dossier; `outreach` and `comparison` come from graphs/reports.py (`dossier_view`), which
    reads the lead and its run for them."""
    return {
        "id": dossier.id,
        "opportunity_id": dossier.opportunity_id,
        "summary": dossier.summary,
        "findings": [finding_json(f) for f in dossier.findings or []],
        "gaps": list(dossier.gaps or []),
        "talking_points": list(dossier.talking_points or []),
        "sources": [{"url": s.get("url"), "title": s.get("title")} for s in dossier.sources or []],
        "fit_reason": dossier.fit_reason,
        "outreach": outreach,
        "comparison": comparison,
        "created_at": iso(dossier.created_at),
    }


def finding_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "code": row.get("code"),
        "title": row.get("title"),
        "detail": row.get("detail"),
        "evidence_url": row.get("evidence_url"),
        "evidence": row.get("evidence"),
        "source": row.get("source"),
    }


def audit_json(job: AuditJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "opportunity_id": job.opportunity_id,
        "target_url": job.target_url,
        "status": job.status,
        "phases": [{"name": p["name"], "status": p["status"]} for p in job.phases],
        "dossier_id": job.dossier_id,
        "error": job.error,
    }


def page_json(page: ScrapedPage) -> dict[str, Any]:
    return {
        "id": page.id,
        "audit_job_id": page.audit_job_id,
        "url": page.url,
        "title": page.title,
        "scraped_at": iso(page.scraped_at),
    }


def call_json(call: Call) -> dict[str, Any]:
    meta = dict(call.metadata_ or {})
    return {
        "id": call.id,
        "opportunity_id": call.opportunity_id,
        "provider_call_id": call.provider_call_id,
        "status": call.status,
        "billing_seconds": call.billing_seconds,
        "metadata": {
            "billing_customer_id": meta.get("billing_customer_id"),
            "preflight_balance": meta.get("preflight_balance"),
            "ai_call_metering": meta.get("ai_call_metering"),
        },
    }


def call_metering(call: Call) -> dict[str, Any] | None:
    metering = (call.metadata_ or {}).get("ai_call_metering")
    return metering if isinstance(metering, dict) else None


def billed_text(call: Call) -> str:
    """What the call cost, in words: "2 credits billed", "not metered yet", ..."""
    metering = call_metering(call)
    if metering is None:
        return "not metered yet"
    billed, requested = metering.get("billed_minutes", 0), metering.get("requested_minutes", 0)
    if metering.get("not_billed_reason"):
        return f"not billed: {metering['not_billed_reason']}"
    shown = f"{billed} credit{'s' if billed != 1 else ''} billed"
    if billed != requested:
        shown += f" of {requested} started minute{'s' if requested != 1 else ''} (balance ran out)"
    return shown
