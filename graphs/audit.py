"""The per-lead audit: a subgraph fanned out with `Send`, one branch per audit job.

    billing_gate -> map_urls -> filter_urls -> scrape_content -> generate_dossier

* `billing_gate` holds the audit's 2 credits (key `audit:{audit_job_id}`) before any paid work;
  when they are short it interrupts with the billing block, and re-runs from its first line on
  resume (so it has no side effects before `interrupt()`).
* A provider failure is recorded in the branch state (`error`) and carried to the last node,
  which releases the hold and marks the lead DATA_READY: one bad site never cancels its siblings,
  and a failed audit is not charged.
* `generate_dossier` saves the dossier, then settles the hold (the charge is recorded once per
  key), then marks the job metered: every step is idempotent, so a crash anywhere re-runs safely,
  and a dossier saved before a crash is settled as it is, not written again.
* Only `audit_results` flows back to the parent (the output schema); it has a reducer.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import openai
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import interrupt
from pydantic import ValidationError

from db.repositories import PageInput, Repository
from graphs import events
from graphs.contacts import PageSource, find_contacts
from graphs.context import Ctx, PipelineContext, crash_point, stall_point
from graphs.outreach import OutreachFacts, choose_outreach
from graphs.prompts import (
    DOSSIER_SYSTEM,
    URL_SELECTION_SYSTEM,
    DossierDraft,
    UrlSelection,
    dossier_prompt,
    url_selection_prompt,
)
from graphs.site_checks import PageText, find_gaps, merge_gaps
from graphs.url_selection import keep_model_choice
from tools.billing.port import InsufficientCredits
from tools.http import AuthError, ProviderError
from tools.llm import structured_reply

DOSSIER_FEATURE = "dossier_research"
MAX_CANDIDATES = 25
MAX_PAGES = 6

# What may go wrong in an audit without being a bug: providers failing after their retries, the
# model answering something that does not fit the schema.
AUDIT_FAILURES = (ProviderError, openai.OpenAIError, ValidationError, ValueError)
# A provider refusing our key is no failure of one site: every audit would meet it. It stops the
# run (RunService reports the sentence naming the variable) instead of failing audits one by one.
KEY_REJECTED = (AuthError, openai.AuthenticationError, openai.PermissionDeniedError)


class AuditInput(TypedDict):
    flow_id: str
    agency_id: str
    audit_job_id: str


class AuditState(AuditInput, total=False):
    done_before: bool
    candidates: list[str]
    selected: list[str]
    error: str | None
    audit_results: Annotated[list[dict[str, Any]], operator.add]


class AuditOutput(TypedDict):
    audit_results: Annotated[list[dict[str, Any]], operator.add]


def audit_key(audit_job_id: str) -> str:
    return f"audit:{audit_job_id}"


def billing_block(
    check_info: dict[str, Any], audit_job_id: str | None, phase: str, feature: str
) -> dict[str, Any]:
    from datetime import UTC, datetime

    return {
        "phase": phase,
        "feature_id": feature,
        "audit_job_id": audit_job_id,
        "created_at": datetime.now(UTC).isoformat(),
        "credit_info": check_info,
    }


async def hold_or_interrupt(
    ctx: PipelineContext, customer_id: str, feature: str, key: str, *, phase: str, audit_job_id: str | None
) -> None:
    """Hold the credits, or pause the run until the user upgrades. Each resume re-enters here:
    earlier `interrupt()` calls return their stored answers and the hold is tried again, so a
    resume without new credits interrupts once more and charges nothing."""
    while True:
        try:
            await ctx.billing.hold(customer_id, feature, key)
            return
        except InsufficientCredits as short:
            block = billing_block(short.check.credit_info(), audit_job_id, phase, feature)
            events.emit(
                {
                    "type": "billing_pause",
                    "phase": phase,
                    "audit_job_id": audit_job_id,
                    "billing_block": block,
                }
            )
            interrupt({"billing_block": block})


async def billing_gate(state: AuditState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    agency_id, job_id = state["agency_id"], state["audit_job_id"]
    ctx.counter.record("billing_gate", job_id)
    async with ctx.read() as repo:
        job = await repo.get_audit_job(agency_id, job_id)
        flow = await repo.get_flow(agency_id, state["flow_id"])
    if job is None or flow is None:
        return {
            "done_before": True,
            "audit_results": [{"audit_job_id": job_id, "ok": False, "missing": True}],
        }
    if job.status in ("completed", "error"):
        # Finished by an earlier execution of this flow (a re-run after a failure): never redo or recharge.
        return {
            "done_before": True,
            "audit_results": [{"audit_job_id": job_id, "ok": job.status == "completed"}],
        }
    await hold_or_interrupt(
        ctx,
        flow.billing_customer_id,
        DOSSIER_FEATURE,
        audit_key(job_id),
        phase="generate_dossier",
        audit_job_id=job_id,
    )
    async with ctx.repo() as repo:
        await repo.set_audit_phases(agency_id, job_id, {"map_urls": "running"}, status="running", error=None)
    return {"done_before": False, "error": None}


def _after_gate(state: AuditState) -> str:
    return END if state.get("done_before") else "map_urls"


async def map_urls(state: AuditState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    agency_id, job_id = state["agency_id"], state["audit_job_id"]
    ctx.counter.record("map_urls", job_id)
    await stall_point("audit:map_urls", ctx.counter, job_id)
    async with ctx.read() as repo:
        job = await repo.get_audit_job(agency_id, job_id)
    assert job is not None
    try:
        links = await ctx.providers.firecrawl.discover(job.target_url, limit=MAX_CANDIDATES)
    except KEY_REJECTED:
        raise
    except AUDIT_FAILURES as exc:
        return await _fail(ctx, state, "map_urls", f"could not map {job.target_url}: {exc}")
    async with ctx.repo() as repo:
        await repo.set_audit_phases(agency_id, job_id, {"map_urls": "complete", "filter_urls": "running"})
    events.emit({"type": "audit", "audit_job_id": job_id, "step": "map_urls", "found": len(links)})
    return {"candidates": [job.target_url, *[link.url for link in links]]}


async def filter_urls(state: AuditState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    if state.get("error"):
        return {}
    agency_id, job_id = state["agency_id"], state["audit_job_id"]
    ctx.counter.record("filter_urls", job_id)
    home, *others = state["candidates"]
    chosen: list[str] = []
    try:
        answer = await structured_reply(
            ctx.providers.llm(),
            UrlSelection,
            [("system", URL_SELECTION_SYSTEM), ("user", url_selection_prompt(home, others, MAX_PAGES))],
        )
        chosen = answer.urls
    except KEY_REJECTED:
        raise
    except AUDIT_FAILURES:
        chosen = []  # the rules below choose instead
    selected = keep_model_choice(home, others, chosen, limit=MAX_PAGES)
    async with ctx.repo() as repo:
        await repo.set_audit_phases(
            agency_id, job_id, {"filter_urls": "complete", "scrape_content": "running"}
        )
    return {"selected": selected}


async def scrape_content(state: AuditState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    if state.get("error"):
        return {}
    agency_id, job_id = state["agency_id"], state["audit_job_id"]
    ctx.counter.record("scrape_content", job_id)
    try:
        # rawHtml too: what markdown drops (forms, the footer's links) shows contacts.
        docs = await ctx.providers.firecrawl.batch_scrape(
            state["selected"], formats=("markdown", "links", "rawHtml")
        )
    except KEY_REJECTED:
        raise
    except AUDIT_FAILURES as exc:
        return await _fail(ctx, state, "scrape_content", f"scrape failed: {exc}")
    good = [d for d in docs if d.ok and d.markdown]
    if not good:
        reasons = "; ".join(sorted({d.error or "empty page" for d in docs})) or "no pages"
        return await _fail(ctx, state, "scrape_content", f"no page could be scraped ({reasons})")
    for doc in good:
        # Content-addressed: written (and fsynced) here, outside the write transaction below,
        # whose own put then only finds the file present.
        await ctx.db.content.put(doc.markdown or "")
    pages = [PageInput(doc.url, doc.title, doc.markdown or "", doc.status_code) for doc in good]
    # Contacts come from these same pages: no call and no credit of their own.
    contacts = find_contacts(
        [PageSource(d.url, d.title, d.markdown or "", d.links, d.raw_html) for d in good]
    )
    async with ctx.repo() as repo:
        await repo.upsert_scraped_pages(agency_id, job_id, pages, store=ctx.db.content)
        await repo.set_contacts(agency_id, job_id, contacts)
        await repo.set_audit_phases(
            agency_id, job_id, {"scrape_content": "complete", "generate_dossier": "running"}
        )
    events.emit({"type": "audit", "audit_job_id": job_id, "step": "scrape_content", "pages": len(good)})
    return {}


async def generate_dossier(state: AuditState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    agency_id, job_id = state["agency_id"], state["audit_job_id"]
    if state.get("error"):
        return await _finish_failed(ctx, state, state["error"] or "audit failed")
    async with ctx.read() as repo:
        job = await repo.get_audit_job(agency_id, job_id)
    if job is not None and job.status == "completed" and job.metered:
        # A process died after this audit was saved and charged but before LangGraph stored
        # the node's result: the work is done, so report it instead of redoing it.
        ctx.counter.record("generate_dossier_already_done", job_id)
        return {"audit_results": [{"audit_job_id": job_id, "ok": True, "dossier_id": job.dossier_id}]}
    assert job is not None
    if job.dossier_id is not None:
        # An execution died between saving this dossier and settling it: settle the saved one,
        # never write (or pay the model for) it again.
        ctx.counter.record("generate_dossier_settle_only", job_id)
        return await _settle(ctx, state, job.opportunity_id, job.dossier_id)
    ctx.counter.record("generate_dossier", job_id)
    async with ctx.read() as repo:
        opportunity = await repo.get_opportunity(agency_id, job.opportunity_id)
        profile = await repo.get_profile(agency_id)
        rows = await repo.list_scraped_pages(agency_id, job_id)
    pages = [PageText(row.url, row.title, await ctx.db.content.get(row.content_ref)) for row in rows]
    assert opportunity is not None
    findings = find_gaps(pages)
    prompt = dossier_prompt(
        business=opportunity.name,
        vertical=opportunity.target_vertical or "",
        geography=opportunity.target_geography or "",
        signals=opportunity.signals,
        services=profile.services_offered if profile else [],
        findings=findings,
        pages=pages,
    )
    try:
        draft = await structured_reply(
            ctx.providers.llm(), DossierDraft, [("system", DOSSIER_SYSTEM), ("user", prompt)]
        )
    except KEY_REJECTED:
        raise
    except AUDIT_FAILURES as exc:
        return await _finish_failed(ctx, state, f"dossier generation failed: {exc}")

    scraped = {page.url.rstrip("/").lower(): page for page in pages}
    sources = [
        {"url": scraped[key].url, "title": scraped[key].title or s.title}
        for s in draft.sources
        if (key := s.url.rstrip("/").lower()) in scraped
    ]
    if not sources:  # the model cited nothing we scraped: cite what it was given
        sources = [{"url": p.url, "title": p.title or p.url} for p in pages]
    sources = list({s["url"]: s for s in sources}.values())
    branding = (profile.branding if profile else None) or {}
    facts = OutreachFacts(
        business=opportunity.name,
        codes=[*[g.code for g in findings], *opportunity.signals],
        vertical=opportunity.target_vertical,
        geography=opportunity.target_geography,
        rating=opportunity.rating,
        reviews_count=opportunity.reviews_count,
        sender=branding.get("name"),
    )
    outreach = choose_outreach(draft.outreach, facts, [p.markdown for p in pages])
    async with ctx.repo() as repo:
        dossier = await repo.save_dossier(
            agency_id,
            job_id,
            summary=draft.summary,
            gaps=merge_gaps(draft.gaps, findings),
            talking_points=draft.talking_points,
            sources=sources,
            fit_reason=draft.fit_reason,
            model=ctx.settings.openai_model,
            outreach=outreach,
        )
    crash_point("audit:before_settle")
    return await _settle(ctx, state, opportunity.id, dossier.id)


async def _settle(
    ctx: PipelineContext, state: AuditState, opportunity_id: str, dossier_id: str
) -> dict[str, Any]:
    """Charge the saved dossier's held credits (once per key), then finish the audit.

    If billing is unreachable here, the error fails the run with the hold still open and the
    dossier saved; the next execution re-runs the node and settles with the same key."""
    agency_id, job_id = state["agency_id"], state["audit_job_id"]
    await ctx.billing.settle(audit_key(job_id))
    async with ctx.repo() as repo:
        await repo.set_audit_phases(
            agency_id,
            job_id,
            {"generate_dossier": "complete"},
            status="completed",
            metered=True,
            dossier_id=dossier_id,
        )
        await repo.set_flow_lead(
            agency_id, state["flow_id"], opportunity_id, status="READY", dossier_id=dossier_id
        )
        progress = await _record_progress(repo, state)
    events.emit(progress)
    return {"audit_results": [{"audit_job_id": job_id, "ok": True, "dossier_id": dossier_id}]}


async def _fail(ctx: PipelineContext, state: AuditState, step: str, message: str) -> dict[str, Any]:
    async with ctx.repo() as repo:
        await repo.set_audit_phase(state["agency_id"], state["audit_job_id"], step, "error")
    return {"error": message}


async def _finish_failed(ctx: PipelineContext, state: AuditState, message: str) -> dict[str, Any]:
    agency_id, job_id = state["agency_id"], state["audit_job_id"]
    ctx.counter.record("audit_failed", job_id)
    await ctx.billing.release(audit_key(job_id))
    async with ctx.repo() as repo:
        job = await repo.update_audit_job(agency_id, job_id, status="error", error=message[:2000])
        await repo.set_flow_lead(agency_id, state["flow_id"], job.opportunity_id, status="DATA_READY")
        progress = await _record_progress(repo, state)
    events.emit({"type": "audit", "audit_job_id": job_id, "step": "failed", "message": message})
    events.emit(progress)
    return {"audit_results": [{"audit_job_id": job_id, "ok": False, "error": message}]}


async def _record_progress(repo: Repository, state: AuditState) -> dict[str, Any]:
    """The seed's policy, 0.1 + 0.9 * finished / total, recounted from the table (not in memory)
    so parallel branches and resumed runs agree. Written in the transaction that finishes the
    audit rather than in a read and a write transaction of its own: 20 parallel audits queue on
    SQLite's single writer. Returns the event to emit once that transaction has committed."""
    agency_id, flow_id = state["agency_id"], state["flow_id"]
    finished, queued = await repo.audit_tally(agency_id, flow_id)
    progress = 0.1 + 0.9 * finished / max(1, queued)
    message = f"{finished} of {queued} audits finished"
    await repo.set_phase(
        agency_id,
        flow_id,
        "generate_dossier",
        progress=progress,
        message=message,
        event_type="audit_progress",
    )
    return events.phase_event(
        flow_id, "generate_dossier", progress=progress, message=message, event_type="audit_progress"
    )


def build_audit_graph() -> CompiledStateGraph[Any, Any, Any, Any]:
    builder = StateGraph(
        AuditState, context_schema=PipelineContext, input_schema=AuditInput, output_schema=AuditOutput
    )
    builder.add_node("billing_gate", billing_gate)
    builder.add_node("map_urls", map_urls)
    builder.add_node("filter_urls", filter_urls)
    builder.add_node("scrape_content", scrape_content)
    builder.add_node("generate_dossier", generate_dossier)
    builder.add_edge(START, "billing_gate")
    builder.add_conditional_edges("billing_gate", _after_gate, ["map_urls", END])
    builder.add_edge("map_urls", "filter_urls")
    builder.add_edge("filter_urls", "scrape_content")
    builder.add_edge("scrape_content", "generate_dossier")
    builder.add_edge("generate_dossier", END)
    return builder.compile()


__all__ = ["AuditInput", "audit_key", "billing_block", "build_audit_graph", "hold_or_interrupt"]
