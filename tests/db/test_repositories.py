"""Every Repository method on SQLite and PostgreSQL: behaviour, idempotency, concurrency, and
agency scoping (another agency's id reads as not found and writes nothing)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import pkgutil
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select

import db.repositories
from db import Database, LeadInput, NotFound, Repository, UpsertCounts
from db.models import (
    AUDIT_PHASES,
    PHASE_WEIGHTS,
    PHASES,
    AgencyProfile,
    AuditDossier,
    AuditJob,
    Call,
    ClientOpportunity,
    LeadGenFlow,
    ScrapedPage,
    WebhookInbox,
)
from db.repositories import PageInput, new_lease_owner, parse_lease_owner

T = TypeVar("T")


async def tx(database: Database, fn: Callable[[Repository], Awaitable[T]]) -> T:
    """Run `fn` in a transaction of its own (committed)."""
    async with database.transaction() as repo:
        return await fn(repo)


async def read(database: Database, fn: Callable[[Repository], Awaitable[T]]) -> T:
    async with database.reader() as repo:
        return await fn(repo)


def lead(n: int | str, **overrides: Any) -> LeadInput:
    values: dict[str, Any] = {
        "place_id": f"place-{n}",
        "name": f"Business {n}",
        "domain": f"business{n}.com",
        "website": f"https://business{n}.com/",
        "phone": "+15125550100",
        "address": f"{n} Main St, Austin, TX",
        "rating": 4.5,
        "reviews_count": 12,
        "signals": ("LOW_GOOGLE_RATING",),
        "qualification_score": 0.5,
    }
    values.update(overrides)
    return LeadInput(**values)


async def make_flow(database: Database, agency: str, **kwargs: Any) -> str:
    params = {"target_vertical": "dentists", "target_geography": "Austin, TX", "num_leads_requested": 5}
    params.update(kwargs)
    flow = await tx(database, lambda r: r.create_flow(agency, **params))
    return flow.id


async def upsert(database: Database, agency: str, flow_id: str, leads: list[LeadInput]) -> UpsertCounts:
    return await tx(
        database,
        lambda r: r.upsert_opportunities(
            agency, flow_id, leads, target_vertical="dentists", target_geography="Austin, TX"
        ),
    )


async def opportunity_by_place(database: Database, agency: str, place_id: str) -> ClientOpportunity:
    async with database.reader() as repo:
        stmt = select(ClientOpportunity).where(
            ClientOpportunity.agency_id == agency, ClientOpportunity.place_id == place_id
        )
        return (await repo.session.execute(stmt)).scalar_one()


async def count_rows(database: Database, model: Any, *where: Any) -> int:
    async with database.reader() as repo:
        return int(
            (await repo.session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()
        )


@dataclass
class World:
    flow_id: str
    opportunity_id: str
    audit_job_id: str
    page_id: str
    dossier_id: str
    call_id: str


async def make_world(database: Database, agency: str) -> World:
    """One of everything for `agency`."""
    flow_id = await make_flow(database, agency)
    await upsert(database, agency, flow_id, [lead(f"w-{agency}")])
    opp = await opportunity_by_place(database, agency, f"place-w-{agency}")

    async def rest(repo: Repository) -> World:
        job = await repo.create_audit_job(agency, flow_id, opp.id, "https://example.com")
        page = await repo.upsert_scraped_page(
            agency, job.id, url="https://example.com/", title="Home", content="# Home", store=database.content
        )
        dossier = await repo.save_dossier(
            agency,
            job.id,
            summary="A dental practice.",
            gaps=["no booking"],
            talking_points=["online booking"],
            sources=[{"url": "https://example.com/", "title": "Home"}],
            fit_reason="Needs booking.",
        )
        call = await repo.create_call(agency, opp.id, to_number="+15125550100", metadata={"a": 1})
        await repo.update_call(agency, call.id, provider_call_id=f"vapi-{uuid.uuid4().hex}")
        return World(flow_id, opp.id, job.id, page.id, dossier.id, call.id)

    return await tx(database, rest)


# -- agencies --------------------------------------------------------------------------------


async def test_ensure_agency_creates_agency_and_empty_profile_once(database: Database) -> None:
    agency_id = f"new-{uuid.uuid4().hex[:8]}"
    first = await tx(database, lambda r: r.ensure_agency(agency_id))
    assert (first.id, first.name, first.billing_customer_id) == (agency_id, agency_id, agency_id)
    again = await tx(database, lambda r: r.ensure_agency(agency_id, name="Renamed"))
    assert again.name == "Renamed"
    assert await count_rows(database, AgencyProfile, AgencyProfile.agency_id == agency_id) == 1
    profile = await read(database, lambda r: r.get_profile(agency_id))
    assert profile is not None
    assert (profile.criteria, profile.services_offered, profile.target_vertical) == ([], [], None)


async def test_ensure_agency_concurrently_makes_one(database: Database) -> None:
    agency_id = f"race-{uuid.uuid4().hex[:8]}"
    results = await asyncio.gather(*(tx(database, lambda r: r.ensure_agency(agency_id)) for _ in range(5)))
    assert {a.id for a in results} == {agency_id}
    assert await count_rows(database, AgencyProfile, AgencyProfile.agency_id == agency_id) == 1


async def test_unknown_agency_reads_none(database: Database) -> None:
    assert await read(database, lambda r: r.get_agency("no-such-agency")) is None
    assert await read(database, lambda r: r.get_profile("no-such-agency")) is None


async def test_set_profile_changes_only_given_fields(database: Database, agency: str) -> None:
    await tx(
        database,
        lambda r: r.set_profile(
            agency, target_vertical="dentists", target_geography="Austin", criteria=["MISSING_WEBSITE"]
        ),
    )
    profile = await tx(database, lambda r: r.set_profile(agency, services_offered=["web design"]))
    assert profile.target_vertical == "dentists"
    assert profile.target_geography == "Austin"
    assert profile.criteria == ["MISSING_WEBSITE"]
    assert profile.services_offered == ["web design"]
    profile = await tx(database, lambda r: r.set_profile(agency, criteria=[]))
    assert profile.criteria == []
    assert profile.target_vertical == "dentists"


async def test_set_profile_of_unknown_agency_raises_and_writes_nothing(database: Database) -> None:
    with pytest.raises(NotFound):
        await tx(database, lambda r: r.set_profile("ghost-agency", target_vertical="x"))
    assert await count_rows(database, AgencyProfile, AgencyProfile.agency_id == "ghost-agency") == 0


# -- flows -----------------------------------------------------------------------------------


async def test_create_flow_initialises_phases_and_billing(database: Database, agency: str) -> None:
    flow = await tx(
        database,
        lambda r: r.create_flow(
            agency,
            target_vertical="dentists",
            target_geography="Austin",
            num_leads_requested=15,
            user_id="u1",
        ),
    )
    assert flow.status == "idle"
    assert flow.agency_id == agency
    assert flow.billing_customer_id == agency
    assert flow.num_leads_fetched == 0
    assert [p["name"] for p in flow.phases] == list(PHASES)
    assert {(p["status"], p["progress"], p["started_at"]) for p in flow.phases} == {("pending", 0.0, None)}
    profile = await read(database, lambda r: r.get_profile(agency))
    assert profile is not None and flow.agency_profile_id == profile.id

    custom = await tx(
        database,
        lambda r: r.create_flow(
            agency,
            target_vertical="v",
            target_geography="g",
            num_leads_requested=1,
            billing_customer_id="cus_123",
        ),
    )
    assert custom.billing_customer_id == "cus_123"


async def test_create_flow_refuses_unknown_agency_and_bad_count(database: Database, agency: str) -> None:
    with pytest.raises(NotFound):
        await make_flow(database, "ghost-agency")
    with pytest.raises(ValueError, match="num_leads_requested"):
        await make_flow(database, agency, num_leads_requested=0)
    assert await count_rows(database, LeadGenFlow, LeadGenFlow.agency_id == "ghost-agency") == 0


async def test_list_flows_newest_first_with_limit(database: Database, agency: str, other_agency: str) -> None:
    ids = [await make_flow(database, agency) for _ in range(4)]
    await make_flow(database, other_agency)
    listed = await read(database, lambda r: r.list_flows(agency))
    assert [f.id for f in listed] == list(reversed(ids))
    limited = await read(database, lambda r: r.list_flows(agency, limit=2))
    assert [f.id for f in limited] == list(reversed(ids))[:2]


async def test_update_flow_sets_fields_and_refuses_identity(database: Database, agency: str) -> None:
    flow_id = await make_flow(database, agency)
    block = {"phase": "source", "feature_id": "lead_discovery", "credit_info": {"balance": 0}}
    flow = await tx(
        database,
        lambda r: r.update_flow(agency, flow_id, status="paused_for_upgrade", billing_block=block),
    )
    assert (flow.status, flow.billing_block) == ("paused_for_upgrade", block)
    stored = await read(database, lambda r: r.get_flow(agency, flow_id))
    assert stored is not None and stored.billing_block == block
    for bad in ({"agency_id": "x"}, {"id": "x"}, {"no_such_field": 1}):
        with pytest.raises(ValueError):
            await tx(database, lambda r, bad=bad: r.update_flow(agency, flow_id, **bad))


@dataclass
class Clock:
    """The repositories' `utcnow`, moved only by the test."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(datetime(2030, 1, 1, 12, 0, tzinfo=UTC))
    # Each record kind's module imports `utcnow` itself: move the clock in all of them.
    for info in pkgutil.iter_modules(db.repositories.__path__):
        module = importlib.import_module(f"db.repositories.{info.name}")
        if hasattr(module, "utcnow"):
            monkeypatch.setattr(module, "utcnow", fake)
    return fake


