"""End to end on a hand-made recorded world: a new agency (no criteria, no services) runs a
campaign, and the run ranks by opportunity, briefs every lead, and charges only research.

The world is the bundled example plus three places: a dentist whose site shows every good
practice (no finding at all), one whose only web page is on Facebook, and one temporarily
closed with a site of its own.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from graphs.service import RunService
from graphs.views import dossier_json, leads_json
from leadgen.settings import reset_settings
from tools.billing.local import LocalLedger
from tools.sandbox.recorded_world import load_world
from tools.sandbox.server import SandboxHandle, start_sandbox

EXAMPLE = Path(__file__).resolve().parents[2] / "tools" / "sandbox" / "worlds" / "example"
QUERY = "dentists in springfield, il"
WORDS = " ".join(["Gentle family dentistry for every age, close to home in Springfield."] * 20)
PERFECT = f"""<!DOCTYPE html><html lang="en"><head><title>Capital Smiles</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="description" content="Family dentist in Springfield, IL.">
<script type="application/ld+json">{{"@context":"https://schema.org","@type":"Dentist","name":"Capital Smiles"}}</script>
<script async src="https://www.googletagmanager.com/gtag/js?id=G-ABC"></script></head>
<body><header><a href="tel:+12175550177">(217) 555-0177</a></header>
<main><h1>Capital Smiles</h1><p>{WORDS}</p><p>Cleaning and exam from $99.</p>
<blockquote>“The kindest dental team in Springfield.” — Dana R.</blockquote>
<p><a href="https://calendly.com/capitalsmiles/visit">Book your visit online</a></p></main>
<footer><a href="https://www.facebook.com/capitalsmiles">Facebook</a><p>© 2026 Capital Smiles</p></footer>
</body></html>"""


def place(
    pid: str, name: str, phone: str, website: str | None, status: str = "OPERATIONAL"
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": pid,
        "displayName": {"text": name, "languageCode": "en"},
        "formattedAddress": "1 Main St, Springfield, IL 62701, USA",
        "nationalPhoneNumber": phone,
        "internationalPhoneNumber": "+1 " + phone.replace("(", "").replace(") ", "-"),
        "rating": 4.9,
        "userRatingCount": 310,
        "businessStatus": status,
        "types": ["dentist"],
    }
    if website:
        found["websiteUri"] = website
    return found


@pytest.fixture(scope="module")
def world_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    root = tmp_path_factory.mktemp("world")
    shutil.copytree(EXAMPLE, root, dirs_exist_ok=True)
    (root / "sites" / "capitalsmiles.com").mkdir()
    (root / "sites" / "capitalsmiles.com" / "index.html").write_text(PERFECT)
    shutil.copytree(root / "sites" / "maplestreetdental.com", root / "sites" / "sunnysidedental.com")
    places = json.loads((root / "places.json").read_text())
    extra = [
        place("ChIJtestCapitalSmiles", "Capital Smiles", "(217) 555-0177", "https://capitalsmiles.com/"),
        place(
            "ChIJtestFacebookOnly",
            "Route 66 Dental",
            "(217) 555-0166",
            "https://www.facebook.com/route66dental",
        ),
        place(
            "ChIJtestClosedForNow",
            "Sunnyside Dental",
            "(217) 555-0155",
            "https://sunnysidedental.com/",
            status="CLOSED_TEMPORARILY",
        ),
    ]
    for row in extra:
        places["places"][row["id"]] = row
        places["queries"][QUERY].append(row["id"])
    (root / "places.json").write_text(json.dumps(places))
    (root / "truth.json").unlink()
    handle = start_sandbox(world=load_world(root), latency_scale=0)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
async def runs(
    world_sandbox: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunService]:
    for name in (
        "OPENAI_API_KEY",
        "FIRECRAWL_API_KEY",
        "GOOGLE_PLACES_API_KEY",
        "AUTUMN_SECRET_KEY",
        "LEADGEN_AGENCY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEADGEN_SANDBOX_URL", world_sandbox.url)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'leadgen.db'}")
    monkeypatch.setenv("LEADGEN_DATA_DIR", str(tmp_path / "data"))
    reset_settings()
    try:
        async with RunService.open() as service:
            yield service
    finally:
        reset_settings()


async def test_a_new_agencys_run_ranks_by_opportunity_briefs_every_lead_and_charges_only_research(
    runs: RunService,
) -> None:
    agency = f"new-{uuid.uuid4().hex[:8]}"
    customer = await runs.ensure_agency(agency)
    assert isinstance(runs.billing, LocalLedger)
    await runs.billing.set_balance(customer, 50)
    flow = await runs.start(agency, num_leads=10, vertical="dentists", geography="Springfield, IL")
    outcome = await runs.execute(agency, flow.id)
    assert outcome.status == "completed", outcome.flow.error
    leads = leads_json(await runs.run_leads(agency, flow.id))
    by_name = {lead["name"]: lead for lead in leads}
    assert set(by_name) == {
        "Maple Street Dental",
        "Prairie Smiles Family Dentistry",
        "Lincoln Family Dentistry",
        "Capital Smiles",
        "Route 66 Dental",
        "Sunnyside Dental",
    }

    # Ranked by opportunity: a lead with three or more findings above every lead with none.
    scores = [lead["opportunity_score"] for lead in leads]
    assert scores == sorted(scores, reverse=True)
    rank = {lead["name"]: i for i, lead in enumerate(leads)}
    many = [lead for lead in leads if len(lead["findings"]) >= 3]
    none = [lead for lead in leads if not lead["findings"]]
    assert many and none, "the world has both"
    assert by_name["Capital Smiles"] in none
    assert all(rank[m["name"]] < rank[n["name"]] for m in many for n in none)
    assert by_name["Prairie Smiles Family Dentistry"]["opportunity_score"] > 40

    # Every lead has a fit reason and talking points that name it or cite a fact.
    for lead in leads:
        assert lead["fit_reason"] and lead["talking_points"], lead["name"]
        assert lead["score_reasons"], lead["name"]
        assert lead["name"] in lead["fit_reason"] or any(ch.isdigit() for ch in lead["fit_reason"])
    for lead in leads:
        if lead["dossier_id"]:
            dossier = await runs.dossier_for_opportunity(agency, lead["id"])
            assert dossier is not None
            shown = dossier_json(dossier)
            checked = {f["code"] for f in shown["findings"] if f["source"] == "check"}
            assert checked == {f["code"] for f in lead["findings"] if f["source"] == "check"}
            for point in shown["talking_points"]:
                assert lead["name"].split()[0] in point or any(ch.isdigit() for ch in point), point

    # The temporarily closed lead is flagged, not audited, not charged.
    closed = by_name["Sunnyside Dental"]
    assert "CLOSED_TEMPORARILY" in {f["code"] for f in closed["findings"]}
    assert closed["status"] == "DATA_READY" and closed["audit_job_id"] is None
    assert "temporarily closed" in closed["fit_reason"]

    # Leads without a site of their own, and the one whose site is down, are not charged;
    # the ledger holds one search and two credits per dossier, nothing else.
    jobs = await runs.audit_jobs(agency, flow.id)
    audited = {job.opportunity_id for job in jobs}
    for name in ("Lincoln Family Dentistry", "Route 66 Dental", "Sunnyside Dental"):
        assert by_name[name]["id"] not in audited, name
    history = [e for e in await runs.billing.history(customer) if e.kind == "charge"]
    researched = [job for job in jobs if job.dossier_id]
    assert sorted((e.feature_id, e.credits, e.idempotency_key) for e in history) == sorted(
        [("lead_discovery", 1, f"flow:{flow.id}:source")]
        + [("dossier_research", 2, f"audit:{job.id}") for job in researched]
    )
    assert await runs.billing.balance(customer) == 50 - 1 - 2 * len(researched)


async def test_a_site_that_is_down_gets_a_brief_with_firecrawls_reason_and_no_charge(
    runs: RunService,
) -> None:
    agency = f"new-{uuid.uuid4().hex[:8]}"
    customer = await runs.ensure_agency(agency)
    assert isinstance(runs.billing, LocalLedger)
    await runs.billing.set_balance(customer, 50)
    flow = await runs.start(agency, num_leads=10, vertical="plumbers", geography="Springfield, IL")
    outcome = await runs.execute(agency, flow.id)
    assert outcome.status == "completed", outcome.flow.error
    leads = {lead["name"]: lead for lead in leads_json(await runs.run_leads(agency, flow.id))}
    down = next(lead for lead in leads.values() if lead["domain"] == "oldtownplumbing.net")
    [site_down] = [f for f in down["findings"] if f["source"] == "check"]
    assert site_down["code"] == "SITE_DOWN"
    assert "ERR_" in site_down["evidence"] or "failing to load" in site_down["evidence"]
    assert down["status"] == "DATA_READY" and down["dossier_id"] is None
    assert down["fit_reason"] and down["name"] in down["fit_reason"]
    assert down["talking_points"] and all(down["name"] in p for p in down["talking_points"])
    job = next(j for j in await runs.audit_jobs(agency, flow.id) if j.opportunity_id == down["id"])
    assert job.status == "error" and job.error and "no result" not in job.error
    assert site_down["evidence"] in job.error  # the audit keeps Firecrawl's reason
    charged = {e.idempotency_key for e in await runs.billing.history(customer) if e.kind == "charge"}
    assert f"audit:{job.id}" not in charged
