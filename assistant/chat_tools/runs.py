"""Chat tools about runs: start one (or prepare it for a click), read its status, resume it.

Non-blocking runs. `start_lead_run` validates the campaign and creates the flow, then hands it to
the run service's executor (`runs.executor.launch`, graphs/executors.py), which executes it in
the background (an asyncio task here, or a queued job); the tool returns at once with
`{"run_id", "status": "started"}` and a `RunStarted` artifact the faces draw a live view from.
A large run (more than LARGE_RUN_LEADS leads) or one that researches leads again (`refresh`) is
only prepared (`"outcome": "needs_confirmation"`, `RunNeedsConfirmation`): the face shows a
button, and its click starts the run with `start_confirmed_run` under the id chosen when it was
prepared, so a double click (or a second face) starts it once.
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.tools import tool

from assistant.chat_tools.account import upgrade_offer
from assistant.chat_tools.artifacts import ResumeAnswered, RunNeedsConfirmation, RunStarted, RunStatusShown
from assistant.chat_tools.context import (
    Answer,
    ChatContext,
    Runtime_,
    answer,
    flow_view,
    no_run,
    pick_flow,
    refuse,
)
from db.base import new_id
from db.models import LeadGenFlow
from graphs.accounts import plans_json
from graphs.run_input import MAX_LEADS, MIN_LEADS, BadCampaignInput, check_lead_count
from graphs.service import BadRunInput, ResumeStatus, RunIdTaken, RunNotFound
from graphs.views import run_notes

# A run of more leads than the default run size, or one that researches leads again instead of
# reusing their recent dossiers (`refresh`), spends enough to ask first.
LARGE_RUN_LEADS = 10
_RUN_ID = re.compile(r"[0-9a-f]{32}")


def run_needs_confirmation(num_leads: int, refresh: bool) -> bool:
    return refresh or num_leads > LARGE_RUN_LEADS


def run_cost_ceiling(num_leads: int) -> int:
    """The most a run can charge: its Places search (1 credit) and a dossier (2) per lead."""
    return 1 + 2 * num_leads


@tool(parse_docstring=True, response_format="content_and_artifact")
async def start_lead_run(
    runtime: Runtime_,
    vertical: str | None = None,
    geography: str | None = None,
    num_leads: int | None = None,
    refresh: bool = False,
) -> Answer:
    """Start a new lead-generation run (campaign) that finds local businesses, audits their websites and writes dossiers. Returns at once; the run works in the background.

    Args:
        vertical: The kind of business to find, e.g. "dentists". Leave empty to use the agency profile.
        geography: Where to look, e.g. "Austin, TX". Leave empty to use the agency profile.
        num_leads: How many leads to find, a whole number from 1 to 20 (default 10).
        refresh: Only when the user asks to research leads again: audit (and charge for) leads that already have a recent dossier instead of reusing it.
    """
    ctx = runtime.context
    try:
        count = check_lead_count(10 if num_leads is None else num_leads)
    except BadCampaignInput as exc:
        return refuse(
            "bad_count",
            f"The {exc}: a run finds between {MIN_LEADS} and {MAX_LEADS} leads. "
            f"Nothing was started. How many leads ({MIN_LEADS}-{MAX_LEADS}) should I find?",
            requested=num_leads,
            min=MIN_LEADS,
            max=MAX_LEADS,
        )
    vertical = (vertical or "").strip() or None
    geography = (geography or "").strip() or None
    try:
        if run_needs_confirmation(count, refresh is True):
            prepared = await prepare_run(ctx, count, vertical, geography, refresh is True)
            return answer(prepared, prepared_artifact(prepared))
        flow = await ctx.runs.start(
            ctx.agency_id,
            num_leads=count,
            vertical=vertical,
            geography=geography,
            user_id=ctx.user_id,
            refresh=refresh is True,
        )
    except BadRunInput as exc:
        text = str(exc)
        if text.startswith("no vertical") or text.startswith("no geography"):
            missing = [n for n, v in (("vertical", vertical), ("geography", geography)) if v is None]
            return refuse(
                "missing_campaign",
                "Nothing was started: the campaign needs a vertical and a geography, "
                "and the agency profile does not set them.",
                missing=missing,
                question="What kind of business should I look for, and where? "
                "(for example: 5 dentists in Austin, TX)",
            )
        return refuse("bad_input", f"Nothing was started: {text}")
    ctx.background.launch(ctx.agency_id, flow.id)
    return answer(
        {
            "run_id": flow.id,
            "status": "started",
            "num_leads_requested": flow.num_leads_requested,
            "campaign": {"target_vertical": flow.target_vertical, "target_geography": flow.target_geography},
            "message": "The run has started and works in the background; progress is shown live.",
        },
        RunStarted(flow.id, flow.num_leads_requested, flow.target_vertical, flow.target_geography),
    )


async def prepare_run(
    ctx: ChatContext, num_leads: int, vertical: str | None, geography: str | None, refresh: bool
) -> dict[str, Any]:
    """A run to confirm: its campaign (validated, BadRunInput otherwise), its most expensive
    case and the balance, and the id it will have. Writes nothing but the agency's account."""
    vertical, geography = await ctx.runs.campaign(
        ctx.agency_id, num_leads=num_leads, vertical=vertical, geography=geography
    )
    balance = await ctx.accounts.balance(ctx.agency_id)
    ceiling = run_cost_ceiling(num_leads)
    again = " researching every lead again (recent dossiers are not reused)" if refresh else ""
    return {
        "run_id": new_id(),
        "outcome": "needs_confirmation",
        "num_leads_requested": num_leads,
        "campaign": {"target_vertical": vertical, "target_geography": geography},
        "refresh": refresh,
        "max_credits": ceiling,
        "balance": balance,
        "message": f"Ready to find {num_leads} {vertical} in {geography}{again}. It can cost up to "
        f"{ceiling} credits (1 for the search, 2 per dossier); you have {balance} "
        f"credit{'s' if balance != 1 else ''}. Nothing starts until you press Start the run.",
    }


