"""Who may spend, grant and change what, through the agent's tools (the real agent, run service
and ledger, the sandbox's scripted model over HTTP) and graphs/accounts.py's rules themselves.

Credits are the operator's budget: in production with the local ledger nobody grants themselves
credits from a face; with LEADGEN_SELF_SERVE_CREDITS=true an admin may, once per key; members
never. Only admins change the agency profile or connect Slack workspaces, and a refusal writes
nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from assistant.agent import AgentTurn, ChatServices, confirm_upgrade, upgrade
from graphs import accounts
from graphs.identity import add_user
from leadgen.settings import Settings, reset_settings
from tools.billing import LocalLedger

Say = Callable[..., Awaitable[AgentTurn]]


def only_result(turn: AgentTurn, tool: str) -> dict[str, Any]:
    results = [r for name, r in turn.tool_results if name == tool]
    assert len(results) == 1, f"expected one {tool} call, the turn called {[n for n, _ in turn.tool_results]}"
    assert isinstance(results[0], dict)
    return results[0]


@pytest.fixture
def production(chat_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """LEADGEN_ENV=production (still on the sandbox's providers); request it before `chat`."""
    monkeypatch.setenv("LEADGEN_ENV", "production")
    reset_settings()
    yield


@pytest.fixture
def self_serve(production: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Production, with the operator's explicit LEADGEN_SELF_SERVE_CREDITS=true."""
    monkeypatch.setenv("LEADGEN_SELF_SERVE_CREDITS", "true")
    reset_settings()
    yield


async def _ledger_of(chat: ChatServices) -> LocalLedger:
    await chat.runs.ensure_agency("acme")
    ledger = chat.runs.billing
    assert isinstance(ledger, LocalLedger)
    return ledger


async def _grants(ledger: LocalLedger, customer: str = "acme") -> list[tuple[str, int, str]]:
    return [
        (e.kind, e.credits, e.idempotency_key) for e in await ledger.history(customer) if e.kind != "charge"
    ]


async def _users(chat: ChatServices) -> None:
    await add_user(chat.database, "ana", "acme", "ana-password-1", role="admin")
    await add_user(chat.database, "max", "acme", "max-password-1")  # a member (the default)
    await add_user(chat.database, "bo", "bravo", "bo-password-12", role="admin")


# --------------------------------------------------------------------------------------------
# Upgrades


async def test_in_production_the_upgrade_tool_grants_nothing_and_says_ask_the_administrator(
    production: None, chat: ChatServices, say: Say
) -> None:
    ledger = await _ledger_of(chat)
    before = (await ledger.balance("acme"), await _grants(ledger))

    turn = await say("upgrade to pro")  # the local user: an admin, and still no self-service here
    refused = only_result(turn, "start_upgrade")
    assert refused["error"] == "not_allowed" and refused["credits_granted"] == 0
    assert "administrator" in refused["message"] and "leadgen credits grant" in refused["message"]
    assert "administrator" in turn.text
    assert (await ledger.balance("acme"), await _grants(ledger)) == before

    credits = only_result(await say("how many credits do I have?"), "get_credits")
    assert credits["how_to_add_credits"]["mode"] == "operator"
    assert credits["how_to_add_credits"]["allowed"] is False

    # The operator still grants (what `leadgen credits grant` does), and that is all that moved.
    await ledger.grant("acme", 50, key="grant:operator:1")
    assert await ledger.balance("acme") == before[0] + 50


async def test_self_serve_upgrades_grant_once_per_key_for_admins_only(
    self_serve: None, chat: ChatServices, say: Say
) -> None:
    await _users(chat)
    ledger = await _ledger_of(chat)
    start = await ledger.balance("acme")

    # The tool prepares the upgrade and says it is free; nothing is granted before the click.
    prepared = only_result(await say("upgrade to pro", user="ana"), "start_upgrade")
    assert prepared["outcome"] == "needs_confirmation" and prepared["credits_granted"] == 0
    assert "free" in prepared["message"] and prepared["upgrade"]["free"] is True
    assert await ledger.balance("acme") == start
    assert [(kind, credits) for kind, credits, _ in await _grants(ledger)] == [("grant", 20)]

    # The admin's click grants, under the key of that tool call.
    ana = chat.context("acme", user_id="ana")
    granted = await confirm_upgrade(ana, accounts.PLANS[1], prepared["tool_call_id"])
    assert granted["credits_granted"] == 500 and granted["balance"] == start + 500
    grants = await _grants(ledger)
    assert [(kind, credits) for kind, credits, _ in grants] == [("grant", 20), ("grant", 500)]
    tool_key = grants[-1][2]
    assert tool_key == f"upgrade:acme:tool:{prepared['tool_call_id']}:pro"

    # The same click again (a double click, the other face): nothing more.
    again = await confirm_upgrade(ana, accounts.PLANS[1], prepared["tool_call_id"])
    assert again["credits_granted"] == 0 and again["already_applied"] is True
    again = await upgrade(
        ana, accounts.PLANS[1], accounts.UpgradeOccasion.tool_call(prepared["tool_call_id"])
    )
    assert again["credits_granted"] == 0 and again["already_applied"] is True
    assert await ledger.balance("acme") == start + 500

    # A member asks: refused, and the ledger is as it was.
    refused = only_result(await say("upgrade to pro", user="max", thread="t-max"), "start_upgrade")
    assert refused["error"] == "not_allowed" and "Only an admin" in refused["message"]
    # ... and the admin's button, clicked by the member (a forwarded link, a forged payload).
    with pytest.raises(accounts.NotAllowed, match="Only an admin"):
        await confirm_upgrade(chat.context("acme", user_id="max"), accounts.PLANS[1], "forged-call")
    assert await _grants(ledger) == grants and await ledger.balance("acme") == start + 500


async def test_upgrade_policy_by_installation_and_role(chat_env: dict[str, str]) -> None:
    base = Settings(leadgen_sandbox_url="http://sandbox.test")
    assert accounts.upgrade_mode(base.model_copy(update={"leadgen_env": "development"})) == "self_serve"
    assert accounts.upgrade_mode(base.model_copy(update={"leadgen_env": "test"})) == "self_serve"
    assert accounts.upgrade_mode(base.model_copy(update={"leadgen_env": "production"})) == "operator"
    no_sandbox = base.model_copy(update={"leadgen_sandbox_url": ""})
    assert accounts.upgrade_mode(no_sandbox) == "operator"  # development with real keys
    forced = base.model_copy(update={"leadgen_env": "production", "leadgen_self_serve_credits": True})
    assert accounts.upgrade_mode(forced) == "self_serve"
    assert accounts.upgrade_mode(base.model_copy(update={"leadgen_self_serve_credits": False})) == "operator"
    autumn = forced.model_copy(update={"autumn_secret_key": "am_sk_live_x"})
    assert accounts.upgrade_mode(autumn) == "checkout"

    assert accounts.upgrade_offer(forced, "acme", "admin").allowed
    member = accounts.upgrade_offer(forced, "acme", "member")
    assert not member.allowed and member.free and "ask your administrator" in member.message
    operator = accounts.upgrade_offer(base.model_copy(update={"leadgen_env": "production"}), "acme", "admin")
    assert not operator.allowed and "leadgen credits grant N --agency acme" in operator.message
    assert accounts.upgrade_offer(autumn, "acme", "admin").allowed
    assert not accounts.upgrade_offer(autumn, "acme", "member").allowed


def test_one_idempotency_key_rule_for_every_upgrade() -> None:
    key = accounts.upgrade_key
    # A run's pause: the same key from the web chat and from Slack.
    assert key("acme", "pro", run_id="run1", pause="2026-01-01T00:00:00Z") == (
        "upgrade:acme:run1:2026-01-01T00:00:00Z:pro"
    )
    assert key("acme", "pro", call_nonce="abc123") == "upgrade:acme:call:abc123:pro"
    assert key("acme", "pro", tool_call_id="call_9") == "upgrade:acme:tool:call_9:pro"
    # Untrusted parts are cut and cleaned; an occasion is required, and only one.
    long = key("acme", "pro", call_nonce="x" * 500 + " \n")
    assert long == f"upgrade:acme:call:{'x' * 64}:pro"
    with pytest.raises(ValueError, match="exactly one occasion"):
        key("acme", "pro")
    with pytest.raises(ValueError, match="exactly one occasion"):
        key("acme", "pro", run_id="r", tool_call_id="t")


# --------------------------------------------------------------------------------------------
# Roles: profile, Slack workspaces, Slack identities


async def _profile(chat: ChatServices, agency: str = "acme") -> tuple[Any, ...]:
    async with chat.database.reader() as repo:
        profile = await repo.get_profile(agency)
    assert profile is not None
    return (profile.target_vertical, profile.target_geography, list(profile.criteria), profile.updated_at)


async def test_only_admins_change_the_agency_profile(chat: ChatServices, say: Say) -> None:
    await _users(chat)
    changed = only_result(
        await say("update the agency profile to find plumbers in Denver, CO", user="ana"),
        "update_agency_profile",
    )
    assert changed["profile"]["target_vertical"] == "plumbers"
    assert changed["profile"]["target_geography"] == "Denver, CO"
    before = await _profile(chat)

    turn = await say("update the agency profile to find roofers in Phoenix, AZ", user="max", thread="t-max")
    refused = only_result(turn, "update_agency_profile")
    assert refused["error"] == "not_allowed"
    assert (
        "Only an admin of agency acme" in refused["message"] and "Nothing was changed" in refused["message"]
    )
    assert await _profile(chat) == before

    # A Slack user is a member too, unless linked to an admin (below).
    slack_max = accounts.slack_actor_id("TALPHA1", "UMAX1")
    with pytest.raises(accounts.NotAllowed):
        await accounts.update_profile(chat.database, "acme", slack_max, target_vertical="roofers")
    assert await _profile(chat) == before


async def test_only_admins_connect_slack_workspaces(chat: ChatServices, say: Say) -> None:
    await _users(chat)
    refused = only_result(
        await say("connect the Slack workspace T0SLACK42", user="max", thread="t-max"),
        "connect_slack_workspace",
    )
    assert refused["error"] == "not_allowed" and "Only an admin" in refused["message"]
    async with chat.database.reader() as repo:
        assert await repo.get_slack_install("T0SLACK42") is None

    connected = only_result(
        await say("connect the Slack workspace T0SLACK42", user="ana"), "connect_slack_workspace"
    )
    assert connected["team_id"] == "T0SLACK42"

    # Another agency's admin cannot take it over; it stays where it is.
    taken = only_result(
        await say("connect the Slack workspace T0SLACK42", agency="bravo", user="bo", thread="t-bo"),
        "connect_slack_workspace",
    )
    assert taken["error"] == "bad_input" and "another agency" in taken["message"]
    async with chat.database.reader() as repo:
        install = await repo.get_slack_install("T0SLACK42")
    assert install is not None and install.agency_id == "acme"


async def test_roles_come_from_the_user_row_and_slack_links_in_their_own_agency(chat: ChatServices) -> None:
    await _users(chat)
    db = chat.database
    assert await accounts.role_of(db, "acme", "ana") == "admin"
    assert await accounts.role_of(db, "acme", "max") == "member"
    assert await accounts.role_of(db, "bravo", "ana") == "member"  # not ana's agency
    assert await accounts.role_of(db, "acme", "nobody") == "member"
    assert await accounts.role_of(db, "acme", None) == "member"
    assert await accounts.role_of(db, "acme", "local") == "admin"  # the no-login operator

    slack_ana = accounts.slack_actor_id("TALPHA1", "UANA1")
    assert await accounts.role_of(db, "acme", slack_ana) == "member"
    await accounts.link_slack_user(db, "ana", "TALPHA1", "UANA1")
    assert await accounts.role_of(db, "acme", slack_ana) == "admin"
    assert await accounts.role_of(db, "bravo", slack_ana) == "member"
    with pytest.raises(accounts.BadAccountInput, match="already linked"):
        await accounts.link_slack_user(db, "max", "TALPHA1", "UANA1")
    with pytest.raises(accounts.BadAccountInput, match="not a Slack user id"):
        await accounts.link_slack_user(db, "max", "TALPHA1", "bad id")

    # A demotion counts at once.
    await accounts.set_role(db, "ana", "member")
    assert await accounts.role_of(db, "acme", slack_ana) == "member"
    with pytest.raises(accounts.BadAccountInput, match="not a role"):
        await accounts.set_role(db, "ana", "owner")
    assert await accounts.role_of(db, "acme", "ana") == "member"
