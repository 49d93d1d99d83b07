"""How fast every read the faces make stays when the tables are big.

Fills a database (bulk inserts, not the pipeline) with 50 agencies' worth of history: 100k leads,
5k runs (20 leads each, overlapping as re-runs of a campaign do), 50k audits and dossiers, 300k
scraped-page rows, 20k calls and the credit ledger those runs would have written. Then times each
read the CLI, chat and Slack make (through the real repository and ledger code, one session each,
as the faces open them), picking a random agency, run, lead, audit ... every time, and prints p50
and p95 per query, whether its statements' plans use an index, and a full scan of its main table
beside it for the ratio. Runs on a SQLite file and on PostgreSQL (a database of its own, created
and dropped here).

    .venv/bin/python bench/queries.py [--repeat 300] [--scale 1.0] [--no-postgres]
        [--postgres postgresql://postgres@127.0.0.1:5432/test] [--plans]

Target: p95 <= 10 ms for every query on both databases. SQLite is measured as users run it: no
ANALYZE (nothing in the product runs one). PostgreSQL gets the ANALYZE its autovacuum would run
after a bulk load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from sqlalchemy import event, insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from db import Database, open_database
from db.base import Base, new_id
from db.models import (
    Agency,
    AgencyProfile,
    AuditDossier,
    AuditJob,
    Call,
    ClientOpportunity,
    CreditAccount,
    CreditLedgerEntry,
    FlowLead,
    LeadGenFlow,
    ScrapedPage,
    initial_audit_phases,
    initial_phases,
)
from db.repositories import Repository
from tools.billing.local import LocalLedger

TARGET_P95_MS = 10.0
TABLES = frozenset(Base.metadata.tables)
BATCH = 5000
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Shape:
    agencies: int = 50
    leads: int = 100_000
    runs: int = 5_000
    leads_per_run: int = 20
    audits_per_run: int = 10  # 5k runs x 10 = 50k audits, each with its dossier
    pages_per_audit: int = 6  # 300k pages
    calls: int = 20_000

    def scaled(self, factor: float) -> Shape:
        return Shape(
            agencies=self.agencies,
            leads=max(self.agencies * 40, int(self.leads * factor)),
            runs=max(self.agencies * 2, int(self.runs * factor)),
            calls=max(self.agencies, int(self.calls * factor)),
        )


@dataclass
class Ids:
    """What the timed reads pick from: ids per agency."""

    runs: dict[str, list[str]] = field(default_factory=dict)
    leads: dict[str, list[str]] = field(default_factory=dict)
    dossiers: dict[str, list[str]] = field(default_factory=dict)
    audits: dict[str, list[str]] = field(default_factory=dict)


# -- filling ----------------------------------------------------------------------------------


def _rows(shape: Shape, ids: Ids) -> Iterator[tuple[Any, list[dict[str, Any]]]]:
    """(table, rows) in foreign-key order, a batch at a time."""
    rng = random.Random(7)
    agencies = [f"bench-{i:02d}" for i in range(shape.agencies)]
    yield (
        Agency.__table__,
        [{"id": a, "name": a, "billing_customer_id": a, "created_at": EPOCH} for a in agencies],
    )
    yield (
        AgencyProfile.__table__,
        [
            {
                "id": new_id(),
                "agency_id": a,
                "target_vertical": "dentists",
                "target_geography": "Austin, TX",
                "criteria": ["MISSING_WEBSITE", "FEW_GOOGLE_REVIEWS"],
                "services_offered": [],
                "updated_at": EPOCH,
            }
            for a in agencies
        ],
    )
    leads_per_agency = shape.leads // shape.agencies
    runs_per_agency = shape.runs // shape.agencies
    # Each run is a campaign re-run: its window of leads overlaps the previous run's by a quarter.
    stride = max(
        1, min(shape.leads_per_run * 3 // 4, (leads_per_agency - shape.leads_per_run) // runs_per_agency)
    )
    ledger: list[dict[str, Any]] = []
    # What a run's source phase keeps: the places it read (one page of 20 here).
    snapshot = [
        {
            "id": f"place-{i}",
            "name": f"Business {i}",
            "website": f"https://biz{i}.com/",
            "phone": "(512) 555-0100",
            "rating": 4.5,
            "reviews": 12,
            "address": f"{i} Main St, Austin, TX 78701",
            "business_status": "OPERATIONAL",
        }
        for i in range(20)
    ]
    for a in agencies:
        leads = [new_id() for _ in range(leads_per_agency)]
        ids.leads[a] = leads
        flows = [new_id() for _ in range(runs_per_agency)]
        ids.runs[a] = flows
        created = [EPOCH + timedelta(hours=i) for i in range(runs_per_agency)]
        newest_run: dict[str, str] = {}
        members: list[dict[str, Any]] = []
        jobs: list[dict[str, Any]] = []
        for r, flow_id in enumerate(flows):
            window = leads[r * stride : r * stride + shape.leads_per_run]
            for rank, opp_id in enumerate(window):
                newest_run[opp_id] = flow_id
                audited = rank < shape.audits_per_run
                job_id = new_id() if audited else None
                dossier_id = new_id() if audited else None
                members.append(
                    {
                        "lead_gen_flow_id": flow_id,
                        "opportunity_id": opp_id,
                        "agency_id": a,
                        "rank": rank,
                        "qualification_score": round(1 - rank / 20, 2),
                        "status": "READY" if audited else "DATA_READY",
                        "audit_job_id": job_id,
                        "dossier_id": dossier_id,
                        "dossier_reused": False,
                        "created_at": created[r],
                        "updated_at": created[r],
                    }
                )
                if audited:
                    jobs.append(
                        {
                            "id": job_id,
                            "dossier": dossier_id,
                            "flow": flow_id,
                            "opp": opp_id,
                            "at": created[r],
                        }
                    )
            ledger.append(_charge(a, "lead_discovery", 1, f"flow:{flow_id}:source", created[r]))
        yield (
            LeadGenFlow.__table__,
            [
                {
                    "id": flow_id,
                    "agency_id": a,
                    "billing_customer_id": a,
                    "num_leads_requested": shape.leads_per_run,
                    "num_leads_fetched": 20,
                    "target_vertical": "dentists",
                    "target_geography": "Austin, TX",
                    "status": "completed",
                    "refresh_dossiers": False,
                    "phases": initial_phases(),
                    "last_event": {
                        "type": "completed",
                        "message": "done",
                        "timestamp": "2026-01-01T00:00:00Z",
                    },
                    "places_snapshot": snapshot,
                    "created_at": created[r],
                    "updated_at": created[r],
                    "completed_at": created[r],
                }
                for r, flow_id in enumerate(flows)
            ],
        )
        yield (
            ClientOpportunity.__table__,
            [
                {
                    "id": opp_id,
                    "agency_id": a,
                    "lead_gen_flow_id": newest_run.get(opp_id),
                    "name": f"Business {i}",
                    "domain": f"biz{i}-{a}.com",
                    "website": f"https://biz{i}-{a}.com/",
                    "phone": "+15125550100",
                    "place_id": f"place-{a}-{i}",
                    "address": f"{i} Main St",
                    "rating": round(rng.uniform(2.5, 5), 1),
                    "reviews_count": rng.randint(0, 400),
                    "source": "google_places",
                    "status": "READY",
                    "target_vertical": "dentists",
                    "target_geography": "Austin, TX",
                    "qualification_score": 0.5,
                    "signals": ["FEW_GOOGLE_REVIEWS"],
                    "created_at": EPOCH,
                    "updated_at": EPOCH,
                }
                for i, opp_id in enumerate(leads)
            ],
        )
        yield FlowLead.__table__, members
        ids.audits[a] = [j["id"] for j in jobs]
        ids.dossiers[a] = [j["dossier"] for j in jobs]
        yield (
            AuditJob.__table__,
            [
                {
                    "id": j["id"],
                    "agency_id": a,
                    "opportunity_id": j["opp"],
                    "lead_gen_flow_id": j["flow"],
                    "target_url": "https://example.com/",
                    "status": "completed",
                    "phases": [{**p, "status": "complete"} for p in initial_audit_phases()],
                    "dossier_id": j["dossier"],
                    "metered": True,
                    "created_at": j["at"],
                    "updated_at": j["at"],
                }
                for j in jobs
            ],
        )
        yield (
            AuditDossier.__table__,
            [
                {
                    "id": j["dossier"],
                    "agency_id": a,
                    "audit_job_id": j["id"],
                    "opportunity_id": j["opp"],
                    "summary": "A dental practice with room to grow online. " * 4,
                    "gaps": ["no online booking", "no pricing"],
                    "talking_points": ["booking", "pricing"],
                    "sources": [{"url": "https://example.com/", "title": "Home"}],
                    "fit_reason": "Needs booking.",
                    "created_at": j["at"],
                }
                for j in jobs
            ],
        )
        for chunk in range(0, len(jobs), BATCH // shape.pages_per_audit):
            yield (
                ScrapedPage.__table__,
                [
                    {
                        "id": new_id(),
                        "agency_id": a,
                        "audit_job_id": j["id"],
                        "opportunity_id": j["opp"],
                        "url": f"https://example.com/page-{p}",
                        "title": f"Page {p}",
                        "content_ref": "0" * 64,
                        "content_sha256": "0" * 64,
                        "content_length": 1000,
                        "status_code": 200,
                        "scraped_at": j["at"],
                    }
                    for j in jobs[chunk : chunk + BATCH // shape.pages_per_audit]
                    for p in range(shape.pages_per_audit)
                ],
            )
        ledger.extend(
            _charge(a, "dossier_research", 2, f"audit:{j['id']}", j["at"] + timedelta(seconds=1))
            for j in jobs
        )
        calls_per_agency = shape.calls // shape.agencies
        yield (
            Call.__table__,
            [
                {
                    "id": new_id(),
                    "agency_id": a,
                    "opportunity_id": leads[i % len(leads)],
                    "provider_call_id": f"vapi-{uuid.uuid4().hex}",
                    "to_number": "+15125550100",
                    "status": "ended",
                    "billing_seconds": 61.0,
                    "metadata": {"billing_customer_id": a},
                    "created_at": EPOCH + timedelta(minutes=i),
                    "updated_at": EPOCH + timedelta(minutes=i),
                }
                for i in range(calls_per_agency)
            ],
        )
        ledger.append(_grant(a))
        yield CreditLedgerEntry.__table__, ledger
        ledger = []
    yield (
        CreditAccount.__table__,
        [{"customer_id": a, "balance": 10_000, "held": 0, "updated_at": EPOCH} for a in agencies],
    )


def _charge(customer: str, feature: str, credits: int, key: str, at: datetime) -> dict[str, Any]:
    return {
        "id": new_id(),
        "customer_id": customer,
        "kind": "charge",
        "feature_id": feature,
        "units": 1,
        "credits": credits,
        "idempotency_key": key,
        "balance_after": None,
        "created_at": at,
    }


def _grant(customer: str) -> dict[str, Any]:
    return {**_charge(customer, "", 100_000, f"grant:{customer}", EPOCH), "kind": "grant", "feature_id": None}


async def fill(db: Database, shape: Shape) -> tuple[Ids, float, dict[str, int]]:
    ids = Ids()
    counts: dict[str, int] = {}
    start = time.perf_counter()
    async with db.engine.begin() as conn:
        for table, rows in _rows(shape, ids):
            for i in range(0, len(rows), BATCH):
                await conn.execute(insert(table), rows[i : i + BATCH])
            counts[table.name] = counts.get(table.name, 0) + len(rows)
    if db.engine.dialect.name == "postgresql":
        async with db.engine.connect() as conn:
            await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text("ANALYZE"))
    return ids, time.perf_counter() - start, counts


# -- the reads the faces make ----------------------------------------------------------------


@dataclass(frozen=True)
class Read:
    name: str
    table: str  # the table a full scan is timed on, for the ratio
    run: Callable[[Repository, LocalLedger, Ids, random.Random], Awaitable[Any]]


def _agency(ids: Ids, rng: random.Random) -> str:
    return rng.choice(list(ids.runs))


def _pick(pool: dict[str, list[str]], ids: Ids, rng: random.Random) -> tuple[str, str]:
    agency = _agency(ids, rng)
    return agency, rng.choice(pool[agency])


async def _fresh_dossier(repo: Repository, ids: Ids, rng: random.Random) -> Any:
    agency, dossier_id = _pick(ids.dossiers, ids, rng)
    dossier = await repo.get_dossier(agency, dossier_id)
    assert dossier is not None
    return await repo.fresh_dossier(
        agency, dossier.opportunity_id, newer_than=EPOCH, target_url="https://example.com/"
    )


async def _floor(repo: Repository) -> Any:
    return (await repo.session.execute(text("SELECT 1"))).scalar_one()


READS = [
    # Not a face's read: one round trip through the same session, the floor under every row.
    Read("(floor: SELECT 1)", "lead_gen_flows", lambda r, _l, _i, _g: _floor(r)),
    Read("get run", "lead_gen_flows", lambda r, _l, i, g: r.get_flow(*_pick(i.runs, i, g))),
    Read("list runs", "lead_gen_flows", lambda r, _l, i, g: r.list_flows(_agency(i, g))),
    Read("counts", "lead_gen_flow_leads", lambda r, _l, i, g: r.flow_counts(*_pick(i.runs, i, g))),
    Read("progress", "lead_gen_flows", lambda r, _l, i, g: r.flow_progress(*_pick(i.runs, i, g))),
    Read(
        "a run's leads, ranked",
        "lead_gen_flow_leads",
        lambda r, _l, i, g: r.list_flow_leads(*_pick(i.runs, i, g)),
    ),
    Read(
        "a lead (with runs, dossier)",
        "client_opportunities",
        lambda r, _l, i, g: r.get_lead(*_pick(i.leads, i, g)),
    ),
    Read("a dossier", "audit_dossiers", lambda r, _l, i, g: r.get_dossier(*_pick(i.dossiers, i, g))),
    Read("a run's audits", "audit_jobs", lambda r, _l, i, g: r.list_audit_jobs(*_pick(i.runs, i, g))),
    Read(
        "an audit's pages",
        "audit_scraped_pages",
        lambda r, _l, i, g: r.list_scraped_pages(*_pick(i.audits, i, g)),
    ),
    Read("an agency's calls", "calls", lambda r, _l, i, g: r.list_calls(_agency(i, g))),
    Read("credit history", "credit_ledger_entries", lambda _r, ledger, i, g: ledger.history(_agency(i, g))),
    Read("reuse check (fresh dossier)", "audit_dossiers", lambda r, _l, i, g: _fresh_dossier(r, i, g)),
]


class StatementLog:
    """The SQL statements (and parameters) one read sends, to explain them afterwards."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.capturing = False
        self.statements: list[tuple[str, Any]] = []
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.capturing and statement.lstrip().upper().startswith("SELECT"):
            self.statements.append((statement, parameters))