async def test_set_phase_timestamps_progress_and_last_event(
    database: Database, agency: str, clock: Clock
) -> None:
    flow_id = await make_flow(database, agency)
    flow = await tx(
        database, lambda r: r.set_phase(agency, flow_id, "source", status="running", message="Searching")
    )
    source = flow.phases[0]
    assert source["status"] == "running"
    assert source["started_at"] is not None and source["completed_at"] is None
    assert flow.last_event is not None
    assert flow.last_event["message"] == "Searching"
    assert flow.last_event["type"] == "source.running"
    assert datetime.fromisoformat(flow.last_event["timestamp"]).tzinfo is not None

    flow = await tx(database, lambda r: r.set_phase(agency, flow_id, "source", progress=1.7))
    assert flow.phases[0]["progress"] == 1.0
    flow = await tx(database, lambda r: r.set_phase(agency, flow_id, "source", progress=-3))
    assert flow.phases[0]["progress"] == 0.0
    started = flow.phases[0]["started_at"]
    flow = await tx(database, lambda r: r.set_phase(agency, flow_id, "source", status="running"))
    assert flow.phases[0]["started_at"] == started  # already running: not restarted

    clock.advance(0.25)
    flow = await tx(
        database,
        lambda r: r.set_phase(
            agency, flow_id, "source", status="complete", message="20 found", event_type="custom"
        ),
    )
    source = flow.phases[0]
    assert source["status"] == "complete"
    assert source["progress"] == 1.0
    assert (source["started_at"], source["completed_at"]) == (
        "2030-01-01T12:00:00Z",
        "2030-01-01T12:00:00.250000Z",
    )
    assert source["duration_ms"] == 250
    assert flow.last_event == {
        "type": "custom",
        "message": "20 found",
        "timestamp": flow.last_event["timestamp"],
    }

    flow = await tx(database, lambda r: r.set_phase(agency, flow_id, "filter_rank", status="error"))
    filt = flow.phases[1]
    assert filt["status"] == "error" and filt["completed_at"] is not None and filt["duration_ms"] == 0
    assert filt["progress"] == 0.0

    flow = await tx(database, lambda r: r.set_phase(agency, flow_id, "source", status="pending"))
    assert flow.phases[0] == {
        "name": "source",
        "status": "pending",
        "progress": 0.0,
        "started_at": None,
        "completed_at": None,
        "duration_ms": None,
    }
    stored = await read(database, lambda r: r.get_flow(agency, flow_id))
    assert stored is not None and stored.phases == flow.phases

    with pytest.raises(ValueError):
        await tx(database, lambda r: r.set_phase(agency, flow_id, "bogus", status="running"))
    with pytest.raises(ValueError):
        await tx(database, lambda r: r.set_phase(agency, flow_id, "source", status="done"))


async def test_concurrent_set_phase_on_different_phases_loses_nothing(
    database: Database, agency: str
) -> None:
    flow_id = await make_flow(database, agency)
    await asyncio.gather(
        *(
            tx(database, lambda r, p=p: r.set_phase(agency, flow_id, p, status="running", progress=0.5))
            for p in PHASES
        )
    )
    flow = await read(database, lambda r: r.get_flow(agency, flow_id))
    assert flow is not None
    assert {(p["status"], p["progress"]) for p in flow.phases} == {("running", 0.5)}


