"""The executor is the one owner of execution in a process: `cancel` stops the execution it
launched (no registry of the service's own), and `stream` follows an execution of the executor's.
Same tests on SQLite and on PostgreSQL, against the sandbox."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from db.statuses import AuditStatus, FlowStatus
from graphs.run_events import AuditStep, RunEnded, RunEvent
from graphs.service import AlreadyRunning, RunService
from tests.graphs.test_pipeline import charges, set_credits

# Stopping a run cancels LangGraph's task set mid-step; its unstarted retries then warn that they
# were "never awaited" (the CLI silences the same warning on Ctrl-C).
pytestmark = pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")


async def test_cancel_stops_a_launched_run_and_releases_its_holds(runs: RunService, agency: str) -> None:
    customer = await set_credits(runs, agency, 100)
    flow = await runs.start(agency, num_leads=12, vertical="dentists", geography="Austin, TX")
    seen: list[RunEvent] = []
    researching = asyncio.Event()

    async def note(event: RunEvent) -> None:
        seen.append(event)
        if isinstance(event, AuditStep):
            researching.set()

    unsubscribe = runs.executor.subscribe(flow.id, note)
    assert runs.executor.launch(agency, flow.id)
    await asyncio.wait_for(researching.wait(), timeout=120)  # audits under way, credits held
    assert runs.executor.active(flow.id)

    cancelled = await runs.cancel(agency, flow.id)

    # Over when cancel returns: the executor's task ended, with the outcome its subscribers saw.
    assert cancelled.status == FlowStatus.CANCELLED
    assert not runs.executor.active(flow.id)
    assert runs.executor.outcomes[flow.id] == "cancelled"
    ended = [e for e in seen if isinstance(e, RunEnded)]
    assert len(ended) == 1 and ended[0].status == "cancelled"
    after = await runs.get(agency, flow.id)
    assert (after.status, after.lease_owner) == (FlowStatus.CANCELLED, None)

    # The ledger holds what completed, and only that: the search and each finished dossier.
    jobs = await runs.audit_jobs(agency, flow.id)
    done = {job.id for job in jobs if job.status == AuditStatus.COMPLETED}
    assert len(done) < len(jobs), "every audit finished before the cancel: nothing was stopped"
    charged = await charges(runs, customer)
    assert {key for _, _, key in charged} == {f"flow:{flow.id}:source"} | {f"audit:{job}" for job in done}
    total = sum(credits for _, credits, _ in charged)
    assert await runs.billing.balance(customer) == 100 - total  # no hold left behind

    # The graph is stopped, not merely unobserved: nothing moves afterwards.
    events_then = len(seen)
    await asyncio.sleep(2.0)
    assert len(seen) == events_then
    assert {j.id: j.status for j in await runs.audit_jobs(agency, flow.id)} == {j.id: j.status for j in jobs}
    assert await charges(runs, customer) == charged
    assert await runs.billing.balance(customer) == 100 - total
    unsubscribe()


async def test_cancel_stops_an_awaited_execution_too(runs: RunService, agency: str) -> None:
    """A caller awaiting `execute` is not the one stopped: it gets the cancelled outcome."""
    customer = await set_credits(runs, agency, 100)
    flow = await runs.start(agency, num_leads=12, vertical="plumbers", geography="Denver, CO")
    researching = asyncio.Event()

    async def on_event(event: dict[str, Any]) -> None:
        if event.get("type") == "audit":
            researching.set()

    execution = asyncio.create_task(runs.execute(agency, flow.id, on_event=on_event))
    await asyncio.wait_for(researching.wait(), timeout=120)
    assert runs.executor.active(flow.id)  # the awaited execution is the executor's as well

    await runs.cancel(agency, flow.id)

    assert execution.done()
    outcome = execution.result()
    assert outcome.status == FlowStatus.CANCELLED
    assert not runs.executor.active(flow.id)
    total = sum(credits for _, credits, _ in await charges(runs, customer))
    assert await runs.billing.balance(customer) == 100 - total


async def test_stream_follows_the_executors_execution(runs: RunService, agency: str) -> None:
    await set_credits(runs, agency, 20)
    flow = await runs.start(agency, num_leads=3, vertical="cafes", geography="Madison, WI")
    typed: list[RunEvent] = []

    async def note(event: RunEvent) -> None:
        typed.append(event)

    unsubscribe = runs.executor.subscribe(flow.id, note)  # a live view beside the stream
    seen: list[dict[str, Any]] = []
    async for event in runs.stream(agency, flow.id):
        if not seen:
            assert runs.executor.active(flow.id)  # launched by the executor
            with pytest.raises(AlreadyRunning):  # and it is the only execution of the run here
                async for _ in runs.stream(agency, flow.id):
                    pass
        seen.append(event)
    unsubscribe()

    outcomes = [e for e in seen if e.get("type") == "outcome"]
    assert outcomes == [{"type": "outcome", "status": "completed", "flow_id": flow.id, "ran": True}]
    assert seen[-1] is outcomes[0]
    assert all(isinstance(e, dict) for e in seen)
    # The stream's events are the ones the executor handed its subscribers, as they came.
    assert [dict(e.raw) for e in typed if not isinstance(e, RunEnded)] == seen[:-1]
    assert isinstance(typed[-1], RunEnded) and typed[-1].status == "completed"
    assert runs.executor.outcomes[flow.id] == "completed"
    assert (await runs.get(agency, flow.id)).status == FlowStatus.COMPLETED


async def test_a_stream_closed_early_stops_its_execution(runs: RunService, agency: str) -> None:
    await set_credits(runs, agency, 100)
    flow = await runs.start(agency, num_leads=12, vertical="roofers", geography="Boise, ID")
    stream = runs.stream(agency, flow.id)
    async for event in stream:
        if event.get("type") == "audit":
            break
    await stream.aclose()

    assert not runs.executor.active(flow.id)
    after = await runs.get(agency, flow.id)
    # Left as a run whose process ended: running, lease given back, for recovery to resume.
    assert (after.status, after.lease_owner) == (FlowStatus.RUNNING, None)
    assert await runs.recover() == [flow.id]
    assert (await runs.get(agency, flow.id)).status == FlowStatus.COMPLETED