def prepared_artifact(prepared: dict[str, Any]) -> RunNeedsConfirmation:
    campaign = prepared["campaign"]
    return RunNeedsConfirmation(
        run_id=prepared["run_id"],
        num_leads=prepared["num_leads_requested"],
        vertical=campaign["target_vertical"],
        geography=campaign["target_geography"],
        refresh=bool(prepared["refresh"]),
        max_credits=prepared["max_credits"],
        balance=prepared["balance"],
        message=prepared["message"],
    )


async def start_confirmed_run(
    ctx: ChatContext,
    run_id: str,
    *,
    num_leads: Any,
    vertical: Any,
    geography: Any,
    refresh: Any,
) -> dict[str, Any]:
    """The person pressed Start on a prepared run (the button's payload comes back from the
    browser or Slack: everything is validated again). The run is created under the id it was
    prepared with, so a second click finds it and starts nothing more."""
    refused = {"run_id": None, "status": "refused", "message": "That run cannot be started; ask again."}
    if not _RUN_ID.fullmatch(run_id) or not isinstance(num_leads, int) or isinstance(num_leads, bool):
        return refused

    async def started_already() -> dict[str, Any] | None:
        try:
            await ctx.runs.get(ctx.agency_id, run_id)
        except RunNotFound:
            return None
        return {
            "run_id": run_id,
            "status": "already_started",
            "message": "This run has already started; its progress is shown live.",
        }

    if (seen := await started_already()) is not None:
        return seen
    try:
        flow = await ctx.runs.start(
            ctx.agency_id,
            num_leads=num_leads,
            vertical=str(vertical) if vertical is not None else None,
            geography=str(geography) if geography is not None else None,
            user_id=ctx.user_id,
            flow_id=run_id,
            refresh=refresh is True,
        )
    except RunIdTaken:  # a click in another process won the race, or the id is not this agency's
        return await started_already() or refused
    except BadRunInput as exc:
        return {"run_id": None, "status": "bad_input", "message": f"Nothing was started: {exc}"}
    ctx.background.launch(ctx.agency_id, flow.id)
    return {
        "run_id": flow.id,
        "status": "started",
        "num_leads_requested": flow.num_leads_requested,
        "campaign": {"target_vertical": flow.target_vertical, "target_geography": flow.target_geography},
        "message": "The run has started and works in the background; progress is shown live.",
    }