async def test_two_writers_of_a_flows_children_then_its_phases_do_not_deadlock(
    database: Database, agency: str
) -> None:
    """Two audits, each in one transaction: write a row that refers to the flow (PostgreSQL's
    foreign-key check takes KEY SHARE on the flow's row), then move a phase (the flow's row
    locked). A plain FOR UPDATE waits on the other's KEY SHARE, both ways: a deadlock, seen in
    a 12-lead run. The lock is NO KEY UPDATE, which the KEY SHARE locks let through."""
    flow_id = await make_flow(database, agency)
    await upsert(database, agency, flow_id, [lead(1), lead(2)])
    opps = [await opportunity_by_place(database, agency, f"place-{n}") for n in (1, 2)]
    both_wrote = asyncio.Barrier(2)

    async def audit(opp: ClientOpportunity) -> None:
        async with database.transaction() as repo:
            await repo.create_audit_job(agency, flow_id, opp.id, opp.website or "")
            with contextlib.suppress(TimeoutError):  # SQLite: the first writer holds the file
                await asyncio.wait_for(both_wrote.wait(), 1.0)
            await repo.set_phase(agency, flow_id, "generate_dossier", status="running", progress=0.5)

    await asyncio.wait_for(asyncio.gather(*(audit(o) for o in opps)), 30)
    flow = await read(database, lambda r: r.get_flow(agency, flow_id))
    assert flow is not None
    assert next(p for p in flow.phases if p["name"] == "generate_dossier")["status"] == "running"
    jobs = await read(database, lambda r: r.list_audit_jobs(agency, flow_id))
    assert len(jobs) == 2


async def test_flow_progress_weighs_phases_by_their_work_and_is_one_when_completed(
    database: Database, agency: str
) -> None:
    assert sum(PHASE_WEIGHTS.values()) == pytest.approx(1.0) and set(PHASE_WEIGHTS) == set(PHASES)
    flow_id = await make_flow(database, agency)

    async def progress() -> float:
        return await read(database, lambda r: r.flow_progress(agency, flow_id))

    assert await progress() == 0.0
    await tx(database, lambda r: r.set_phase(agency, flow_id, "source", status="complete"))
    await tx(database, lambda r: r.set_phase(agency, flow_id, "filter_rank", progress=0.5))
    assert await progress() == pytest.approx(PHASE_WEIGHTS["source"] + 0.5 * PHASE_WEIGHTS["filter_rank"])

    # Every phase before the audits done and no audit finished yet (generate_dossier at its 0.1):
    # most of the run's work is ahead, and the bar says so (a plain mean said 68%).
    async with database.transaction() as repo:
        for phase in ("filter_rank", "persist_leads", "scrape_content"):
            await repo.set_phase(agency, flow_id, phase, status="complete")
    await tx(database, lambda r: r.set_phase(agency, flow_id, "generate_dossier", progress=0.1 + 0.9 * 0 / 4))
    before_audits = await progress()
    assert 0.1 < before_audits < 0.25
    # Half the audits finished: about half the run.
    await tx(database, lambda r: r.set_phase(agency, flow_id, "generate_dossier", progress=0.1 + 0.9 * 2 / 4))
    assert 0.5 < await progress() < 0.65
    # All of them: only the final ranking is left.
    await tx(database, lambda r: r.set_phase(agency, flow_id, "generate_dossier", status="complete"))
    assert 0.95 < await progress() < 1.0
    await tx(database, lambda r: r.update_flow(agency, flow_id, status="completed"))
    assert await progress() == 1.0


async def test_flow_counts(database: Database, agency: str) -> None:
    flow_id = await make_flow(database, agency)
    leads = [
        lead(1),
        lead(2),
        lead(3),
        lead(4, domain=None, website=None),  # no website
        lead(5, domain=None, website="https://facebook.com/biz5"),  # social: not an own website
    ]
    await upsert(database, agency, flow_id, leads)
    other_flow = await make_flow(database, agency)
    await upsert(database, agency, other_flow, [lead(99)])  # another flow: not counted

    async def shape(repo: Repository) -> None:
        opps = {o.place_id: o for o in await repo.list_opportunities(agency, flow_id)}
        jobs = {}
        for n in (1, 2, 3):
            opp = opps[f"place-{n}"]
            jobs[n] = await repo.create_audit_job(agency, flow_id, opp.id, opp.website or "")
        await repo.set_flow_lead(agency, flow_id, opps["place-1"].id, status="READY")
        await repo.set_flow_lead(agency, flow_id, opps["place-2"].id, status="DATA_READY")
        await repo.set_flow_lead(agency, flow_id, opps["place-3"].id, status="AUDITING")
        await repo.set_flow_lead(agency, flow_id, opps["place-4"].id, status="DATA_READY")
        # The lead's status elsewhere (the other flow's, the lead's latest) is not this flow's.
        await repo.update_opportunity(agency, opps["place-5"].id, status="READY")
        await repo.update_audit_job(agency, jobs[1].id, status="completed")
        await repo.update_audit_job(agency, jobs[2].id, status="error")
        await repo.update_audit_job(agency, jobs[3].id, status="running")

    await tx(database, shape)
    counts = await read(database, lambda r: r.flow_counts(agency, flow_id))
    assert counts == {
        "opportunities": 5,
        "with_website": 3,
        "ready": 1,
        "data_ready": 2,
        "auditing": 1,
        "audits_queued": 3,
        "audits_completed": 1,
        "audits_failed": 1,
        "reused": 0,
    }
    assert await read(database, lambda r: r.audit_tally(agency, flow_id)) == (2, 3)  # finished, queued
    empty = await make_flow(database, agency)
    assert set((await read(database, lambda r: r.flow_counts(agency, empty))).values()) == {0}
    assert await read(database, lambda r: r.audit_tally(agency, empty)) == (0, 0)


# -- lease -----------------------------------------------------------------------------------


async def test_lease_compare_and_set(database: Database, agency: str) -> None:
    flow_id = await make_flow(database, agency)
    a, b = new_lease_owner(), new_lease_owner()
    assert await tx(database, lambda r: r.acquire_lease(agency, flow_id, a, 30))
    assert not await tx(database, lambda r: r.acquire_lease(agency, flow_id, b, 30))
    assert await tx(database, lambda r: r.acquire_lease(agency, flow_id, a, 30))  # same owner again
    assert await tx(database, lambda r: r.renew_lease(agency, flow_id, a, 30))
    assert not await tx(database, lambda r: r.renew_lease(agency, flow_id, b, 30))
    assert not await tx(database, lambda r: r.release_lease(agency, flow_id, b))
    flow = await read(database, lambda r: r.get_flow(agency, flow_id))
    assert flow is not None and flow.lease_owner == a and flow.lease_expires_at is not None
    assert await tx(database, lambda r: r.release_lease(agency, flow_id, a))
    flow = await read(database, lambda r: r.get_flow(agency, flow_id))
    assert flow is not None and (flow.lease_owner, flow.lease_expires_at) == (None, None)
    assert await tx(database, lambda r: r.acquire_lease(agency, flow_id, b, 30))


async def test_expired_lease_is_taken_over_and_old_holder_cannot_renew(
    database: Database, agency: str, clock: Clock
) -> None:
    flow_id = await make_flow(database, agency)
    a, b = new_lease_owner(), new_lease_owner()
    assert await tx(database, lambda r: r.acquire_lease(agency, flow_id, a, 5))
    clock.advance(4.9)
    assert not await tx(database, lambda r: r.acquire_lease(agency, flow_id, b, 30))  # still a's
    clock.advance(0.2)
    assert await tx(database, lambda r: r.acquire_lease(agency, flow_id, b, 30))
    assert not await tx(database, lambda r: r.renew_lease(agency, flow_id, a, 30))