async def explain(db: Database, statements: list[tuple[str, Any]]) -> list[str]:
    """Each statement's plan in one line: which tables it searches through which index, and
    which it scans."""
    plans: list[str] = []
    sqlite = db.engine.dialect.name == "sqlite"
    async with db.engine.connect() as conn:
        for statement, parameters in statements:
            prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            rows = (await conn.exec_driver_sql(prefix + statement, parameters)).all()
            if sqlite:
                steps = [str(row[-1]) for row in rows]
            else:
                steps = [
                    line.strip().lstrip("-> ").split("  (")[0]
                    for (line,) in rows
                    if "Scan" in line or "Index" in line
                ]
            plans.append("; ".join(steps))
    return plans


def uses_index_only(plans: list[str]) -> bool:
    """No statement reads a whole table of ours (SQLite's SCAN, PostgreSQL's Seq Scan). Scanning
    a covering index, or the one row a subquery materialised, is fine."""
    for plan in plans:
        for step in plan.split("; "):
            words = step.split()
            if step.startswith("SCAN ") and words[1] in TABLES and "COVERING INDEX" not in step:
                return False
            if step.startswith("Seq Scan"):
                return False
    return True


async def server_ms(db: Database, statements: list[tuple[str, Any]], repeat: int = 5) -> float | None:
    """PostgreSQL's own planning + execution time for the read's statements (median of a few
    EXPLAIN ANALYZE runs each): what the database spends, without the round trips."""
    if db.engine.dialect.name != "postgresql":
        return None
    total = 0.0
    async with db.engine.connect() as conn:
        for statement, parameters in statements:
            samples = []
            for _ in range(repeat):
                rows = (await conn.exec_driver_sql("EXPLAIN ANALYZE " + statement, parameters)).all()
                samples.append(
                    sum(
                        float(line.split(":")[1].split()[0])
                        for (line,) in rows
                        if line.startswith(("Planning Time", "Execution Time"))
                    )
                )
            total += statistics.median(samples)
    return total


