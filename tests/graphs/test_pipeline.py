"""The pipeline end to end against the sandbox: phases, statuses, dossiers, exact credits,
pauses for billing and resume, one execution per flow, provider faults. Same tests on SQLite
and on PostgreSQL (checkpointer included)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from db.models import PHASES
from graphs.service import AlreadyRunning, BadRunInput, RunNotFound, RunService
from tools.billing.local import LocalLedger


async def set_credits(runs: RunService, agency: str, credits: int) -> str:
    customer = await runs.ensure_agency(agency)
    assert isinstance(runs.billing, LocalLedger)
    await runs.billing.set_balance(customer, credits)
    return customer


async def charges(runs: RunService, customer: str) -> list[tuple[str | None, int, str]]:
    return [
        (e.feature_id, e.credits, e.idempotency_key)
        for e in await runs.billing.history(customer)
        if e.kind == "charge"
    ]


async def scraped_urls(runs: RunService, agency: str, audit_job_id: str) -> set[str]:
    return {p.url for p in await runs.scraped_pages(agency, audit_job_id)}


async def test_twelve_lead_run_completes_with_exact_charges(runs: RunService, agency: str) -> None:
    customer = await set_credits(runs, agency, 100)
    flow = await runs.start(agency, num_leads=12, vertical="plumbers", geography="Denver, CO")
    events: list[dict[str, Any]] = []

    async def collect(event: dict[str, Any]) -> None:
        events.append(event)

    outcome = await runs.execute(agency, flow.id, on_event=collect)

    assert outcome.status == "completed", outcome.flow.error
    flow = outcome.flow
    assert [p["name"] for p in flow.phases] == list(PHASES)
    assert all(p["status"] == "complete" and p["progress"] == 1.0 for p in flow.phases)
    assert all(p["duration_ms"] is not None for p in flow.phases)
    assert await runs.progress(agency, flow.id) == 1.0
    assert flow.last_event and flow.last_event["type"] == "completed"
    assert {e["phase"] for e in events if e.get("type") == "phase"} == set(PHASES)

    leads = await runs.opportunities(agency, flow.id)
    jobs = {j.opportunity_id: j for j in await runs.audit_jobs(agency, flow.id)}
    assert 1 <= len(leads) <= 12
    dossiers = 0
    for lead in leads:
        if lead.domain is None:
            assert lead.status == "DATA_READY"
            assert lead.id not in jobs
            assert "MISSING_WEBSITE" in lead.signals or "WEAK_WEB_PRESENCE" in lead.signals
            continue
        job = jobs[lead.id]
        if job.status == "completed":
            dossiers += 1
            assert lead.status == "READY" and lead.fit_reason
            dossier = await runs.dossier_for_opportunity(agency, lead.id)
            assert dossier is not None and dossier.summary and dossier.gaps
            cited = {s["url"] for s in dossier.sources}
            assert cited and cited <= await scraped_urls(runs, agency, job.id)
        else:
            assert lead.status == "DATA_READY" and job.status == "error"
    assert dossiers >= 1
    assert any("MISSING_WEBSITE" in lead.signals for lead in leads)

    ledger = await charges(runs, customer)
    assert sum(c for _, c, _ in ledger) == 1 + 2 * dossiers
    assert len({key for _, _, key in ledger}) == len(ledger)
    assert ("lead_discovery", 1, f"flow:{flow.id}:source") in ledger
    assert await runs.billing.balance(customer) == 100 - 1 - 2 * dossiers

    counts = await runs.counts(agency, flow.id)
    assert counts["opportunities"] == len(leads)
    assert counts["ready"] == dossiers
    assert counts["audits_completed"] == dossiers

    # The same campaign again: the same businesses, updated in place, never duplicated.
    again = await runs.start(agency, num_leads=12, vertical="plumbers", geography="Denver, CO")
    assert (await runs.execute(agency, again.id)).status == "completed"
    second = await runs.opportunities(agency, again.id)
    assert {o.place_id for o in second} == {o.place_id for o in leads}
    assert {o.id for o in second} == {o.id for o in leads}


async def test_pause_in_dossiers_resume_without_credits_then_complete(
    runs: RunService, agency: str, sandbox_config: Any
) -> None:
    # Sites that always answer: an audit failing after the pause would release its hold and make
    # the resume find enough credits, which is right but not what this test is about.
    sandbox_config.configure(world_profile="all_auditable")
    customer = await set_credits(runs, agency, 5)
    flow = await runs.start(agency, num_leads=12, vertical="dentists", geography="Austin, TX")

    paused = await runs.execute(agency, flow.id)

    assert paused.status == "paused_for_upgrade"
    block = paused.flow.billing_block
    assert block is not None
    assert block["phase"] == "generate_dossier" and block["feature_id"] == "dossier_research"
    assert block["audit_job_id"]
    info = block["credit_info"]
    assert info["required_balance"] == 2 and info["balance"] < 2 and info["deficit"] == 2 - info["balance"]
    assert paused.flow.status == "paused_for_upgrade" and paused.flow.completed_at is None
    assert {p["name"]: p["status"] for p in paused.flow.phases}["finalize_rank"] == "pending"
    before = await charges(runs, customer)
    assert sum(c for _, c, _ in before) <= 5

    still = await runs.resume(agency, flow.id)
    assert still.status == "paused_for_upgrade" and not still.ran
    assert await charges(runs, customer) == before

    assert isinstance(runs.billing, LocalLedger)
    await runs.billing.grant(customer, 100)
    done = await runs.resume(agency, flow.id)
    assert done.status == "completed", done.flow.error
    jobs = await runs.audit_jobs(agency, flow.id)
    completed = [j for j in jobs if j.status == "completed"]
    after = await charges(runs, customer)
    assert sum(c for _, c, _ in after) == 1 + 2 * len(completed)
    assert sorted(k for _, _, k in after) == sorted(
        {f"flow:{flow.id}:source", *(f"audit:{j.id}" for j in completed)}
    )
    assert done.flow.billing_block is None


async def test_zero_credits_pauses_at_source(runs: RunService, agency: str) -> None:
    customer = await set_credits(runs, agency, 0)
    flow = await runs.start(agency, num_leads=3, vertical="roofers", geography="Boise, ID")
    outcome = await runs.execute(agency, flow.id)
    assert outcome.status == "paused_for_upgrade"
    assert outcome.flow.billing_block is not None
    assert outcome.flow.billing_block["phase"] == "source"
    assert outcome.flow.billing_block["credit_info"]["deficit"] == 1
    assert outcome.flow.num_leads_fetched == 0
    assert await charges(runs, customer) == []


async def test_ten_concurrent_resumes_run_once(runs: RunService, agency: str) -> None:
    customer = await set_credits(runs, agency, 0)
    flow = await runs.start(agency, num_leads=4, vertical="bakeries", geography="Portland, OR")
    assert (await runs.execute(agency, flow.id)).status == "paused_for_upgrade"
    assert isinstance(runs.billing, LocalLedger)
    await runs.billing.grant(customer, 50)

    results = await asyncio.gather(*(runs.resume(agency, flow.id) for _ in range(10)), return_exceptions=True)

    ran = [r for r in results if not isinstance(r, BaseException) and r.ran]
    refused = [r for r in results if isinstance(r, AlreadyRunning)]
    assert len(ran) == 1 and ran[0].status == "completed"
    assert (
        len(ran) + len(refused) + sum(1 for r in results if not isinstance(r, BaseException) and not r.ran)
        == 10
    )
    keys = [k for _, _, k in await charges(runs, customer)]
    assert len(keys) == len(set(keys))
    assert keys.count(f"flow:{flow.id}:source") == 1


async def test_transient_faults_everywhere_still_complete(
    runs: RunService, agency: str, sandbox_config: Any
) -> None:
    customer = await set_credits(runs, agency, 100)
    sandbox_config.configure(fail_rate=0.3, retry_after_seconds=0.05, timeout_seconds=0.5, fault_seed=7)
    flow = await runs.start(agency, num_leads=6, vertical="florists", geography="Tucson, AZ")
    outcome = await runs.execute(agency, flow.id)
    assert outcome.status == "completed", outcome.flow.error
    jobs = await runs.audit_jobs(agency, flow.id)
    completed = [j for j in jobs if j.status == "completed"]
    assert sum(c for _, c, _ in await charges(runs, customer)) == 1 + 2 * len(completed)


async def test_one_site_down_is_data_ready_and_uncharged(
    runs: RunService, agency: str, sandbox_config: Any
) -> None:
    customer = await set_credits(runs, agency, 100)
    probe = await runs.start(agency, num_leads=8, vertical="dentists", geography="Reno, NV")
    assert (await runs.execute(agency, probe.id)).status == "completed"
    victim = next(o for o in await runs.opportunities(agency, probe.id) if o.domain)
    sandbox_config.configure(down_domains=[victim.domain])

    # --refresh: audit again what the probe researched a moment ago.
    flow = await runs.start(agency, num_leads=8, vertical="dentists", geography="Reno, NV", refresh=True)
    outcome = await runs.execute(agency, flow.id)

    assert outcome.status == "completed"
    jobs = {j.opportunity_id: j for j in await runs.audit_jobs(agency, flow.id)}
    assert jobs[victim.id].status == "error"
    in_run = {lead.opportunity.id: lead for lead in await runs.run_leads(agency, flow.id)}
    assert in_run[victim.id].status == "DATA_READY" and in_run[victim.id].dossier_id is None
    # The lead itself stays researched when the probe's audit of it had written a dossier.
    lead = await runs.lead(agency, victim.id)
    assert lead is not None
    assert lead.status == ("READY" if lead.dossier_id else "DATA_READY")
    keys = [k for _, _, k in await charges(runs, customer)]
    assert f"audit:{jobs[victim.id].id}" not in keys
    assert any(j.status == "completed" for j in jobs.values())


@pytest.mark.parametrize("count", [0, 21, -1])
async def test_bad_counts_are_refused_and_nothing_written(runs: RunService, agency: str, count: int) -> None:
    with pytest.raises(BadRunInput, match="1 to 20"):
        await runs.start(agency, num_leads=count, vertical="dentists", geography="Austin, TX")
    assert await runs.list_runs(agency) == []


async def test_empty_campaign_and_foreign_runs(runs: RunService, agency: str) -> None:
    with pytest.raises(BadRunInput, match="vertical"):
        await runs.start(agency, num_leads=3, vertical="  ", geography="Austin, TX")
    with pytest.raises(BadRunInput, match="no geography"):
        await runs.start(agency, num_leads=3, vertical="dentists")
    assert await runs.list_runs(agency) == []
    await set_credits(runs, agency, 0)
    flow = await runs.start(agency, num_leads=3, vertical="dentists", geography="Austin, TX")
    with pytest.raises(RunNotFound):
        await runs.get("someone-else", flow.id)
    with pytest.raises(RunNotFound):
        await runs.resume("someone-else", flow.id)
    with pytest.raises(RunNotFound):
        await runs.get(agency, "no-such-run")


async def test_stream_yields_events_then_the_outcome(runs: RunService, agency: str) -> None:
    await set_credits(runs, agency, 20)
    flow = await runs.start(agency, num_leads=3, vertical="cafes", geography="Madison, WI")
    seen = [event async for event in runs.stream(agency, flow.id)]
    assert seen[-1] == {"type": "outcome", "status": "completed", "flow_id": flow.id, "ran": True}
    assert (
        next(e["phase"] for e in seen if e.get("type") == "phase" and e.get("status") == "complete")
        == "source"
    )


def test_pipeline_graph_has_the_six_phases_and_the_audit_subgraph() -> None:
    from graphs.pipeline import compile_graph

    graph = compile_graph()

    assert {
        "source",
        "filter_rank",
        "persist_leads",
        "scrape_content",
        "generate_dossier",
        "audit",
        "finalize_rank",
    } <= set(graph.nodes)


async def test_cancel_a_paused_run_releases_its_holds(runs: RunService, agency: str) -> None:
    customer = await set_credits(runs, agency, 5)
    flow = await runs.start(agency, num_leads=12, vertical="dentists", geography="Austin, TX")
    assert (await runs.execute(agency, flow.id)).status == "paused_for_upgrade"
    charged = sum(c for _, c, _ in await charges(runs, customer))

    cancelled = await runs.cancel(agency, flow.id)

    assert cancelled.status == "cancelled" and cancelled.billing_block is None
    assert await runs.billing.balance(customer) == 5 - charged  # nothing left held
    assert sum(c for _, c, _ in await charges(runs, customer)) == charged
    assert (await runs.resume(agency, flow.id)).ran is False
    with pytest.raises(RunNotFound):
        await runs.cancel("someone-else", flow.id)
