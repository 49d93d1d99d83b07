"""Migrations on SQLite and PostgreSQL: empty -> head -> base -> head, the migrated schema equals
the models, ensure_schema is once-per-process and safe to race, `leadgen db upgrade` works."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import column as sa_column
from sqlalchemy import inspect, text
from sqlalchemy import table as sa_table
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from db import migrate
from db import models as _models  # noqa: F401  (all tables on Base.metadata)
from db.base import Base
from db.engine import create_engine, write_session

REPO_ROOT = Path(__file__).resolve().parents[2]


async def _run_sync(url: str, fn: Any, *, write: bool = False) -> Any:
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            if write:  # our SQLite connections are read-only outside BEGIN IMMEDIATE
                conn = await conn.execution_options(sqlite_begin="IMMEDIATE")
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


# Chainlit's history tables are created by migration 0002 but have no ORM models (Chainlit writes
# them with its own SQL), so the model/schema comparison covers our tables only.
CHAINLIT_TABLES = {"users", "threads", "steps", "elements", "feedbacks"}


def _ours(name: str | None, type_: str, parent_names: Any) -> bool:
    return type_ != "table" or name in Base.metadata.tables


def _schema_diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True, "include_name": _ours}
    )
    return list(compare_metadata(context, Base.metadata))


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _index_names(conn: Connection) -> set[str]:
    insp = inspect(conn)
    return {ix["name"] for t in insp.get_table_names() for ix in insp.get_indexes(t) if ix["name"]}


async def test_upgrade_downgrade_upgrade(empty_db_url: str) -> None:
    url = empty_db_url
    assert await migrate.current(url) is None
    head = migrate.head_revision()
    assert head is not None

    await migrate.upgrade(url)
    assert await migrate.current(url) == head
    assert await _run_sync(url, _tables) >= set(Base.metadata.tables)
    assert await _run_sync(url, _schema_diff) == []

    assert await _run_sync(url, _tables) >= CHAINLIT_TABLES

    await migrate.downgrade(url, "base")
    assert await migrate.current(url) is None
    assert await _run_sync(url, _tables) & (set(Base.metadata.tables) | CHAINLIT_TABLES) == set()

    await migrate.upgrade(url, "head")
    assert await migrate.current(url) == head
    assert await _run_sync(url, _schema_diff) == []


async def test_every_model_index_exists_after_upgrade(empty_db_url: str) -> None:
    await migrate.upgrade(empty_db_url)
    expected = {ix.name for table in Base.metadata.tables.values() for ix in table.indexes}
    assert expected <= await _run_sync(empty_db_url, _index_names)


async def test_partial_unique_indexes_allow_many_nulls_but_no_duplicates(empty_db_url: str) -> None:
    await migrate.upgrade(empty_db_url)
    engine = create_engine(empty_db_url, poolclass=NullPool)
    insert = text(
        "INSERT INTO client_opportunities (id, agency_id, name, domain, place_id, source, status,"
        " qualification_score, signals, created_at, updated_at)"
        " VALUES (:id, 'a', 'n', :domain, :place, 'google_places', 'SOURCED', 0, '[]',"
        " '2024-01-01 00:00:00', '2024-01-01 00:00:00')"
    )
    try:
        async with write_session(engine) as conn:
            await conn.execute(
                text(
                    "INSERT INTO agencies (id, name, billing_customer_id, created_at)"
                    " VALUES ('a', 'A', 'a', '2024-01-01 00:00:00')"
                )
            )
            for i in range(3):  # NULL domain and place id never collide
                await conn.execute(insert, {"id": f"n{i}", "domain": None, "place": None})
            await conn.execute(insert, {"id": "d1", "domain": "x.com", "place": None})
        with pytest.raises(IntegrityError):
            async with write_session(engine) as conn:
                await conn.execute(insert, {"id": "d2", "domain": "x.com", "place": None})
    finally:
        await engine.dispose()


async def test_ensure_schema_migrates_once_and_survives_a_race(empty_db_url: str) -> None:
    url = empty_db_url
    migrate._ensured.discard(migrate.normalise_url(url))
    await asyncio.gather(*(migrate.ensure_schema(url) for _ in range(5)))
    assert await migrate.current(url) == migrate.head_revision()

    # Once ensured, a later call does not touch the database (the version table is not read).
    await _run_sync(url, lambda c: (c.execute(text("DROP TABLE alembic_version")), c.commit()), write=True)
    await migrate.ensure_schema(url)
    assert await migrate.current(url) is None


async def test_migrations_of_several_databases_may_overlap_in_one_process(
    empty_db_url: str, tmp_path: Path
) -> None:
    # Alembic's running context is one module-global: overlapping runs used to tear it down
    # under each other (KeyError: 'config').
    urls = [empty_db_url, *(f"sqlite+aiosqlite:///{tmp_path / f'other{i}.db'}" for i in range(3))]
    await asyncio.gather(*(migrate.upgrade(url) for url in urls))
    assert [await migrate.current(url) for url in urls] == [migrate.head_revision()] * 4
    await asyncio.gather(*(migrate.downgrade(url, "base") for url in urls))
    assert [await migrate.current(url) for url in urls] == [None] * 4


async def test_cli_db_upgrade(tmp_path: Path) -> None:
    db_file = tmp_path / "cli" / "leadgen.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db_file}", "LEADGEN_DATA_DIR": str(tmp_path)}
    script = Path(sys.executable).with_name("leadgen")  # the installed console script
    leadgen = (
        [str(script)] if script.exists() else [sys.executable, "-c", "from assistant.cli import main; main()"]
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*leadgen, "db", "upgrade", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )

    first = await asyncio.to_thread(run)
    assert first.returncode == 0, first.stderr
    assert f"empty -> {migrate.head_revision()}" in first.stderr
    assert first.stdout == ""
    assert await migrate.current(f"sqlite+aiosqlite:///{db_file}") == migrate.head_revision()

    bad = await asyncio.to_thread(run, "--revision", "nope")
    assert bad.returncode == 2
    assert "nope" in bad.stderr


# -- 0004: run membership, backfilled from what runs made before it left behind ----------------


def _legacy_rows(conn: Connection, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows as the code before 0004 wrote them (only the columns that existed then)."""
    from datetime import datetime

    from db.base import JSONType, UTCDateTime

    def column(name: str, value: Any) -> Any:
        if isinstance(value, list | dict):
            return sa_column(name, JSONType)
        if isinstance(value, datetime):
            return sa_column(name, UTCDateTime())
        return sa_column(name)

    for row in rows:
        conn.execute(sa_table(table, *(column(k, v) for k, v in row.items())).insert().values(**row))


