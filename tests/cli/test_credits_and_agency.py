"""`leadgen agency ...` and `leadgen credits ...` end to end, in-process, on a SQLite file.

Exit codes and stdout discipline are part of the interface (README, "Using it from the command line"): `--json` output
must parse as JSON on its own, bad input exits 2 and writes nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import Result

from db.engine import create_engine
from tools.billing.local import LocalLedger

Invoke = Callable[..., Result]
Snapshot = Callable[[], dict[str, list[tuple[object, ...]]]]


def ok_json(result: Result) -> Any:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # stdout carries the JSON alone


def said(result: Result) -> str:
    """stderr with rich's line wrapping undone."""
    return " ".join(result.stderr.split())


def ledger_call(url: str, work: Callable[[LocalLedger], Any]) -> Any:
    async def run() -> Any:
        engine = create_engine(url)
        try:
            return await work(LocalLedger(engine))
        finally:
            await engine.dispose()

    return asyncio.run(run())


# ---- credits ------------------------------------------------------------------------------


def test_new_agency_starts_with_twenty_credits(cli: Invoke) -> None:
    assert ok_json(cli("credits", "--json")) == {"customer_id": "default", "balance": 20}
    assert ok_json(cli("credits", "--json", "--agency", "acme")) == {"customer_id": "acme", "balance": 20}
    history = ok_json(cli("credits", "history", "--json", "--agency", "acme"))
    assert [(r["kind"], r["feature_id"], r["credits"], r["idempotency_key"]) for r in history] == [
        ("grant", None, 20, "grant:starting:acme")
    ]
    assert set(history[0]) >= {"kind", "feature_id", "credits", "idempotency_key", "created_at"}
    assert history[0]["created_at"].endswith("Z")


def test_starting_credits_and_default_agency_come_from_the_environment(cli: Invoke) -> None:
    env = {"LEADGEN_STARTING_CREDITS": "7", "LEADGEN_AGENCY": "beta"}
    assert ok_json(cli("credits", "--json", env=env)) == {"customer_id": "beta", "balance": 7}
    # Only the first use grants: changing the setting later does not top the agency up.
    env["LEADGEN_STARTING_CREDITS"] = "50"
    assert ok_json(cli("credits", "--json", env=env))["balance"] == 7


def test_grant_set_and_history_add_up(cli: Invoke) -> None:
    assert ok_json(cli("credits", "grant", "5", "--agency", "acme", "--json"))["balance"] == 25
    assert ok_json(cli("credits", "set", "3", "--agency", "acme", "--json"))["balance"] == 3
    assert ok_json(cli("credits", "set", "0", "--agency", "acme", "--json"))["balance"] == 0
    history = ok_json(cli("credits", "history", "--agency", "acme", "--json"))
    assert [(r["kind"], r["credits"], r["balance_after"]) for r in history] == [
        ("grant", 20, 20),
        ("grant", 5, 25),
        ("adjustment", -22, 3),
        ("adjustment", -3, 0),
    ]
    assert sum(r["credits"] for r in history) == 0
    # Another agency is untouched.
    assert ok_json(cli("credits", "--json", "--agency", "other"))["balance"] == 20


def test_options_before_the_subcommand_apply_to_it(cli: Invoke) -> None:
    assert ok_json(cli("credits", "--agency", "acme", "--json", "grant", "5")) == {
        "customer_id": "acme",
        "balance": 25,
    }
    assert ok_json(cli("credits", "--json", "--agency", "default"))["balance"] == 20  # untouched
    history = ok_json(cli("credits", "--agency", "acme", "history", "--json"))
    assert [r["credits"] for r in history] == [20, 5]
    clash = cli("credits", "--agency", "acme", "grant", "5", "--agency", "beta")
    assert clash.exit_code == 2 and "--agency given twice" in said(clash)


def test_human_output(cli: Invoke) -> None:
    result = cli("credits", "grant", "5", "--agency", "acme")
    assert result.exit_code == 0
    assert "25 credits available" in result.stdout
    table = cli("credits", "history", "--agency", "acme")
    assert table.exit_code == 0
    for text in ("kind", "credits", "balance", "grant", "+20", "+5"):
        assert text in table.stdout


@pytest.mark.parametrize(
    "amount", ["0", "-5", "2.5", "abc", "1e3", "1_000", "+5", "1000001", "9" * 5000, "", "５"]
)
def test_grant_refuses_bad_amounts_and_writes_nothing(cli: Invoke, db_rows: Snapshot, amount: str) -> None:
    ok_json(cli("credits", "--json", "--agency", "acme"))  # the database exists, the agency too
    before = db_rows()
    result = cli("credits", "grant", amount, "--agency", "acme")
    assert result.exit_code == 2
    assert "credits" in said(result) and "1,000,000" in said(result)
    assert result.stdout == ""
    assert db_rows() == before


@pytest.mark.parametrize("amount", ["-1", "x", "1000001", "0.0"])
def test_set_refuses_bad_amounts_and_writes_nothing(cli: Invoke, db_rows: Snapshot, amount: str) -> None:
    ok_json(cli("credits", "--json", "--agency", "acme"))
    before = db_rows()
    result = cli("credits", "set", amount, "--agency", "acme")
    assert result.exit_code == 2
    assert "from 0 to 1,000,000" in said(result)
    assert db_rows() == before


