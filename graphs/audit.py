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

import functools
import operator
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import interrupt
from pydantic import ValidationError

from db.repositories import PageInput, Repository
from db.statuses import FINAL_AUDIT_STATUSES, AuditStatus, OpportunityStatus, PhaseStatus
from graphs import events
from graphs.audit_checks import Finding, SiteRead, check_site_down, run_checks
from graphs.briefs import Brief, LeadFacts, brief_without_audit, places_findings
from graphs.contacts import PageSource, find_contacts
from graphs.context import Ctx, PipelineContext, crash_point, stall_point
from graphs.dossier_guard import clean_text, fit_reason, quoted_gaps, scraped_sources, talking_points
from graphs.lead_scores import refresh_lead
from graphs.outreach import OutreachFacts, choose_outreach
from graphs.prompts import (
    DOSSIER_SYSTEM,
    URL_SELECTION_SYSTEM,
    DossierDraft,
    PageText,
    UrlSelection,
    dossier_prompt,
    url_selection_prompt,
)
from graphs.url_selection import choose_pages, site_candidates
from tools.billing.port import InsufficientCredits
from tools.http import AuthError, ProviderError

DOSSIER_FEATURE = "dossier_research"
MAP_LIMIT = 200
MAX_CANDIDATES = 60
MAX_PAGES = 10

# The SDKs behind the audit's steps (Firecrawl's, OpenAI's through LangChain, and the HTML parser
# of the contact finder) take well over a second of CPU to import. The steps import them when
# they first run, so the graph compiles without them and a process can load them while it waits
# on its first network calls (graphs/pipeline.py lists these with the rest of what the run
# defers; assistant/cli/preload.py imports them in the order the steps need them).
DEFERRED_MODULES = ("graphs.site_reading", "tools.llm", "openai", "bs4")


@functools.cache
def audit_failures() -> tuple[type[Exception], ...]:
    """What may go wrong in an audit without being a bug: providers failing after their retries,
    the model answering something that does not fit the schema."""
    import openai

    return (ProviderError, openai.OpenAIError, ValidationError, ValueError)


@functools.cache
def key_rejected() -> tuple[type[Exception], ...]:
    """A provider refusing our key is no failure of one site: every audit would meet it. It stops
    the run (RunService reports the sentence naming the variable) instead of failing audits one
    by one."""
    import openai

    return (AuthError, openai.AuthenticationError, openai.PermissionDeniedError)


class AuditInput(TypedDict):
    flow_id: str
    agency_id: str
    audit_job_id: str


