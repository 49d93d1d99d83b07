"""README promises about a run that only a run can show: generate_dossier's progress values in
order, the SOURCED -> AUDITING -> READY statuses, the audit concurrency bound (measured from the
sandbox's request log), one resume answering every paused audit, and the seed's skip logs."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import urlsplit

import pytest

from graphs.service import RunService
from tools.billing.local import LocalLedger

Service = Callable[..., AbstractAsyncContextManager[RunService]]


async def fund(runs: RunService, agency: str, credits: int) -> str:
    customer = await runs.ensure_agency(agency)
    assert isinstance(runs.billing, LocalLedger)
    await runs.billing.set_balance(customer, credits)
    return customer


@pytest.fixture
def auditable(sandbox_config: Any) -> Any:
    """Every lead has a phone and a working site of its own: as many audits as leads."""
    sandbox_config.configure(world_profile="all_auditable")
    sandbox_config.clear_requests()
    return sandbox_config


async def test_generate_dossier_progress_is_seen_in_order(
    sqlite_service: Service, auditable: Any, agency: str
) -> None:
    seen: list[float] = []

    async def collect(event: dict[str, Any]) -> None:
        if event.get("phase") == "generate_dossier" and event.get("progress") is not None:
            seen.append(event["progress"])

    async with sqlite_service() as runs:
        await fund(runs, agency, 100)
        flow = await runs.start(agency, num_leads=6, vertical="dentists", geography="Tulsa, OK")
        outcome = await runs.execute(agency, flow.id, on_event=collect)
        total = len(await runs.audit_jobs(agency, flow.id))
    assert outcome.status == "completed", outcome.flow.error
    assert total >= 4
    # 0.1 when the phase starts, then 0.1 + 0.9 * finished / total after each audit, then 1.0
    # when the phase completes.
    expected = [0.1, *(0.1 + 0.9 * done / total for done in range(1, total + 1)), 1.0]
    assert seen == pytest.approx(expected), seen


async def test_leads_go_sourced_then_auditing_then_ready(
    sqlite_service: Service, sandbox_config: Any, agency: str
) -> None:
    """Read at the moment each phase reports done: LangGraph starts the next step only once the
    stream's reader has taken the event, so what we read is the state that phase left."""
    statuses: dict[str, dict[str, str]] = {}
    auditable: set[str] = set()

    async with sqlite_service() as runs:

        async def snapshot(event: dict[str, Any]) -> None:
            if event.get("status") == "complete" and event.get("phase") in (
                "persist_leads",
                "scrape_content",
            ):
                leads = await runs.opportunities(agency, event["flow_id"])
                statuses[event["phase"]] = {o.id: o.status for o in leads}
                auditable.update(o.id for o in leads if o.domain)

        await fund(runs, agency, 100)
        flow = await runs.start(agency, num_leads=12, vertical="roofers", geography="Omaha, NE")
        outcome = await runs.execute(agency, flow.id, on_event=snapshot)
        final = {o.id: o.status for o in await runs.opportunities(agency, flow.id)}
        jobs = {j.opportunity_id: j.status for j in await runs.audit_jobs(agency, flow.id)}
    assert outcome.status == "completed", outcome.flow.error
    assert auditable and set(final) - auditable, "the realistic world mixes sites and no sites"
    assert set(statuses["persist_leads"].values()) == {"SOURCED"}
    assert statuses["scrape_content"] == {
        lead: "AUDITING" if lead in auditable else "DATA_READY" for lead in final
    }
    assert final == {lead: "READY" if jobs.get(lead) == "completed" else "DATA_READY" for lead in final}
    assert "READY" in final.values()


