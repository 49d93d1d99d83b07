"""Leads, dossiers, pages and report links in the chat: custom elements (public/elements/*.jsx)
kept with the thread, and the buttons under them. Payloads come back from the browser: every
lookup is scoped to the session's agency.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import chainlit as cl

from assistant.agent import share_json
from assistant.chainlit_ui.lifecycle import STATE
from assistant.chainlit_ui.session import ensure_bound, session_agency
from assistant.chainlit_views import parse_iso
from assistant.chat_tools.artifacts import CandidatesToChoose
from assistant.report_page import PdfRenderFailed, pdf_file_name, render_pdf
from graphs.lead_export import dossiers_of, leads_csv
from graphs.reports import ReportNotFound, ReportService
from graphs.service import RunNotFound
from graphs.views import lead_json, page_json
from graphs.wording import ago, lead_status_label, plural

log = logging.getLogger(__name__)


# What a candidate button does, per action the person asked for.
CANDIDATE_ACTIONS = {
    "open_dossier": "open_dossier",
    "call_lead": "call_lead",
    "show_pages": "show_lead_pages",
    "share_report": "share_report",
    "revoke_report": "revoke_report",
}


async def send_candidates(choice: CandidatesToChoose) -> None:
    """Several leads match what the person said: one button per candidate, by name and address."""
    action = CANDIDATE_ACTIONS.get(choice.action, "open_dossier")
    await cl.Message(
        content="Which one?",
        actions=[
            cl.Action(
                name=action,
                payload={"opportunity_id": c["id"]},
                label=f"{c['name']} · {c['address']}" if c.get("address") else c["name"],
            )
            for c in choice.candidates
        ],
    ).send()


# --------------------------------------------------------------------------------------------
# Leads, dossiers and pages: custom elements (public/elements/*.jsx) kept with the thread


def table_row(rank: int, lead: dict[str, Any], dossier: dict[str, Any] | None) -> dict[str, Any]:
    score = lead.get("opportunity_score")
    findings = (dossier or {}).get("findings") or []
    return {
        "id": lead["id"],
        "rank": rank,
        "name": lead["name"],
        "status": lead_status_label(lead["status"]),
        "score": score if isinstance(score, int | float) else round(lead["qualification_score"] * 100),
        "rating": lead.get("rating"),
        "reviews": lead.get("reviews_count"),
        "phone": lead.get("phone"),
        "website": lead.get("website"),
        "signals": [s.replace("_", " ").lower() for s in lead.get("signals") or []],
        "findings": [
            {"code": f.get("code"), "title": f.get("title"), "url": f.get("evidence_url")} for f in findings
        ]
        or [{"code": None, "title": gap, "url": None} for gap in (dossier or {}).get("gaps") or []],
        "fit": lead.get("fit_reason") or "",
        "reused": bool(lead.get("dossier_reused")),
        "dossier": bool(lead.get("dossier_id")),
    }


async def send_leads(
    run_id: str,
    leads: list[dict[str, Any]],
    *,
    title: str,
    notes: Sequence[str] = (),
    message: cl.Message | None = None,
) -> None:
    dossiers = await dossiers_of(STATE.chat.runs, session_agency(), leads)
    rows = [
        table_row(rank, lead, dossiers.get(str(lead.get("dossier_id")))) for rank, lead in enumerate(leads, 1)
    ]
    table = cl.CustomElement(name="LeadsTable", props={"title": title, "rows": rows}, display="inline")
    csv_file = cl.File(
        name=f"leads-{run_id[:8]}.csv",
        content=leads_csv(leads, dossiers).encode(),
        mime="text/csv",
        display="inline",
    )
    top = ", ".join(lead["name"] for lead in leads[:3])
    text = "\n\n".join(
        [f"**{title}** · {plural(len(leads), 'lead')}" + (f" · top: {top}" if top else ""), *notes]
    )
    message = message or cl.Message(content="")
    message.content = text
    message.elements = [table, csv_file]  # type: ignore[list-item]
    await message.send()


def dossier_props(dossier: dict[str, Any], lead: dict[str, Any] | None) -> dict[str, Any]:
    findings = dossier.get("findings") or [
        {"code": None, "title": gap, "detail": None, "evidence_url": None}
        for gap in dossier.get("gaps") or []
    ]
    return {
        "name": lead["name"] if lead else "Lead",
        "opportunity_id": dossier["opportunity_id"],
        "audit_job_id": lead.get("audit_job_id") if lead else None,
        "phone": lead.get("phone") if lead else None,
        "website": lead.get("website") if lead else None,
        "summary": dossier["summary"],
        "findings": findings,
        "talking_points": dossier.get("talking_points") or [],
        "sources": dossier.get("sources") or [],
        "fit_reason": dossier.get("fit_reason"),
        "written": ago(parse_iso(dossier.get("created_at"))),
    }


async def send_dossier(dossier: dict[str, Any], lead: dict[str, Any] | None) -> None:
    name = lead["name"] if lead else "this lead"
    card = cl.CustomElement(name="DossierCard", props=dossier_props(dossier, lead), display="inline")
    sources = ", ".join(f"[{s.get('title') or s['url']}]({s['url']})" for s in dossier.get("sources") or [])
    await cl.Message(
        content=f"### Dossier · {name}\n\n{dossier['summary']}"
        + (f"\n\nSources: {sources}" if sources else ""),
        elements=[card],
        actions=[
            cl.Action(
                name="share_report",
                payload={"opportunity_id": dossier["opportunity_id"]},
                label="Share report",
                icon="share-2",
            )
        ],
    ).send()


async def send_report_share(share: dict[str, Any]) -> None:
    """A share link with the report's PDF attached. The PDF is drawn now from our tables (no
    provider call, no credit), off the event loop: xhtml2pdf takes a moment."""
    runs = STATE.chat.runs
    name = str(share["lead"]["name"])
    lines = [
        f"**Report for {name}** · [open the shared report]({share['url']})",
        "",
        f"Anyone with the link can open it until {str(share['expires_at'])[:10]}; ask me to revoke "
        "it to end it sooner.",
    ]
    elements: list[Any] = []
    try:
        report = await ReportService(runs.db, runs.settings).report(
            session_agency(), str(share["opportunity_id"])
        )
        pdf = await asyncio.to_thread(render_pdf, report)
    except ReportNotFound:
        await cl.Message(content="That lead is not available.").send()
        return
    except PdfRenderFailed as exc:
        log.warning("the report PDF for %s could not be drawn: %s", share["opportunity_id"], exc)
        lines.append(f"The PDF could not be drawn here; [download it from the link]({share['pdf_url']}).")
    else:
        elements.append(
            cl.File(name=pdf_file_name(name), content=pdf, mime="application/pdf", display="inline")
        )
        lines.append("The report as a PDF is attached.")
    await cl.Message(content="\n".join(lines), elements=elements).send()


async def send_pages(audit_job_id: str, pages: list[dict[str, Any]]) -> None:
    if not pages:
        await cl.Message(content="No pages were read for this lead.").send()
        return
    lines = [f"**Scraped pages** · {plural(len(pages), 'page')}", ""]
    lines += [
        f"- [{p.get('title') or p['url']}]({p['url']})"
        + (f" · read {ago(parse_iso(p.get('scraped_at')))}" if p.get("scraped_at") else "")
        for p in pages
    ]
    await cl.Message(content="\n".join(lines)).send()


# --------------------------------------------------------------------------------------------
# Buttons. Payloads come back from the browser: every lookup is scoped to the session's agency.


@cl.action_callback("open_dossier")
async def on_open_dossier(action: cl.Action) -> None:
    if not await ensure_bound():
        return
    runs, agency = STATE.chat.runs, session_agency()
    opp_id = str(action.payload.get("opportunity_id", ""))
    lead = await runs.lead(agency, opp_id)
    dossier = await runs.dossier(agency, lead.dossier_id) if lead and lead.dossier_id else None
    if lead is None or dossier is None:
        await cl.Message(content="That dossier is not available.").send()
        return
    view = await ReportService(runs.db, runs.settings).dossier_view(agency, dossier)
    await send_dossier(view, lead_json(lead))


@cl.action_callback("share_report")
async def on_share_report(action: cl.Action) -> None:
    """The dossier's Share report button (or a candidate's): a new link to the lead's report."""
    if not await ensure_bound():
        return
    runs, agency = STATE.chat.runs, session_agency()
    opp = await runs.opportunity(agency, str(action.payload.get("opportunity_id", "")))
    if opp is None:
        await cl.Message(content="That lead is not available.").send()
        return
    try:
        link = await ReportService(runs.db, runs.settings).share(
            agency, opp.id, created_by=cl.user_session.get("username")
        )
    except ReportNotFound:
        await cl.Message(content="That lead is not available.").send()
        return
    await send_report_share(share_json(opp.id, opp.name, link))


