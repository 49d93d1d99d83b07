"""Who may do what in an agency, and how credits are added: the one place every face asks (the
web chat, Slack, the agent's tools) and what the LangGraph graph shows at a billing pause.

Roles. A person acts for one agency as `admin` or `member` (`role_of`):

* password sign-in (web chat): the user's row, `agency_users.role` (`leadgen user add --role`);
* the web chat without sign-in (it only listens on loopback, see assistant/exposure.py): the
  local user, i.e. the operator at this machine: admin;
* Slack (`slack:TEAM:USER`): a member, unless that Slack user is linked to an admin user of the
  workspace's agency (`leadgen user link-slack`). A workspace is connected by an operator
  (`leadgen slack install`) or an admin (`connect_slack_workspace`); outside production the
  first workspace to write may also claim the default agency (`may_claim_first_slack_workspace`);
* nobody (no user id): member.

Admins change the agency profile, connect Slack workspaces and, where this installation allows
it, upgrade. Members run campaigns and calls within the balance. The CLI is the operator and is
not asked (it holds the database).

Adding credits (`upgrade_mode`):

* `checkout`: Autumn holds the credits (AUTUMN_SECRET_KEY): an admin's Upgrade opens Autumn's
  checkout, and Autumn adds the credits once paid.
* `self_serve`: the local ledger grants a plan's credits at no charge, once per idempotency key.
  Only when LEADGEN_SELF_SERVE_CREDITS=true, or when it is unset and this is a development or
  test installation on the sandbox (nothing real is spent there); the faces then say credits
  are free.
* `operator`: otherwise. Credits are the operator's budget for real provider spend: they come
  from `leadgen credits grant`, and Upgrade tells the user to ask their administrator.

One idempotency-key rule for every upgrade (`upgrade_key`): the agency, the occasion (a run's
pause, a call's paywall, one agent tool call) and the plan. A double click, a second tab, or
the same paywall clicked in the web chat and in Slack grant once.

Errors::

    AccountError
    ├── NotAllowed        the role (or the installation) does not allow it; nothing was written
    └── BadAccountInput   a malformed Slack id, a workspace held by another agency, an unknown
                          user; nothing was written
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db import Database
from db.models import ROLES, AgencyProfile, AgencyUser, SlackInstall
from leadgen.settings import Settings

if TYPE_CHECKING:
    from graphs.service import RunService

log = logging.getLogger(__name__)

Role = Literal["admin", "member"]
UpgradeMode = Literal["checkout", "self_serve", "operator"]

# The web chat's user when it runs without sign-in (usernames may not take this name).
LOCAL_USERNAME = "local"
SLACK_PREFIX = "slack:"
# Slack ids: a team is T… (E… on Enterprise Grid), a user U… or W…; capitals and digits.
SLACK_TEAM_ID = re.compile(r"^[TE][A-Z0-9]{2,30}$")
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")
# Parts of an idempotency key that come from a browser or Slack are cut to this length.
MAX_KEY_PART = 64


class AccountError(Exception):
    """An account action that cannot be done; the message is meant for the person who asked."""


class NotAllowed(AccountError):
    pass


class BadAccountInput(AccountError, ValueError):
    pass


# --------------------------------------------------------------------------------------------
# Plans


@dataclass(frozen=True)
class Plan:
    """A credits plan: in self-service, choosing it grants `credits`; with Autumn, `id` is the
    product to check out."""

    id: str
    name: str
    credits: int


PLANS: tuple[Plan, ...] = (
    Plan("starter", "Starter", 100),
    Plan("pro", "Pro", 500),
    Plan("agency", "Agency", 2000),
)
PLAN_IDS = tuple(p.id for p in PLANS)


def plan_by_id(plan_id: str) -> Plan | None:
    return next((p for p in PLANS if p.id == plan_id.strip().lower()), None)


def plans_json() -> list[dict[str, Any]]:
    return [{"id": p.id, "name": p.name, "credits": p.credits} for p in PLANS]


# --------------------------------------------------------------------------------------------
# Roles


def slack_actor_id(team_id: str, user_id: str) -> str:
    """The user id rows and contexts carry for a Slack user."""
    return f"{SLACK_PREFIX}{team_id}:{user_id}"


def slack_link(team_id: str, user_id: str) -> str:
    """What `agency_users.slack_user` holds for a linked Slack identity."""
    return f"{team_id}:{user_id}"


async def role_of(db: Database, agency_id: str, user_id: str | None) -> Role:
    """The role `user_id` has in `agency_id`, read now (a demotion counts at the next click).
    A user of another agency, an unknown user and no user at all are members."""
    if user_id == LOCAL_USERNAME:
        return "admin"
    if not user_id:
        return "member"
    if user_id.startswith(SLACK_PREFIX):
        column, value = AgencyUser.slack_user, user_id.removeprefix(SLACK_PREFIX)
    else:
        column, value = AgencyUser.username, user_id
    async with db.reader() as repo:
        role = (
            await repo.session.execute(
                select(AgencyUser.role).where(column == value, AgencyUser.agency_id == agency_id)
            )
        ).scalar_one_or_none()
    return "admin" if role == "admin" else "member"


def admins_only(agency_id: str, action: str) -> NotAllowed:
    return NotAllowed(
        f"Only an admin of agency {agency_id} can {action}; ask your administrator. Nothing was changed."
    )


async def require_admin(db: Database, agency_id: str, user_id: str | None, action: str) -> None:
    """NotAllowed unless `user_id` is an admin of `agency_id`."""
    if await role_of(db, agency_id, user_id) != "admin":
        log.warning("refused %r to %s of agency %s: admins only", action, user_id, agency_id)
        raise admins_only(agency_id, action)


# --------------------------------------------------------------------------------------------
# Adding credits


def upgrade_mode(settings: Settings) -> UpgradeMode:
    if settings.uses_autumn:
        return "checkout"
    if settings.leadgen_self_serve_credits is not None:
        return "self_serve" if settings.leadgen_self_serve_credits else "operator"
    on_sandbox = bool(settings.leadgen_sandbox_url)
    return "self_serve" if settings.leadgen_env != "production" and on_sandbox else "operator"


@dataclass(frozen=True)
class UpgradeOffer:
    """What a paywall offers to someone: whether Upgrade buttons do anything for them, whether
    credits are free, and one sentence saying how credits are added here."""

    mode: UpgradeMode
    allowed: bool
    free: bool
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "allowed": self.allowed, "free": self.free, "message": self.message}


def upgrade_offer(settings: Settings, agency_id: str, role: Role | None) -> UpgradeOffer:
    """The paywall's offer for `role` (None: whoever reads it, e.g. a Slack channel or the
    LangGraph graph's interrupt: the offer of the installation, Upgrade for admins)."""
    mode = upgrade_mode(settings)
    ask = (
        f"Ask your administrator to add credits (the operator runs "
        f"`leadgen credits grant N --agency {agency_id}`), then resume."
    )
    if mode == "operator":
        return UpgradeOffer(mode, False, False, "Credits are added by your administrator. " + ask)
    admins = "Only an admin of your agency can upgrade; ask your administrator."
    if mode == "self_serve":
        text = (
            "Credits are free on this installation: Upgrade adds a plan's credits at no charge "
            "(no payment is taken)."
        )
    else:
        text = "Upgrade opens a checkout; the credits arrive once the payment completes."
    if role == "member":
        return UpgradeOffer(mode, False, mode == "self_serve", f"{text} {admins}")
    if role is None:
        text += " (Upgrade is for agency admins.)"
    return UpgradeOffer(mode, True, mode == "self_serve", text)