def audit_intervals(requests: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """Per site, from the sandbox's log: the first request of its audit starting to the last one
    ending (map, scrape, page selection, dossier). Each interval lies inside its audit's real
    time in flight, so their overlap can only under-count the audits running at once."""
    spans: dict[str, list[float]] = {}
    for request in requests:
        body = request["body"]
        if request["path"] == "/v2/map":
            text = body["url"]
        elif request["path"] == "/v2/batch/scrape" and request["method"] == "POST":
            text = body["urls"][0]
        elif request["service"] == "openai":
            text = " ".join(str(m.get("content")) for m in body["messages"] if m.get("role") == "user")
        else:
            continue
        match = re.search(r"https?://[^\s\"<>]+", text)
        if not match:
            continue
        host = (urlsplit(match[0]).hostname or "").removeprefix("www.")
        start, end = request["at"] - request["duration_ms"] / 1000, request["at"]
        span = spans.setdefault(host, [start, end])
        span[0], span[1] = min(span[0], start), max(span[1], end)
    return {host: (a, b) for host, (a, b) in spans.items()}


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    edges = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    running = peak = 0
    for _, step in edges:  # at a tie an end sorts before a start: touching is not overlapping
        running += step
        peak = max(peak, running)
    return peak


async def test_audits_in_flight_never_exceed_the_limit_and_reach_it(
    sqlite_service: Service, auditable: Any, agency: str
) -> None:
    auditable.configure(latency_scale=0.1)
    async with sqlite_service(LEADGEN_AUDIT_CONCURRENCY="3") as runs:
        await fund(runs, agency, 100)
        flow = await runs.start(agency, num_leads=10, vertical="florists", geography="Akron, OH")
        outcome = await runs.execute(agency, flow.id)
        jobs = await runs.audit_jobs(agency, flow.id)
    assert outcome.status == "completed", outcome.flow.error
    intervals = audit_intervals(auditable.requests())
    assert len(intervals) == len(jobs) >= 8
    assert most_at_once(list(intervals.values())) == 3


async def test_one_resume_answers_every_paused_audit(
    sqlite_service: Service, auditable: Any, agency: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with sqlite_service() as runs:
        customer = await fund(runs, agency, 1)  # the search, and not one dossier
        flow = await runs.start(agency, num_leads=4, vertical="bakeries", geography="Fargo, ND")
        paused = await runs.execute(agency, flow.id)
        jobs = await runs.audit_jobs(agency, flow.id)
        assert paused.status == "paused_for_upgrade"
        assert len(jobs) == 4 and paused.pending_interrupts == len(jobs)
        assert {j.status for j in jobs} == {"queued"}
        assert isinstance(runs.billing, LocalLedger)
        await runs.billing.grant(customer, 100)
        searches = len(auditable.requests("places"))

        with caplog.at_level(logging.INFO, logger="graphs.service"):
            done = await runs.resume(agency, flow.id)

        jobs = await runs.audit_jobs(agency, flow.id)
        charges = [e.idempotency_key for e in await runs.billing.history(customer) if e.kind == "charge"]
    assert done.status == "completed" and done.ran, done.flow.error
    assert {j.status for j in jobs} == {"completed"}
    assert sorted(charges) == sorted([f"flow:{flow.id}:source", *(f"audit:{j.id}" for j in jobs)])
    # The seed's skip logs: phases finished before the pause are named, and were not run again.
    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Skipping ")]
    assert skipped == [
        f"Skipping {phase} (status=complete) due to resume at generate_dossier of run {flow.id}"
        for phase in ("source", "filter_rank", "persist_leads", "scrape_content")
    ]
    assert len(auditable.requests("places")) == searches


async def test_a_fresh_run_skips_nothing(
    sqlite_service: Service, auditable: Any, agency: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with sqlite_service() as runs:
        await fund(runs, agency, 20)
        flow = await runs.start(agency, num_leads=1, vertical="bakeries", geography="Fargo, ND")
        with caplog.at_level(logging.INFO, logger="graphs.service"):
            assert (await runs.execute(agency, flow.id)).status == "completed"
    assert not [r for r in caplog.records if r.getMessage().startswith("Skipping ")]
