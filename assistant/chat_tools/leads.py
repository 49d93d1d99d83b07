"""Chat tools about leads: the ranked list of a run, one lead's dossier, the pages read for it;
and how a lead the person names ("Summit Smiles", "the second one", "that lead") is found.

The leads the conversation has shown are read back from the transcript (the tool messages'
JSON content, which the model saw too): artifacts live for one turn, the transcript for the
thread, so a reference made several turns later still resolves.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from langchain_core.messages import ToolMessage
from langchain_core.tools import tool

from assistant.chat_tools.artifacts import (
    CandidatesToChoose,
    DossierShown,
    LeadsShown,
    NoDossier,
    SourcesShown,
)
from assistant.chat_tools.context import Answer, Runtime_, answer, flow_view, no_run, pick_flow, refuse
from db.models import OPPORTUNITY_STATUSES, SIGNALS
from graphs.lead_lookup import LeadResolution, resolve_lead
from graphs.reports import ReportService
from graphs.service import RunNotFound
from graphs.views import lead_json, leads_json, page_json, run_notes

LeadStatus = Literal["SOURCED", "AUDITING", "READY", "DATA_READY"]
LeadSignal = Literal["MISSING_WEBSITE", "WEAK_WEB_PRESENCE", "LOW_GOOGLE_RATING", "FEW_GOOGLE_REVIEWS"]
assert set(LeadStatus.__args__) == set(OPPORTUNITY_STATUSES)  # type: ignore[attr-defined]
assert set(LeadSignal.__args__) == set(SIGNALS)  # type: ignore[attr-defined]


def tool_content(message: ToolMessage) -> Any:
    """A tool message's content as the tool wrote it (JSON, parsed), or the text as is."""
    content = message.content
    if isinstance(content, str):
        try:
            return json.loads(content)
        except ValueError:
            return content
    return content


@tool(parse_docstring=True, response_format="content_and_artifact")
async def list_leads(
    runtime: Runtime_,
    run_id: str | None = None,
    status: LeadStatus | None = None,
    signal: LeadSignal | None = None,
) -> Answer:
    """The leads (businesses) a run found, ranked by opportunity score (what the agency could sell them), optionally filtered. Each lead carries its score_reasons, findings, fit_reason and talking_points.

    Args:
        run_id: The run's id. Leave empty for the most recent run.
        status: Only leads with this status.
        signal: Only leads showing this signal.
    """
    ctx = runtime.context
    try:
        flow = await pick_flow(ctx, run_id)
        if flow is None:
            return no_run()
        records = await ctx.runs.run_leads(ctx.agency_id, flow.id)
        run = await flow_view(ctx.runs, flow)
    except RunNotFound:
        return refuse("not_found", f"No run with id {run_id!r} in your agency.")
    leads = leads_json(records)
    total = len(leads)
    if status:
        leads = [lead for lead in leads if lead["status"] == status]
    if signal:
        leads = [lead for lead in leads if signal in lead["signals"]]
    notes = [
        *run_notes(run),
        *([offer] if (offer := await ctx.runs.scoring_note(ctx.agency_id)) else []),
    ]
    return answer(
        {
            "run_id": flow.id,
            "run_status": flow.status,
            "total": total,
            "shown": len(leads),
            "filters": {"status": status, "signal": signal},
            "notes": notes,
            "leads": leads,
        },
        LeadsShown(flow.id, str(flow.status), leads, notes),
    )


def _lead_context(runtime: Runtime_) -> tuple[list[str], str | None]:
    """From this conversation's tool results, newest first: the ids of the last list of leads
    shown (for "the second one") and the lead last discussed (for "that lead")."""
    shown: list[str] | None = None
    last: str | None = None
    state = runtime.state if isinstance(runtime.state, dict) else {}
    for message in reversed(state.get("messages", [])):
        if not isinstance(message, ToolMessage):
            continue
        result = tool_content(message)
        if not isinstance(result, dict):
            continue
        if last is None:
            lead = result.get("lead")
            if isinstance(lead, dict) and isinstance(lead.get("id"), str):
                last = lead["id"]
            elif isinstance(result.get("opportunity_id"), str):
                last = result["opportunity_id"]
        if shown is None:
            listed = result.get("leads") or result.get("candidates")
            if isinstance(listed, list) and listed:
                shown = [str(item["id"]) for item in listed if isinstance(item, dict) and item.get("id")]
        if shown is not None and last is not None:
            break
    return shown or [], last