@tool(parse_docstring=True, response_format="content_and_artifact")
async def get_run_status(runtime: Runtime_, run_id: str | None = None) -> Answer:
    """Status and progress of a lead run: its six phases, counts, last event and any credit pause. Without a run id: the most recent run, plus a short list of the other recent runs.

    Args:
        run_id: The run's id. Leave empty for the most recent run.
    """
    ctx = runtime.context
    try:
        flow = await pick_flow(ctx, run_id)
    except RunNotFound:
        return refuse("not_found", f"No run with id {run_id!r} in your agency.")
    if flow is None:
        return no_run()
    run = await flow_view(ctx.runs, flow)
    result: dict[str, Any] = {"run_id": flow.id, "run": run}
    if run_notes(run):
        result["notes"] = run_notes(run)
    if not run_id:
        recent = await ctx.runs.list_runs(ctx.agency_id, limit=10)
        result["recent_runs"] = [
            {
                "run_id": f.id,
                "status": f.status,
                "campaign": f"{f.num_leads_requested} {f.target_vertical} in {f.target_geography}",
                "created_at": f.created_at,
            }
            for f in recent
        ]
    return answer(result, RunStatusShown(flow.id, str(run["status"])))


async def resume_flow(ctx: ChatContext, flow: LeadGenFlow) -> dict[str, Any]:
    """Ask the run service to resume a paused (or stopped) run when credits allow, and say what
    it decided. Shared by the tool and the paywalls (web and Slack): the service decides, and at
    most one of them resumes the run."""
    base = {"run_id": flow.id}
    decision = await ctx.runs.resume_if_funded(ctx.agency_id, flow.id)
    match decision.status:
        case ResumeStatus.COMPLETED:
            return base | {"status": "completed", "message": "This run has already finished."}
        case ResumeStatus.CANCELLED:
            return base | {"status": "cancelled", "message": "This run was cancelled."}
        case ResumeStatus.RUNNING:
            return base | {"status": "running", "message": "This run is already running."}
        case ResumeStatus.STILL_SHORT:
            gap = decision.gap
            assert gap is not None  # a STILL_SHORT decision names the gap
            offer = await upgrade_offer(ctx)
            return (
                base
                | {"status": "paused_for_upgrade", **gap.as_dict(), "plans": plans_json()}
                | {
                    "how_to_add_credits": offer.as_dict(),
                    "message": f"Still paused: {gap.balance} credits available, {gap.required} needed "
                    f"(short by {gap.deficit}). {offer.message}",
                }
            )
    return base | {"status": "resuming", "message": "The run is resuming in the background."}


@tool(parse_docstring=True, response_format="content_and_artifact")
async def resume_run(runtime: Runtime_, run_id: str | None = None) -> Answer:
    """Resume (continue) a run that paused for credits, once the balance covers the next step.

    Args:
        run_id: The paused run's id. Leave empty for the most recent paused run.
    """
    ctx = runtime.context
    try:
        flow = await pick_flow(ctx, run_id, prefer="paused_for_upgrade")
    except RunNotFound:
        return refuse("not_found", f"No run with id {run_id!r} in your agency.")
    if flow is None:
        return no_run()
    result = await resume_flow(ctx, flow)
    return answer(result, ResumeAnswered(flow.id, str(result["status"]), str(result["message"])))
