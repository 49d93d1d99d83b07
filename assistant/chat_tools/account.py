"""Chat tools about the agency's account: credits, upgrades, the profile, Slack workspaces.

Self-service upgrades are prepared by the tool (`UpgradeOffered`) and granted by the person's
click (`confirm_upgrade`); an Autumn checkout link is given at once (`CheckoutOpened`). What is
allowed, for whom, is graphs/accounts.py's to decide.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.tools import tool

from assistant.chat_tools.artifacts import (
    CheckoutOpened,
    CreditsShown,
    ProfileUpdated,
    SlackConnected,
    UpgradeApplied,
    UpgradeOffered,
)
from assistant.chat_tools.context import Answer, ChatContext, Runtime_, answer, refuse
from assistant.cli.parsing import (
    InvalidInput,
    parse_criteria,
    parse_geography,
    parse_services,
    parse_vertical,
)
from db.base import new_id
from graphs import accounts
from graphs.accounts import PLAN_IDS, AccountError, Plan, plan_by_id, plans_json
from tools.billing.port import BillingError


@tool(parse_docstring=True, response_format="content_and_artifact")
async def get_credits(runtime: Runtime_) -> Answer:
    """The agency's available credit balance, and the plans it can upgrade to."""
    ctx = runtime.context
    credits = await ctx.accounts.credits(ctx.agency_id)
    return answer(
        {
            "customer_id": credits.customer_id,
            "balance": credits.balance,
            "plans": plans_json(),
            "how_to_add_credits": (await upgrade_offer(ctx)).as_dict(),
        },
        CreditsShown(credits.customer_id, credits.balance),
    )


async def upgrade_offer(ctx: ChatContext) -> accounts.UpgradeOffer:
    """What the paywall offers the person behind `ctx` (graphs/accounts.py decides)."""
    role = await accounts.role_of(ctx.runs.db, ctx.agency_id, ctx.user_id)
    return accounts.upgrade_offer(ctx.runs.settings, ctx.agency_id, role)


async def upgrade(ctx: ChatContext, plan: Plan, occasion: accounts.UpgradeOccasion) -> dict[str, Any]:
    """Apply a plan for the person behind `ctx` (`graphs.accounts.upgrade`: a self-service grant
    once per occasion, or a checkout; NotAllowed when credits come from the administrator or the
    person is not an admin). Shared by the tool and the paywall's Upgrade buttons."""
    return await accounts.upgrade(
        ctx.runs, ctx.agency_id, ctx.user_id, plan, occasion, success_url=ctx.success_url
    )


async def confirm_upgrade(ctx: ChatContext, plan: Plan, tool_call_id: str) -> dict[str, Any]:
    """The person pressed the Upgrade button `start_upgrade` returned: apply the plan under the
    key of that tool call, so a double click (or both faces) grants once. Raises as `upgrade`."""
    return await upgrade(ctx, plan, accounts.UpgradeOccasion.tool_call(tool_call_id))


@tool(parse_docstring=True, response_format="content_and_artifact")
async def start_upgrade(runtime: Runtime_, plan: Literal["starter", "pro", "agency"]) -> Answer:
    """Upgrade the credits plan (buy more credits): starter, pro or agency. Returns a checkout link, or a button the user presses to add free credits; nothing is added before.

    Args:
        plan: The plan to upgrade to: starter, pro or agency.
    """
    ctx = runtime.context
    chosen = plan_by_id(plan)
    if chosen is None:
        return refuse("bad_plan", f"Unknown plan {plan!r}; choose one of {', '.join(PLAN_IDS)}.")
    offer = await upgrade_offer(ctx)
    tool_call_id = runtime.tool_call_id or new_id()
    if offer.allowed and offer.mode == "self_serve":
        # Free credits are still the person's act: the button this returns grants them.
        message = (
            f"Press Upgrade: {chosen.name} (+{chosen.credits}) to add {chosen.credits} "
            "credits (free on this installation: no payment is taken). Nothing has been added yet."
        )
        return answer(
            {
                "plan": chosen.id,
                "outcome": "needs_confirmation",
                "credits": chosen.credits,
                "credits_granted": 0,
                "tool_call_id": tool_call_id,
                "upgrade": offer.as_dict(),
                "message": message,
            },
            UpgradeOffered(chosen.id, chosen.credits, tool_call_id, message),
        )
    # A checkout (the credits arrive once paid), or a refusal saying who adds credits here.
    try:
        result = await upgrade(ctx, chosen, accounts.UpgradeOccasion.tool_call(tool_call_id))
    except accounts.NotAllowed as exc:
        return refuse("not_allowed", str(exc), plan=chosen.id, credits_granted=0)
    except BillingError as exc:
        return refuse("billing_unavailable", f"The upgrade could not be applied: {exc}")
    checkout = result.get("checkout_url")
    artifact = (
        CheckoutOpened(chosen.id, str(checkout), str(result["message"]))
        if checkout
        else UpgradeApplied(chosen.id, str(result["message"]))
    )
    return answer(result, artifact)


