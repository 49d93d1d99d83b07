"""`leadgen run` against providers that answer as their own definitions say (issue 20): a new
Autumn customer with no grant is shown the paywall, and a key a provider refuses ends the run
with one sentence naming the variable to fix, exit 1, no traceback."""

from __future__ import annotations

from typing import Any

import pytest

CAMPAIGN = ("--vertical", "dentists", "--geography", "Austin, TX")
AUTUMN_KEY = "am_sk_test_issue20"
# Every table a run or its agency could write.
WRITTEN_BY_A_RUN = (
    "lead_gen_flows",
    "agencies",
    "client_opportunities",
    "credit_holds",
    "credit_ledger_entries",
)


def test_a_new_autumn_customer_without_a_grant_pauses_at_the_paywall(cli: Any, sandbox_config: Any) -> None:
    """Autumn's check for a customer it gave no credits omits `balance`: that is a balance of 0
    and the paywall (exit 3), never "billing unavailable"."""
    sandbox_config.configure(autumn_starting_balance=0)
    result = cli(
        "run", *CAMPAIGN, "-n", "2", "--agency", "nogrant", "--json", env={"AUTUMN_SECRET_KEY": AUTUMN_KEY}
    )
    assert result.exit_code == 3, result.stderr
    run = __import__("json").loads(result.stdout)
    assert run["status"] == "paused_for_upgrade"
    block = run["billing_block"]
    assert block["phase"] == "source" and block["feature_id"] == "lead_discovery"
    assert (block["credit_info"]["balance"], block["credit_info"]["deficit"]) == (0, 1)
    assert "unavailable" not in result.stderr.lower()


def test_a_refused_autumn_key_is_named_before_anything_is_written(
    cli: Any, sandbox_config: Any, table_rows: Any
) -> None:
    sandbox_config.configure(revoked_keys=[AUTUMN_KEY])
    result = cli("run", *CAMPAIGN, "-n", "2", "--json", env={"AUTUMN_SECRET_KEY": AUTUMN_KEY})
    assert (result.exit_code, result.stdout) == (1, "")
    message = " ".join(result.stderr.split())
    assert "Autumn refused the key in AUTUMN_SECRET_KEY" in message and "set AUTUMN_SECRET_KEY" in message
    assert "Traceback" not in result.stderr and AUTUMN_KEY not in result.stderr
    for table in WRITTEN_BY_A_RUN:
        assert table_rows(table) == [], table


@pytest.mark.parametrize(
    ("variable", "key"),
    [("GOOGLE_PLACES_API_KEY", "AIzaRevokedIssue20"), ("FIRECRAWL_API_KEY", "fc-revoked-issue20")],
)
def test_a_key_refused_mid_run_stops_it_with_the_variable_named(
    cli: Any, sandbox_config: Any, variable: str, key: str
) -> None:
    """Places (the first paid step) and Firecrawl (every audit) refusing our key: the run stops
    with the sentence naming the variable (exit 1), not a traceback, not a run of failed audits."""
    sandbox_config.configure(revoked_keys=[key])
    result = cli("run", *CAMPAIGN, "-n", "2", "--agency", variable.lower(), "--json", env={variable: key})
    assert result.exit_code == 1, result.stderr
    run = __import__("json").loads(result.stdout)
    assert run["status"] == "error"
    assert variable in run["error"] and f"set {variable} to a valid key" in run["error"]
    assert "Traceback" not in result.stderr
