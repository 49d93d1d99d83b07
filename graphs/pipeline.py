"""The lead-generation graph: six phases as nodes, audits fanned out as a subgraph.

    source -> filter_rank -> persist_leads -> scrape_content -> generate_dossier
        -> (Send x N) audit -> finalize_rank

`scrape_content` is the seed's "queue audits" phase; the audits themselves run in the `audit`
subgraph (graphs/audit.py) under the run's `max_concurrency`. Runs are checkpointed with
`durability="sync"`, so a crash loses no finished step, and a finished audit is never redone.

Graph state holds ids and small values only; leads, pages and dossiers live in our tables.
"""

from __future__ import annotations

import operator
from datetime import timedelta
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Send

from db.base import utcnow
from db.statuses import FINAL_AUDIT_STATUSES, OpportunityStatus, PhaseStatus
from graphs import events
from graphs.audit import DEFERRED_MODULES as AUDIT_DEFERRED_MODULES
from graphs.audit import AuditInput, build_audit_graph, hold_or_interrupt
from graphs.briefs import LeadFacts, brief_without_audit
from graphs.context import Ctx, PipelineContext, crash_point
from graphs.lead_scores import rank_run, refresh_lead
from graphs.leads import (
    RawPlace,
    build_text_query,
    clamp_num_leads,
    dedupe_places,
    drop_reason,
    filter_and_score,
)
from graphs.views import shortfall_sentence
from tools.places import MAX_RESULTS as MAX_PLACES
from tools.places import PAGE_SIZE, Place

DISCOVERY_FEATURE = "lead_discovery"
# Modules the run imports on first use rather than when the graph is built, in the order its
# steps first need them: the domain parser once leads are sourced, then what the audits need
# (graphs/audit.py). A process may load them while the run waits on its first network calls
# (assistant/cli/preload.py).
DEFERRED_MODULES = ("tldextract", *AUDIT_DEFERRED_MODULES)


class PipelineInput(TypedDict):
    flow_id: str
    agency_id: str


class PipelineState(PipelineInput, total=False):
    leads: list[dict[str, Any]]  # scored, ranked leads (<= 20 small rows) from filter_rank to persist_leads
    audit_job_ids: list[str]
    dossiers_reused: int
    audit_results: Annotated[list[dict[str, Any]], operator.add]


def source_key(flow_id: str) -> str:
    return f"flow:{flow_id}:source"


def _raw(place: Place) -> RawPlace:
    return RawPlace(
        place_id=place.id,
        name=place.name or "",
        website=place.website,
        phone=place.international_phone or place.national_phone,
        rating=place.rating,
        reviews_count=place.review_count,
        address=place.address,
        business_status=place.business_status,
    )