async def test_take_over_from_a_named_dead_holder(database: Database, agency: str) -> None:
    flow_id = await make_flow(database, agency)
    dead, b, c = new_lease_owner(), new_lease_owner(), new_lease_owner()
    assert await tx(database, lambda r: r.acquire_lease(agency, flow_id, dead, 3600))
    assert not await tx(database, lambda r: r.acquire_lease(agency, flow_id, b, 30))
    assert await tx(database, lambda r: r.acquire_lease(agency, flow_id, b, 30, take_over_from=dead))
    # The dead holder's lease is gone: naming it again does not take the lease from b.
    assert not await tx(database, lambda r: r.acquire_lease(agency, flow_id, c, 30, take_over_from=dead))


async def test_ten_concurrent_acquirers_exactly_one_wins(database: Database, agency: str) -> None:
    flow_id = await make_flow(database, agency)
    owners = [new_lease_owner() for _ in range(10)]
    results = await asyncio.gather(
        *(tx(database, lambda r, o=o: r.acquire_lease(agency, flow_id, o, 30)) for o in owners)
    )
    assert sum(results) == 1
    flow = await read(database, lambda r: r.get_flow(agency, flow_id))
    assert flow is not None and flow.lease_owner == owners[results.index(True)]


def test_lease_owner_names_host_and_pid() -> None:
    import os
    import socket

    owner = new_lease_owner()
    assert parse_lease_owner(owner) == (socket.gethostname(), os.getpid())
    assert parse_lease_owner("host.example:123:abc") == ("host.example", 123)
    assert parse_lease_owner("not-an-owner") is None
    assert parse_lease_owner("host:notapid:abc") is None


async def test_sweep_running_flows_is_unscoped(database: Database, agency: str, other_agency: str) -> None:
    running_a = await make_flow(database, agency)
    running_b = await make_flow(database, other_agency)
    idle = await make_flow(database, agency)
    await tx(database, lambda r: r.update_flow(agency, running_a, status="running"))
    await tx(database, lambda r: r.update_flow(other_agency, running_b, status="running"))
    swept = await read(database, lambda r: r.sweep_running_flows())
    ids = {f.id: f.agency_id for f in swept}
    assert ids[running_a] == agency and ids[running_b] == other_agency
    assert idle not in ids
    assert {f.status for f in swept} == {"running"}


# -- opportunities ---------------------------------------------------------------------------


async def test_upsert_creates_and_lists_ranked(database: Database, agency: str) -> None:
    flow_id = await make_flow(database, agency)
    counts = await upsert(
        database,
        agency,
        flow_id,
        [
            lead("b", name="Bravo", qualification_score=0.5),
            lead("a", name="Alpha", qualification_score=0.5),
            lead("c", name="Charlie", qualification_score=1.0),
            lead("d", name="Delta", qualification_score=0.0),
        ],
    )
    assert counts == UpsertCounts(created=4, updated=0, skipped=0)
    # The flow's ranking is the order the pipeline gave (graphs/ranking.py decides it) ...
    listed = await read(database, lambda r: r.list_opportunities(agency, flow_id))
    assert [o.name for o in listed] == ["Bravo", "Alpha", "Charlie", "Delta"]
    # ... until it ranks them again.
    by_name = {o.name: o.id for o in listed}
    order = [(by_name[n], s) for n, s in (("Charlie", 1.0), ("Alpha", 0.5), ("Bravo", 0.5), ("Delta", 0.0))]
    await tx(database, lambda r: r.set_flow_ranks(agency, flow_id, order))
    listed = await read(database, lambda r: r.list_opportunities(agency, flow_id))
    assert [o.name for o in listed] == ["Charlie", "Alpha", "Bravo", "Delta"]
    alpha = listed[1]
    assert alpha.status == "SOURCED"
    assert alpha.source == "google_places"
    assert (alpha.target_vertical, alpha.target_geography) == ("dentists", "Austin, TX")
    assert alpha.signals == ["LOW_GOOGLE_RATING"]
    assert alpha.lead_gen_flow_id == flow_id
    assert (alpha.phone, alpha.rating, alpha.reviews_count) == ("+15125550100", 4.5, 12)


async def test_upsert_dedupes_by_place_id_updates_and_keeps_status(database: Database, agency: str) -> None:
    first_flow = await make_flow(database, agency)
    await upsert(database, agency, first_flow, [lead(1)])
    opp = await opportunity_by_place(database, agency, "place-1")
    await tx(database, lambda r: r.update_opportunity(agency, opp.id, status="READY", fit_reason="fit"))

    second_flow = await make_flow(database, agency)
    changed = lead(1, name="Renamed", rating=3.1, reviews_count=40, signals=(), qualification_score=0.0)
    assert await upsert(database, agency, second_flow, [changed]) == UpsertCounts(0, 1, 0)
    row = await read(database, lambda r: r.get_opportunity(agency, opp.id))
    assert row is not None
    assert (row.name, row.rating, row.reviews_count, row.signals) == ("Renamed", 3.1, 40, [])
    assert row.status == "READY"  # never backwards
    assert row.fit_reason == "fit"
    assert row.lead_gen_flow_id == second_flow
    assert await count_rows(database, ClientOpportunity, ClientOpportunity.agency_id == agency) == 1


async def test_upsert_dedupes_by_domain(database: Database, agency: str) -> None:
    flow_id = await make_flow(database, agency)
    await upsert(database, agency, flow_id, [lead(1, domain="smile.com")])
    counts = await upsert(database, agency, flow_id, [lead(2, domain="smile.com", name="Smile Dental")])
    assert counts == UpsertCounts(0, 1, 0)
    row = await opportunity_by_place(database, agency, "place-1")  # the original place id is kept
    assert row.name == "Smile Dental"
    assert await count_rows(database, ClientOpportunity, ClientOpportunity.agency_id == agency) == 1

    # A row without a place id takes the lead's.
    await upsert(database, agency, flow_id, [lead("x", place_id=None, domain="noplace.com")])
    await upsert(database, agency, flow_id, [lead("y", domain="noplace.com")])
    row = await opportunity_by_place(database, agency, "place-y")
    assert row.domain == "noplace.com"


async def test_upsert_no_domain_never_matches(database: Database, agency: str) -> None:
    flow_id = await make_flow(database, agency)
    social = [
        lead(1, domain=None, website="https://facebook.com/one"),
        lead(2, domain=None, website="https://facebook.com/two"),
        lead(3, domain=None, website=None),
    ]
    assert await upsert(database, agency, flow_id, social) == UpsertCounts(3, 0, 0)
    assert await upsert(database, agency, flow_id, [lead(4, domain=None)]) == UpsertCounts(1, 0, 0)


