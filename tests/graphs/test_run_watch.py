"""One live view: a run's snapshot is read in one database session, typed, the same run `--json`
prints; the one watch loop wakes on the executor's events and on a timer (a run another process
executes), and yields a snapshot only when it changed."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from db import Database
from db.statuses import FlowStatus, PhaseStatus
from graphs.run_events import BillingPaused, PhaseChanged, RunEnded, RunEvent, parse_event
from graphs.run_snapshot import RunSnapshot
from graphs.run_watch import RunWatch
from graphs.service import RunNotFound, RunService
from graphs.views import flow_json, leads_json
from tools.billing.local import LocalLedger


async def funded_flow(runs: RunService, agency: str, credits: int, leads: int = 3) -> str:
    customer = await runs.ensure_agency(agency)
    assert isinstance(runs.billing, LocalLedger)
    await runs.billing.set_balance(customer, credits)
    flow = await runs.start(agency, num_leads=leads, vertical="dentists", geography="Austin, TX")
    return flow.id


@contextlib.contextmanager
def counted_sessions(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """How many database sessions are opened (reads and write transactions), any Database."""
    opened = {"reader": 0, "transaction": 0}
    for name in opened:
        original = getattr(Database, name)

        def wrapped(self: Database, _original: Any = original, _name: str = name) -> Any:
            opened[_name] += 1
            return _original(self)

        monkeypatch.setattr(Database, name, wrapped)
    yield opened
    monkeypatch.undo()


async def test_a_snapshot_is_one_session_and_the_run_the_json_shows(
    runs: RunService, agency: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow_id = await funded_flow(runs, agency, credits=100)
    assert (await runs.execute(agency, flow_id)).status == FlowStatus.COMPLETED

    with counted_sessions(monkeypatch) as opened:
        snap = await runs.snapshot(agency, flow_id, leads=True)
    assert opened == {"reader": 1, "transaction": 0}
    with counted_sessions(monkeypatch) as opened:
        bare = await runs.snapshot(agency, flow_id)
    assert opened == {"reader": 1, "transaction": 0}

    # The same run the four reads the faces made before show, field for field.
    flow = await runs.get(agency, flow_id)
    counts = await runs.counts(agency, flow_id)
    progress = await runs.progress(agency, flow_id)
    assert snap.run == flow_json(flow, counts=counts, progress=progress)
    assert list(snap.leads or ()) == leads_json(await runs.run_leads(agency, flow_id))
    assert bare.leads is None and bare.run == snap.run
    # Typed: the statuses are the enums, the counts and phases fields.
    assert snap.status is FlowStatus.COMPLETED and snap.ended and not snap.paused
    assert [p.name for p in snap.phases] == [p["name"] for p in flow.phases]
    assert all(p.status is PhaseStatus.COMPLETE for p in snap.phases)
    assert snap.counts.opportunities == counts["opportunities"] == len(snap.leads or ()) > 0
    assert snap.progress == 1.0 and snap.billing_block is None
    assert snap.last_event is not None and snap.last_event.type == flow.last_event["type"]


async def test_another_agency_reads_no_snapshot(runs: RunService, agency: str) -> None:
    flow_id = await funded_flow(runs, agency, credits=100)
    with pytest.raises(RunNotFound):
        await runs.snapshot(f"{agency}-other", flow_id)
    with pytest.raises(RunNotFound):
        await runs.snapshot(agency, "no-such-run")


async def test_a_paused_run_has_its_billing_block_typed(runs: RunService, agency: str) -> None:
    flow_id = await funded_flow(runs, agency, credits=1)  # the search, then no credits for dossiers
    assert (await runs.execute(agency, flow_id)).status == FlowStatus.PAUSED_FOR_UPGRADE
    snap = await runs.snapshot(agency, flow_id)
    block = snap.billing_block
    assert snap.paused and not snap.ended and block is not None
    assert (block.phase, block.feature_id) == ("generate_dossier", "dossier_research")
    assert block.credit_info.required_balance == 2 and block.credit_info.deficit == 2
    assert block.credit_info.balance == 0 and block.credit_info.allowed is False
    assert dict(block.raw) == snap.run["billing_block"]


def test_events_are_parsed_once_into_types() -> None:
    phase = parse_event(
        {"type": "phase", "flow_id": "f", "phase": "source", "status": "complete", "progress": 1.0}
    )
    assert phase == PhaseChanged("f", "source", PhaseStatus.COMPLETE, 1.0, None, "phase")
    assert isinstance(phase, PhaseChanged) and phase.finishes_something
    replay = parse_event(
        {"type": "audit", "audit_job_id": "j", "step": "map_urls", "__metadata__": {"cached": True}}
    )
    assert replay.cached
    pause = parse_event(
        {
            "type": "billing_pause",
            "phase": "source",
            "billing_block": {
                "phase": "source",
                "feature_id": "lead_discovery",
                "credit_info": {"deficit": 1},
            },
        }
    )
    assert isinstance(pause, BillingPaused) and pause.billing_block is not None
    assert pause.billing_block.credit_info.deficit == 1
    # A phase status nobody knows is not trusted as one; an unknown shape is kept as it came.
    odd = parse_event({"type": "phase", "phase": "source", "status": "exploded"})
    assert isinstance(odd, PhaseChanged) and odd.status is None
    assert parse_event({"type": "something"}).cached is False


async def test_the_watch_yields_on_the_executors_events(
    runs: RunService, agency: str, sandbox_config: Any
) -> None:
    """No timer (an hour): every snapshot the loop yields was read because an event woke it."""
    sandbox_config.configure(latency_scale=0.2)
    flow_id = await funded_flow(runs, agency, credits=100)
    seen: list[RunEvent] = []

    async def note(event: RunEvent) -> None:
        seen.append(event)

    unsubscribe = runs.executor.subscribe(flow_id, note)
    snaps: list[RunSnapshot] = []
    async with RunWatch(
        runs, agency, flow_id, events=runs.executor, poll_seconds=3600, final_leads=True
    ) as watch:

        async def follow() -> None:
            async for snap in watch:
                snaps.append(snap)

        follower = asyncio.create_task(follow())
        await asyncio.sleep(0.2)  # the first snapshot (idle) is drawn before the run starts
        assert runs.executor.launch(agency, flow_id)
        await asyncio.wait_for(follower, timeout=180)
    unsubscribe()

    assert snaps[0].status == FlowStatus.IDLE
    assert snaps[-1].status == FlowStatus.COMPLETED and snaps[-1].leads  # the last one carries the leads
    assert len(snaps) >= 4  # it moved with the run, not only at its start and end
    assert all(a != b for a, b in itertools.pairwise(snaps))  # never the same one twice
    assert any(isinstance(e, PhaseChanged) for e in seen) and isinstance(seen[-1], RunEnded)
    assert seen[-1].status == "completed"


RUN_ELSEWHERE = textwrap.dedent(
    """
    import asyncio, sys
    from graphs.service import RunService

    async def main() -> None:
        async with RunService.open() as runs:
            outcome = await runs.execute(sys.argv[1], sys.argv[2])
            print(outcome.status)

    asyncio.run(main())
    """
)


async def test_the_watch_follows_a_run_another_process_executes_on_its_timer(
    runs: RunService, agency: str, sandbox_config: Any
) -> None:
    """No events reach this process: the timer alone brings the run's progress and its end."""
    sandbox_config.configure(latency_scale=0.2)
    flow_id = await funded_flow(runs, agency, credits=100)
    snaps: list[RunSnapshot] = []
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        RUN_ELSEWHERE,
        agency,
        flow_id,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        async with RunWatch(runs, agency, flow_id, events=runs.executor, poll_seconds=0.1) as watch:

            async def follow() -> None:
                async for snap in watch:
                    snaps.append(snap)

            await asyncio.wait_for(follow(), timeout=180)
        out, err = await asyncio.wait_for(worker.communicate(), timeout=60)
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    assert worker.returncode == 0, err.decode()[-2000:]
    assert out.decode().strip() == "completed"
    assert not runs.executor.active(flow_id)  # this process never executed it
    assert snaps[-1].status == FlowStatus.COMPLETED
    assert any(s.status == FlowStatus.RUNNING for s in snaps)  # seen while the other process ran it
    assert all(a != b for a, b in itertools.pairwise(snaps))