@tool(parse_docstring=True, response_format="content_and_artifact")
async def update_agency_profile(
    runtime: Runtime_,
    vertical: str | None = None,
    geography: str | None = None,
    criteria: str | None = None,
    services: str | None = None,
) -> Answer:
    """Change the agency profile: its target vertical and geography (used when a request names none), the signals it sells against (criteria) and the services it offers. Agency admins only.

    Args:
        vertical: The kind of business the agency targets, e.g. "dentists".
        geography: Where the agency looks, e.g. "Austin, TX".
        criteria: Comma-separated signals: MISSING_WEBSITE, WEAK_WEB_PRESENCE, LOW_GOOGLE_RATING, FEW_GOOGLE_REVIEWS.
        services: Comma-separated services the agency sells, e.g. "web design, SEO".
    """
    ctx = runtime.context
    try:
        # Who asks comes first: a member learns it is not theirs to change, whatever they typed.
        await accounts.require_admin(ctx.runs.db, ctx.agency_id, ctx.user_id, "change the agency profile")
        profile = await accounts.update_profile(
            ctx.runs.db,
            ctx.agency_id,
            ctx.user_id,
            target_vertical=parse_vertical(vertical) if vertical else None,
            target_geography=parse_geography(geography) if geography else None,
            criteria=parse_criteria(criteria) if criteria else None,
            services_offered=parse_services(services) if services else None,
        )
    except accounts.NotAllowed as exc:
        return refuse("not_allowed", str(exc))
    except (InvalidInput, AccountError) as exc:
        return refuse("bad_input", f"Nothing was changed: {exc}")
    updated = ProfileUpdated(
        profile.target_vertical,
        profile.target_geography,
        list(profile.criteria),
        list(profile.services_offered),
    )
    return answer(
        {
            "profile": {
                "target_vertical": updated.vertical,
                "target_geography": updated.geography,
                "criteria": updated.criteria,
                "services_offered": updated.services,
            },
            "message": "The agency profile was updated.",
        },
        updated,
    )


@tool(parse_docstring=True, response_format="content_and_artifact")
async def connect_slack_workspace(runtime: Runtime_, team_id: str) -> Answer:
    """Connect a Slack workspace (its team id, like T0123ABCD) to this agency, so people there can use the assistant in Slack. Agency admins only.

    Args:
        team_id: The Slack workspace's team id, e.g. T0123ABCD.
    """
    ctx = runtime.context
    try:
        install = await accounts.connect_slack_workspace(ctx.runs.db, ctx.agency_id, ctx.user_id, team_id)
    except accounts.NotAllowed as exc:
        return refuse("not_allowed", str(exc))
    except AccountError as exc:
        return refuse("bad_input", str(exc))
    return answer(
        {
            "team_id": install.team_id,
            "message": f"Slack workspace {install.team_id} is connected to this agency. Its members "
            "run campaigns and calls; they upgrade or change the profile only when linked to an admin.",
        },
        SlackConnected(install.team_id),
    )
