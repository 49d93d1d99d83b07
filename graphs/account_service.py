"""The account service: what every face asks about an agency, its credits and its Slack
workspaces. The faces (the CLI, the web chat, Slack, the agent's tools) draw the answers; they
never open a database transaction or branch on which billing adapter holds the credits.

    accounts = AccountService(db, billing, settings)        # or: async with AccountService.open()
    agency = await accounts.open_agency("acme")             # created on first use, starting credits
    await accounts.set_profile("acme", target_vertical="dentists")
    await accounts.grant("acme", 50)                        # CreditsManagedElsewhere with Autumn

The rules of who may do what (roles, upgrades, the admin-only profile and Slack changes) stay in
graphs/accounts.py; this service is the operator's and the faces' door to the same rows.
Sign-in (passwords, the throttle) is graphs/identity.py.

Errors: `graphs.accounts.AccountError` and its kinds, plus `CreditsManagedElsewhere` (an
`AccountError`: the credits are the provider's, e.g. Autumn's; nothing was written).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from db import Database, open_database
from db.models import Agency, AgencyProfile, SlackInstall
from graphs.accounts import SLACK_TEAM_ID, AccountError, BadAccountInput, may_claim_first_slack_workspace
from leadgen.settings import Settings, get_settings
from tools.billing import CreditAdmin, billing_for, credit_admin
from tools.billing.port import BillingProvider, LedgerEntry

log = logging.getLogger(__name__)


class CreditsManagedElsewhere(AccountError):
    """Credits are adjusted in the billing provider (Autumn), not by us; nothing was written."""


@dataclass(frozen=True)
class Credits:
    """An agency's billing customer and its available balance."""

    customer_id: str
    balance: int


