"""A database with every kind of row the read commands show, written through the repositories
and the ledger (as the pipeline writes them), and the means to run a command through the quick
read path and through the full CLI on it.

The world: agency `acme` with a profile, credits (grants, charges, an open hold) and four runs
(completed, completed short of leads and re-finding two leads of the first run, one reusing its
dossier, paused for credits, failed), audits with pages and dossiers, calls in several states;
agency `rival` with a run, a lead, a dossier, pages and a call of its own (the cross-agency
case). Names carry Rich markup and non-ASCII text, so rendering differences would show.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from leadgen.settings import reset_settings

_CLEARED = (
    "DATABASE_URL",
    "LEADGEN_AGENCY",
    "LEADGEN_STARTING_CREDITS",
    "LEADGEN_DATA_DIR",
    "LEADGEN_EXECUTOR",
    "LEADGEN_ENV",
    "AUTUMN_SECRET_KEY",
    "LEADGEN_SANDBOX_URL",
)
T0 = datetime(2026, 3, 2, 9, 30, 0, tzinfo=UTC)  # a whole second: ISO text without microseconds


@dataclass
class World:
    """Ids of what was seeded, for the commands to name."""

    db_file: Path
    data_dir: Path
    runs: dict[str, str] = field(default_factory=dict)  # completed, short, paused, failed, rival
    leads: dict[str, str] = field(default_factory=dict)  # site, social, bare, shared, rival
    audits: dict[str, str] = field(default_factory=dict)  # site, failed, rival, empty

    def env(self) -> dict[str, str]:
        return {"DATABASE_URL": f"sqlite:///{self.db_file}", "LEADGEN_DATA_DIR": str(self.data_dir)}


@dataclass(frozen=True)
class Answer:
    code: int | None  # None: the quick path declined (printed nothing)
    stdout: str
    stderr: str


async def _seed(world: World) -> None:
    from db import open_database
    from db.repositories import LeadInput, PageInput
    from tools.billing import LocalLedger

    database = await open_database(
        f"sqlite+aiosqlite:///{world.db_file}", content_dir=world.data_dir / "content"
    )
    ledger = LocalLedger(database.engine)
    try:
        for agency in ("acme", "rival"):
            async with database.transaction() as repo:
                await repo.ensure_agency(agency, name=f"{agency.title()} [bold]Digital[/] — Ünïcode")
            await ledger.ensure_account(agency, 20)
        async with database.transaction() as repo:
            await repo.set_profile(
                "acme",
                target_vertical="dentists",
                target_geography="Austin, TX",
                criteria=["MISSING_WEBSITE", "LOW_GOOGLE_RATING"],
                services_offered=["web design", "SEO"],
            )
        await ledger.grant("acme", 7, key="grant:acme:test")
        await ledger.track("acme", "lead_discovery", "flow:x:source")
        await ledger.track("acme", "dossier_research", "audit:x")
        await ledger.hold("acme", "dossier_research", "audit:held")  # available = balance - held

        site = LeadInput(
            place_id="p-site",
            name="Smile [red]Studio[/] Zahnärzte",
            domain="smile.example",
            website="https://smile.example/",
            phone="+15125550101",
            address="1 Main St, Austin, TX",
            rating=3.4,
            reviews_count=12,
            signals=("LOW_GOOGLE_RATING", "FEW_GOOGLE_REVIEWS"),
            qualification_score=0.5,
        )
        social = LeadInput(
            place_id="p-social",
            name="Facebook Dental",
            website="https://facebook.com/fbdental",
            phone="+15125550102",
            rating=4.8,
            reviews_count=300,
            signals=("WEAK_WEB_PRESENCE",),
            qualification_score=0.0,
        )
        bare = LeadInput(
            place_id="p-bare",
            name="No Site Dental",
            phone="+15125550103",
            signals=("MISSING_WEBSITE",),
            qualification_score=1.0,
        )
        broken = LeadInput(
            place_id="p-broken",
            name="Broken Site Dental",
            domain="broken.example",
            website="http://broken.example",
            phone="+15125550104",
            rating=2.0,
            reviews_count=None,
            signals=("LOW_GOOGLE_RATING",),
            qualification_score=0.5,
        )
        # Run 1, completed: four leads, an audit with pages and a dossier, a failed audit.
        async with database.transaction() as repo:
            flow = await repo.create_flow(
                "acme", target_vertical="dentists", target_geography="Austin, TX", num_leads_requested=4
            )
            world.runs["completed"] = flow.id
            await repo.upsert_opportunities(
                "acme",
                flow.id,
                [bare, site, broken, social],
                target_vertical="dentists",
                target_geography="Austin, TX",
            )
            opps = {o.name: o.id for o in await repo.list_opportunities("acme", flow.id)}
            world.leads.update(
                site=opps[site.name], social=opps[social.name], bare=opps[bare.name], broken=opps[broken.name]
            )
            job = await repo.create_audit_job("acme", flow.id, world.leads["site"], "https://smile.example/")
            failed = await repo.create_audit_job(
                "acme", flow.id, world.leads["broken"], "http://broken.example"
            )
            world.audits.update(site=job.id, failed=failed.id)
        async with database.transaction() as repo:
            await repo.upsert_scraped_pages(
                "acme",
                job.id,
                [
                    PageInput("https://smile.example/", "Smile [Studio] home", "# Smile", 200),
                    PageInput("https://smile.example/about", None, "About us", 200),
                ],
                store=database.content,
            )
            await repo.set_audit_phases(
                "acme",
                job.id,
                {
                    "map_urls": "complete",
                    "filter_urls": "complete",
                    "scrape_content": "complete",
                    "generate_dossier": "complete",
                },
                status="completed",
            )
            dossier = await repo.save_dossier(
                "acme",
                job.id,
                summary="Smile Studio's site is slow [and] old.",
                gaps=["No online booking", "[bold]No[/] reviews shown"],
                talking_points=["Add booking", "Show reviews — with “quotes”"],
                sources=[
                    {"url": "https://smile.example/", "title": "Home [1]"},
                    {"url": "https://smile.example/about", "title": None},
                ],
                fit_reason="Low rating; few reviews.",
                model="scripted",
            )
            await repo.set_audit_phases(
                "acme", failed.id, {"map_urls": "error"}, status="error", error="site down: 503"
            )
            await repo.set_flow_lead(
                "acme",
                flow.id,
                world.leads["site"],
                status="READY",
                audit_job_id=job.id,
                dossier_id=dossier.id,
            )
            await repo.set_flow_lead(
                "acme", flow.id, world.leads["broken"], status="DATA_READY", audit_job_id=failed.id
            )
            await repo.set_flow_lead("acme", flow.id, world.leads["bare"], status="DATA_READY")
            await repo.set_flow_lead("acme", flow.id, world.leads["social"], status="DATA_READY")
            for phase in (
                "source",
                "filter_rank",
                "persist_leads",
                "scrape_content",
                "generate_dossier",
                "finalize_rank",
            ):
                await repo.set_phase("acme", flow.id, phase, status="running")
                await repo.set_phase("acme", flow.id, phase, status="complete", message=f"{phase} done")
            await repo.update_flow(
                "acme",
                flow.id,
                status="completed",
                num_leads_fetched=20,
                created_at=T0,
                completed_at=T0 + timedelta(minutes=2),
            )

        # Run 2, newer, completed short of leads (asked 6, found 2 of 60 read): finds the site
        # lead again and reuses its dossier, and the bare lead again.
        async with database.transaction() as repo:
            again = await repo.create_flow(
                "acme", target_vertical="dentists", target_geography="Austin, TX", num_leads_requested=6
            )
            world.runs["short"] = again.id
            await repo.upsert_opportunities(
                "acme", again.id, [site, bare], target_vertical="dentists", target_geography="Austin, TX"
            )
            await repo.set_flow_lead(
                "acme",
                again.id,
                world.leads["site"],
                status="READY",
                dossier_id=dossier.id,
                dossier_reused=True,
            )
            await repo.set_flow_lead("acme", again.id, world.leads["bare"], status="DATA_READY")
            await repo.update_flow(
                "acme",
                again.id,
                status="completed",
                num_leads_fetched=60,
                created_at=T0 + timedelta(hours=1, microseconds=250),
                completed_at=T0 + timedelta(hours=1, minutes=1),
                last_event={
                    "type": "completed",
                    "message": "Found 2 of 6 [leads]",
                    "timestamp": "2026-03-02T10:31:00Z",
                },
            )
            world.leads["shared"] = world.leads["site"]

        # Run 3, paused for credits mid-audits; its id is a LangGraph thread's (a UUID).
        async with database.transaction() as repo:
            paused = await repo.create_flow(
                "acme",
                target_vertical="plumbers",
                target_geography="Zürich",
                num_leads_requested=3,
                flow_id=uuid.UUID(int=7).hex,
            )
            world.runs["paused"] = paused.id
            await repo.upsert_opportunities(
                "acme",
                paused.id,
                [
                    LeadInput(
                        place_id="p-plumb",
                        name="Plumb & Co",
                        domain="plumb.example",
                        website="https://plumb.example",
                        phone="+41445550100",
                        qualification_score=0.25,
                    )
                ],
                target_vertical="plumbers",
                target_geography="Zürich",
            )
            plumb = (await repo.list_opportunities("acme", paused.id))[0].id
            waiting = await repo.create_audit_job("acme", paused.id, plumb, "https://plumb.example")
            world.audits["empty"] = waiting.id
            await repo.set_flow_lead("acme", paused.id, plumb, status="AUDITING", audit_job_id=waiting.id)
            await repo.set_phase("acme", paused.id, "source", status="complete")
            await repo.set_phase("acme", paused.id, "generate_dossier", status="running", progress=0.1)
            await repo.update_flow(
                "acme",
                paused.id,
                status="paused_for_upgrade",
                created_at=T0 + timedelta(hours=2),
                billing_block={
                    "phase": "generate_dossier",
                    "feature_id": "dossier_research",
                    "audit_job_id": waiting.id,
                    "created_at": "2026-03-02T11:30:05Z",
                    "credit_info": {"allowed": False, "required_balance": 2, "balance": 1, "deficit": 1},
                },
            )
        # Run 4, failed before finding anything.
        async with database.transaction() as repo:
            broke = await repo.create_flow(
                "acme", target_vertical="dentists", target_geography="Nowhere", num_leads_requested=2
            )
            world.runs["failed"] = broke.id
            await repo.set_phase("acme", broke.id, "source", status="error", message="Places said no")
            await repo.update_flow(
                "acme",
                broke.id,
                status="error",
                error="places: 403 [denied]",
                created_at=T0 + timedelta(hours=3),
            )

        # Calls: ended and metered, still queued, not billed (voicemail), short of balance.
        async with database.transaction() as repo:
            ended = await repo.create_call(
                "acme",
                world.leads["site"],
                to_number="+15125550101",
                metadata={"billing_customer_id": "acme", "preflight_balance": 9},
            )
            await repo.update_call(
                "acme",
                ended.id,
                status="ended",
                billing_seconds=61.5,
                provider_call_id="vapi-1",
                created_at=T0,
            )
            await repo.merge_call_metadata(
                "acme",
                ended.id,
                {
                    "ai_call_metering": {
                        "requested_minutes": 2,
                        "billed_minutes": 2,
                        "balance_at_check": 9,
                        "tracked_at": "2026-03-02T09:40:00Z",
                    }
                },
            )
            queued = await repo.create_call("acme", world.leads["bare"], to_number="+15125550103")
            await repo.update_call("acme", queued.id, created_at=T0 + timedelta(minutes=5))
            mail = await repo.create_call("acme", world.leads["bare"], to_number="+15125550103")
            await repo.update_call(
                "acme", mail.id, status="ended", billing_seconds=30.0, created_at=T0 + timedelta(minutes=6)
            )
            await repo.merge_call_metadata(
                "acme",
                mail.id,
                {
                    "ai_call_metering": {
                        "requested_minutes": 1,
                        "billed_minutes": 0,
                        "not_billed_reason": "voicemail",
                    }
                },
            )
            short = await repo.create_call("acme", world.leads["site"], to_number="+15125550101")
            await repo.update_call(
                "acme", short.id, status="ended", billing_seconds=200.0, created_at=T0 + timedelta(minutes=7)
            )
            await repo.merge_call_metadata(
                "acme", short.id, {"ai_call_metering": {"requested_minutes": 4, "billed_minutes": 1}}
            )

        # The rival agency: a run, a lead with a dossier and pages, a call.
        async with database.transaction() as repo:
            theirs = await repo.create_flow(
                "rival", target_vertical="dentists", target_geography="Austin, TX", num_leads_requested=1
            )
            world.runs["rival"] = theirs.id
            await repo.upsert_opportunities(
                "rival", theirs.id, [site], target_vertical="dentists", target_geography="Austin, TX"
            )
            lead = (await repo.list_opportunities("rival", theirs.id))[0].id
            world.leads["rival"] = lead
            job = await repo.create_audit_job("rival", theirs.id, lead, "https://smile.example/")
            world.audits["rival"] = job.id
        async with database.transaction() as repo:
            await repo.upsert_scraped_pages(
                "rival",
                job.id,
                [PageInput("https://smile.example/", "Rival's read", "text")],
                store=database.content,
            )
            await repo.save_dossier(
                "rival", job.id, summary="Theirs", gaps=[], talking_points=[], sources=[], fit_reason=None
            )
            await repo.create_call("rival", lead, to_number="+15125550101")
    finally:
        await database.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    tmp = tmp_path_factory.mktemp("cli_reads")
    seeded = World(db_file=tmp / "reads.db", data_dir=tmp / "data")
    with pytest.MonkeyPatch.context() as mp:
        for name in _CLEARED:
            mp.delenv(name, raising=False)
        mp.chdir(tmp)
        reset_settings()
        asyncio.run(_seed(seeded))
    reset_settings()
    return seeded


@pytest.fixture
def world_env(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    """The world's database in the environment (and no developer `.env`), for one test."""
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name, value in world.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "100")  # the same width for both paths, whatever runs the tests
    monkeypatch.chdir(world.db_file.parent)
    reset_settings()
    return world