async def test_upsert_skips_leads_that_land_on_a_row_touched_in_the_same_call(
    database: Database, agency: str
) -> None:
    flow_id = await make_flow(database, agency)
    leads = [lead(1), lead(1, name="dup by place"), lead(2, domain="business1.com")]
    assert await upsert(database, agency, flow_id, leads) == UpsertCounts(1, 0, 2)
    # Same again: the first updates the row, the others are skipped.
    assert await upsert(database, agency, flow_id, leads) == UpsertCounts(0, 1, 2)
    row = await opportunity_by_place(database, agency, "place-1")
    assert row.name == "Business 1"


async def test_upsert_keeps_domain_that_would_collide(database: Database, agency: str) -> None:
    flow_id = await make_flow(database, agency)
    await upsert(database, agency, flow_id, [lead(1, domain="a.com"), lead(2, domain="b.com")])
    counts = await upsert(database, agency, flow_id, [lead(1, domain="b.com", name="moved")])
    assert counts == UpsertCounts(0, 1, 0)
    row = await opportunity_by_place(database, agency, "place-1")
    assert (row.name, row.domain) == ("moved", "a.com")


async def test_upsert_is_per_agency(database: Database, agency: str, other_agency: str) -> None:
    flow_a = await make_flow(database, agency)
    flow_b = await make_flow(database, other_agency)
    assert await upsert(database, agency, flow_a, [lead(1)]) == UpsertCounts(1, 0, 0)
    assert await upsert(database, other_agency, flow_b, [lead(1)]) == UpsertCounts(1, 0, 0)
    a = await opportunity_by_place(database, agency, "place-1")
    b = await opportunity_by_place(database, other_agency, "place-1")
    assert a.id != b.id


async def test_concurrent_upserts_of_the_same_lead_make_one_row(database: Database, agency: str) -> None:
    flow_id = await make_flow(database, agency)
    results = await asyncio.gather(*(upsert(database, agency, flow_id, [lead("same")]) for _ in range(6)))
    assert sum(c.created for c in results) == 1
    assert sum(c.updated for c in results) == 5
    assert (
        await count_rows(
            database,
            ClientOpportunity,
            ClientOpportunity.agency_id == agency,
            ClientOpportunity.place_id == "place-same",
        )
        == 1
    )


async def test_update_and_get_opportunity(database: Database, agency: str) -> None:
    flow_id = await make_flow(database, agency)
    await upsert(database, agency, flow_id, [lead(1)])
    opp = await opportunity_by_place(database, agency, "place-1")
    updated = await tx(
        database, lambda r: r.update_opportunity(agency, opp.id, status="AUDITING", fit_reason="x")
    )
    assert (updated.status, updated.fit_reason) == ("AUDITING", "x")
    got = await read(database, lambda r: r.get_opportunity(agency, opp.id))
    assert got is not None and got.status == "AUDITING"
    assert await read(database, lambda r: r.get_opportunity(agency, "nope")) is None
    with pytest.raises(ValueError):
        await tx(database, lambda r: r.update_opportunity(agency, opp.id, agency_id="other"))
    with pytest.raises(NotFound):
        await tx(database, lambda r: r.update_opportunity(agency, "nope", status="READY"))


# -- audits ----------------------------------------------------------------------------------


async def test_create_audit_job_is_idempotent(database: Database, agency: str) -> None:
    flow_id = await make_flow(database, agency)
    await upsert(database, agency, flow_id, [lead(1), lead(2)])
    opp = await opportunity_by_place(database, agency, "place-1")
    job = await tx(database, lambda r: r.create_audit_job(agency, flow_id, opp.id, "https://business1.com/"))
    assert (job.status, job.metered, job.dossier_id) == ("queued", False, None)
    assert job.phases == [{"name": p, "status": "pending"} for p in AUDIT_PHASES]
    again = await tx(database, lambda r: r.create_audit_job(agency, flow_id, opp.id, "https://other/"))
    assert again.id == job.id
    assert again.target_url == "https://business1.com/"

    opp2 = await opportunity_by_place(database, agency, "place-2")
    racers = await asyncio.gather(
        *(
            tx(database, lambda r: r.create_audit_job(agency, flow_id, opp2.id, "https://b2/"))
            for _ in range(5)
        )
    )
    assert len({j.id for j in racers}) == 1
    jobs = await read(database, lambda r: r.list_audit_jobs(agency, flow_id))
    assert [j.id for j in jobs] == [job.id, racers[0].id]


async def test_update_and_phase_of_audit_job(database: Database, agency: str) -> None:
    world = await make_world(database, agency)
    job = await tx(
        database, lambda r: r.update_audit_job(agency, world.audit_job_id, status="running", metered=True)
    )
    assert (job.status, job.metered) == ("running", True)
    await tx(database, lambda r: r.set_audit_phase(agency, world.audit_job_id, "map_urls", "complete"))
    await tx(database, lambda r: r.set_audit_phase(agency, world.audit_job_id, "filter_urls", "running"))
    stored = await read(database, lambda r: r.get_audit_job(agency, world.audit_job_id))
    assert stored is not None
    assert [p["status"] for p in stored.phases] == ["complete", "running", "pending", "pending"]
    assert (stored.status, stored.metered) == ("running", True)  # other fields untouched
    with pytest.raises(ValueError):
        await tx(database, lambda r: r.set_audit_phase(agency, world.audit_job_id, "bogus", "running"))
    with pytest.raises(ValueError):
        await tx(database, lambda r: r.set_audit_phase(agency, world.audit_job_id, "map_urls", "bogus"))


# -- pages -----------------------------------------------------------------------------------


async def test_upsert_scraped_page_stores_content_and_replaces_by_url(
    database: Database, agency: str
) -> None:
    world = await make_world(database, agency)
    store = database.content
    page = await tx(
        database,
        lambda r: r.upsert_scraped_page(
            agency,
            world.audit_job_id,
            url="https://example.com/about",
            title="About",
            content="# About us",
            status_code=200,
            store=store,
        ),
    )
    assert (page.url, page.title, page.status_code, page.content_length) == (
        "https://example.com/about",
        "About",
        200,
        len(b"# About us"),
    )
    assert page.opportunity_id == world.opportunity_id
    assert await read(database, lambda r: r.read_page_content(agency, page.id, store)) == "# About us"

    again = await tx(
        database,
        lambda r: r.upsert_scraped_page(
            agency,
            world.audit_job_id,
            url="https://example.com/about",
            title="About v2",
            content="# New",
            store=store,
        ),
    )
    assert again.id == page.id
    assert (again.title, again.content_sha256 != page.content_sha256, again.status_code) == (
        "About v2",
        True,
        None,
    )
    assert again.scraped_at >= page.scraped_at
    assert await read(database, lambda r: r.read_page_content(agency, page.id, store)) == "# New"

    pages = await read(database, lambda r: r.list_scraped_pages(agency, world.audit_job_id))
    assert sorted(p.url for p in pages) == ["https://example.com/", "https://example.com/about"]
    assert await read(database, lambda r: r.read_page_content(agency, "nope", store)) is None