class AccountService:
    def __init__(self, db: Database, billing: BillingProvider, settings: Settings) -> None:
        self.db = db
        self.billing = billing
        self.settings = settings

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings | None = None) -> AsyncIterator[AccountService]:
        """The service on the database the settings name (closed when the block ends)."""
        settings = settings or get_settings()
        db = await open_database(settings.resolved_database_url)
        try:
            yield cls(db, billing_for(settings, db.engine), settings)
        finally:
            await db.close()

    # -- the agency -------------------------------------------------------------------------

    async def open_agency(self, agency_id: str) -> Agency:
        """The agency, created on first use with its starting credits (LEADGEN_STARTING_CREDITS,
        granted once per billing customer where we keep the credits; with Autumn the plan decides
        what a new customer gets)."""
        async with self.db.transaction() as repo:
            agency = await repo.ensure_agency(agency_id)
        admin = credit_admin(self.billing)
        if admin is not None:
            await admin.ensure_account(agency.billing_customer_id, self.settings.leadgen_starting_credits)
        return agency

    async def _customer(self, agency_id: str) -> str:
        """The agency's billing customer, its account opened. Always through `open_agency`: an
        agency row made elsewhere (a Slack workspace claiming it, a run) may not have its
        starting credits yet, and both steps are idempotent."""
        return (await self.open_agency(agency_id)).billing_customer_id

    async def profile(self, agency_id: str) -> AgencyProfile | None:
        """The agency's profile (made empty with the agency); None for an agency that does not exist."""
        async with self.db.reader() as repo:
            return await repo.get_profile(agency_id)

    async def set_profile(
        self,
        agency_id: str,
        *,
        target_vertical: str | None = None,
        target_geography: str | None = None,
        criteria: Sequence[str] | None = None,
        services_offered: Sequence[str] | None = None,
        branding: Mapping[str, str | None] | None = None,
    ) -> AgencyProfile:
        """Change the given fields (already checked: graphs/run_input.py, graphs/branding.py).
        The operator's door: no role check (graphs/accounts.update_profile is the admins' one)."""
        async with self.db.transaction() as repo:
            await repo.ensure_agency(agency_id)
            return await repo.set_profile(
                agency_id,
                target_vertical=target_vertical,
                target_geography=target_geography,
                criteria=criteria,
                services_offered=services_offered,
                branding=dict(branding) if branding is not None else None,
            )

    # -- credits ----------------------------------------------------------------------------

    async def balance(self, agency_id: str) -> int:
        """Available credits: the provider's balance minus what open holds reserve."""
        return await self.billing.balance(await self._customer(agency_id))

    async def credits(self, agency_id: str) -> Credits:
        """The billing customer and its available balance (the agency opened on first use)."""
        customer = await self._customer(agency_id)
        return Credits(customer, await self.billing.balance(customer))

    async def history(self, agency_id: str) -> list[LedgerEntry]:
        """Charges, grants and adjustments, oldest first."""
        return await self.billing.history(await self._customer(agency_id))

    def _credit_admin(self, action: str) -> CreditAdmin:
        admin = credit_admin(self.billing)
        if admin is None:
            raise CreditsManagedElsewhere(
                f"{action} adjusts the local ledger, but billing goes to Autumn (AUTUMN_SECRET_KEY "
                "is set): manage credits in Autumn instead"
            )
        return admin

    def adjusts_credits(self) -> bool:
        """Whether credits are ours to grant and set (the local ledger), not the provider's."""
        return credit_admin(self.billing) is not None

    async def grant(
        self, agency_id: str, credits: int, *, key: str | None = None, action: str = "granting"
    ) -> int:
        """Add `credits` (once per `key` when given); the available balance after.
        CreditsManagedElsewhere (`action` names what was asked) with Autumn."""
        admin = self._credit_admin(action)
        customer = await self._customer(agency_id)
        await admin.grant(customer, credits, key=key)
        return await admin.balance(customer)

    async def set_balance(self, agency_id: str, credits: int, *, action: str = "setting the balance") -> int:
        """Set the balance to exactly `credits` (an adjustment row); the available balance after.
        ValueError when open holds reserve more; CreditsManagedElsewhere with Autumn."""
        admin = self._credit_admin(action)
        customer = await self._customer(agency_id)
        await admin.set_balance(customer, credits)
        return await admin.balance(customer)

    # -- Slack workspaces -------------------------------------------------------------------

    async def install_slack(
        self, agency_id: str, team_id: str, *, bot_token: str | None = None
    ) -> SlackInstall:
        """Connect workspace `team_id` to the agency, or move it there (the operator's act:
        admins in the chat use graphs/accounts.connect_slack_workspace, which never moves one)."""
        team = team_id.strip()
        if not SLACK_TEAM_ID.match(team):
            raise BadAccountInput(
                f"{team_id[:40]!r} is not a Slack team id: expected T or E then capitals and digits, e.g. T0123ABCD"
            )
        if bot_token is not None and not bot_token.startswith("xoxb-"):
            raise BadAccountInput("the bot token must be a bot token starting with xoxb-")
        async with self.db.transaction() as repo:
            return await repo.install_slack_team(agency_id, team, bot_token=bot_token)

    async def slack_installs(self, agency_id: str) -> list[SlackInstall]:
        async with self.db.reader() as repo:
            return await repo.list_slack_installs(agency_id)

    async def slack_workspace(self, team_id: str, default_agency: str) -> SlackInstall | None:
        """The install a Slack team acts through. An unknown team, while no workspace at all is
        installed and this is not production, claims `default_agency`
        (`may_claim_first_slack_workspace`); None for any other unknown team (refused)."""
        async with self.db.reader() as repo:
            install = await repo.get_slack_install(team_id)
        if install is not None:
            return install
        if not may_claim_first_slack_workspace(self.settings):
            log.warning(
                "Slack team %s is not connected; refused (connect it: leadgen slack install %s)",
                team_id,
                team_id,
            )
            return None
        async with self.db.transaction() as repo:
            install = await repo.claim_first_slack_install(team_id, default_agency)
        if install is None:
            log.warning("Slack team %s is not installed; refused", team_id)
            return None
        log.warning("Slack team %s connected to agency %s (first contact)", team_id, install.agency_id)
        return install