async def source(state: PipelineState, runtime: Ctx) -> dict[str, Any]:
    """Read Places result pages until enough places pass the hard filter for the leads asked
    for, or Places has no more (60 at most): one `lead_discovery` credit however many pages."""
    ctx = runtime.context
    agency_id, flow_id = state["agency_id"], state["flow_id"]
    ctx.counter.record("source", flow_id)
    async with ctx.read() as repo:
        flow = await repo.get_flow(agency_id, flow_id)
    assert flow is not None
    # Checks credits and may pause here; nothing above this line writes anything.
    await hold_or_interrupt(
        ctx,
        flow.billing_customer_id,
        DISCOVERY_FEATURE,
        source_key(flow_id),
        phase="source",
        audit_job_id=None,
    )
    query = build_text_query(flow.target_vertical, flow.target_geography)
    wanted = clamp_num_leads(flow.num_leads_requested)
    await events.phase(
        ctx,
        agency_id,
        flow_id,
        "source",
        status=PhaseStatus.RUNNING,
        progress=0.1,
        message=f"Searching Google Places for “{query}”",
    )
    read: list[RawPlace] = []
    try:
        async for page in ctx.providers.places.search_text_pages(query, max_results=MAX_PLACES):
            read.extend(_raw(p) for p in page)
            passing = sum(1 for p in dedupe_places(read) if drop_reason(p) is None)
            if passing >= wanted:
                break
            await events.phase(
                ctx,
                agency_id,
                flow_id,
                "source",
                progress=0.1 + 0.8 * passing / wanted,
                message=f"Read {len(read)} places, {passing} of {wanted} usable so far; reading more",
            )
    except BaseException:
        await ctx.billing.release(source_key(flow_id))
        raise
    unique = dedupe_places(read)
    async with ctx.repo() as repo:
        await repo.update_flow(
            agency_id, flow_id, places_snapshot=[p.snapshot() for p in unique], num_leads_fetched=len(read)
        )
    await ctx.billing.settle(source_key(flow_id))
    pages = -(-len(read) // PAGE_SIZE) or 1
    await events.phase(
        ctx,
        agency_id,
        flow_id,
        "source",
        status=PhaseStatus.COMPLETE,
        progress=1.0,
        message=f"Read {len(read)} places for “{query}” ({pages} page{'s' if pages > 1 else ''})",
    )
    return {}


async def filter_rank(state: PipelineState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    agency_id, flow_id = state["agency_id"], state["flow_id"]
    ctx.counter.record("filter_rank", flow_id)
    await events.phase(
        ctx,
        agency_id,
        flow_id,
        "filter_rank",
        status=PhaseStatus.RUNNING,
        progress=0.0,
        message="Scoring leads",
    )
    async with ctx.read() as repo:
        flow = await repo.get_flow(agency_id, flow_id)
        snapshot = await repo.get_places_snapshot(agency_id, flow_id)
        profile = await repo.get_profile(agency_id)
    assert flow is not None
    wanted = clamp_num_leads(flow.num_leads_requested)
    places = [RawPlace.from_snapshot(row) for row in snapshot]
    outcome = filter_and_score(
        places,
        profile.criteria if profile else [],
        limit=wanted,
        services=profile.services_offered if profile else [],
    )
    dropped = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in sorted(outcome.dropped.items()))
    message = f"Kept {len(outcome.kept)} of {outcome.examined} places" + (
        f"; dropped {dropped}" if dropped else ""
    )
    if len(outcome.kept) < wanted:
        message += f". {shortfall_sentence(len(outcome.kept), wanted, flow.num_leads_fetched)}"
    await events.phase(
        ctx, agency_id, flow_id, "filter_rank", status=PhaseStatus.COMPLETE, progress=1.0, message=message
    )
    return {
        "leads": [
            lead.__dict__ | {"signals": list(lead.signals), "score_reasons": list(lead.score_reasons)}
            for lead in outcome.kept
        ]
    }


async def persist_leads(state: PipelineState, runtime: Ctx) -> dict[str, Any]:
    from db.repositories import LeadInput

    ctx = runtime.context
    agency_id, flow_id = state["agency_id"], state["flow_id"]
    ctx.counter.record("persist_leads", flow_id)
    await events.phase(
        ctx,
        agency_id,
        flow_id,
        "persist_leads",
        status=PhaseStatus.RUNNING,
        progress=0.0,
        message="Saving leads",
    )
    async with ctx.repo() as repo:
        flow = await repo.get_flow(agency_id, flow_id)
        assert flow is not None
        counts = await repo.upsert_opportunities(
            agency_id,
            flow_id,
            [
                LeadInput(
                    place_id=lead["place_id"],
                    name=lead["name"],
                    domain=lead["domain"],
                    website=lead["website"],
                    phone=lead["phone"],
                    address=lead["address"],
                    rating=lead["rating"],
                    reviews_count=lead["reviews_count"],
                    signals=lead["signals"],
                    qualification_score=lead["qualification_score"],
                    opportunity_score=lead.get("opportunity_score", 0.0),
                    score_reasons=lead.get("score_reasons", []),
                    business_status=lead.get("business_status"),
                )
                for lead in state.get("leads", [])
            ],
            target_vertical=flow.target_vertical,
            target_geography=flow.target_geography,
        )
    crash_point("persist_leads:after_upsert")
    await events.phase(
        ctx,
        agency_id,
        flow_id,
        "persist_leads",
        status=PhaseStatus.COMPLETE,
        progress=1.0,
        message=f"Saved leads: {counts.created} new, {counts.updated} updated, {counts.skipped} skipped",
    )
    return {}


async def scrape_content(state: PipelineState, runtime: Ctx) -> dict[str, Any]:
    """Queue one audit per lead with its own website, unless the lead has a dossier younger
    than LEADGEN_DOSSIER_MAX_AGE_DAYS about that site: the run then links it, uncharged (not
    with `--refresh`). Leads without a site of their own are ready with what Places gave.

    One transaction, and every decision is read back on a re-run (a job made, a dossier
    linked), so a crash here never queues, links or charges anything twice."""
    ctx = runtime.context
    agency_id, flow_id = state["agency_id"], state["flow_id"]
    ctx.counter.record("queue_audits", flow_id)
    await events.phase(
        ctx,
        agency_id,
        flow_id,
        "scrape_content",
        status=PhaseStatus.RUNNING,
        progress=0.0,
        message="Queueing website audits",
    )
    job_ids: list[str] = []
    reused = skipped = closed = 0
    max_age = ctx.settings.leadgen_dossier_max_age_days
    newer_than = utcnow() - timedelta(days=max_age)
    async with ctx.repo() as repo:
        flow = await repo.get_flow(agency_id, flow_id)
        assert flow is not None
        profile = await repo.get_profile(agency_id)
        services = profile.services_offered if profile else []
        audited = {job.opportunity_id: job for job in await repo.list_audit_jobs(agency_id, flow_id)}
        for lead in await repo.list_flow_leads(agency_id, flow_id):
            opp = lead.opportunity
            facts = LeadFacts.of(opp)
            if not (opp.domain and opp.website) or facts.closed_temporarily:
                # No site of its own, or closed for now: a brief from Places, no audit, no credit.
                if facts.closed_temporarily:
                    closed += 1
                else:
                    skipped += 1
                await repo.set_flow_lead(agency_id, flow_id, opp.id, status=OpportunityStatus.DATA_READY)
                await refresh_lead(
                    repo, agency_id, opp.id, flow_id=flow_id, brief=brief_without_audit(facts, services)
                )
                continue
            if lead.dossier_reused:
                reused += 1
                continue
            job = audited.get(opp.id)
            fresh = None
            if job is None and not flow.refresh_dossiers and max_age > 0:
                fresh = await repo.fresh_dossier(
                    agency_id, opp.id, newer_than=newer_than, target_url=opp.website
                )
            if fresh is not None:
                reused += 1
                await repo.set_flow_lead(
                    agency_id,
                    flow_id,
                    opp.id,
                    status=OpportunityStatus.READY,
                    dossier_id=fresh.id,
                    audit_job_id=fresh.audit_job_id,
                    dossier_reused=True,
                )
                continue
            if job is None:
                job = await repo.create_audit_job(agency_id, flow_id, opp.id, opp.website)
            job_ids.append(job.id)
            if job.status not in FINAL_AUDIT_STATUSES:
                await repo.set_flow_lead(
                    agency_id, flow_id, opp.id, status=OpportunityStatus.AUDITING, audit_job_id=job.id
                )
    crash_point("scrape_content:after_queue")
    message = f"Queued {len(job_ids)} audits"
    if reused:
        message += (
            f"; reused {reused} dossier{'s' if reused != 1 else ''} younger than "
            f"{max_age:g} days (not charged again)"
        )
    message += f"; {skipped} leads have no website of their own"
    if closed:
        message += f"; {closed} temporarily closed (not researched or charged)"
    await events.phase(
        ctx, agency_id, flow_id, "scrape_content", status=PhaseStatus.COMPLETE, progress=1.0, message=message
    )
    return {"audit_job_ids": job_ids, "dossiers_reused": reused}


async def generate_dossier(state: PipelineState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    agency_id, flow_id = state["agency_id"], state["flow_id"]
    ctx.counter.record("generate_dossier", flow_id)
    total = len(state.get("audit_job_ids", []))
    reused = state.get("dossiers_reused", 0)
    message = f"Auditing {total} websites" if total else "No websites to audit"
    if reused:
        message += f" ({reused} recent dossier{'s' if reused != 1 else ''} reused)"
    await events.phase(
        ctx,
        agency_id,
        flow_id,
        "generate_dossier",
        status=PhaseStatus.RUNNING,
        progress=0.1,
        message=message,
    )
    return {}


def fan_out_audits(state: PipelineState) -> list[Send] | str:
    jobs = state.get("audit_job_ids", [])
    if not jobs:
        return "finalize_rank"
    return [
        Send("audit", AuditInput(flow_id=state["flow_id"], agency_id=state["agency_id"], audit_job_id=job_id))
        for job_id in jobs
    ]


async def finalize_rank(state: PipelineState, runtime: Ctx) -> dict[str, Any]:
    ctx = runtime.context
    agency_id, flow_id = state["agency_id"], state["flow_id"]
    ctx.counter.record("finalize_rank", flow_id)
    await events.phase(
        ctx,
        agency_id,
        flow_id,
        "generate_dossier",
        status=PhaseStatus.COMPLETE,
        progress=1.0,
        message="Audits finished",
    )
    await events.phase(
        ctx,
        agency_id,
        flow_id,
        "finalize_rank",
        status=PhaseStatus.RUNNING,
        progress=0.0,
        message="Ranking leads",
    )
    crash_point("finalize_rank:running")
    async with ctx.repo() as repo:
        # Every lead leaves the run scored on what the run learnt, with a brief: a lead that got
        # none on the way (a dossier reused from before briefs existed) gets one from Places.
        profile = await repo.get_profile(agency_id)
        services = profile.services_offered if profile else []
        for opp in await repo.list_opportunities(agency_id, flow_id):
            brief = None
            if not (opp.fit_reason and opp.talking_points):
                brief = brief_without_audit(LeadFacts.of(opp), services)
            await refresh_lead(repo, agency_id, opp.id, flow_id=flow_id, brief=brief)
        await rank_run(repo, agency_id, flow_id)
    async with ctx.read() as repo:
        flow = await repo.get_flow(agency_id, flow_id)
        counts = await repo.flow_counts(agency_id, flow_id)
    assert flow is not None
    summary = f"{counts['opportunities']} leads, {counts['ready']} researched"
    if counts["reused"]:
        summary += f" ({counts['reused']} with a dossier reused from an earlier run, not charged again)"
    summary += f", {counts['data_ready']} data-ready"
    wanted = clamp_num_leads(flow.num_leads_requested)
    if counts["opportunities"] < wanted:
        summary += f". {shortfall_sentence(counts['opportunities'], wanted, flow.num_leads_fetched)}"
    await events.phase(
        ctx,
        agency_id,
        flow_id,
        "finalize_rank",
        status=PhaseStatus.COMPLETE,
        progress=1.0,
        message=summary,
        event_type="completed",
    )
    return {}


def build_graph() -> StateGraph[Any, Any, Any, Any]:
    """The uncompiled graph; `compile_graph` adds a checkpointer (langgraph.json compiles it bare)."""
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(
        PipelineState, context_schema=PipelineContext, input_schema=PipelineInput
    )
    builder.add_node("source", source)
    builder.add_node("filter_rank", filter_rank)
    builder.add_node("persist_leads", persist_leads)
    builder.add_node("scrape_content", scrape_content)
    builder.add_node("generate_dossier", generate_dossier)
    builder.add_node("audit", build_audit_graph())
    builder.add_node("finalize_rank", finalize_rank)
    builder.add_edge(START, "source")
    builder.add_edge("source", "filter_rank")
    builder.add_edge("filter_rank", "persist_leads")
    builder.add_edge("persist_leads", "scrape_content")
    builder.add_edge("scrape_content", "generate_dossier")
    builder.add_conditional_edges("generate_dossier", fan_out_audits, ["audit", "finalize_rank"])
    builder.add_edge("audit", "finalize_rank")
    builder.add_edge("finalize_rank", END)
    return builder


def compile_graph(checkpointer: Any = None) -> CompiledStateGraph[Any, Any, Any, Any]:
    return build_graph().compile(checkpointer=checkpointer, name="lead_gen")