@pytest.fixture
def quick() -> Callable[..., Answer]:
    """`quick("status", run_id)`: the quick read path in this process."""
    from assistant.cli.quick import answer

    def run(*args: str) -> Answer:
        stdout, stderr = io.StringIO(), io.StringIO()
        with redirect_stdout(stdout), redirect_stderr(stderr):
            code = answer(list(args))
        return Answer(code, stdout.getvalue(), stderr.getvalue())

    return run


@pytest.fixture
def full() -> Callable[..., Answer]:
    """`full("status", run_id)`: the full Typer CLI in this process (no quick path)."""
    from assistant.cli import load_app

    app = load_app()
    runner = CliRunner()

    def run(*args: str) -> Answer:
        reset_settings()
        result = runner.invoke(app, list(args), catch_exceptions=False)
        # The bytes: click's `Result.stdout` turns the CSV's CRLF into LF.
        stderr = result.stderr_bytes.decode() if result.stderr_bytes is not None else ""
        return Answer(result.exit_code, result.stdout_bytes.decode(), stderr)

    return run


@pytest.fixture
def db_rows(world: World) -> Callable[[str], list[tuple[Any, ...]]]:
    """`db_rows("agencies")`: a table's rows, read straight from the world's file."""
    import sqlite3

    def rows(table: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(world.db_file) as conn:
            return sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)

    return rows


@pytest.fixture
def resolve(world: World) -> Callable[[tuple[str, ...]], list[str]]:
    """Command lines with the world's ids: `runs:NAME`, `thread:NAME` (the run's id as a
    LangGraph thread id), `leads:NAME`, `audits:NAME`; anything else as it is."""

    def argv(args: tuple[str, ...]) -> list[str]:
        resolved = []
        for arg in args:
            kind, _, name = arg.partition(":")
            if kind == "runs" and name:
                arg = world.runs[name]
            elif kind == "thread" and name:
                arg = str(uuid.UUID(hex=world.runs[name]))
            elif kind == "leads" and name:
                arg = world.leads[name]
            elif kind == "audits" and name:
                arg = world.audits[name]
            resolved.append(arg)
        return resolved

    return argv