def _runs_made_before_0004(conn: Connection) -> None:
    """Two runs of one campaign by the old code (the second moved the shared leads to itself),
    and a rival agency's run that found the same place."""
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)

    def place(pid: str, phone: str | None = "+15125550100", status: str = "OPERATIONAL") -> dict[str, Any]:
        return {"id": pid, "name": pid, "website": None, "phone": phone, "business_status": status}

    def flow(fid: str, agency: str, at: datetime, snapshot: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": fid, "agency_id": agency, "billing_customer_id": agency, "num_leads_requested": 5,
            "num_leads_fetched": len(snapshot), "target_vertical": "dentists",
            "target_geography": "Austin, TX", "status": "completed", "phases": [],
            "places_snapshot": snapshot, "created_at": at, "updated_at": at,
        }  # fmt: skip

    def opp(
        oid: str, agency: str, flow_id: str, pid: str, domain: str | None, status: str, score: float
    ) -> dict[str, Any]:
        return {
            "id": oid, "agency_id": agency, "lead_gen_flow_id": flow_id, "name": f"Biz {oid}",
            "domain": domain, "website": f"https://{domain}/" if domain else None, "place_id": pid,
            "phone": "+15125550100", "source": "google_places", "status": status,
            "qualification_score": score, "signals": [], "created_at": t0, "updated_at": t0,
        }  # fmt: skip

    def job(jid: str, flow_id: str, opp_id: str, status: str, dossier: str | None) -> dict[str, Any]:
        return {
            "id": jid, "agency_id": "acme", "opportunity_id": opp_id, "lead_gen_flow_id": flow_id,
            "target_url": "https://x.com/", "status": status, "phases": [], "dossier_id": dossier,
            "metered": status == "completed", "created_at": t0, "updated_at": t0,
        }  # fmt: skip

    def dossier(did: str, jid: str, opp_id: str) -> dict[str, Any]:
        return {
            "id": did, "agency_id": "acme", "audit_job_id": jid, "opportunity_id": opp_id,
            "summary": "s", "gaps": [], "talking_points": [], "sources": [], "created_at": t0,
        }  # fmt: skip

    _legacy_rows(conn, "agencies", [
        {"id": a, "name": a, "billing_customer_id": a, "created_at": t0} for a in ("acme", "rival")
    ])  # fmt: skip
    _legacy_rows(conn, "lead_gen_flows", [
        flow("A", "acme", t0, [place("p1"), place("p2"), place("p3", phone=None),
                               place("p4", status="CLOSED_PERMANENTLY"), place("p5")]),
        flow("B", "acme", t0 + timedelta(days=1), [place("p1"), place("p2"), place("p6")]),
        flow("R", "rival", t0 + timedelta(days=2), [place("p1")]),
    ])  # fmt: skip
    _legacy_rows(conn, "client_opportunities", [
        opp("o1", "acme", "B", "p1", "x.com", "READY", 0.5),
        opp("o2", "acme", "B", "p2", None, "DATA_READY", 0.75),
        opp("o4", "acme", "B", "p4", None, "DATA_READY", 0.0),  # closed when A looked
        opp("o5", "acme", "A", "p5", "y.com", "READY", 0.25),
        opp("o6", "acme", "B", "p6", None, "DATA_READY", 0.25),
        opp("r1", "rival", "R", "p1", "x.com", "SOURCED", 1.0),
    ])  # fmt: skip
    _legacy_rows(conn, "audit_jobs", [
        job("jA1", "A", "o1", "completed", "dA1"),
        job("jA5", "A", "o5", "completed", "dA5"),
        job("jB1", "B", "o1", "completed", "dB1"),
    ])  # fmt: skip
    _legacy_rows(conn, "audit_dossiers", [
        dossier("dA1", "jA1", "o1"), dossier("dA5", "jA5", "o5"), dossier("dB1", "jB1", "o1")
    ])  # fmt: skip