# -- dossiers --------------------------------------------------------------------------------


async def test_save_dossier_is_idempotent_and_links_job_and_opportunity(
    database: Database, agency: str
) -> None:
    world = await make_world(database, agency)
    job = await read(database, lambda r: r.get_audit_job(agency, world.audit_job_id))
    assert job is not None and job.dossier_id == world.dossier_id
    opp = await read(database, lambda r: r.get_opportunity(agency, world.opportunity_id))
    assert opp is not None and opp.fit_reason == "Needs booking."

    second = await tx(
        database,
        lambda r: r.save_dossier(
            agency,
            world.audit_job_id,
            summary="Revised.",
            gaps=["a", "b"],
            talking_points=[],
            sources=[],
            fit_reason="Better reason.",
            model="gpt-x",
        ),
    )
    assert second.id == world.dossier_id
    assert (second.summary, second.gaps, second.model, second.fit_reason) == (
        "Revised.",
        ["a", "b"],
        "gpt-x",
        "Better reason.",
    )
    assert await count_rows(database, AuditDossier, AuditDossier.audit_job_id == world.audit_job_id) == 1
    got = await read(database, lambda r: r.get_dossier(agency, world.dossier_id))
    assert got is not None and got.summary == "Revised."
    opp = await read(database, lambda r: r.get_opportunity(agency, world.opportunity_id))
    assert opp is not None and opp.fit_reason == "Better reason."


async def test_dossier_for_opportunity_is_the_latest(database: Database, agency: str) -> None:
    world = await make_world(database, agency)
    assert (
        await read(database, lambda r: r.get_dossier_for_opportunity(agency, world.opportunity_id))
    ).id == (  # type: ignore[union-attr]
        world.dossier_id
    )
    rerun = await make_flow(database, agency)

    async def second_audit(repo: Repository) -> str:
        job = await repo.create_audit_job(agency, rerun, world.opportunity_id, "https://example.com")
        dossier = await repo.save_dossier(
            agency, job.id, summary="Newer", gaps=[], talking_points=[], sources=[], fit_reason=None
        )
        return dossier.id

    newer = await tx(database, second_audit)
    latest = await read(database, lambda r: r.get_dossier_for_opportunity(agency, world.opportunity_id))
    assert latest is not None and latest.id == newer
    assert await read(database, lambda r: r.get_dossier_for_opportunity(agency, "nope")) is None


# -- calls -----------------------------------------------------------------------------------


async def test_calls_create_find_list_update(database: Database, agency: str) -> None:
    world = await make_world(database, agency)
    call = await read(database, lambda r: r.get_call(agency, world.call_id))
    assert call is not None
    assert (call.status, call.to_number, call.metadata_) == ("queued", "+15125550100", {"a": 1})
    provider_id = call.provider_call_id
    assert provider_id is not None
    by_provider = await read(database, lambda r: r.get_call_by_provider_id(agency, provider_id))
    assert by_provider is not None and by_provider.id == call.id
    found = await read(database, lambda r: r.find_call_by_provider_id(provider_id))
    assert found is not None and (found.id, found.agency_id) == (call.id, agency)
    assert await read(database, lambda r: r.find_call_by_provider_id("vapi-unknown")) is None

    newer = await tx(
        database, lambda r: r.create_call(agency, world.opportunity_id, to_number="+1", user_id="u")
    )
    assert newer.metadata_ == {}
    assert [c.id for c in await read(database, lambda r: r.list_calls(agency))] == [newer.id, call.id]

    ended = await tx(database, lambda r: r.update_call(agency, call.id, status="ended", billing_seconds=61.5))
    assert (ended.status, ended.billing_seconds) == ("ended", 61.5)
    with pytest.raises(ValueError, match="metadata_"):
        await tx(database, lambda r: r.update_call(agency, call.id, metadata_={}))


async def test_merge_call_metadata_merges_deeply_and_concurrently(database: Database, agency: str) -> None:
    world = await make_world(database, agency)
    await tx(
        database,
        lambda r: r.merge_call_metadata(
            agency,
            world.call_id,
            {"billing_customer_id": "cus", "ai_call_metering": {"requested_minutes": 2}},
        ),
    )
    merged = await tx(
        database,
        lambda r: r.merge_call_metadata(agency, world.call_id, {"ai_call_metering": {"billed_minutes": 2}}),
    )
    assert merged.metadata_ == {
        "a": 1,
        "billing_customer_id": "cus",
        "ai_call_metering": {"requested_minutes": 2, "billed_minutes": 2},
    }
    await asyncio.gather(
        *(
            tx(database, lambda r, i=i: r.merge_call_metadata(agency, world.call_id, {f"k{i}": i}))
            for i in range(6)
        )
    )
    call = await read(database, lambda r: r.get_call(agency, world.call_id))
    assert call is not None
    assert {f"k{i}" for i in range(6)} <= set(call.metadata_)
    assert call.metadata_["ai_call_metering"] == {"requested_minutes": 2, "billed_minutes": 2}


# -- webhook inbox ---------------------------------------------------------------------------


async def test_webhook_inbox_records_once_and_marks(database: Database) -> None:
    event = f"evt-{uuid.uuid4().hex}"
    assert await tx(database, lambda r: r.record_webhook("vapi", event, "end-of-call-report", {"x": 1}))
    assert not await tx(database, lambda r: r.record_webhook("vapi", event, "end-of-call-report", {"x": 2}))
    assert await tx(database, lambda r: r.record_webhook("slack", event, None, {}))  # other provider
    await tx(database, lambda r: r.mark_webhook("vapi", event, "failed", error="boom"))
    await tx(database, lambda r: r.mark_webhook("vapi", event, "processed"))
    async with database.reader() as repo:
        row = (
            await repo.session.execute(
                select(WebhookInbox).where(WebhookInbox.provider == "vapi", WebhookInbox.event_id == event)
            )
        ).scalar_one()
    assert (row.status, row.error, row.payload) == ("processed", None, {"x": 1})
    assert row.processed_at is not None
    with pytest.raises(NotFound):
        await tx(database, lambda r: r.mark_webhook("vapi", "never-seen", "processed"))
    with pytest.raises(ValueError):
        await tx(database, lambda r: r.mark_webhook("vapi", event, "weird"))


async def test_ten_concurrent_deliveries_one_wins(database: Database) -> None:
    event = f"evt-{uuid.uuid4().hex}"
    results = await asyncio.gather(
        *(tx(database, lambda r: r.record_webhook("vapi", event, "status-update", {})) for _ in range(10))
    )
    assert results.count(True) == 1
    assert await count_rows(database, WebhookInbox, WebhookInbox.event_id == event) == 1


# -- agency scope: every method, another agency's id --------------------------------------------


