"""Lead history through the run service against the sandbox, on SQLite and on PostgreSQL: a run
keeps every lead it found after later runs find them again, a recent dossier is reused (and not
charged) instead of researched again, `refresh` researches anew, `-n N` reads further Places pages
until N leads pass the filter, and another agency never sees or reuses any of it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from db.base import utcnow
from db.models import AuditDossier
from graphs.service import RunService
from graphs.views import flow_json, leads_json, run_notes
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


async def run_view(runs: RunService, agency: str, flow_id: str) -> dict[str, Any]:
    flow = await runs.get(agency, flow_id)
    counts = await runs.counts(agency, flow_id)
    return flow_json(flow, counts=counts, progress=await runs.progress(agency, flow_id))


async def completed_run(runs: RunService, agency: str, *, refresh: bool = False, n: int = 8) -> str:
    flow = await runs.start(agency, num_leads=n, vertical="dentists", geography="Reno, NV", refresh=refresh)
    outcome = await runs.execute(agency, flow.id)
    assert outcome.status == "completed", outcome.flow.error
    return flow.id


async def test_runs_keep_their_leads_and_reuse_recent_dossiers(runs: RunService, agency: str) -> None:
    customer = await set_credits(runs, agency, 200)

    a = await completed_run(runs, agency)
    a_leads = leads_json(await runs.run_leads(agency, a))
    a_counts = await runs.counts(agency, a)
    researched = {lead["id"]: lead["dossier_id"] for lead in a_leads if lead["dossier_id"]}
    assert len(a_leads) == 8 and researched and a_counts["reused"] == 0
    assert sum(c for _, c, _ in await charges(runs, customer)) == 1 + 2 * len(researched)

    b = await completed_run(runs, agency)

    # A still lists all its leads, with their dossiers and its own statuses and counts.
    assert leads_json(await runs.run_leads(agency, a)) == [{**lead, "runs": [b, a]} for lead in a_leads]
    assert await runs.counts(agency, a) == a_counts
    # B found the same businesses and linked A's dossiers instead of buying them again.
    b_leads = {lead["id"]: lead for lead in leads_json(await runs.run_leads(agency, b))}
    assert set(b_leads) == {lead["id"] for lead in a_leads}
    for opp_id, dossier_id in researched.items():
        assert b_leads[opp_id]["dossier_id"] == dossier_id
        assert b_leads[opp_id]["dossier_reused"] is True
        assert b_leads[opp_id]["status"] == "READY"
        assert b_leads[opp_id]["runs"] == [b, a]  # newest first
    b_counts = await runs.counts(agency, b)
    assert b_counts["reused"] == len(researched)
    b_jobs = await runs.audit_jobs(agency, b)
    assert {job.opportunity_id for job in b_jobs}.isdisjoint(researched)
    ledger = await charges(runs, customer)
    research = [k for f, _, k in ledger if f == "dossier_research"]
    assert sorted(research) == sorted(
        [f"audit:{lead['audit_job_id']}" for lead in a_leads if lead["dossier_id"]]
        + [f"audit:{job.id}" for job in b_jobs if job.status == "completed"]
    )
    written = len(researched) + sum(job.status == "completed" for job in b_jobs)
    assert sum(c for _, c, _ in ledger) == 2 + 2 * written  # 1 per search + 2 per dossier written
    run_b = await run_view(runs, agency, b)
    assert any("reused a recent dossier" in note for note in run_notes(run_b))
    assert "reused from an earlier run" in run_b["last_event"]["message"]

    # --refresh researches them again, charged as usual.
    c = await completed_run(runs, agency, refresh=True)
    c_counts = await runs.counts(agency, c)
    c_jobs = [job for job in await runs.audit_jobs(agency, c) if job.status == "completed"]
    assert c_counts["reused"] == 0 and {job.opportunity_id for job in c_jobs} >= set(researched)
    after = await charges(runs, customer)
    assert {f"audit:{job.id}" for job in c_jobs} <= {k for f, _, k in after if f == "dossier_research"}
    assert sum(cr for _, cr, _ in after) == 3 + 2 * (written + len(c_jobs))
    # A's dossiers are still A's; the lead on its own shows its newest one.
    assert {x["id"]: x["dossier_id"] for x in leads_json(await runs.run_leads(agency, a))} == {
        lead["id"]: lead["dossier_id"] for lead in a_leads
    }
    newest = await runs.lead(agency, c_jobs[0].opportunity_id)
    assert newest is not None and newest.dossier_id == c_jobs[0].dossier_id
    assert newest.runs == [c, b, a]


async def test_a_dossier_older_than_the_limit_is_researched_again(runs: RunService, agency: str) -> None:
    customer = await set_credits(runs, agency, 200)
    a = await completed_run(runs, agency, n=4)
    old = [lead for lead in await runs.run_leads(agency, a) if lead.dossier_id]
    assert old
    # Age A's dossiers past LEADGEN_DOSSIER_MAX_AGE_DAYS (30 by default).
    async with runs.db.transaction() as repo:
        await repo.session.execute(
            update(AuditDossier)
            .where(AuditDossier.agency_id == agency)
            .values(created_at=utcnow() - timedelta(days=runs.settings.leadgen_dossier_max_age_days + 1))
        )
    b = await completed_run(runs, agency, n=4)
    assert (await runs.counts(agency, b))["reused"] == 0
    redone = {job.opportunity_id for job in await runs.audit_jobs(agency, b) if job.status == "completed"}
    assert {lead.opportunity.id for lead in old} <= redone
    assert sum(c for f, c, _ in await charges(runs, customer) if f == "dossier_research") == 2 * (
        len(old) + len(redone)
    )


async def test_n_means_n_leads_that_pass_the_filter(
    runs: RunService, agency: str, sandbox_config: Any
) -> None:
    customer = await set_credits(runs, agency, 200)
    sandbox_config.configure(places_max_results=60)  # as Places: up to 60, 20 a page
    sandbox_config.clear_requests()
    flow = await runs.start(agency, num_leads=20, vertical="plumbers", geography="Tulsa, OK")
    outcome = await runs.execute(agency, flow.id)
    assert outcome.status == "completed", outcome.flow.error

    searches = [
        r["body"]
        for r in sandbox_config.requests("places")
        if r["body"]["textQuery"] == "plumbers in Tulsa, OK"
    ]
    assert len(searches) >= 2 and all(s.get("pageToken") for s in searches[1:])
    assert (await runs.counts(agency, flow.id))["opportunities"] == 20
    assert outcome.flow.num_leads_fetched == 20 * len(searches)
    assert all(lead.phone for lead in await runs.opportunities(agency, flow.id))
    # Still one lead_discovery credit for the whole search.
    assert [k for f, _, k in await charges(runs, customer) if f == "lead_discovery"] == [
        f"flow:{flow.id}:source"
    ]
    phases = {p["name"]: p for p in outcome.flow.phases}
    assert phases["source"]["status"] == phases["filter_rank"]["status"] == "complete"


async def test_fewer_leads_than_asked_says_so(runs: RunService, agency: str, sandbox_config: Any) -> None:
    await set_credits(runs, agency, 200)
    sandbox_config.configure(places_max_results=20)  # a search that finds only 20 places
    flow = await runs.start(agency, num_leads=20, vertical="bakeries", geography="Tulsa, OK")
    outcome = await runs.execute(agency, flow.id)
    assert outcome.status == "completed", outcome.flow.error
    found = (await runs.counts(agency, flow.id))["opportunities"]
    assert found < 20 and outcome.flow.num_leads_fetched == 20
    assert outcome.flow.last_event is not None
    assert f"Found {found} of the 20 leads asked for" in outcome.flow.last_event["message"]
    assert any(
        f"Found {found} of the 20" in note for note in run_notes(await run_view(runs, agency, flow.id))
    )


async def test_another_agency_never_sees_or_reuses_them(runs: RunService, agency: str) -> None:
    other = f"{agency}-b"
    await set_credits(runs, agency, 200)
    other_customer = await set_credits(runs, other, 200)
    a = await completed_run(runs, agency, n=5)
    a_leads = await runs.run_leads(agency, a)
    a_dossiers = {lead.dossier_id for lead in a_leads if lead.dossier_id}
    assert a_dossiers

    b = await completed_run(runs, other, n=5)

    b_leads = await runs.run_leads(other, b)
    assert {lead.opportunity.place_id for lead in b_leads} == {lead.opportunity.place_id for lead in a_leads}
    assert {lead.opportunity.id for lead in b_leads}.isdisjoint(lead.opportunity.id for lead in a_leads)
    assert all(lead.runs == [b] and not lead.dossier_reused for lead in b_leads)
    assert {lead.dossier_id for lead in b_leads}.isdisjoint(a_dossiers)
    assert (await runs.counts(other, b))["reused"] == 0
    b_done = [job for job in await runs.audit_jobs(other, b) if job.status == "completed"]
    assert sum(c for f, c, _ in await charges(runs, other_customer) if f == "dossier_research") == 2 * len(
        b_done
    )
    # A's run, leads and dossiers read as not found for B; A's list is untouched.
    assert await runs.lead(other, a_leads[0].opportunity.id) is None
    for dossier_id in a_dossiers:
        assert dossier_id is not None and await runs.dossier(other, dossier_id) is None
    assert [lead.opportunity.id for lead in await runs.run_leads(agency, a)] == [
        lead.opportunity.id for lead in a_leads
    ]
    assert all(lead.runs == [a] for lead in await runs.run_leads(agency, a))
