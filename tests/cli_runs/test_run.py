"""`leadgen run` and `resume`: bad input writes nothing, a pause for credits exits 3 and resumes
where it stopped without charging twice, a second executor is refused, and the installed
console script keeps stdout for the JSON alone."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import Result
from rich.console import Console

if TYPE_CHECKING:
    from conftest import Invoke, Rows

LEADGEN = Path(sys.executable).parent / "leadgen"
CAMPAIGN = ("--vertical", "dentists", "--geography", "Austin, TX")
# Every table a run or its agency could write: bad input must leave all of them empty.
WRITTEN_BY_A_RUN = (
    "lead_gen_flows",
    "agencies",
    "client_opportunities",
    "audit_jobs",
    "credit_ledger_entries",
    "credit_holds",
)


def ok_json(result: Result, code: int = 0) -> Any:
    """stdout as JSON after checking the exit code: stdout must hold the JSON alone."""
    assert result.exit_code == code, f"exit {result.exit_code}\nstderr:\n{result.stderr}"
    return json.loads(result.stdout)


def charges(cli: Invoke, agency: str) -> list[tuple[str, int, str]]:
    history = ok_json(cli("credits", "history", "--agency", agency, "--json"))
    return [(h["feature_id"], h["credits"], h["idempotency_key"]) for h in history if h["kind"] == "charge"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-n", "0", *CAMPAIGN), "out of range"),
        (("-n", "21", *CAMPAIGN), "out of range"),
        (("-n", "abc", *CAMPAIGN), "not a whole number"),
        (("-n", "-3", *CAMPAIGN), "not a whole number"),
        (("-n", "2.5", *CAMPAIGN), "not a whole number"),
        (("--vertical", "", "--geography", "Austin, TX"), "vertical: must not be empty"),
        (("--vertical", "dentists", "--geography", "   "), "geography: must not be empty"),
        (("--vertical", "dentists"), "no geography"),  # and no agency profile to fall back on
        ((), "no vertical"),
        (("--agency", "Not An Id", *CAMPAIGN), "not a valid agency id"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    cli: Invoke, table_rows: Rows, args: tuple[str, ...], message: str
) -> None:
    result = cli("run", *args, "--json")
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    assert message in result.stderr
    for table in WRITTEN_BY_A_RUN:
        assert table_rows(table) == [], table


def test_missing_campaign_is_taken_from_the_agency_profile(cli: Invoke, table_rows: Rows) -> None:
    assert cli("agency", "set", "--agency", "beta", "--vertical", "florists").exit_code == 0
    # The profile has a vertical but no geography: still bad input, still no flow.
    assert cli("run", "--agency", "beta", "--json").exit_code == 2
    assert table_rows("lead_gen_flows") == []
    assert cli("agency", "set", "--agency", "beta", "--geography", "Boise, ID").exit_code == 0
    run = ok_json(cli("run", "--agency", "beta", "-n", "2", "--json"))
    assert run["campaign"] == {"target_vertical": "florists", "target_geography": "Boise, ID"}
    assert run["status"] == "completed" and run["num_leads_requested"] == 2
    assert len(table_rows("lead_gen_flows")) == 1


def test_pause_for_credits_then_resume_to_completion(cli: Invoke) -> None:
    agency = ("--agency", "poor")
    assert ok_json(cli("credits", "set", "0", *agency, "--json"))["balance"] == 0

    # No credit for the Places search: paused at the very first phase, nothing found or charged.
    paused = ok_json(cli("run", *CAMPAIGN, "-n", "5", *agency, "--json"), code=3)
    run_id = paused["id"]
    assert paused["status"] == "paused_for_upgrade"
    block = paused["billing_block"]
    assert block["phase"] == "source" and block["feature_id"] == "lead_discovery"
    assert block["audit_job_id"] is None
    info = block["credit_info"]
    assert (info["allowed"], info["balance"], info["required_balance"], info["deficit"]) == (False, 0, 1, 1)
    assert paused["counts"]["opportunities"] == 0
    assert [p["status"] for p in paused["phases"]][1:] == ["pending"] * 5
    assert charges(cli, "poor") == []

    # The human summary explains the block and gives the exact commands.
    status = cli("status", run_id, *agency)
    assert status.exit_code == 0
    assert "Paused for credits" in status.stdout and "lead_discovery" in status.stdout
    assert "leadgen credits grant 1 --agency poor" in status.stdout
    assert f"leadgen resume {run_id} --agency poor" in status.stdout

    # Resuming without credits pauses again at once, and charges nothing.
    again = ok_json(cli("resume", run_id, *agency, "--json"), code=3)
    assert again["status"] == "paused_for_upgrade" and again["billing_block"]["phase"] == "source"
    assert charges(cli, "poor") == []

    # One credit: the search runs, then the first audit finds the balance empty.
    assert cli("credits", "grant", "1", *agency).exit_code == 0
    at_audits = ok_json(cli("resume", run_id, *agency, "--json"), code=3)
    assert at_audits["billing_block"]["phase"] == "generate_dossier"
    assert at_audits["billing_block"]["feature_id"] == "dossier_research"
    assert at_audits["billing_block"]["audit_job_id"]
    assert [p["status"] for p in at_audits["phases"]][:4] == ["complete"] * 4
    assert at_audits["counts"]["opportunities"] >= 1
    assert charges(cli, "poor") == [("lead_discovery", 1, f"flow:{run_id}:source")]
    human = cli("status", run_id, *agency)
    assert "dossier_research needs 2 credit(s)" in " ".join(human.stdout.split())  # may wrap

    # Enough for every audit: the run completes, and the search is still charged once only.
    assert cli("credits", "grant", "50", *agency).exit_code == 0
    done = cli("resume", run_id, *agency)  # human mode: the summary on stdout
    assert done.exit_code == 0, done.stderr
    assert "completed" in done.stdout and "Top leads" in done.stdout
    final = ok_json(cli("status", run_id, *agency, "--json"))
    assert final["status"] == "completed" and final["billing_block"] is None
    assert [p["status"] for p in final["phases"]] == ["complete"] * 6
    leads = ok_json(cli("leads", run_id, *agency, "--json"))
    researched = sorted(f"audit:{lead['audit_job_id']}" for lead in leads if lead["dossier_id"])
    assert sorted(charges(cli, "poor")) == sorted(
        [("lead_discovery", 1, f"flow:{run_id}:source")] + [("dossier_research", 2, k) for k in researched]
    )
    assert researched, "some audits produced dossiers"
    # A completed run has nothing left to resume: exit 0, same run.
    assert ok_json(cli("resume", run_id, *agency, "--json"))["status"] == "completed"


def test_a_run_held_by_another_executor_is_refused(cli: Invoke, run_env: dict[str, str]) -> None:
    assert cli("credits", "set", "0", "--agency", "busy").exit_code == 0
    run_id = ok_json(cli("run", *CAMPAIGN, "--agency", "busy", "--json"), code=3)["id"]

    async def hold_lease() -> None:
        # This test process is alive, so its lease is not taken over.
        from db import open_database
        from db.repositories import new_lease_owner

        database = await open_database(run_env["DATABASE_URL"])
        try:
            async with database.transaction() as repo:
                assert await repo.acquire_lease("busy", run_id, new_lease_owner(), 300)
        finally:
            await database.close()

    asyncio.run(hold_lease())
    assert cli("credits", "grant", "5", "--agency", "busy").exit_code == 0
    refused = cli("resume", run_id, "--agency", "busy", "--json")
    assert (refused.exit_code, refused.stdout) == (1, "")
    assert f"run {run_id} is already running" in refused.stderr
    assert charges(cli, "busy") == []


def test_installed_console_script_prints_json_alone(run_env: dict[str, str], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADGEN_", "DATABASE_"))} | run_env
    done = subprocess.run(
        [str(LEADGEN), "run", *CAMPAIGN, "-n", "3", "--agency", "proc", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)  # nothing but the JSON on stdout
    assert run["status"] == "completed" and run["agency_id"] == "proc" and run["num_leads_requested"] == 3
    assert [p["status"] for p in run["phases"]] == ["complete"] * 6
    assert "[finalize_rank] complete" in done.stderr  # the progress went to stderr

    bad = subprocess.run(
        [str(LEADGEN), "run", *CAMPAIGN, "-n", "0", "--agency", "proc", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (bad.returncode, bad.stdout) == (2, "")
    assert "Traceback" not in bad.stderr


def test_missing_provider_keys_are_named_before_anything_is_written(
    cli: Invoke, table_rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEADGEN_SANDBOX_URL")
    result = cli("run", *CAMPAIGN, "--json")
    assert result.exit_code == 1 and result.stdout == ""
    assert "GOOGLE_PLACES_API_KEY" in result.stderr and "LEADGEN_SANDBOX_URL" in result.stderr
    assert table_rows("lead_gen_flows") == []


async def test_live_view_draws_phases_and_leads_on_a_terminal(run_env: dict[str, str]) -> None:
    """The live path `run` takes on a terminal, driven by a real run, drawn on a fake terminal."""
    from assistant.cli.live import RunMonitor, load_snapshot
    from graphs.service import RunService
    from leadgen.settings import reset_settings

    reset_settings()
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100, height=60, color_system=None)
    async with RunService.open() as runs:
        flow = await runs.start("live", num_leads=4, vertical="dentists", geography="Austin, TX")
        async with RunMonitor(runs, "live", flow.id, terminal, live=True, refresh_seconds=0) as monitor:
            outcome = await runs.execute("live", flow.id, on_event=monitor.on_event)
            await monitor.refresh()  # the flow row turns `completed` after the last event
            last_frame = monitor.render()
        snapshot = await load_snapshot(runs, "live", flow.id)
    assert outcome.status == "completed"
    assert monitor.events_seen >= 12  # two per phase at least
    drawn = screen.getvalue()
    for label in ("Finding businesses", "Writing dossiers", "Final ranking", "audits "):
        assert label in drawn
    assert snapshot.leads and snapshot.leads[0]["id"] in drawn  # the lead table filled in
    # The last frame shows what the database says.
    final = Console(file=io.StringIO(), width=100, color_system=None)
    final.print(last_frame)
    text = final.file.getvalue()  # type: ignore[attr-defined]
    assert "completed" in text and "100%" in text
    assert (
        f"audits {snapshot.run['counts']['audits_queued']}/{snapshot.run['counts']['audits_queued']}" in text
    )


def fail_a_run(cli: Invoke, sandbox_config: Any, agency: str) -> dict[str, Any]:
    """A run whose Places search fails for good (a sandbox outage): exit 1, status error."""
    sandbox_config.configure(outages=["places"])
    failed = ok_json(cli("run", *CAMPAIGN, "-n", "3", "--agency", agency, "--json"), code=1)
    sandbox_config.configure(outages=[])
    return failed  # type: ignore[no-any-return]


def test_a_failed_run_exits_1_and_charges_nothing(cli: Invoke, sandbox_config: Any) -> None:
    failed = fail_a_run(cli, sandbox_config, "flaky")
    assert failed["status"] == "error" and "503" in failed["error"]
    assert failed["phases"][0]["name"] == "source" and failed["phases"][0]["status"] != "complete"
    assert failed["counts"]["opportunities"] == 0
    assert charges(cli, "flaky") == []  # the search failed: its credit was released, not charged
    human = cli("status", failed["id"], "--agency", "flaky")
    assert "failed" in human.stdout and "error:" in human.stdout
    summary = cli("run", *CAMPAIGN, "-n", "3", "--agency", "flaky")  # human mode, provider back
    assert summary.exit_code == 0 and "completed" in summary.stdout


def test_a_failed_run_resumes_once_the_provider_is_back(cli: Invoke, sandbox_config: Any) -> None:
    failed = fail_a_run(cli, sandbox_config, "flaky2")
    resumed = ok_json(cli("resume", failed["id"], "--agency", "flaky2", "--json"))
    assert resumed["status"] == "completed" and resumed["error"] is None
    assert charges(cli, "flaky2")[0] == ("lead_discovery", 1, f"flow:{failed['id']}:source")