class AuditState(AuditInput, total=False):
    done_before: bool
    candidates: list[str]
    selected: list[str]
    findings: list[dict[str, Any]]  # the coded findings of scrape_content (audit_checks.Finding rows)
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
    if job.status in FINAL_AUDIT_STATUSES:
        # Finished by an earlier execution of this flow (a re-run after a failure): never redo or recharge.
        return {
            "done_before": True,
            "audit_results": [{"audit_job_id": job_id, "ok": job.status == AuditStatus.COMPLETED}],
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
        await repo.set_audit_phases(
            agency_id, job_id, {"map_urls": PhaseStatus.RUNNING}, status=AuditStatus.RUNNING, error=None
        )
    return {"done_before": False, "error": None}


def _after_gate(state: AuditState) -> str:
    return END if state.get("done_before") else "map_urls"


async def map_urls(state: AuditState, runtime: Ctx) -> dict[str, Any]:
    """The site's own pages, as Firecrawl's map lists them. A map that fails or lists nothing
    is no failure of the audit: the homepage's links stand in for it (site_reading.py)."""
    ctx = runtime.context
    agency_id, job_id = state["agency_id"], state["audit_job_id"]
    ctx.counter.record("map_urls", job_id)
    await stall_point("audit:map_urls", ctx.counter, job_id)
    async with ctx.read() as repo:
        job = await repo.get_audit_job(agency_id, job_id)
    assert job is not None
    try:
        links = await ctx.providers.firecrawl.map_site(job.target_url, limit=MAP_LIMIT)
    except key_rejected():
        raise
    except audit_failures():
        links = []
    candidates = site_candidates(job.target_url, [link.url for link in links])[:MAX_CANDIDATES]
    async with ctx.repo() as repo:
        await repo.set_audit_phases(
            agency_id, job_id, {"map_urls": PhaseStatus.COMPLETE, "filter_urls": PhaseStatus.RUNNING}
        )
    events.emit({"type": "audit", "audit_job_id": job_id, "step": "map_urls", "found": len(links)})
    return {"candidates": candidates}


async def filter_urls(state: AuditState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    if state.get("error"):
        return {}
    agency_id, job_id = state["agency_id"], state["audit_job_id"]
    ctx.counter.record("filter_urls", job_id)
    home, *others = state["candidates"]
    async with ctx.read() as repo:
        job = await repo.get_audit_job(agency_id, job_id)
        opportunity = await repo.get_opportunity(agency_id, job.opportunity_id) if job else None
    vertical = (opportunity.target_vertical if opportunity else None) or ""
    chosen: list[str] = []
    if others:
        from tools.llm import structured_reply

        try:
            answer = await structured_reply(
                ctx.providers.llm(),
                UrlSelection,
                [
                    ("system", URL_SELECTION_SYSTEM),
                    ("user", url_selection_prompt(home, others, MAX_PAGES, vertical)),
                ],
            )
            chosen = answer.urls
        except key_rejected():
            raise
        except audit_failures():
            chosen = []  # the rules choose instead
    selected = choose_pages(home, others, chosen, vertical=vertical, limit=MAX_PAGES)
    async with ctx.repo() as repo:
        await repo.set_audit_phases(
            agency_id, job_id, {"filter_urls": PhaseStatus.COMPLETE, "scrape_content": PhaseStatus.RUNNING}
        )
    return {"selected": selected}


async def scrape_content(state: AuditState, runtime: Ctx) -> dict[str, Any]:
    """Read the chosen pages whole, decide the coded findings (graphs/audit_checks.py) and store
    the pages' text. The findings travel to generate_dossier in the graph's state (a few small
    rows), so a resumed audit never reads the site again."""
    ctx = runtime.context
    if state.get("error"):
        return {}
    agency_id, job_id = state["agency_id"], state["audit_job_id"]
    ctx.counter.record("scrape_content", job_id)
    selected = state["selected"]
    from graphs.site_reading import read_site

    try:
        reading = await read_site(
            ctx.providers.firecrawl, selected[0], selected, state.get("candidates", []), limit=MAX_PAGES
        )
    except key_rejected():
        raise
    except audit_failures() as exc:
        return await _fail(ctx, state, "scrape_content", f"scrape failed: {exc}")
    if reading.down is not None:
        down = check_site_down(reading.home, reading.down)
        failed = await _fail(ctx, state, "scrape_content", down.detail)
        return failed | {"findings": [down.as_dict()]}
    good = [d for d in reading.pages if d.markdown]
    if not good:
        reasons = "; ".join(sorted(set(reading.failed.values()))) or "no page had any text"
        return await _fail(ctx, state, "scrape_content", f"no page could be scraped ({reasons})")
    findings = run_checks(
        SiteRead(reading.scraped_pages(), http_only=reading.http_only, link_statuses=reading.link_statuses)
    )
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
            agency_id,
            job_id,
            {"scrape_content": PhaseStatus.COMPLETE, "generate_dossier": PhaseStatus.RUNNING},
        )
    events.emit({"type": "audit", "audit_job_id": job_id, "step": "scrape_content", "pages": len(good)})
    return {"findings": [f.as_dict() for f in findings]}


async def generate_dossier(state: AuditState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    agency_id, job_id = state["agency_id"], state["audit_job_id"]
    if state.get("error"):
        return await _finish_failed(ctx, state, state["error"] or "audit failed")
    async with ctx.read() as repo:
        job = await repo.get_audit_job(agency_id, job_id)
    if job is not None and job.status == AuditStatus.COMPLETED and job.metered:
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
    services = profile.services_offered if profile else []
    site_findings = [Finding.from_dict(f) for f in state.get("findings") or []]
    facts = LeadFacts.of(opportunity)
    prompt = dossier_prompt(
        business=opportunity.name,
        vertical=opportunity.target_vertical or "",
        geography=opportunity.target_geography or "",
        signals=opportunity.signals,
        services=services,
        findings=places_findings(facts) + site_findings,
        pages=pages,
        rating=opportunity.rating,
        reviews_count=opportunity.reviews_count,
    )
    from tools.llm import structured_reply

    try:
        draft = await structured_reply(
            ctx.providers.llm(), DossierDraft, [("system", DOSSIER_SYSTEM), ("user", prompt)]
        )
    except key_rejected():
        raise
    except audit_failures() as exc:
        return await _finish_failed(ctx, state, f"dossier generation failed: {exc}")

    added = quoted_gaps(draft.gaps, pages, site_findings)
    findings = places_findings(facts) + site_findings + added
    points = talking_points(draft.talking_points, facts, findings, services)
    reason = fit_reason(draft.fit_reason, facts, findings)
    summary = clean_text(draft.summary) or f"{opportunity.name}: {len(pages)} pages of its website were read."
    branding = (profile.branding if profile else None) or {}
    outreach = choose_outreach(
        draft.outreach,
        OutreachFacts(
            business=opportunity.name,
            codes=[f.code for f in findings],
            vertical=opportunity.target_vertical,
            geography=opportunity.target_geography,
            rating=opportunity.rating,
            reviews_count=opportunity.reviews_count,
            sender=branding.get("name"),
        ),
        [p.markdown for p in pages],
    )
    async with ctx.repo() as repo:
        dossier = await repo.save_dossier(
            agency_id,
            job_id,
            summary=summary,
            findings=[f.as_dict() for f in findings],
            gaps=[f.detail for f in site_findings + added],
            talking_points=points,
            sources=scraped_sources(draft.sources, pages),
            fit_reason=reason,
            model=ctx.settings.openai_model,
            outreach=outreach,
        )
        await refresh_lead(
            repo,
            agency_id,
            opportunity.id,
            flow_id=state["flow_id"],
            site=site_findings + added,
            brief=Brief(reason, points),
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
            {"generate_dossier": PhaseStatus.COMPLETE},
            status=AuditStatus.COMPLETED,
            metered=True,
            dossier_id=dossier_id,
        )
        await repo.set_flow_lead(
            agency_id, state["flow_id"], opportunity_id, status=OpportunityStatus.READY, dossier_id=dossier_id
        )
        progress = await _record_progress(repo, state)
    events.emit(progress)
    return {"audit_results": [{"audit_job_id": job_id, "ok": True, "dossier_id": dossier_id}]}


async def _fail(ctx: PipelineContext, state: AuditState, step: str, message: str) -> dict[str, Any]:
    async with ctx.repo() as repo:
        await repo.set_audit_phase(state["agency_id"], state["audit_job_id"], step, PhaseStatus.ERROR)
    return {"error": message}


async def _finish_failed(ctx: PipelineContext, state: AuditState, message: str) -> dict[str, Any]:
    agency_id, job_id = state["agency_id"], state["audit_job_id"]
    ctx.counter.record("audit_failed", job_id)
    await ctx.billing.release(audit_key(job_id))
    down = [Finding.from_dict(f) for f in state.get("findings") or [] if f.get("code") == "SITE_DOWN"]
    async with ctx.read() as repo:
        profile = await repo.get_profile(agency_id)
    services = profile.services_offered if profile else []
    async with ctx.repo() as repo:
        job = await repo.update_audit_job(agency_id, job_id, status=AuditStatus.ERROR, error=message[:2000])
        await repo.set_flow_lead(
            agency_id, state["flow_id"], job.opportunity_id, status=OpportunityStatus.DATA_READY
        )
        opportunity = await repo.get_opportunity(agency_id, job.opportunity_id)
        assert opportunity is not None
        # A lead whose research failed still gets a brief from what Places says (and SITE_DOWN),
        # unless an earlier dossier gave it one.
        brief = None
        if down or not (opportunity.fit_reason and opportunity.talking_points):
            brief = brief_without_audit(
                LeadFacts.of(opportunity), services, site_down=down[0] if down else None, failed=message
            )
        await refresh_lead(
            repo, agency_id, job.opportunity_id, flow_id=state["flow_id"], site=down or None, brief=brief
        )
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
