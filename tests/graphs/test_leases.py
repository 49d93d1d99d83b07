"""One execution per run, through the run service: the lease is renewed while a run lasts longer
than its time-to-live (so nobody takes it over), a holder that was a process on this host and is
gone is taken over at once, a live or remote holder is not, and start-up recovery resumes what a
dead process left `running`."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

import pytest

from db.base import utcnow
from db.models import LeadGenFlow
from graphs.service import AlreadyRunning, RunService
from tools.billing.local import LocalLedger

Service = Callable[..., AbstractAsyncContextManager[RunService]]


async def new_flow(runs: RunService, agency: str, credits: int = 100, leads: int = 6) -> LeadGenFlow:
    customer = await runs.ensure_agency(agency)
    assert isinstance(runs.billing, LocalLedger)
    await runs.billing.set_balance(customer, credits)
    return await runs.start(agency, num_leads=leads, vertical="dentists", geography="Boise, ID")


def dead_pid() -> int:
    """The pid of a process of ours that has exited (and been reaped)."""
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


async def left_running(runs: RunService, agency: str, flow: LeadGenFlow, owner: str) -> None:
    """The flow as a holder leaves it: `running`, under `owner`'s lease for ten minutes."""
    async with runs.db.transaction() as repo:
        assert await repo.acquire_lease(agency, flow.id, owner, 600)
        await repo.update_flow(agency, flow.id, status="running")


async def test_the_lease_is_renewed_while_a_run_outlasts_it(
    sqlite_service: Service, sandbox_config: Any, agency: str
) -> None:
    sandbox_config.configure(world_profile="all_auditable", latency_scale=0.05)
    attempts: list[tuple[datetime, str]] = []  # (when, the lease's expiry then): all refused
    owners: set[str] = set()
    first_expiry: list[datetime] = []

    async with (
        sqlite_service(LEADGEN_LEASE_SECONDS="1.5", LEADGEN_AUDIT_CONCURRENCY="2") as runs,
        sqlite_service(LEADGEN_LEASE_SECONDS="1.5") as rival,
    ):
        flow = await new_flow(runs, agency, leads=4)

        async def contend(event: dict[str, Any]) -> None:
            """At every step of every audit, a second service tries to take the run over."""
            if event.get("type") != "audit":
                return
            current = await rival.get(agency, flow.id)
            if current.lease_owner is None or current.lease_expires_at is None:
                return
            owners.add(current.lease_owner)
            if not first_expiry:
                first_expiry.append(current.lease_expires_at)
            with pytest.raises(AlreadyRunning):
                await rival.resume(agency, flow.id)
            attempts.append((utcnow(), current.lease_owner))

        outcome = await runs.execute(agency, flow.id, on_event=contend)
        after = await runs.get(agency, flow.id)

    assert outcome.status == "completed", outcome.flow.error
    assert len(owners) == 1  # one holder from start to end
    late = [when for when, _ in attempts if when > first_expiry[0]]
    assert late, "the run ended before its first lease would have expired: nothing was shown"
    assert after.lease_owner is None  # given up at the end


async def test_a_dead_local_holder_is_taken_over_at_once(sqlite_service: Service, agency: str) -> None:
    async with sqlite_service(LEADGEN_LEASE_SECONDS="600") as runs:
        flow = await new_flow(runs, agency, leads=2)
        dead = f"{socket.gethostname()}:{dead_pid()}:{uuid.uuid4().hex}"
        await left_running(runs, agency, flow, dead)

        outcome = await runs.execute(agency, flow.id)

        assert outcome.status == "completed" and outcome.ran, outcome.flow.error
        assert (await runs.get(agency, flow.id)).lease_owner is None


@pytest.mark.parametrize("holder", ["alive here", "on another host"])
async def test_a_live_or_remote_holder_is_not_taken_over(
    sqlite_service: Service, agency: str, holder: str
) -> None:
    async with sqlite_service(LEADGEN_LEASE_SECONDS="600") as runs:
        flow = await new_flow(runs, agency, leads=2)
        host, pid = (socket.gethostname(), 1) if holder == "alive here" else ("elsewhere.example", dead_pid())
        owner = f"{host}:{pid}:{uuid.uuid4().hex}"  # pid 1 lives as long as this machine does
        await left_running(runs, agency, flow, owner)

        with pytest.raises(AlreadyRunning):
            await runs.execute(agency, flow.id)
        assert await runs.recover() == []
        after = await runs.get(agency, flow.id)
        assert (after.status, after.lease_owner) == ("running", owner)


async def test_start_up_recovery_resumes_what_a_dead_process_left_running(
    sqlite_service: Service, agency: str
) -> None:
    async with sqlite_service(LEADGEN_LEASE_SECONDS="600") as runs:
        orphan = await new_flow(runs, agency, leads=2)
        await left_running(runs, agency, orphan, f"{socket.gethostname()}:{dead_pid()}:{uuid.uuid4().hex}")
        guarded = await new_flow(runs, agency, leads=2)
        await left_running(runs, agency, guarded, f"{socket.gethostname()}:1:{uuid.uuid4().hex}")

        assert await runs.recover() == [orphan.id]

        assert (await runs.get(agency, orphan.id)).status == "completed"
        assert (await runs.get(agency, guarded.id)).status == "running"