async def test_the_watch_does_not_yield_an_unchanged_run_again(runs: RunService, agency: str) -> None:
    """A paused run read again and again is yielded once; a change, or a face asking to see it
    again (`repeat`), yields it once more."""
    flow_id = await funded_flow(runs, agency, credits=1)
    assert (await runs.execute(agency, flow_id)).status == FlowStatus.PAUSED_FOR_UPGRADE
    snaps: list[RunSnapshot] = []
    got = asyncio.Event()
    watch = RunWatch(runs, agency, flow_id, poll_seconds=0.02)

    async def follow() -> None:
        async for snap in watch:
            snaps.append(snap)
            got.set()

    follower = asyncio.create_task(follow())
    try:
        await asyncio.wait_for(got.wait(), timeout=10)
        for _ in range(10):
            watch.poke()
            await asyncio.sleep(0.03)
        assert watch.reads >= 10 and len(snaps) == 1

        got.clear()
        watch.repeat()
        await asyncio.wait_for(got.wait(), timeout=10)
        assert len(snaps) == 2 and snaps[1] == snaps[0]

        got.clear()
        async with runs.db.transaction() as repo:
            await repo.set_phase(
                agency, flow_id, "generate_dossier", message="someone looked", event_type="note"
            )
        await asyncio.wait_for(got.wait(), timeout=10)
        assert len(snaps) == 3 and snaps[2] != snaps[1]
        assert snaps[2].last_event is not None and snaps[2].last_event.message == "someone looked"
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower


async def test_an_unchanged_run_is_restated_for_faces_that_word_times_relative_to_now(
    runs: RunService, agency: str
) -> None:
    """`restate_seconds`: the web chat's "Last: ... · 2 minutes ago" must move on while nothing
    else does; without it an unchanged run is yielded once."""
    flow_id = await funded_flow(runs, agency, credits=1)
    assert (await runs.execute(agency, flow_id)).status == FlowStatus.PAUSED_FOR_UPGRADE

    async def count_yields(watch: RunWatch, seconds: float) -> int:
        seen = 0

        async def follow() -> None:
            nonlocal seen
            async for _snap in watch:
                seen += 1

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(follow(), timeout=seconds)
        return seen

    restated = RunWatch(runs, agency, flow_id, poll_seconds=0.05, restate_seconds=0.3)
    plain = RunWatch(runs, agency, flow_id, poll_seconds=0.05)
    assert await count_yields(restated, 1.5) >= 3
    assert await count_yields(plain, 1.5) == 1
    assert plain.reads >= 5  # it did look, and found nothing new
