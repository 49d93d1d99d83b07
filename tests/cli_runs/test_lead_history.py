"""Lead history through the real `leadgen` commands, on a SQLite file and on PostgreSQL: run A,
then run B of the same campaign, then `--refresh`. A keeps every lead and dossier it found; B
reuses A's dossiers without a second `dossier_research` charge and says so; `--refresh` buys
them again; `-n 12` gives 12 leads."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import Result

if TYPE_CHECKING:
    from conftest import Invoke

CAMPAIGN = ("--vertical", "dentists", "--geography", "Austin, TX")


def ok_json(result: Result, code: int = 0) -> Any:
    assert result.exit_code == code, f"exit {result.exit_code}\nstderr:\n{result.stderr}"
    return json.loads(result.stdout)


@pytest.fixture(params=["sqlite", "postgres"])
def history_cli(request: pytest.FixtureRequest, cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """The `leadgen` commands on the test's SQLite file, or on the session's PostgreSQL."""
    if request.param == "postgres":
        monkeypatch.setenv("DATABASE_URL", request.getfixturevalue("postgres_dsn"))
    return cli


def test_run_again_reuses_dossiers_and_refresh_buys_them_again(
    history_cli: Invoke, sandbox_config: Any
) -> None:
    # Sites that answer every time: a site that fails every other load would make which leads
    # each run researched depend on the tests that ran before.
    sandbox_config.configure(world_profile="all_auditable")
    cli = history_cli
    agency = f"hist-{uuid.uuid4().hex[:8]}"
    assert cli("credits", "set", "200", "--agency", agency).exit_code == 0

    def research_keys() -> list[str]:
        history = ok_json(cli("credits", "history", "--agency", agency, "--json"))
        return [h["idempotency_key"] for h in history if h["feature_id"] == "dossier_research"]

    def leads(run_id: str) -> list[dict[str, Any]]:
        return ok_json(cli("leads", run_id, "--agency", agency, "--json"))  # type: ignore[no-any-return]

    a = ok_json(cli("run", "-n", "12", *CAMPAIGN, "--agency", agency, "--json"))
    a_leads = leads(a["id"])
    assert a["counts"]["opportunities"] == len(a_leads) == 12  # -n 12 means 12 leads
    a_dossiers = {lead["id"]: lead["dossier_id"] for lead in a_leads if lead["dossier_id"]}
    assert a_dossiers
    bought = set(research_keys())
    assert len(bought) == len(a_dossiers)

    # Run B in human mode: the summary says what it reused.
    human = cli("run", "-n", "12", *CAMPAIGN, "--agency", agency)
    assert human.exit_code == 0, human.stderr
    assert "reused a recent dossier" in " ".join(human.stdout.split())
    b = ok_json(cli("runs", "--agency", agency, "--json"))[0]
    assert b["id"] != a["id"] and b["counts"]["reused"] == len(a_dossiers)

    # A still lists all its leads with their dossiers; each now shows both runs, newest first.
    after = leads(a["id"])
    assert [lead["id"] for lead in after] == [lead["id"] for lead in a_leads]
    for before, now in zip(a_leads, after, strict=True):
        if before["dossier_id"]:
            assert now == {**before, "runs": [b["id"], a["id"]]}
        else:  # A could not research it (a site that failed that day); B may have since
            assert (now["status"], now["dossier_id"], now["runs"]) == (
                before["status"],
                None,
                [b["id"], a["id"]],
            )
    assert ok_json(cli("status", a["id"], "--agency", agency, "--json"))["counts"] == a["counts"]
    b_leads = {lead["id"]: lead for lead in leads(b["id"])}
    for opp_id, dossier_id in a_dossiers.items():
        assert b_leads[opp_id]["dossier_id"] == dossier_id and b_leads[opp_id]["dossier_reused"]
        dossier = ok_json(cli("dossier", opp_id, "--agency", agency, "--json"))
        assert dossier["id"] == dossier_id
    # No second dossier_research charge for them: only leads A could not research were audited.
    b_audits = ok_json(cli("audits", b["id"], "--agency", agency, "--json"))
    assert {job["opportunity_id"] for job in b_audits}.isdisjoint(a_dossiers)
    assert set(research_keys()) - bought == {
        f"audit:{job['id']}" for job in b_audits if job["status"] == "completed"
    }
    listed = cli("leads", b["id"], "--agency", agency)
    assert "(reused)" in listed.stdout

    # --refresh: audited and charged again.
    before = set(research_keys())
    c = ok_json(cli("run", "-n", "12", *CAMPAIGN, "--refresh", "--agency", agency, "--json"))
    assert c["counts"]["reused"] == 0
    c_done = {
        job["opportunity_id"]: job["id"]
        for job in ok_json(cli("audits", c["id"], "--agency", agency, "--json"))
        if job["status"] == "completed"
    }
    assert set(c_done) >= set(a_dossiers)
    assert set(research_keys()) - before == {f"audit:{job_id}" for job_id in c_done.values()}
    # A's list is still A's.
    assert [(lead["id"], lead["dossier_id"]) for lead in leads(a["id"])] == [
        (lead["id"], lead["dossier_id"]) for lead in a_leads
    ]


async def test_the_live_view_says_what_a_run_reused(run_env: dict[str, str]) -> None:
    """The live path `run` takes on a terminal, for a second run of a campaign."""
    import io

    from rich.console import Console

    from assistant.cli.live import RunMonitor, summary_view
    from graphs.service import RunService

    async with RunService.open() as runs:
        first = await runs.start("live2", num_leads=4, vertical="dentists", geography="Austin, TX")
        assert (await runs.execute("live2", first.id)).status == "completed"
        second = await runs.start("live2", num_leads=4, vertical="dentists", geography="Austin, TX")
        screen = io.StringIO()
        terminal = Console(file=screen, force_terminal=True, width=120, height=60, color_system=None)
        async with RunMonitor(runs, "live2", second.id, terminal, live=True, refresh_seconds=0) as monitor:
            assert (await runs.execute("live2", second.id, on_event=monitor.on_event)).status == "completed"
            await monitor.refresh()
            frame = monitor.render()
        assert monitor.snapshot is not None
        reused = monitor.snapshot.run["counts"]["reused"]
    assert reused >= 1
    drawn = Console(file=io.StringIO(), width=120, color_system=None)
    drawn.print(frame)
    assert f"{reused} recent dossier" in drawn.file.getvalue()  # type: ignore[attr-defined]
    drawn.print(summary_view(monitor.snapshot, "live2"))
    assert "reused a recent dossier" in " ".join(drawn.file.getvalue().split())  # type: ignore[attr-defined]
