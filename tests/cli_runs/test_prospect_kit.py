"""The prospect kit on a finished run: competitor comparison, reports and their share links,
contacts and outreach drafts (issue 17), through `leadgen` and `leadgen serve`'s app.

The comparison's counts are recomputed here from the run's own findings (`leads --json`); the
contacts are checked against the sandbox's truth for the pages each audit read; nothing here may
move the ledger.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
from click.testing import Result
from starlette.testclient import TestClient

if TYPE_CHECKING:
    from conftest import CompletedRun

    from tools.sandbox.server import SandboxHandle

# The site checks of graphs/audit_checks.py: known only for a peer whose site the run audited.
SITE_CODES = {
    "SITE_DOWN", "NO_HTTPS", "NOT_MOBILE_FRIENDLY", "NO_META_DESCRIPTION", "NO_LOCAL_BUSINESS_SCHEMA",
    "NO_ANALYTICS", "NO_ONLINE_BOOKING", "NO_PRICING", "NO_REVIEWS_SHOWN", "STALE_COPYRIGHT",
    "NO_CLICK_TO_CALL", "NO_SOCIAL_LINKS", "THIN_CONTENT", "BROKEN_LINKS",
}  # fmt: skip
PLACES_CODES = {
    "MISSING_WEBSITE",
    "WEAK_WEB_PRESENCE",
    "LOW_GOOGLE_RATING",
    "FEW_GOOGLE_REVIEWS",
    "CLOSED_TEMPORARILY",
}


def ok_json(result: Result, code: int = 0) -> Any:
    assert result.exit_code == code, f"exit {result.exit_code}\nstderr:\n{result.stderr}"
    return json.loads(result.stdout)


def leads_of(done: CompletedRun) -> list[dict[str, Any]]:
    return ok_json(done.cli("leads", done.run["id"], "--agency", done.agency, "--json"))  # type: ignore[no-any-return]


def ledger(done: CompletedRun) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The agency's ledger rows and account (its balance and holds)."""
    entries = [row for row in done.rows("credit_ledger_entries") if row[1] == done.agency]
    accounts = [row for row in done.rows("credit_accounts") if row[0] == done.agency]
    return sorted(entries), accounts


def codes_of(lead: dict[str, Any]) -> set[str]:
    return {f["code"] for f in lead["findings"]} | set(lead["signals"])


@pytest.fixture(scope="module")
def server(completed_run: CompletedRun) -> Iterator[TestClient]:
    """`leadgen serve`'s app on the module's database (lifespan run, so it opens its own)."""
    from assistant.server import create_app
    from leadgen.settings import get_settings, reset_settings

    reset_settings()
    with TestClient(create_app(get_settings())) as client:
        yield client


def share(done: CompletedRun, lead_id: str, agency: str | None = None) -> Result:
    return done.cli("report", lead_id, "--share", "--json", "--agency", agency or done.agency)


def path_of(url: str) -> str:
    return urlsplit(url).path


# -- the comparison ------------------------------------------------------------------------------


def test_comparison_counts_match_the_runs_findings(completed_run: CompletedRun) -> None:
    before = ledger(completed_run)
    leads = leads_of(completed_run)
    researched = [lead for lead in leads if lead["dossier_id"]]
    assert researched
    for lead in researched:
        dossier = ok_json(completed_run.cli("dossier", lead["id"], "--agency", "acme", "--json"))
        comparison = dossier["comparison"]
        peers = [p for p in leads if p["id"] != lead["id"]]
        assert comparison["peers"] == len(peers) == len(leads) - 1
        # Percentiles: the share of peers with a known value that this lead beats.
        rated = [p["rating"] for p in peers if p["rating"] is not None]
        if lead["rating"] is not None and rated:
            expected = round(100 * sum(r < lead["rating"] for r in rated) / len(rated))
            assert comparison["rating_percentile"] == expected
        counted = [p["reviews_count"] for p in peers if p["reviews_count"] is not None]
        if lead["reviews_count"] is not None and counted:
            expected = round(100 * sum(c < lead["reviews_count"] for c in counted) / len(counted))
            assert comparison["review_count_percentile"] == expected
        # Per finding: of the peers checked for it, how many do not have it.
        mine = codes_of(lead)
        rows = {row["code"]: row for row in comparison["peers_without"]}
        assert set(rows) == mine & (SITE_CODES | PLACES_CODES)
        for code, row in rows.items():
            checked = [p for p in peers if p["dossier_id"]] if code in SITE_CODES else peers
            assert (row["count"], row["of"]) == (
                sum(code not in codes_of(p) for p in checked),
                len(checked),
            ), code
    assert ledger(completed_run) == before, "a comparison costs nothing"