async def full_scan_ms(db: Database, table: str, repeat: int = 5) -> float:
    """A full pass over `table`: a predicate no index can answer (`id || ''`)."""
    key = "opportunity_id" if table == "lead_gen_flow_leads" else "id"
    times = []
    async with db.engine.connect() as conn:
        for _ in range(repeat):
            start = time.perf_counter()
            await conn.execute(text(f"SELECT COUNT(*) FROM {table} WHERE {key} || '' = 'none'"))
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


@dataclass
class Result:
    read: Read
    p50: float
    p95: float
    plans: list[str]
    scan_ms: float
    server: float | None

    @property
    def ok(self) -> bool:
        return self.p95 <= TARGET_P95_MS


async def measure(db: Database, ids: Ids, repeat: int) -> list[Result]:
    """Every read `repeat` times, in rounds that call each read once in a shuffled order, so
    a burst of load on a shared machine lands on all of them alike, not on whichever ran then."""
    ledger = LocalLedger(db.engine)
    log = StatementLog(db.engine)
    rng = random.Random(11)

    async def once(read: Read) -> float:
        start = time.perf_counter()
        async with db.reader() as repo:
            await read.run(repo, ledger, ids, rng)
        return (time.perf_counter() - start) * 1000

    for read in READS:  # warm the caches, the statement cache and the connection pool
        for _ in range(max(5, repeat // 10)):
            await once(read)
    times: dict[str, list[float]] = {read.name: [] for read in READS}
    order = list(READS)
    for _ in range(repeat):
        rng.shuffle(order)
        for read in order:
            times[read.name].append(await once(read))
    results = []
    for read in READS:
        log.statements, log.capturing = [], True
        async with db.reader() as repo:
            await read.run(repo, ledger, ids, rng)
        log.capturing = False
        samples = sorted(times[read.name])
        results.append(
            Result(
                read,
                statistics.median(samples),
                samples[min(len(samples) - 1, int(len(samples) * 0.95))],
                await explain(db, log.statements),
                await full_scan_ms(db, read.table),
                await server_ms(db, log.statements),
            )
        )
    return results


def report(
    name: str, results: list[Result], fill_seconds: float, counts: dict[str, int], plans: bool
) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n== {name}: filled in {fill_seconds:.1f} s; load average {load} on {os.cpu_count()} CPUs ==")
    print("   " + ", ".join(f"{table} {n:,}" for table, n in counts.items()))
    header = (
        f"{'query':<30} {'p50 ms':>7} {'p95 ms':>7} {'db ms':>6} {'index':>5} "
        f"{'full scan of':>21} {'ms':>7} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        server = f"{r.server:6.2f}" if r.server is not None else f"{'-':>6}"
        print(
            f"{r.read.name:<30} {r.p50:7.2f} {r.p95:7.2f} {server} {'yes' if uses_index_only(r.plans) else 'NO':>5} "
            f"{r.read.table:>21} {r.scan_ms:7.1f} {r.scan_ms / max(r.p50, 1e-6):5.0f}x"
            + ("" if r.ok else f"  <- over {TARGET_P95_MS:g} ms")
        )
        if plans or not uses_index_only(r.plans):
            for plan in r.plans:
                print(f"{'':<4}{plan}")
    missed = [r.read.name for r in results if not r.ok]
    print(
        f"target p95 <= {TARGET_P95_MS:g} ms: "
        + ("all met" if not missed else f"missed by {', '.join(missed)}")
    )
    print("(db ms: PostgreSQL's planning + execution time of the read's statements, from EXPLAIN ANALYZE)")


async def bench(url: str, name: str, shape: Shape, repeat: int, plans: bool, content: Path) -> bool:
    db = await open_database(url, content_dir=content)
    try:
        ids, seconds, counts = await fill(db, shape)
        results = await measure(db, ids, repeat)
    finally:
        await db.close()
    report(name, results, seconds, counts, plans)
    return all(r.ok for r in results)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=300, help="timed calls per query (default 300)")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full data set")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("LEADGEN_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"),
        help="an admin DSN: a database of our own is created there and dropped at the end",
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--plans", action="store_true", help="print every query's plan")
    args = parser.parse_args()
    shape = Shape().scaled(args.scale) if args.scale != 1.0 else Shape()
    print(
        f"{shape.agencies} agencies, {shape.leads:,} leads, {shape.runs:,} runs x {shape.leads_per_run} leads, "
        f"{shape.runs * shape.audits_per_run:,} audits and dossiers, "
        f"{shape.runs * shape.audits_per_run * shape.pages_per_audit:,} pages, {shape.calls:,} calls; "
        f"{args.repeat} timed calls per query"
    )
    ok = True
    with tempfile.TemporaryDirectory(prefix="leadgen-bench-") as tmp:
        sqlite_url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        ok &= await bench(sqlite_url, "SQLite", shape, args.repeat, args.plans, Path(tmp) / "content")
        if not args.no_postgres:
            name = f"leadgen_bench_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(args.postgres, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            try:
                base = args.postgres.rsplit("/", 1)[0]
                pg_url = f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)
                ok &= await bench(pg_url, "PostgreSQL", shape, args.repeat, args.plans, Path(tmp) / "content")
            finally:
                with psycopg.connect(args.postgres, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
