"""Every read command, through the quick read path and through the full CLI, on one database:
the same stdout, stderr and exit code, in text and JSON, for found rows, missing ones, another
agency's ones and bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Answer, World  # the fixtures' types only

# `kind:name` names the world's run (runs, thread: its UUID form), lead or audit (conftest `resolve`).
ANSWERED: list[tuple[str, ...]] = [
    ("credits", "--agency", "acme"),
    ("credits", "--json", "--agency", "acme"),
    ("credits", "history", "--agency", "acme"),
    ("credits", "history", "--json", "--agency", "acme"),
    ("credits", "--agency", "acme", "--json", "history"),  # group options handed down
    ("credits", "--agency", "rival", "history"),
    ("agency", "show", "--agency", "acme"),
    ("agency", "show", "--agency", "acme", "--json"),
    ("agency", "show", "--agency=rival"),
    ("status", "runs:completed", "--agency", "acme"),
    ("status", "runs:completed", "--agency", "acme", "--json"),
    ("status", "runs:short", "--agency", "acme"),
    ("status", "runs:short", "--json", "--agency", "acme"),
    ("status", "runs:paused", "--agency", "acme"),
    ("status", "runs:paused", "--agency", "acme", "--json"),
    ("status", "thread:paused", "--agency", "acme"),  # the LangGraph thread id of the run
    ("status", "runs:failed", "--agency", "acme"),
    ("status", "runs:failed", "--agency", "acme", "--json"),
    ("status", "runs:rival", "--agency", "acme"),  # another agency's run: not found
    ("status", "runs:rival", "--agency", "rival", "--json"),
    ("status", "no-such-run", "--agency", "acme"),
    ("runs", "--agency", "acme"),
    ("runs", "--agency", "acme", "--json"),
    ("runs", "--agency", "rival"),
    ("leads", "runs:completed", "--agency", "acme"),
    ("leads", "runs:completed", "--agency", "acme", "--json"),
    ("leads", "runs:completed", "--agency", "acme", "--csv"),
    ("leads", "runs:short", "--agency", "acme"),
    ("leads", "runs:short", "--agency", "acme", "--json"),
    ("leads", "runs:paused", "--agency", "acme", "--csv"),
    ("leads", "runs:failed", "--agency", "acme", "--csv"),  # no leads: no CSV at all
    ("leads", "runs:failed", "--agency", "acme"),
    ("leads", "runs:rival", "--agency", "acme", "--json"),
    ("leads", "runs:completed", "--agency", "acme", "--json", "--csv"),
    ("audits", "runs:completed", "--agency", "acme"),
    ("audits", "runs:completed", "--agency", "acme", "--json"),
    ("audits", "runs:short", "--agency", "acme"),
    ("audits", "runs:rival", "--agency", "acme"),
    ("dossier", "leads:site", "--agency", "acme"),
    ("dossier", "leads:site", "--agency", "acme", "--json"),
    ("dossier", "leads:bare", "--agency", "acme"),  # no dossier yet
    ("dossier", "leads:rival", "--agency", "acme", "--json"),
    ("dossier", "leads:rival", "--agency", "rival"),
    ("dossier", "nobody", "--agency", "acme"),
    ("pages", "audits:site", "--agency", "acme"),
    ("pages", "audits:site", "--agency", "acme", "--json"),
    ("pages", "audits:empty", "--agency", "acme"),
    ("pages", "audits:rival", "--agency", "acme"),
    ("pages", "audits:rival", "--agency", "rival", "--json"),
    ("calls", "--agency", "acme"),
    ("calls", "--agency", "acme", "--json"),
    ("calls", "--agency", "rival", "--json"),
    ("status", "x", "--agency", "Not Valid"),
    ("runs", "--agency", ""),
]


def declined(answer: Answer) -> bool:
    """The quick path left the command to the full CLI, having printed nothing."""
    return answer.code is None and answer.stdout == "" and answer.stderr == ""


@pytest.mark.parametrize("args", ANSWERED, ids=" ".join)
def test_the_quick_path_answers_as_the_full_cli(
    world_env: World,
    args: tuple[str, ...],
    quick: Callable[..., Answer],
    full: Callable[..., Answer],
    resolve: Callable[[tuple[str, ...]], list[str]],
) -> None:
    argv = resolve(args)
    fast = quick(*argv)
    slow = full(*argv)
    assert fast.code is not None, f"the quick path declined {argv}"
    assert (fast.code, fast.stderr) == (slow.code, slow.stderr)
    assert fast.stdout == slow.stdout
    if "--json" in argv and fast.code == 0:
        json.loads(fast.stdout)  # JSON alone on stdout


def test_the_world_has_what_the_commands_show(world_env: World, quick: Callable[..., Answer]) -> None:
    """The twin test means something only if the seeded rows reach the output."""
    leads = json.loads(quick("leads", world_env.runs["short"], "--agency", "acme", "--json").stdout)
    shared = next(lead for lead in leads if lead["id"] == world_env.leads["shared"])
    assert shared["runs"] == [world_env.runs["short"], world_env.runs["completed"]]  # newest first
    assert shared["dossier_reused"] is True
    run = json.loads(quick("status", world_env.runs["short"], "--agency", "acme", "--json").stdout)
    assert run["counts"]["reused"] == 1 and run["counts"]["opportunities"] == 2
    assert run["created_at"] == "2026-03-02T10:30:00.000250Z"
    first = json.loads(quick("status", world_env.runs["completed"], "--agency", "acme", "--json").stdout)
    assert first["created_at"] == "2026-03-02T09:30:00Z"
    assert first["counts"] | {} == {
        "opportunities": 4,
        "with_website": 2,  # own domains only: the social page does not count
        "ready": 1,
        "data_ready": 3,
        "auditing": 0,
        "audits_queued": 2,
        "audits_completed": 1,
        "audits_failed": 1,
        "reused": 0,
    }
    credits = json.loads(quick("credits", "--agency", "acme", "--json").stdout)
    assert credits == {"customer_id": "acme", "balance": 20 + 7 - 1 - 2 - 2}  # an open hold of 2
    calls: list[dict[str, Any]] = json.loads(quick("calls", "--agency", "acme", "--json").stdout)
    assert len(calls) == 4 and calls[-1]["metadata"]["ai_call_metering"]["billed_minutes"] == 2


# Command lines the quick path leaves to the full CLI: it prints nothing and returns None.
DECLINED: list[tuple[str, ...]] = [
    (),
    ("--help",),
    ("status", "--help"),
    ("status",),  # missing argument: Click's usage error
    ("status", "a", "b"),
    ("runs", "--agency"),
    ("runs", "--agency", "acme", "--agency", "acme"),
    ("runs", "--json", "--json"),
    ("runs", "--jsn"),
    ("credits", "grant", "5"),
    ("credits", "--agency", "acme", "history", "--agency", "acme"),
    ("agency", "set", "--vertical", "x"),
    ("agency", "--agency", "acme", "show"),
    ("run", "-n", "3"),
    ("leads", "r", "--csv", "--csv"),
    ("credits", "--agency", "newcomer"),  # first use creates the agency and its credits
    ("calls", "--agency", "newcomer"),
    ("agency", "show", "--agency", "newcomer"),
]


@pytest.mark.parametrize("args", DECLINED, ids=lambda a: " ".join(a) or "(nothing)")
def test_the_quick_path_declines_what_it_cannot_answer_exactly(
    world_env: World,
    args: tuple[str, ...],
    quick: Callable[..., Answer],
    db_rows: Callable[[str], list[tuple[Any, ...]]],
) -> None:
    before = db_rows("agencies")
    assert declined(quick(*args))
    assert db_rows("agencies") == before


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LEADGEN_EXECUTOR", "queue"),  # the full CLI refuses the queue on SQLite
        ("LEADGEN_STARTING_CREDITS", "-1"),  # the full settings refuse it
        ("LEADGEN_SQLITE_BUSY_SECONDS", "soon"),
        ("DATABASE_URL", "postgresql://u@127.0.0.1:1/x"),
        ("DATABASE_URL", "sqlite:///:memory:"),
        ("DATABASE_URL", "sqlite:////nonexistent/dir/leadgen.db"),  # created (and migrated) by the full CLI
    ],
)
def test_settings_the_quick_path_leaves_to_the_full_cli(
    world_env: World,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    quick: Callable[..., Answer],
) -> None:
    monkeypatch.setenv(variable, value)
    assert declined(quick("status", world_env.runs["completed"], "--agency", "acme"))


def test_autumn_balances_are_left_to_the_full_cli_but_runs_are_answered(
    world_env: World, monkeypatch: pytest.MonkeyPatch, quick: Callable[..., Answer]
) -> None:
    monkeypatch.setenv("AUTUMN_SECRET_KEY", "am_sk_test_x")
    assert quick("credits", "--agency", "acme").code is None
    assert quick("credits", "history", "--agency", "acme").code is None
    assert quick("status", world_env.runs["completed"], "--agency", "acme").code == 0


def test_dotenv_and_agency_variable_are_read_as_the_settings_read_them(
    world_env: World,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    quick: Callable[..., Answer],
    full: Callable[..., Answer],
) -> None:
    """`.env` in the working directory supplies what the environment does not; the environment
    wins over it; names are case-insensitive."""
    monkeypatch.delenv("DATABASE_URL")
    (tmp_path / ".env").write_text(
        f"database_url=sqlite:///{world_env.db_file}\nLEADGEN_AGENCY=nobody\n", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("leadgen_agency", "rival")
    fast, slow = quick("runs", "--json"), full("runs", "--json")
    assert fast.code == 0 and (fast.code, fast.stdout, fast.stderr) == (slow.code, slow.stdout, slow.stderr)
    assert {run["agency_id"] for run in json.loads(fast.stdout)} == {"rival"}


def test_a_schema_behind_head_is_left_to_the_full_cli(
    world_env: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, quick: Callable[..., Answer]
) -> None:
    import shutil
    import sqlite3

    copy = tmp_path / "old.db"
    shutil.copy(world_env.db_file, copy)
    with sqlite3.connect(copy) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0004'")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{copy}")
    assert declined(quick("runs", "--agency", "acme"))