# -- contacts ----------------------------------------------------------------------------------


def test_contacts_match_the_sandbox_truth_for_the_pages_read(
    completed_run: CompletedRun, sandbox: SandboxHandle
) -> None:
    leads = leads_of(completed_run)
    audited = [lead for lead in leads if lead["dossier_id"]]
    assert audited
    kinds_seen: set[str] = set()
    for lead in leads:
        assert all(set(c) == {"kind", "value", "source_url"} for c in lead["contacts"])
        # The Places phone comes first, pointing at the place on Google Maps.
        assert lead["contacts"][0] == {
            "kind": "phone",
            "value": lead["phone"],
            "source_url": f"https://www.google.com/maps/place/?q=place_id:{lead['place_id']}",
        }
        if not lead["dossier_id"]:
            assert lead["contacts"][1:] == [], "a lead without an audit has no site contacts"
    for lead in audited:
        pages = ok_json(completed_run.cli("pages", lead["audit_job_id"], "--agency", "acme", "--json"))
        read = {path_of(p["url"]).rstrip("/") for p in pages}
        truth = sandbox.truth(lead["domain"])
        expected: dict[tuple[str, str], set[str]] = {}
        for page in truth["pages"]:
            if path_of(page["url"]).rstrip("/") in read:
                for c in page["contacts"]:
                    expected.setdefault((c["kind"], c["value"]), set()).add(path_of(page["url"]).rstrip("/"))
        found = lead["contacts"][1:]
        got = {(c["kind"], c["value"]): path_of(c["source_url"]).rstrip("/") for c in found}
        # The Places phone stands first; the site's own tel: links equal to it are folded into it.
        expected.pop(("phone", lead["phone"]), None)
        assert set(got) == set(expected), lead["domain"]
        for key, source in got.items():
            assert source in expected[key], (key, source)
        kinds_seen |= {kind for kind, _ in got}
    assert {"email", "person", "form"} <= kinds_seen, kinds_seen


# -- outreach ----------------------------------------------------------------------------------


def test_every_lead_has_drafts_that_name_it_and_cite_a_finding(completed_run: CompletedRun) -> None:
    from graphs.outreach import MAX_EMAIL_WORDS, OutreachFacts, cites_a_finding, words

    for lead in leads_of(completed_run):
        drafts = lead["outreach"]
        assert set(drafts) == {"email_subject", "email_body", "call_opener"}
        name = lead["name"].lower()
        assert name in drafts["email_body"].lower() and name in drafts["call_opener"].lower()
        assert len(words(drafts["email_body"])) < MAX_EMAIL_WORDS
        facts = OutreachFacts(
            lead["name"], sorted(codes_of(lead)), rating=lead["rating"], reviews_count=lead["reviews_count"]
        )
        assert cites_a_finding(drafts["email_subject"] + " " + drafts["email_body"], facts.codes, facts), (
            drafts
        )
        if lead["dossier_id"]:
            dossier = ok_json(completed_run.cli("dossier", lead["id"], "--agency", "acme", "--json"))
            assert dossier["outreach"] == drafts


# -- reports and share links -------------------------------------------------------------------


