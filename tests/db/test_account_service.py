"""The account service (graphs/account_service.py) on SQLite and the real PostgreSQL: the agency
opened once with its starting credits, profile, credits and Slack workspaces, each scoped to its
agency; credits that are Autumn's are refused with nothing written."""

from __future__ import annotations

import uuid

import pytest

from db import Database
from graphs.account_service import AccountService, CreditsManagedElsewhere
from graphs.accounts import BadAccountInput
from leadgen.settings import Settings
from tools.billing.autumn import AutumnBilling
from tools.billing.local import LocalLedger

STARTING = 7


def _settings(**overrides: object) -> Settings:
    values: dict[str, object] = {"leadgen_starting_credits": STARTING, "leadgen_env": "test"}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture
def accounts(database: Database) -> AccountService:
    return AccountService(database, LocalLedger(database.engine), _settings())


def _agency() -> str:
    return f"acct-{uuid.uuid4().hex[:10]}"


def _team() -> str:
    return f"T{uuid.uuid4().hex[:10].upper()}"


async def test_an_agency_opens_once_with_its_starting_credits(accounts: AccountService) -> None:
    agency = _agency()
    first = await accounts.open_agency(agency)
    again = await accounts.open_agency(agency)
    assert first.billing_customer_id == again.billing_customer_id == agency
    assert await accounts.balance(agency) == STARTING
    history = await accounts.history(agency)
    assert [(e.kind, e.credits) for e in history] == [("grant", STARTING)]
    credits = await accounts.credits(agency)
    assert (credits.customer_id, credits.balance) == (agency, STARTING)


async def test_grants_and_set_balance_are_exact_and_stay_in_their_agency(accounts: AccountService) -> None:
    mine, theirs = _agency(), _agency()
    assert await accounts.grant(mine, 5, key=f"upgrade:{mine}:tool:1:starter") == STARTING + 5
    assert await accounts.grant(mine, 5, key=f"upgrade:{mine}:tool:1:starter") == STARTING + 5  # once per key
    assert await accounts.set_balance(mine, 3) == 3
    assert [e.kind for e in await accounts.history(mine)] == ["grant", "grant", "adjustment"]
    # The other agency has its own account: its starting credits, nothing of ours.
    assert await accounts.balance(theirs) == STARTING
    assert [(e.kind, e.credits) for e in await accounts.history(theirs)] == [("grant", STARTING)]


async def test_profile_is_the_agencys_own(accounts: AccountService) -> None:
    mine, theirs = _agency(), _agency()
    await accounts.open_agency(theirs)
    profile = await accounts.set_profile(
        mine, target_vertical="dentists", criteria=["MISSING_WEBSITE"], branding={"name": "Acme"}
    )
    assert (profile.target_vertical, profile.criteria) == ("dentists", ["MISSING_WEBSITE"])
    again = await accounts.set_profile(mine, target_geography="Austin, TX")
    assert (again.target_vertical, again.target_geography) == ("dentists", "Austin, TX")  # only what is given
    other = await accounts.profile(theirs)  # an agency starts with an empty profile of its own
    assert other is not None and other.agency_id == theirs
    assert (other.target_vertical, other.target_geography, other.branding or {}) == (None, None, {})


async def test_slack_installs_are_the_agencys_own_and_checked(accounts: AccountService) -> None:
    mine, theirs, team = _agency(), _agency(), _team()
    install = await accounts.install_slack(mine, team)
    assert (install.team_id, install.agency_id) == (team, mine)
    assert [i.team_id for i in await accounts.slack_installs(mine)] == [team]
    assert await accounts.slack_installs(theirs) == []
    moved = await accounts.install_slack(theirs, team)  # the operator moves a workspace
    assert moved.agency_id == theirs and await accounts.slack_installs(mine) == []
    for bad_team, token in (("not-a-team", None), (_team(), "xoxp-user-token")):
        with pytest.raises(BadAccountInput):
            await accounts.install_slack(mine, bad_team, bot_token=token)
    assert await accounts.slack_installs(mine) == []  # nothing was written


async def test_an_unknown_workspace_is_refused_in_production(database: Database) -> None:
    production = AccountService(database, LocalLedger(database.engine), _settings(leadgen_env="production"))
    team = _team()
    assert await production.slack_workspace(team, _agency()) is None
    async with database.reader() as repo:
        assert await repo.get_slack_install(team) is None


async def test_credits_that_autumn_holds_are_not_adjusted_here(database: Database, sandbox_url: str) -> None:
    settings = _settings(autumn_secret_key="am_sk_test_accounts", leadgen_sandbox_url=sandbox_url)
    billing = AutumnBilling(settings=settings, engine=database.engine)
    try:
        accounts = AccountService(database, billing, settings)
        assert accounts.adjusts_credits() is False
        agency = _agency()
        with pytest.raises(CreditsManagedElsewhere, match="manage credits in Autumn instead"):
            await accounts.grant(agency, 5, action="`leadgen credits grant`")
        with pytest.raises(CreditsManagedElsewhere, match="`leadgen credits set` adjusts the local ledger"):
            await accounts.set_balance(agency, 5, action="`leadgen credits set`")
        async with database.reader() as repo:
            assert await repo.get_agency(agency) is None  # refused before anything was written
    finally:
        await billing.aclose()


async def test_an_agency_made_elsewhere_still_gets_its_starting_credits(
    accounts: AccountService, database: Database
) -> None:
    """A Slack workspace claiming the default agency makes its row without the credits: the
    first balance read opens the account (the Slack agent's "how many credits do I have?")."""
    agency = _agency()
    async with database.transaction() as repo:
        await repo.ensure_agency(agency)  # what claim_first_slack_install does for the agency
    assert await accounts.balance(agency) == STARTING
    assert await accounts.balance(agency) == STARTING  # opened once