async def resolve(runtime: Runtime_, lead: str) -> LeadResolution:
    shown, last = _lead_context(runtime)
    ctx = runtime.context
    return await resolve_lead(ctx.runs.db, ctx.agency_id, lead, shown=shown, last=last)


def unresolved(found: LeadResolution, action: str) -> Answer:
    """A tool answer for a reference that is not one lead: the question to ask, with the
    candidates by name (the faces turn them into buttons; their ids are for the buttons)."""
    kind = "ambiguous_lead" if found.kind == "ambiguous" else "lead_not_found"
    candidates = found.candidates_json()
    return answer(
        {
            "error": kind,
            "reference": found.reference,
            "action": action,
            "candidates": candidates,
            "message": found.message,
        },
        CandidatesToChoose(
            action=action,
            reference=found.reference,
            candidates=[dict(c) for c in candidates],
            message=found.message,
            found_none=kind == "lead_not_found",
        ),
    )


@tool(parse_docstring=True, response_format="content_and_artifact")
async def get_dossier(runtime: Runtime_, lead: str) -> Answer:
    """Open the research dossier of one lead: summary, website findings, talking points and cited sources.

    Args:
        lead: The lead as the user referred to it: its business name (e.g. "Summit Smiles"), its place in the list just shown ("the second one"), or "that lead" for the one being discussed.
    """
    ctx = runtime.context
    found = await resolve(runtime, lead)
    if found.lead is None:
        # The model may pass a dossier id instead: accept it, within the agency.
        by_dossier = await ctx.runs.dossier(ctx.agency_id, lead.strip())
        if by_dossier is None:
            return unresolved(found, "open_dossier")
        opportunity_id = by_dossier.opportunity_id
    else:
        opportunity_id = found.lead.id
    record = await ctx.runs.lead(ctx.agency_id, opportunity_id)
    if record is None:
        return unresolved(found, "open_dossier")
    dossier = await ctx.runs.dossier(ctx.agency_id, record.dossier_id) if record.dossier_id else None
    view = lead_json(record)
    opp = record.opportunity
    if dossier is None:
        reason = (
            "it has no website of its own to audit"
            if not opp.domain
            else "its audit has not finished or failed"
        )
        message = f"There is no dossier for {opp.name}: {reason}."
        return answer(
            {"opportunity_id": opp.id, "lead": view, "dossier": None, "message": message},
            NoDossier(opp.id, view, message),
        )
    shown = await ReportService(ctx.runs.db, ctx.runs.settings).dossier_view(ctx.agency_id, dossier)
    return answer(
        {"opportunity_id": opp.id, "lead": view, "dossier": shown}, DossierShown(opp.id, view, shown)
    )


@tool(parse_docstring=True, response_format="content_and_artifact")
async def list_sources(runtime: Runtime_, lead: str) -> Answer:
    """The web pages scraped (the sources) while auditing one lead's website.

    Args:
        lead: The lead as the user referred to it: its business name (e.g. "Summit Smiles"), its place in the list just shown ("the second one"), or "that lead" for the one being discussed.
    """
    ctx = runtime.context
    ident = lead.strip()
    try:  # an audit job id, as earlier results name them
        pages = [page_json(p) for p in await ctx.runs.scraped_pages(ctx.agency_id, ident)]
        return answer(
            {"audit_job_id": ident, "count": len(pages), "pages": pages}, SourcesShown(ident, pages)
        )
    except RunNotFound:
        pass
    found = await resolve(runtime, lead)
    if found.lead is None:
        return unresolved(found, "show_pages")
    opp = found.lead
    record = await ctx.runs.lead(ctx.agency_id, opp.id)
    if record is None or record.audit_job_id is None:
        return answer(
            {
                "opportunity_id": opp.id,
                "lead": {"id": opp.id, "name": opp.name},
                "pages": [],
                "message": f"{opp.name} has not been audited, so no pages were read.",
            },
            SourcesShown(None, [], opp.id, opp.name),
        )
    pages = [page_json(p) for p in await ctx.runs.scraped_pages(ctx.agency_id, record.audit_job_id)]
    return answer(
        {
            "audit_job_id": record.audit_job_id,
            "opportunity_id": opp.id,
            "lead": {"id": opp.id, "name": opp.name},
            "count": len(pages),
            "pages": pages,
        },
        SourcesShown(record.audit_job_id, pages, opp.id, opp.name),
    )