@cl.action_callback("revoke_report")
async def on_revoke_report(action: cl.Action) -> None:
    """A candidate's button after "revoke the report of <a name several leads share>"."""
    if not await ensure_bound():
        return
    runs, agency = STATE.chat.runs, session_agency()
    opp = await runs.opportunity(agency, str(action.payload.get("opportunity_id", "")))
    if opp is None:
        await cl.Message(content="That lead is not available.").send()
        return
    try:
        count = await ReportService(runs.db, runs.settings).revoke(agency, opp.id)
    except ReportNotFound:
        await cl.Message(content="That lead is not available.").send()
        return
    await cl.Message(content=f"Ended {plural(count, 'share link')} to the report on {opp.name}.").send()


@cl.action_callback("show_pages")
async def on_show_pages(action: cl.Action) -> None:
    if not await ensure_bound():
        return
    job_id = str(action.payload.get("audit_job_id", ""))
    try:
        pages = await STATE.chat.runs.scraped_pages(session_agency(), job_id)
    except RunNotFound:
        await cl.Message(content="Those pages are not available.").send()
        return
    await send_pages(job_id, [page_json(p) for p in pages])


@cl.action_callback("show_lead_pages")
async def on_show_lead_pages(action: cl.Action) -> None:
    if not await ensure_bound():
        return
    lead = await STATE.chat.runs.lead(session_agency(), str(action.payload.get("opportunity_id", "")))
    if lead is None or lead.audit_job_id is None:
        await cl.Message(content="No pages were read for that lead.").send()
        return
    pages = await STATE.chat.runs.scraped_pages(session_agency(), lead.audit_job_id)
    await send_pages(lead.audit_job_id, [page_json(p) for p in pages])