def _key_part(value: str) -> str:
    cleaned = "".join(ch for ch in value if ch.isprintable() and not ch.isspace())
    return cleaned[:MAX_KEY_PART]


def upgrade_key(
    agency_id: str,
    plan_id: str,
    *,
    run_id: str | None = None,
    pause: str | None = None,
    call_nonce: str | None = None,
    tool_call_id: str | None = None,
) -> str:
    """The idempotency key of an upgrade; give exactly one occasion:

    * a run's paywall: `run_id` and the `pause` (its billing block's created_at), so each pause
      of each run grants a plan once, whichever face it is clicked in;
    * a call's paywall: `call_nonce` (made when that paywall was drawn);
    * an agent tool call: `tool_call_id` (a retried call reuses it).
    """
    occasions = [
        value
        for value in (
            f"{_key_part(run_id)}:{_key_part(pause or '')}" if run_id else None,
            f"call:{_key_part(call_nonce)}" if call_nonce else None,
            f"tool:{_key_part(tool_call_id)}" if tool_call_id else None,
        )
        if value is not None
    ]
    if len(occasions) != 1:
        raise ValueError("an upgrade key needs exactly one occasion: a run, a call paywall or a tool call")
    return f"upgrade:{agency_id}:{occasions[0]}:{plan_id}"