def test_shared_report_shows_grades_and_answers_only_while_the_link_lives(
    completed_run: CompletedRun, server: TestClient, tmp_path: Path
) -> None:
    before = ledger(completed_run)
    lead = next(lead for lead in leads_of(completed_run) if lead["dossier_id"])
    shared = ok_json(share(completed_run, lead["id"]))["share"]
    assert shared["url"].startswith("http://127.0.0.1:8000/r/")
    token = path_of(shared["url"]).rsplit("/", 1)[1]
    assert len(token) >= 40

    page = server.get(path_of(shared["url"]))
    assert page.status_code == 200, page.text
    assert "script-src" not in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    html = page.text
    assert lead["name"] in html or lead["name"].replace("&", "&amp;") in html
    for category in ("Website basics", "Local search", "Reputation", "Conversion", "Presence"):
        assert category in html
    assert "<script" not in html.lower()
    pdf = server.get(path_of(shared["url"]) + "/report.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    # Another agency can neither share nor revoke this lead's report; its link keeps answering.
    for flag in ("--share", "--revoke"):
        other = completed_run.cli("report", lead["id"], flag, "--agency", "other", "--json")
        assert (other.exit_code, other.stdout) == (4, ""), other.stderr
    assert server.get(path_of(shared["url"])).status_code == 200

    unknown = server.get("/r/" + "A" * 43)
    assert unknown.status_code == 404

    revoked = ok_json(completed_run.cli("report", lead["id"], "--revoke", "--json", "--agency", "acme"))
    assert revoked["revoked"] >= 1
    gone = server.get(path_of(shared["url"]))
    assert (gone.status_code, gone.text) == (404, unknown.text), "a revoked link tells nothing"
    assert server.get(path_of(shared["url"]) + "/report.pdf").status_code == 404

    # Expired: a link past its time answers like any unknown one.
    second = ok_json(share(completed_run, lead["id"]))["share"]
    assert server.get(path_of(second["url"])).status_code == 200
    assert completed_run.db_file is not None
    with sqlite3.connect(completed_run.db_file) as conn:
        conn.execute(
            "UPDATE report_links SET expires_at = '2000-01-01 00:00:00.000000+00:00' WHERE revoked_at IS NULL"
        )
    expired = server.get(path_of(second["url"]))
    assert (expired.status_code, expired.text) == (404, unknown.text)

    assert ledger(completed_run) == before, "reports and links cost nothing"


def test_report_pdf_renders_pages_that_are_not_blank(completed_run: CompletedRun, tmp_path: Path) -> None:
    from PIL import Image

    before = ledger(completed_run)
    lead = next(lead for lead in leads_of(completed_run) if lead["dossier_id"])
    target = tmp_path / "report.pdf"
    result = completed_run.cli("report", lead["id"], "--pdf", str(target), "--agency", "acme")
    assert result.exit_code == 0, result.stderr
    assert target.read_bytes().startswith(b"%PDF")
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(target), str(tmp_path / "page")], check=True)
    pngs = sorted(tmp_path.glob("page*.png"))
    assert pngs
    for png in pngs:
        image = Image.open(png).convert("L")
        dark = sum(1 for value in image.get_flattened_data() if value < 200)
        assert dark > 0.005 * image.width * image.height, f"{png.name} is blank"
    # A lead of another agency is not found; nothing is written.
    other = completed_run.cli("report", lead["id"], "--pdf", str(tmp_path / "x.pdf"), "--agency", "other")
    assert other.exit_code == 4 and not (tmp_path / "x.pdf").exists()
    assert ledger(completed_run) == before


def test_report_json_grades_each_category_from_the_findings(completed_run: CompletedRun) -> None:
    for lead in leads_of(completed_run)[:4]:
        report = ok_json(completed_run.cli("report", lead["id"], "--json", "--agency", "acme"))["report"]
        categories = {c["key"]: c for c in report["categories"]}
        assert list(categories) == ["website", "local_search", "reputation", "conversion", "presence"]
        shown = {f["code"] for c in report["categories"] for f in c["findings"]}
        assert shown == codes_of(lead) & (SITE_CODES | PLACES_CODES)
        for category in report["categories"]:
            assert category["grade"] in ("A", "B", "C", "D", "F", "–")
            assert (category["failed"] == 0) == (category["grade"] in ("A", "–"))
            for finding in category["findings"]:
                assert finding["why"] and finding["plain_title"]
        if "MISSING_WEBSITE" in lead["signals"]:
            assert categories["presence"]["grade"] == "F"
            assert categories["website"]["grade"] == "–"  # nothing to check without a site


def test_branding_is_checked_and_reaches_the_report(completed_run: CompletedRun, server: TestClient) -> None:
    lead = leads_of(completed_run)[0]
    bad = completed_run.cli("agency", "set", "--agency", "brand", "--primary-color", "red;} body{x")
    assert bad.exit_code == 2 and "primary_color" in bad.stderr
    bad_url = completed_run.cli("agency", "set", "--agency", "brand", "--cta-url", "javascript:alert(1)")
    assert bad_url.exit_code == 2
    assert not [r for r in completed_run.rows("agency_profiles") if r[1] == "brand"], "nothing written"

    args = ["--brand-name", "Acme Growth", "--primary-color", "#123", "--accent-color", "#ff6600",
            "--cta-label", "Book a call", "--cta-url", "https://acme.example/book",
            "--contact-email", "hi@acme.example", "--logo-url", "https://acme.example/logo.png"]  # fmt: skip
    profile = ok_json(completed_run.cli("agency", "set", "--agency", "acme", *args, "--json"))
    assert profile["branding"]["primary_color"] == "#112233"
    assert profile["criteria"], "setting branding leaves the criteria alone"
    html = server.get(path_of(ok_json(share(completed_run, lead["id"]))["share"]["url"])).text
    for text in (
        "Acme Growth",
        "#112233",
        "#ff6600",
        "Book a call",
        "https://acme.example/book",
        "hi@acme.example",
    ):
        assert text in html
    cleared = ok_json(completed_run.cli("agency", "set", "--agency", "acme", "--logo-url", "", "--json"))
    assert cleared["branding"]["logo_url"] is None and cleared["branding"]["name"] == "Acme Growth"