def test_set_refuses_to_go_below_what_is_held(
    cli: Invoke, cli_env: dict[str, str], db_rows: Snapshot
) -> None:
    ok_json(cli("credits", "--json", "--agency", "acme"))
    ledger_call(cli_env["DATABASE_URL"], lambda led: led.hold("acme", "dossier_research", "audit:1", units=3))
    before = db_rows()
    result = cli("credits", "set", "5", "--agency", "acme")
    assert result.exit_code == 2
    assert "6 credits are held" in said(result)
    assert db_rows() == before
    assert ok_json(cli("credits", "--json", "--agency", "acme"))["balance"] == 14  # 20 - 6 held


def test_bad_agency_id_is_refused_before_anything_is_created(cli: Invoke, db_rows: Snapshot) -> None:
    for bad in ("Acme", "-acme", "a" * 65, "acme corp", "acme/../x", ""):
        result = cli("credits", "--agency", bad)
        assert result.exit_code == 2, bad
        assert "agency" in said(result) and "lowercase" in said(result)
    assert db_rows() == {}  # the database was not even created


def test_bad_agency_id_from_the_environment(cli: Invoke, db_rows: Snapshot) -> None:
    result = cli("credits", "history", env={"LEADGEN_AGENCY": "Not Valid"})
    assert result.exit_code == 2
    assert db_rows() == {}


def test_credits_with_autumn_read_autumn_and_refuse_local_grants(cli: Invoke, sandbox: Any) -> None:
    """With AUTUMN_SECRET_KEY set the balance is Autumn's (here the sandbox's), and grants or
    adjustments are refused: credits are bought at Autumn's checkout, not created locally."""
    env = {"AUTUMN_SECRET_KEY": "am_sk_test_cli", "LEADGEN_SANDBOX_URL": sandbox.url}
    sandbox.configure(autumn_starting_balance=7)
    try:
        shown = ok_json(cli("credits", "--agency", "autumnco", "--json", env=env))
    finally:
        sandbox.reset_config()
    assert shown == {"customer_id": "autumnco", "balance": 7}
    for args in (("credits", "grant", "5"), ("credits", "set", "5")):
        refused = cli(*args, "--agency", "autumnco", env=env)
        assert refused.exit_code == 2, args
        assert "Autumn" in said(refused)


# ---- agency -------------------------------------------------------------------------------


def test_agency_set_then_show(cli: Invoke) -> None:
    data = ok_json(
        cli(
            "agency",
            "set",
            "--agency",
            "acme",
            "--vertical",
            "  dentists ",
            "--geography",
            "Austin, TX",
            "--criteria",
            "missing website, low_google_rating,MISSING_WEBSITE,",
            "--services",
            "web design, SEO, seo",
            "--json",
        )
    )
    assert data["target_vertical"] == "dentists"
    assert data["criteria"] == ["MISSING_WEBSITE", "LOW_GOOGLE_RATING"]
    assert data["services_offered"] == ["web design", "SEO"]
    shown = ok_json(cli("agency", "show", "--agency", "acme", "--json"))
    assert shown == data
    assert shown["id"] == "acme" and shown["billing_customer_id"] == "acme"

    # Only the options given change.
    ok_json(cli("agency", "set", "--agency", "acme", "--geography", "Dallas, TX", "--json"))
    shown = ok_json(cli("agency", "show", "--agency", "acme", "--json"))
    assert (shown["target_vertical"], shown["target_geography"]) == ("dentists", "Dallas, TX")
    assert shown["criteria"] == ["MISSING_WEBSITE", "LOW_GOOGLE_RATING"]

    human = cli("agency", "show", "--agency", "acme")
    assert human.exit_code == 0 and "Dallas, TX" in human.stdout and "LOW_GOOGLE_RATING" in human.stdout


def test_agency_show_creates_a_new_agency_with_its_credits(cli: Invoke) -> None:
    shown = ok_json(cli("agency", "show", "--json", "--agency", "fresh"))
    assert (shown["target_vertical"], shown["criteria"]) == (None, [])
    assert ok_json(cli("credits", "--json", "--agency", "fresh"))["balance"] == 20


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--criteria", "MISSING_WEBSITE,CHEAP_PRICES"], "allowed: MISSING_WEBSITE, WEAK_WEB_PRESENCE"),
        (["--criteria", " , "], "at least one signal"),
        (["--vertical", "   "], "vertical: must not be empty"),
        (["--geography", "x" * 201], "at most 200"),
        (["--vertical", "dentists\x07"], "control character"),
        (["--services", ","], "at least one service"),
        (["--vertical", "dentists", "--criteria", "nope"], "unknown signal 'nope'"),
        ([], "nothing to set"),
        (["--agency", "ACME", "--vertical", "dentists"], "not a valid agency id"),
    ],
)
def test_agency_set_refuses_bad_input_and_writes_nothing(
    cli: Invoke, db_rows: Snapshot, args: list[str], expected: str
) -> None:
    ok_json(cli("agency", "set", "--agency", "acme", "--vertical", "dentists", "--json"))
    before = db_rows()
    result = cli("agency", "set", *(args if "--agency" in args else ["--agency", "acme", *args]))
    assert result.exit_code == 2
    assert expected in said(result)
    assert result.stdout == ""
    assert db_rows() == before