@dataclass(frozen=True)
class UpgradeOccasion:
    """What an Upgrade answers: a run's pause, a call's paywall or one agent tool call. A face
    names the occasion; the key is built here, by the one rule (`upgrade_key`)."""

    run_id: str | None = None
    pause: str | None = None
    call_nonce: str | None = None
    tool_call_id: str | None = None

    @classmethod
    def run_pause(cls, run_id: str, pause: str) -> UpgradeOccasion:
        return cls(run_id=run_id, pause=pause)

    @classmethod
    def call_paywall(cls, nonce: str) -> UpgradeOccasion:
        return cls(call_nonce=nonce or "none")

    @classmethod
    def tool_call(cls, tool_call_id: str) -> UpgradeOccasion:
        return cls(tool_call_id=tool_call_id or "none")

    def key(self, agency_id: str, plan_id: str) -> str:
        return upgrade_key(
            agency_id,
            plan_id,
            run_id=self.run_id,
            pause=self.pause,
            call_nonce=self.call_nonce,
            tool_call_id=self.tool_call_id,
        )


async def upgrade(
    runs: RunService,
    agency_id: str,
    user_id: str | None,
    plan: Plan,
    occasion: UpgradeOccasion,
    *,
    success_url: str | None = None,
) -> dict[str, Any]:
    """Apply `plan` for `user_id`: a self-service grant on the local ledger (once per occasion:
    its key is `upgrade_key`'s) or an Autumn checkout. NotAllowed (nothing written) when the
    installation adds credits through its operator or the user is not an admin. BillingError
    from the provider passes through."""
    from tools.billing import credit_admin

    key = occasion.key(agency_id, plan.id)

    role = await role_of(runs.db, agency_id, user_id)
    offer = upgrade_offer(runs.settings, agency_id, role)
    if not offer.allowed:
        log.warning("upgrade to %s refused for %s of agency %s (%s)", plan.id, user_id, agency_id, offer.mode)
        raise NotAllowed(f"The {plan.name} plan was not applied: {offer.message}")
    customer = await runs.ensure_agency(agency_id)
    billing = runs.billing
    if offer.mode == "self_serve":
        admin = credit_admin(billing)
        if admin is None:  # self-service grants credits we keep ourselves, never the provider's
            raise NotAllowed(f"The {plan.name} plan was not applied: this installation has no local ledger.")
        result = await admin.grant(customer, plan.credits, key=key)
        return {
            "plan": plan.id,
            "credits_granted": plan.credits if result.recorded else 0,
            "already_applied": not result.recorded,
            "balance": await billing.balance(customer),
            "checkout_url": None,
            "upgrade": offer.as_dict(),
            "message": f"{plan.name} plan applied: {plan.credits} credits added "
            f"(free on this installation: no payment taken)."
            if result.recorded
            else f"The {plan.name} plan was already applied for this request.",
        }
    attach = await runs.providers.autumn.attach(customer, plan.id, success_url=success_url)
    return {
        "plan": plan.id,
        "credits_granted": None,
        "balance": await billing.balance(customer),
        "checkout_url": attach.checkout_url,
        "code": attach.code,
        "upgrade": offer.as_dict(),
        "message": "Open the checkout link to pay; the balance updates when it completes."
        if attach.checkout_url
        else (attach.message or f"{plan.name} plan attached."),
    }


# --------------------------------------------------------------------------------------------
# The agency profile and Slack workspaces (admins)


async def update_profile(
    db: Database,
    agency_id: str,
    user_id: str | None,
    *,
    target_vertical: str | None = None,
    target_geography: str | None = None,
    criteria: Sequence[str] | None = None,
    services_offered: Sequence[str] | None = None,
) -> AgencyProfile:
    """Change the given profile fields (already validated by the face). Admins only."""
    await require_admin(db, agency_id, user_id, "change the agency profile")
    if target_vertical is None and target_geography is None and criteria is None and services_offered is None:
        raise BadAccountInput("Nothing to change: give a vertical, a geography, criteria or services.")
    async with db.transaction() as repo:
        await repo.ensure_agency(agency_id)
        return await repo.set_profile(
            agency_id,
            target_vertical=target_vertical,
            target_geography=target_geography,
            criteria=criteria,
            services_offered=services_offered,
        )