async def _snapshot(database: Database, agency: str, world: World) -> dict[str, Any]:
    async def snap(repo: Repository) -> dict[str, Any]:
        flow = await repo.get_flow(agency, world.flow_id)
        opp = await repo.get_opportunity(agency, world.opportunity_id)
        job = await repo.get_audit_job(agency, world.audit_job_id)
        dossier = await repo.get_dossier(agency, world.dossier_id)
        call = await repo.get_call(agency, world.call_id)
        pages = await repo.list_scraped_pages(agency, world.audit_job_id)
        member = await repo.get_flow_lead(agency, world.flow_id, world.opportunity_id)
        assert flow and opp and job and dossier and call and member
        return {
            "member": (member.rank, member.status, member.qualification_score, member.dossier_id),
            "flow": (flow.status, flow.phases, flow.lease_owner, flow.last_event, flow.num_leads_fetched),
            "opp": (opp.name, opp.status, opp.fit_reason, opp.lead_gen_flow_id),
            "job": (job.status, job.phases, job.metered, job.dossier_id),
            "dossier": (dossier.summary, dossier.gaps),
            "call": (call.status, call.metadata_, call.provider_call_id),
            "pages": [(p.id, p.title, p.content_sha256) for p in pages],
        }

    return await read(database, snap)


async def test_another_agency_reads_not_found_and_writes_nothing(
    database: Database, agency: str, other_agency: str
) -> None:
    w = await make_world(database, agency)
    own_flow = await make_flow(database, other_agency)
    store = database.content
    before = await _snapshot(database, agency, w)
    x = other_agency

    reads_none: dict[str, Callable[[Repository], Awaitable[Any]]] = {
        "get_flow": lambda r: r.get_flow(x, w.flow_id),
        "get_opportunity": lambda r: r.get_opportunity(x, w.opportunity_id),
        "get_audit_job": lambda r: r.get_audit_job(x, w.audit_job_id),
        "read_page_content": lambda r: r.read_page_content(x, w.page_id, store),
        "get_dossier": lambda r: r.get_dossier(x, w.dossier_id),
        "get_dossier_for_opportunity": lambda r: r.get_dossier_for_opportunity(x, w.opportunity_id),
        "get_call": lambda r: r.get_call(x, w.call_id),
        "get_call_by_provider_id": lambda r: r.get_call_by_provider_id(x, before["call"][2]),
        "get_lead": lambda r: r.get_lead(x, w.opportunity_id),
        "get_flow_lead": lambda r: r.get_flow_lead(x, w.flow_id, w.opportunity_id),
        "fresh_dossier": lambda r: r.fresh_dossier(
            x, w.opportunity_id, newer_than=datetime(2000, 1, 1, tzinfo=UTC), target_url="https://example.com"
        ),
    }
    lists_nothing: dict[str, Callable[[Repository], Awaitable[list[Any]]]] = {
        "list_flows": lambda r: r.list_flows(x),
        "list_opportunities": lambda r: r.list_opportunities(x, w.flow_id),
        "list_audit_jobs": lambda r: r.list_audit_jobs(x, w.flow_id),
        "list_scraped_pages": lambda r: r.list_scraped_pages(x, w.audit_job_id),
        "list_calls": lambda r: r.list_calls(x),
        "list_flow_leads": lambda r: r.list_flow_leads(x, w.flow_id),
    }
    refused: dict[str, Callable[[Repository], Awaitable[Any]]] = {
        "update_flow": lambda r: r.update_flow(x, w.flow_id, status="error"),
        "set_phase": lambda r: r.set_phase(x, w.flow_id, "source", status="running", message="hijack"),
        "flow_progress": lambda r: r.flow_progress(x, w.flow_id),
        "flow_counts": lambda r: r.flow_counts(x, w.flow_id),
        "audit_tally": lambda r: r.audit_tally(x, w.flow_id),
        "acquire_lease": lambda r: r.acquire_lease(x, w.flow_id, "intruder:1:x", 30),
        "renew_lease": lambda r: r.renew_lease(x, w.flow_id, "intruder:1:x", 30),
        "release_lease": lambda r: r.release_lease(x, w.flow_id, "intruder:1:x"),
        "upsert_opportunities": lambda r: r.upsert_opportunities(
            x, w.flow_id, [lead("intruder")], target_vertical="v", target_geography="g"
        ),
        "update_opportunity": lambda r: r.update_opportunity(x, w.opportunity_id, status="READY"),
        "create_audit_job (their flow)": lambda r: r.create_audit_job(x, w.flow_id, w.opportunity_id, "u"),
        "create_audit_job (their opportunity)": lambda r: r.create_audit_job(
            x, own_flow, w.opportunity_id, "u"
        ),
        "update_audit_job": lambda r: r.update_audit_job(x, w.audit_job_id, status="error"),
        "set_audit_phase": lambda r: r.set_audit_phase(x, w.audit_job_id, "map_urls", "error"),
        "upsert_scraped_page": lambda r: r.upsert_scraped_page(
            x, w.audit_job_id, url="https://example.com/", title="pwned", content="intruder page", store=store
        ),
        "save_dossier": lambda r: r.save_dossier(
            x, w.audit_job_id, summary="pwned", gaps=[], talking_points=[], sources=[], fit_reason="pwned"
        ),
        "create_call": lambda r: r.create_call(x, w.opportunity_id, to_number="+1"),
        "active_call": lambda r: r.active_call(
            x, w.opportunity_id, statuses={"queued"}, since=datetime(2000, 1, 1, tzinfo=UTC)
        ),
        "update_call": lambda r: r.update_call(x, w.call_id, status="ended"),
        "merge_call_metadata": lambda r: r.merge_call_metadata(x, w.call_id, {"pwned": True}),
        "get_places_snapshot": lambda r: r.get_places_snapshot(x, w.flow_id),
        "set_flow_lead": lambda r: r.set_flow_lead(x, w.flow_id, w.opportunity_id, status="DATA_READY"),
        "set_flow_ranks": lambda r: r.set_flow_ranks(x, w.flow_id, [(w.opportunity_id, 1.0)]),
    }

    for name, fn in reads_none.items():
        assert await read(database, fn) is None, name
    assert await read(database, lambda r: r.runs_of(x, [w.opportunity_id])) == {}
    for name, listing in lists_nothing.items():
        rows = await read(database, listing)
        assert all(getattr(row, "agency_id", x) == x for row in rows), name
        assert not {getattr(row, "id", None) for row in rows} & {
            w.flow_id,
            w.opportunity_id,
            w.audit_job_id,
            w.page_id,
            w.call_id,
        }, name
    for name, fn in refused.items():
        # Inside a transaction that then commits: a partial write would be kept and seen below.
        async with database.transaction() as repo:
            with pytest.raises(NotFound):
                await fn(repo)
                pytest.fail(f"{name} did not raise NotFound")

    assert await _snapshot(database, agency, w) == before
    for model in (ClientOpportunity, AuditJob, ScrapedPage, AuditDossier, Call):
        assert await count_rows(database, model, model.agency_id == x) == 0, model.__tablename__
    assert await count_rows(database, LeadGenFlow, LeadGenFlow.agency_id == x) == 1  # its own flow only
    content_files = [p for p in store.root.rglob("*.md")]  # type: ignore[attr-defined]
    assert len(content_files) == 1  # only the world's page: refused upserts store nothing