Members = dict[str, list[tuple[str, str, str | None, list[str]]]]


async def _leads_of_runs(url: str, tmp_path: Path) -> tuple[Members, dict[str, int]]:
    """Each run's leads (id, status in the run, dossier, runs), and run A's counts."""
    from db import open_database

    db = await open_database(url, content_dir=tmp_path / "content")
    try:
        async with db.reader() as repo:
            members = {
                flow_id: [
                    (lead.opportunity.id, lead.status, lead.dossier_id, lead.runs)
                    for lead in await repo.list_flow_leads(agency, flow_id)
                ]
                for agency, flow_id in (("acme", "A"), ("acme", "B"), ("rival", "R"))
            }
            return members, await repo.flow_counts("acme", "A")
    finally:
        await db.close()


async def test_upgrade_to_0004_gives_every_run_back_its_leads(empty_db_url: str, tmp_path: Path) -> None:
    url = empty_db_url
    await migrate.upgrade(url, "0003")
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with write_session(engine) as session:
            await (await session.connection()).run_sync(_runs_made_before_0004)
    finally:
        await engine.dispose()

    await migrate.upgrade(url)

    expected = {
        # Ranked by score then name: o2 0.75, o1 0.5, o5 0.25. A gets back o1 (its audit job and
        # dossier) and o2 (its snapshot) from B; p3 had no phone and p4 was closed: never A's.
        "A": [
            ("o2", "DATA_READY", None, ["B", "A"]),
            ("o1", "READY", "dA1", ["B", "A"]),
            ("o5", "READY", "dA5", ["A"]),
        ],
        "B": [
            ("o2", "DATA_READY", None, ["B", "A"]),
            ("o1", "READY", "dB1", ["B", "A"]),
            ("o6", "DATA_READY", None, ["B"]),
            ("o4", "DATA_READY", None, ["B"]),
        ],
        "R": [("r1", "SOURCED", None, ["R"])],  # the same place, another agency: never acme's
    }
    leads, counts = await _leads_of_runs(url, tmp_path)
    assert leads == expected
    assert (counts["opportunities"], counts["ready"], counts["data_ready"], counts["reused"]) == (3, 2, 1, 0)

    # Down to 0003 and up again: the same membership is rebuilt.
    await migrate.downgrade(url, "0003")
    await migrate.upgrade(url)
    assert (await _leads_of_runs(url, tmp_path))[0] == expected