async def update_branding(
    db: Database, agency_id: str, user_id: str | None, values: Mapping[str, str | None]
) -> AgencyProfile:
    """Change the report branding fields given (graphs/branding.py checks them; BadBranding and
    nothing written when one is wrong). Admins only."""
    from graphs.branding import check_branding

    await require_admin(db, agency_id, user_id, "change the report branding")
    checked = check_branding(values)
    if not checked:
        raise BadAccountInput(
            "Nothing to change: give a branding field (name, logo_url, colours, contact, cta)."
        )
    async with db.transaction() as repo:
        await repo.ensure_agency(agency_id)
        return await repo.set_profile(agency_id, branding=checked)


async def connect_slack_workspace(
    db: Database, agency_id: str, user_id: str | None, team_id: str
) -> SlackInstall:
    """Connect Slack workspace `team_id` to the agency. Admins only; a workspace already
    connected to another agency is left where it is (only the operator moves it)."""
    await require_admin(db, agency_id, user_id, "connect a Slack workspace")
    team = team_id.strip().upper()
    if not SLACK_TEAM_ID.match(team):
        raise BadAccountInput(
            f"{team_id[:40]!r} is not a Slack team id: expected T (or E) then capitals and digits, e.g. T0123ABCD."
        )
    async with db.transaction() as repo:
        existing = await repo.get_slack_install(team)
        if existing is not None and existing.agency_id != agency_id:
            raise BadAccountInput(
                f"Slack workspace {team} is connected to another agency; only the operator can move it."
            )
        if existing is not None:
            return existing
        return await repo.install_slack_team(agency_id, team)


def may_claim_first_slack_workspace(settings: Settings) -> bool:
    """Whether the first workspace to write may connect itself to the default agency (a
    single-workspace convenience). Not in production: there connecting is an operator's or an
    admin's act, never a side effect of someone writing to the bot."""
    return settings.leadgen_env != "production"


# --------------------------------------------------------------------------------------------
# Users' roles and Slack links (the operator's CLI)


def check_role(role: str) -> Role:
    value = role.strip().lower()
    if value == "admin":
        return "admin"
    if value == "member":
        return "member"
    raise BadAccountInput(f"{role[:40]!r} is not a role; use one of {', '.join(ROLES)}")


async def _user(session: AsyncSession, username: str) -> AgencyUser:
    user = (
        await session.execute(select(AgencyUser).where(AgencyUser.username == username.strip()))
    ).scalar_one_or_none()
    if user is None:
        raise BadAccountInput(f"no user named {username[:60]!r}")
    return user


async def set_role(db: Database, username: str, role: str) -> AgencyUser:
    checked = check_role(role)
    async with db.transaction() as repo:
        user = await _user(repo.session, username)
        user.role = checked
        await repo.session.flush()
        return user


async def link_slack_user(db: Database, username: str, team_id: str, slack_user_id: str | None) -> AgencyUser:
    """Link (or, with `slack_user_id` None, unlink) the Slack identity of a user: their Slack
    clicks then carry their role in the workspace's agency."""
    link: str | None = None
    if slack_user_id is not None:
        team, member = team_id.strip().upper(), slack_user_id.strip().upper()
        if not SLACK_TEAM_ID.match(team):
            raise BadAccountInput(f"{team_id[:40]!r} is not a Slack team id (e.g. T0123ABCD)")
        if not SLACK_USER_ID.match(member):
            raise BadAccountInput(f"{slack_user_id[:40]!r} is not a Slack user id (e.g. U0123ABCD)")
        link = slack_link(team, member)
    async with db.transaction() as repo:
        user = await _user(repo.session, username)
        if link is not None:
            taken = (
                await repo.session.execute(
                    select(AgencyUser.username).where(AgencyUser.slack_user == link, AgencyUser.id != user.id)
                )
            ).scalar_one_or_none()
            if taken is not None:
                raise BadAccountInput(f"Slack user {link} is already linked to {taken!r}")
        user.slack_user = link
        await repo.session.flush()
        return user


async def list_users(db: Database, agency_id: str) -> list[AgencyUser]:
    async with db.reader() as repo:
        stmt = select(AgencyUser).where(AgencyUser.agency_id == agency_id).order_by(AgencyUser.username)
        return list((await repo.session.execute(stmt)).scalars())