async def test_set_audit_phases_changes_several_phases_and_fields_at_once(
    database: Database, agency: str
) -> None:
    world = await make_world(database, agency)
    await tx(
        database,
        lambda r: r.set_audit_phases(
            agency, world.audit_job_id, {"map_urls": "complete", "filter_urls": "running"}, status="running"
        ),
    )
    job = await read(database, lambda r: r.get_audit_job(agency, world.audit_job_id))
    assert job is not None
    assert [p["status"] for p in job.phases] == ["complete", "running", "pending", "pending"]
    assert [p["name"] for p in job.phases] == [
        "map_urls",
        "filter_urls",
        "scrape_content",
        "generate_dossier",
    ]
    assert job.status == "running"
    with pytest.raises(ValueError):
        await tx(database, lambda r: r.set_audit_phases(agency, world.audit_job_id, {"bogus": "running"}))
    with pytest.raises(ValueError):
        await tx(database, lambda r: r.set_audit_phases(agency, world.audit_job_id, {}, agency_id="other"))
    with pytest.raises(ValueError):
        await tx(database, lambda r: r.set_audit_phases(agency, world.audit_job_id, {}, no_such_column=1))
    with pytest.raises(NotFound):
        await tx(
            database, lambda r: r.set_audit_phases("other-agency", world.audit_job_id, {"map_urls": "error"})
        )
    stored = await read(database, lambda r: r.get_audit_job(agency, world.audit_job_id))
    assert stored is not None and stored.phases == job.phases


async def test_upsert_scraped_pages_in_one_batch(database: Database, agency: str) -> None:
    world = await make_world(database, agency)
    store = database.content
    batch = [
        PageInput("https://example.com/pricing", "Pricing", "from $99", 200),
        PageInput("https://example.com/team", "Team", "Dr. Ana", 200),
        PageInput("https://example.com/pricing", "Pricing v2", "from $89", 200),  # the last one wins
    ]
    stored = await tx(
        database, lambda r: r.upsert_scraped_pages(agency, world.audit_job_id, batch, store=store)
    )
    assert stored == 2
    pages = {
        p.url: p for p in await read(database, lambda r: r.list_scraped_pages(agency, world.audit_job_id))
    }
    assert pages["https://example.com/pricing"].title == "Pricing v2"
    assert await store.get(pages["https://example.com/pricing"].content_ref) == "from $89"
    assert pages["https://example.com/team"].opportunity_id == world.opportunity_id

    again = await tx(
        database,
        lambda r: r.upsert_scraped_pages(
            agency, world.audit_job_id, [PageInput("https://example.com/team", "Team", "Dr. Bo")], store=store
        ),
    )
    assert again == 1
    after = {
        p.url: p for p in await read(database, lambda r: r.list_scraped_pages(agency, world.audit_job_id))
    }
    assert after["https://example.com/team"].id == pages["https://example.com/team"].id
    assert await store.get(after["https://example.com/team"].content_ref) == "Dr. Bo"

    with pytest.raises(NotFound):
        await tx(
            database, lambda r: r.upsert_scraped_pages("other-agency", world.audit_job_id, batch, store=store)
        )
    assert len(await read(database, lambda r: r.list_scraped_pages(agency, world.audit_job_id))) == len(after)


# -- run membership --------------------------------------------------------------------------


async def test_a_flow_keeps_its_leads_when_a_later_flow_finds_them(database: Database, agency: str) -> None:
    first = await make_flow(database, agency)
    await upsert(database, agency, first, [lead(1), lead(2)])
    second = await make_flow(database, agency)
    await upsert(database, agency, second, [lead(2), lead(3)])
    await upsert(database, agency, second, [lead(2), lead(3)])  # again (a crash): nothing twice

    first_leads = await read(database, lambda r: r.list_flow_leads(agency, first))
    second_leads = await read(database, lambda r: r.list_flow_leads(agency, second))
    assert [x.opportunity.place_id for x in first_leads] == ["place-1", "place-2"]
    assert [x.opportunity.place_id for x in second_leads] == ["place-2", "place-3"]
    shared = first_leads[1].opportunity.id
    assert first_leads[1].runs == second_leads[0].runs == [second, first]  # newest first
    assert first_leads[0].runs == [first]
    assert (await read(database, lambda r: r.flow_counts(agency, first)))["opportunities"] == 2

    # Each flow's status for the lead is its own; the lead's own status is the latest.
    await tx(database, lambda r: r.set_flow_lead(agency, first, shared, status="READY"))
    await tx(database, lambda r: r.set_flow_lead(agency, second, shared, status="AUDITING"))
    assert [x.status for x in await read(database, lambda r: r.list_flow_leads(agency, first))] == [
        "SOURCED",
        "READY",
    ]
    got = await read(database, lambda r: r.get_lead(agency, shared))
    assert got is not None and got.status == "AUDITING" and got.runs == [second, first]
    with pytest.raises(ValueError, match="unknown lead status"):
        await tx(database, lambda r: r.set_flow_lead(agency, first, shared, status="DONE"))
    with pytest.raises(ValueError, match="cannot be changed"):
        await tx(database, lambda r: r.set_flow_lead(agency, first, shared, opportunity_id="x"))


async def test_fresh_dossier_and_a_failed_audit_of_a_researched_lead(database: Database, agency: str) -> None:
    w = await make_world(database, agency)  # one lead, audited at https://example.com, with a dossier
    await tx(database, lambda r: r.update_audit_job(agency, w.audit_job_id, status="completed"))
    long_ago = datetime(2000, 1, 1, tzinfo=UTC)

    def fresh(
        newer_than: datetime, url: str = "https://example.com"
    ) -> Callable[[Repository], Awaitable[Any]]:
        return lambda r: r.fresh_dossier(agency, w.opportunity_id, newer_than=newer_than, target_url=url)

    found = await read(database, fresh(long_ago))
    assert found is not None and found.id == w.dossier_id
    assert await read(database, fresh(datetime.now(UTC))) is None  # older than asked
    assert await read(database, fresh(long_ago, "https://moved.example")) is None  # about another site

    # A later flow's audit of it fails: that flow says DATA_READY, the lead stays researched.
    later = await make_flow(database, agency)
    await upsert(database, agency, later, [lead(f"w-{agency}")])
    await tx(database, lambda r: r.set_flow_lead(agency, later, w.opportunity_id, status="DATA_READY"))
    member = await read(database, lambda r: r.get_flow_lead(agency, later, w.opportunity_id))
    assert member is not None and member.status == "DATA_READY"
    opp = await read(database, lambda r: r.get_opportunity(agency, w.opportunity_id))
    assert opp is not None and opp.status == "READY"
