"""The chat agent: a LangGraph tool-calling loop over the run service and the credits.

    agent = ChatAgent(llm, checkpointer)
    context = ChatContext(agency_id="acme", user_id="ana", runs=runs, background=runs.executor)
    turn = await agent.reply("find 5 dentists in Austin, TX", thread_id="t1", context=context)
    turn.text          # what the model answered
    turn.tool_results  # [(tool name, parsed JSON result), ...] of this turn, for rich UIs

Graph: `agent` (the model with the tools bound) -> `tools` (ToolNode) -> `agent` ... until the
model answers without a tool call. The conversation is checkpointed per thread (the Chainlit
thread id), so a reopened chat continues where it stopped.

Tenancy. The agency is never a tool argument: tools read it from the runtime context
(`ToolRuntime.context`), which the UI fills from the signed-in user. Whatever id the model
passes, the run service answers only within that agency (another agency's id reads as not found).

Non-blocking runs. `start_lead_run` validates the campaign and creates the flow, then hands it to
the run service's executor (`runs.executor.launch`, graphs/executors.py), which executes it in
the background (an asyncio task here, or a queued job); the tool returns at once with
`{"run_id", "status": "started"}`. UIs `subscribe` to a run's events to draw live progress.
A large run (more than LARGE_RUN_LEADS leads) or one that researches leads again (`refresh`) is
only prepared (`"outcome": "needs_confirmation"`): the face shows a button, and its click starts
the run with `start_confirmed_run` under the id chosen when it was prepared, so a double click (or
a second face) starts it once. Self-service upgrades are likewise prepared by the tool and
granted by the person's click (`confirm_upgrade`); an Autumn checkout link is given at once.

Tool results are JSON built with graphs/views.py, wrapped in a small envelope that always names
the `run_id` (or `opportunity_id`) it is about. Errors are results too (`{"error": ..., "message":
...}`), so the model can explain them instead of the turn failing.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, tool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode, ToolRuntime, tools_condition
from langgraph.runtime import Runtime

from assistant.cli.parsing import (
    InvalidInput,
    parse_criteria,
    parse_geography,
    parse_services,
    parse_vertical,
)
from db import Database, open_database
from db.base import new_id
from db.models import OPPORTUNITY_STATUSES, SIGNALS, Call, LeadGenFlow
from graphs import accounts

# The plans live with the upgrade policy; the faces import them from here as before.
from graphs.account_service import AccountService
from graphs.accounts import PLAN_IDS, AccountError, Plan, plans_json
from graphs.accounts import PLANS as PLANS
from graphs.accounts import plan_by_id as plan_by_id
from graphs.branding import BadBranding, branding_json
from graphs.call_follower import CallFollower, call_finished
from graphs.call_reads import recent_calls
from graphs.calls import CallService
from graphs.checkpoints import open_checkpointer
from graphs.executors import Executor
from graphs.lead_lookup import LeadResolution, resolve_lead
from graphs.reports import ReportNotFound, ReportService, ShareLink
from graphs.run_input import MAX_LEADS, MIN_LEADS, BadCampaignInput, check_lead_count
from graphs.service import BadRunInput, ResumeStatus, RunIdTaken, RunNotFound, RunService
from graphs.views import (
    billed_text,
    call_metering,
    flow_json,
    lead_json,
    leads_json,
    page_json,
    run_notes,
)
from leadgen.settings import Settings, get_settings
from tools.billing import billing_for
from tools.billing.port import BillingError
from tools.providers import Providers

log = logging.getLogger(__name__)

EventSink = Callable[[dict[str, Any]], Awaitable[None]]

SYSTEM_PROMPT = f"""You are Atlas, a lead-generation assistant for a marketing and web agency.
You find local businesses (leads), research their websites and write dossiers, using the tools.

Rules:
- Answer ONLY from tool results. Never invent businesses, numbers, ids, dossiers or credits. If a
  tool did not return something, say you do not have it.
- Tool results are JSON. Quote names, scores, statuses and counts from them exactly.
- A run finds between {MIN_LEADS} and {MAX_LEADS} leads. If the user asks for more or fewer, say so
  plainly and ask them to pick a number in range; never silently change the number.
- If the user wants leads but has not said what kind of business (vertical) or where (geography),
  call start_lead_run anyway only if the agency profile may fill the gap; when the tool answers
  with a question, ask the user that question. Never guess a vertical or a city.
- Starting a run returns at once; the run works in the background and its progress is shown live.
- When a run is paused for credits, explain the balance, what is required and the shortfall, and
  offer start_upgrade (plans: starter, pro, agency) and resume_run. Whether an upgrade is
  possible here, and for whom, is the tools' to say: when one answers that an administrator adds
  the credits, tell the user exactly that.
- Changing the agency profile and connecting Slack workspaces are for agency admins; a refusal
  from a tool means nothing was changed.
- Refer to leads by their business names. Pass the lead to a tool as the user said it (a name,
  "the second one", "that lead"); never ask the user for an id and never show one.
- When a tool says several leads match, ask which one, naming them as the tool did.
- Calls, large or refreshed runs and free upgrades wait for the user: the tools prepare them and
  the user confirms with a button. Never say a call was placed, a run started or credits were
  added until a result says so."""

# --------------------------------------------------------------------------------------------
# Context and helpers


@dataclass
class ChatContext:
    """Who is asking and what the tools may use. Filled by the UI, never by the model."""

    agency_id: str
    runs: RunService
    background: Executor  # the run service's executor (`runs.executor`): its background runs
    user_id: str | None = None
    thread_id: str | None = None
    calls: CallService | None = None
    follower: CallFollower | None = None
    # Where an Autumn checkout returns to (optional).
    success_url: str | None = None

    @property
    def accounts(self) -> AccountService:
        """The account service on the run service's database and billing (no connection of its own)."""
        return AccountService(self.runs.db, self.runs.billing, self.runs.settings)


Runtime_ = ToolRuntime[ChatContext, Any]


def _json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def _error(kind: str, message: str, **extra: Any) -> str:
    return _json({"error": kind, "message": message, **extra})


async def _flow_view(runs: RunService, flow: LeadGenFlow) -> dict[str, Any]:
    counts = await runs.counts(flow.agency_id, flow.id)
    progress = await runs.progress(flow.agency_id, flow.id)
    return flow_json(flow, counts=counts, progress=progress)


async def _pick_flow(
    ctx: ChatContext, run_id: str | None, *, prefer: str | None = None
) -> LeadGenFlow | None:
    """The named run of this agency, else its newest (with status `prefer` when there is one)."""
    if run_id:
        return await ctx.runs.get(ctx.agency_id, run_id.strip())
    flows = await ctx.runs.list_runs(ctx.agency_id, limit=20)
    if prefer:
        preferred = [f for f in flows if f.status == prefer]
        if preferred:
            return preferred[0]
    return flows[0] if flows else None


def _no_run() -> str:
    return _error("no_runs", "There are no runs for this agency yet. Ask me to find some leads.")


# --------------------------------------------------------------------------------------------
# Tools. Names, descriptions and parameter names are what the model sees: keep them plain.


@tool(parse_docstring=True)
async def start_lead_run(
    runtime: Runtime_,
    vertical: str | None = None,
    geography: str | None = None,
    num_leads: int | None = None,
    refresh: bool = False,
) -> str:
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
        return _error(
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
            return _json(await prepare_run(ctx, count, vertical, geography, refresh is True))
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
            return _json(
                {
                    "error": "missing_campaign",
                    "missing": missing,
                    "question": "What kind of business should I look for, and where? "
                    "(for example: 5 dentists in Austin, TX)",
                    "message": "Nothing was started: the campaign needs a vertical and a geography, "
                    "and the agency profile does not set them.",
                }
            )
        return _error("bad_input", f"Nothing was started: {text}")
    ctx.background.launch(ctx.agency_id, flow.id)
    return _json(
        {
            "run_id": flow.id,
            "status": "started",
            "num_leads_requested": flow.num_leads_requested,
            "campaign": {"target_vertical": flow.target_vertical, "target_geography": flow.target_geography},
            "message": "The run has started and works in the background; progress is shown live.",
        }
    )


# --------------------------------------------------------------------------------------------
# Runs that wait for the person's click

# A run of more leads than the default run size, or one that researches leads again instead of
# reusing their recent dossiers (`refresh`), spends enough to ask first.
LARGE_RUN_LEADS = 10
_RUN_ID = re.compile(r"[0-9a-f]{32}")


def run_needs_confirmation(num_leads: int, refresh: bool) -> bool:
    return refresh or num_leads > LARGE_RUN_LEADS


def run_cost_ceiling(num_leads: int) -> int:
    """The most a run can charge: its Places search (1 credit) and a dossier (2) per lead."""
    return 1 + 2 * num_leads


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


@tool(parse_docstring=True)
async def get_run_status(runtime: Runtime_, run_id: str | None = None) -> str:
    """Status and progress of a lead run: its six phases, counts, last event and any credit pause. Without a run id: the most recent run, plus a short list of the other recent runs.

    Args:
        run_id: The run's id. Leave empty for the most recent run.
    """
    ctx = runtime.context
    try:
        flow = await _pick_flow(ctx, run_id)
    except RunNotFound:
        return _error("not_found", f"No run with id {run_id!r} in your agency.")
    if flow is None:
        return _no_run()
    run = await _flow_view(ctx.runs, flow)
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
    return _json(result)


LeadStatus = Literal["SOURCED", "AUDITING", "READY", "DATA_READY"]
LeadSignal = Literal["MISSING_WEBSITE", "WEAK_WEB_PRESENCE", "LOW_GOOGLE_RATING", "FEW_GOOGLE_REVIEWS"]
assert set(LeadStatus.__args__) == set(OPPORTUNITY_STATUSES)  # type: ignore[attr-defined]
assert set(LeadSignal.__args__) == set(SIGNALS)  # type: ignore[attr-defined]


@tool(parse_docstring=True)
async def list_leads(
    runtime: Runtime_,
    run_id: str | None = None,
    status: LeadStatus | None = None,
    signal: LeadSignal | None = None,
) -> str:
    """The leads (businesses) a run found, ranked by opportunity score (what the agency could sell them), optionally filtered. Each lead carries its score_reasons, findings, fit_reason and talking_points.

    Args:
        run_id: The run's id. Leave empty for the most recent run.
        status: Only leads with this status.
        signal: Only leads showing this signal.
    """
    ctx = runtime.context
    try:
        flow = await _pick_flow(ctx, run_id)
        if flow is None:
            return _no_run()
        records = await ctx.runs.run_leads(ctx.agency_id, flow.id)
        run = await _flow_view(ctx.runs, flow)
    except RunNotFound:
        return _error("not_found", f"No run with id {run_id!r} in your agency.")
    leads = leads_json(records)
    total = len(leads)
    if status:
        leads = [lead for lead in leads if lead["status"] == status]
    if signal:
        leads = [lead for lead in leads if signal in lead["signals"]]
    return _json(
        {
            "run_id": flow.id,
            "run_status": flow.status,
            "total": total,
            "shown": len(leads),
            "filters": {"status": status, "signal": signal},
            "notes": [
                *run_notes(run),
                *([offer] if (offer := await ctx.runs.scoring_note(ctx.agency_id)) else []),
            ],
            "leads": leads,
        }
    )


def _lead_context(runtime: Runtime_) -> tuple[list[str], str | None]:
    """From this conversation's tool results, newest first: the ids of the last list of leads
    shown (for "the second one") and the lead last discussed (for "that lead")."""
    shown: list[str] | None = None
    last: str | None = None
    state = runtime.state if isinstance(runtime.state, dict) else {}
    for message in reversed(state.get("messages", [])):
        if not isinstance(message, ToolMessage):
            continue
        result = _parse(message.content)
        if not isinstance(result, dict):
            continue
        if last is None:
            lead = result.get("lead")
            if isinstance(lead, dict) and isinstance(lead.get("id"), str):
                last = lead["id"]
            elif isinstance(result.get("opportunity_id"), str):
                last = result["opportunity_id"]
        if shown is None:
            listed = result.get("leads") or result.get("candidates")
            if isinstance(listed, list) and listed:
                shown = [str(item["id"]) for item in listed if isinstance(item, dict) and item.get("id")]
        if shown is not None and last is not None:
            break
    return shown or [], last


async def _resolve(runtime: Runtime_, lead: str) -> LeadResolution:
    shown, last = _lead_context(runtime)
    ctx = runtime.context
    return await resolve_lead(ctx.runs.db, ctx.agency_id, lead, shown=shown, last=last)


def _unresolved(found: LeadResolution, action: str) -> str:
    """A tool answer for a reference that is not one lead: the question to ask, with the
    candidates by name (the faces turn them into buttons; their ids are for the buttons)."""
    return _json(
        {
            "error": "ambiguous_lead" if found.kind == "ambiguous" else "lead_not_found",
            "reference": found.reference,
            "action": action,
            "candidates": found.candidates_json(),
            "message": found.message,
        }
    )


@tool(parse_docstring=True)
async def get_dossier(runtime: Runtime_, lead: str) -> str:
    """Open the research dossier of one lead: summary, website findings, talking points and cited sources.

    Args:
        lead: The lead as the user referred to it: its business name (e.g. "Summit Smiles"), its place in the list just shown ("the second one"), or "that lead" for the one being discussed.
    """
    ctx = runtime.context
    found = await _resolve(runtime, lead)
    if found.lead is None:
        # The model may pass a dossier id instead: accept it, within the agency.
        by_dossier = await ctx.runs.dossier(ctx.agency_id, lead.strip())
        if by_dossier is None:
            return _unresolved(found, "open_dossier")
        opportunity_id = by_dossier.opportunity_id
    else:
        opportunity_id = found.lead.id
    record = await ctx.runs.lead(ctx.agency_id, opportunity_id)
    if record is None:
        return _unresolved(found, "open_dossier")
    dossier = await ctx.runs.dossier(ctx.agency_id, record.dossier_id) if record.dossier_id else None
    view = lead_json(record)
    if dossier is None:
        reason = (
            "it has no website of its own to audit"
            if not record.opportunity.domain
            else "its audit has not finished or failed"
        )
        return _json(
            {
                "opportunity_id": record.opportunity.id,
                "lead": view,
                "dossier": None,
                "message": f"There is no dossier for {record.opportunity.name}: {reason}.",
            }
        )
    shown = await ReportService(ctx.runs.db, ctx.runs.settings).dossier_view(ctx.agency_id, dossier)
    return _json({"opportunity_id": record.opportunity.id, "lead": view, "dossier": shown})


def share_json(opp_id: str, name: str, link: ShareLink) -> dict[str, Any]:
    """A share link as every face shows it (the agent's tool, the chat's and Slack's buttons)."""
    return {
        "opportunity_id": opp_id,
        "lead": {"id": opp_id, "name": name},
        "url": link.url,
        "pdf_url": f"{link.url}/report.pdf",
        "expires_at": link.expires_at.isoformat().replace("+00:00", "Z"),
        "message": f"Report for {name}: anyone with the link can open it until it expires; "
        "revoke_report ends it. `leadgen serve` answers the link.",
    }


@tool(parse_docstring=True)
async def share_report(runtime: Runtime_, lead: str) -> str:
    """Make a shareable link to one lead's branded report (graded website, search, reputation, conversion and presence, with evidence and how it compares with competitors), plus its PDF. Free.

    Args:
        lead: The lead as the user referred to it: its business name (e.g. "Summit Smiles"), its place in the list just shown ("the second one"), or "that lead" for the one being discussed.
    """
    ctx = runtime.context
    found = await _resolve(runtime, lead)
    if found.lead is None:
        return _unresolved(found, "share_report")
    opp = found.lead
    reports = ReportService(ctx.runs.db, ctx.runs.settings)
    try:
        link = await reports.share(ctx.agency_id, opp.id, created_by=ctx.user_id)
    except ReportNotFound:  # deleted between the lookup and the link
        return _unresolved(LeadResolution("not_found", found.reference), "share_report")
    return _json(share_json(opp.id, opp.name, link))


@tool(parse_docstring=True)
async def revoke_report(runtime: Runtime_, lead: str) -> str:
    """End every share link to one lead's report.

    Args:
        lead: The lead as the user referred to it: its business name (e.g. "Summit Smiles"), its place in the list just shown ("the second one"), or "that lead" for the one being discussed.
    """
    ctx = runtime.context
    found = await _resolve(runtime, lead)
    if found.lead is None:
        return _unresolved(found, "revoke_report")
    opp = found.lead
    reports = ReportService(ctx.runs.db, ctx.runs.settings)
    try:
        count = await reports.revoke(ctx.agency_id, opp.id)
    except ReportNotFound:
        return _unresolved(LeadResolution("not_found", found.reference), "revoke_report")
    return _json(
        {
            "opportunity_id": opp.id,
            "lead": {"id": opp.id, "name": opp.name},
            "revoked": count,
            "message": f"Ended {count} share link{'' if count == 1 else 's'} to the report on {opp.name}.",
        }
    )


@tool(parse_docstring=True)
async def set_report_branding(
    runtime: Runtime_,
    name: str | None = None,
    logo_url: str | None = None,
    primary_color: str | None = None,
    accent_color: str | None = None,
    contact_email: str | None = None,
    contact_phone: str | None = None,
    cta_label: str | None = None,
    cta_url: str | None = None,
) -> str:
    """Set the agency's branding on lead reports: name, logo, colours, contact and call-to-action link. Agency admins only; only the fields given change, an empty one is removed.

    Args:
        name: The agency name shown on reports.
        logo_url: An https URL of the agency's logo.
        primary_color: The report's main colour, like #1f3a5f.
        accent_color: The accent colour (button, highlights), like #e07a1f.
        contact_email: The email address prospects can write to.
        contact_phone: The phone number prospects can call.
        cta_label: The call-to-action button text, like "Book a free call".
        cta_url: Where the button leads: an https, mailto: or tel: link.
    """
    ctx = runtime.context
    values = {
        "name": name,
        "logo_url": logo_url,
        "primary_color": primary_color,
        "accent_color": accent_color,
        "contact_email": contact_email,
        "contact_phone": contact_phone,
        "cta_label": cta_label,
        "cta_url": cta_url,
    }
    try:
        profile = await accounts.update_branding(ctx.runs.db, ctx.agency_id, ctx.user_id, values)
    except accounts.NotAllowed as exc:
        return _error("not_allowed", str(exc))
    except (AccountError, BadBranding) as exc:
        return _error("bad_input", str(exc))
    return _json(
        {"branding": branding_json(profile.branding, ctx.agency_id), "message": "Report branding saved."}
    )


@tool(parse_docstring=True)
async def list_sources(runtime: Runtime_, lead: str) -> str:
    """The web pages scraped (the sources) while auditing one lead's website.

    Args:
        lead: The lead as the user referred to it: its business name (e.g. "Summit Smiles"), its place in the list just shown ("the second one"), or "that lead" for the one being discussed.
    """
    ctx = runtime.context
    ident = lead.strip()
    try:  # an audit job id, as earlier results name them
        pages = await ctx.runs.scraped_pages(ctx.agency_id, ident)
        return _json({"audit_job_id": ident, "count": len(pages), "pages": [page_json(p) for p in pages]})
    except RunNotFound:
        pass
    found = await _resolve(runtime, lead)
    if found.lead is None:
        return _unresolved(found, "show_pages")
    record = await ctx.runs.lead(ctx.agency_id, found.lead.id)
    if record is None or record.audit_job_id is None:
        return _json(
            {
                "opportunity_id": found.lead.id,
                "lead": {"id": found.lead.id, "name": found.lead.name},
                "pages": [],
                "message": f"{found.lead.name} has not been audited, so no pages were read.",
            }
        )
    pages = await ctx.runs.scraped_pages(ctx.agency_id, record.audit_job_id)
    return _json(
        {
            "audit_job_id": record.audit_job_id,
            "opportunity_id": found.lead.id,
            "lead": {"id": found.lead.id, "name": found.lead.name},
            "count": len(pages),
            "pages": [page_json(p) for p in pages],
        }
    )


@tool(parse_docstring=True)
async def get_credits(runtime: Runtime_) -> str:
    """The agency's available credit balance, and the plans it can upgrade to."""
    ctx = runtime.context
    credits = await ctx.accounts.credits(ctx.agency_id)
    return _json(
        {
            "customer_id": credits.customer_id,
            "balance": credits.balance,
            "plans": plans_json(),
            "how_to_add_credits": (await upgrade_offer(ctx)).as_dict(),
        }
    )


async def upgrade_offer(ctx: ChatContext) -> accounts.UpgradeOffer:
    """What the paywall offers the person behind `ctx` (graphs/accounts.py decides)."""
    role = await accounts.role_of(ctx.runs.db, ctx.agency_id, ctx.user_id)
    return accounts.upgrade_offer(ctx.runs.settings, ctx.agency_id, role)


async def upgrade(ctx: ChatContext, plan: Plan, key: str) -> dict[str, Any]:
    """Apply a plan for the person behind `ctx` (`graphs.accounts.upgrade`: a self-service grant
    once per `key`, or a checkout; NotAllowed when credits come from the administrator or the
    person is not an admin). Shared by the tool and the paywall's Upgrade buttons."""
    return await accounts.upgrade(
        ctx.runs, ctx.agency_id, ctx.user_id, plan, key, success_url=ctx.success_url
    )


async def confirm_upgrade(ctx: ChatContext, plan: Plan, tool_call_id: str) -> dict[str, Any]:
    """The person pressed the Upgrade button `start_upgrade` returned: apply the plan under the
    key of that tool call, so a double click (or both faces) grants once. Raises as `upgrade`."""
    key = accounts.upgrade_key(ctx.agency_id, plan.id, tool_call_id=tool_call_id or "none")
    return await upgrade(ctx, plan, key)


@tool(parse_docstring=True)
async def start_upgrade(runtime: Runtime_, plan: Literal["starter", "pro", "agency"]) -> str:
    """Upgrade the credits plan (buy more credits): starter, pro or agency. Returns a checkout link, or a button the user presses to add free credits; nothing is added before.

    Args:
        plan: The plan to upgrade to: starter, pro or agency.
    """
    ctx = runtime.context
    chosen = plan_by_id(plan)
    if chosen is None:
        return _error("bad_plan", f"Unknown plan {plan!r}; choose one of {', '.join(PLAN_IDS)}.")
    offer = await upgrade_offer(ctx)
    tool_call_id = runtime.tool_call_id or new_id()
    if offer.allowed and offer.mode == "self_serve":
        # Free credits are still the person's act: the button this returns grants them.
        return _json(
            {
                "plan": chosen.id,
                "outcome": "needs_confirmation",
                "credits": chosen.credits,
                "credits_granted": 0,
                "tool_call_id": tool_call_id,
                "upgrade": offer.as_dict(),
                "message": f"Press Upgrade: {chosen.name} (+{chosen.credits}) to add {chosen.credits} "
                "credits (free on this installation: no payment is taken). Nothing has been added yet.",
            }
        )
    # A checkout (the credits arrive once paid), or a refusal saying who adds credits here.
    key = accounts.upgrade_key(ctx.agency_id, chosen.id, tool_call_id=tool_call_id)
    try:
        return _json(await upgrade(ctx, chosen, key))
    except accounts.NotAllowed as exc:
        return _error("not_allowed", str(exc), plan=chosen.id, credits_granted=0)
    except BillingError as exc:
        return _error("billing_unavailable", f"The upgrade could not be applied: {exc}")


@tool(parse_docstring=True)
async def update_agency_profile(
    runtime: Runtime_,
    vertical: str | None = None,
    geography: str | None = None,
    criteria: str | None = None,
    services: str | None = None,
) -> str:
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
        return _error("not_allowed", str(exc))
    except (InvalidInput, AccountError) as exc:
        return _error("bad_input", f"Nothing was changed: {exc}")
    return _json(
        {
            "profile": {
                "target_vertical": profile.target_vertical,
                "target_geography": profile.target_geography,
                "criteria": list(profile.criteria),
                "services_offered": list(profile.services_offered),
            },
            "message": "The agency profile was updated.",
        }
    )


@tool(parse_docstring=True)
async def connect_slack_workspace(runtime: Runtime_, team_id: str) -> str:
    """Connect a Slack workspace (its team id, like T0123ABCD) to this agency, so people there can use the assistant in Slack. Agency admins only.

    Args:
        team_id: The Slack workspace's team id, e.g. T0123ABCD.
    """
    ctx = runtime.context
    try:
        install = await accounts.connect_slack_workspace(ctx.runs.db, ctx.agency_id, ctx.user_id, team_id)
    except accounts.NotAllowed as exc:
        return _error("not_allowed", str(exc))
    except AccountError as exc:
        return _error("bad_input", str(exc))
    return _json(
        {
            "team_id": install.team_id,
            "message": f"Slack workspace {install.team_id} is connected to this agency. Its members "
            "run campaigns and calls; they upgrade or change the profile only when linked to an admin.",
        }
    )


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


@tool(parse_docstring=True)
async def resume_run(runtime: Runtime_, run_id: str | None = None) -> str:
    """Resume (continue) a run that paused for credits, once the balance covers the next step.

    Args:
        run_id: The paused run's id. Leave empty for the most recent paused run.
    """
    ctx = runtime.context
    try:
        flow = await _pick_flow(ctx, run_id, prefer="paused_for_upgrade")
    except RunNotFound:
        return _error("not_found", f"No run with id {run_id!r} in your agency.")
    if flow is None:
        return _no_run()
    return _json(await resume_flow(ctx, flow))


@tool(parse_docstring=True)
async def place_call(runtime: Runtime_, lead: str) -> str:
    """Prepare an AI phone call to one lead. Calls cost 1 credit per started minute, so the call is placed only when the user presses the confirmation button this returns.

    Args:
        lead: The lead as the user referred to it: its business name (e.g. "Summit Smiles"), its place in the list just shown ("the second one"), or "that lead" for the one being discussed.
    """
    ctx = runtime.context
    if ctx.calls is None:
        return _error("not_configured", "Calls are not available in this chat.")
    found = await _resolve(runtime, lead)
    if found.lead is None:
        return _unresolved(found, "call_lead")
    opp = found.lead
    if not opp.phone:
        return _json(
            {
                "opportunity_id": opp.id,
                "lead_name": opp.name,
                "outcome": "invalid_phone",
                "message": f"{opp.name} has no phone number to call.",
            }
        )
    balance = await ctx.accounts.balance(ctx.agency_id)
    return _json(
        {
            "opportunity_id": opp.id,
            "lead_name": opp.name,
            "phone": opp.phone,
            "outcome": "needs_confirmation",
            "balance": balance,
            "message": f"Ready to call {opp.name} at {opp.phone}. A call costs 1 credit per started "
            f"minute and you have {balance} credit{'s' if balance != 1 else ''}. Nothing is dialled "
            f"until you press Call {opp.name}.",
        }
    )


@tool(parse_docstring=True)
async def get_call_outcome(runtime: Runtime_, lead: str | None = None) -> str:
    """What happened with the calls placed to a lead: their status, how long they lasted, what was charged and any meeting booked. Without a lead: the agency's latest calls.

    Args:
        lead: The lead as the user referred to it: its business name (e.g. "Summit Smiles"), its place in the list just shown ("the second one"), or "that lead". Leave empty for the latest calls.
    """
    ctx = runtime.context
    if lead and lead.strip():
        found = await _resolve(runtime, lead)
        if found.lead is None:
            return _unresolved(found, "call_outcome")
        named = await recent_calls(ctx.runs.db, ctx.agency_id, opportunity_id=found.lead.id, limit=5)
        names = {**named.lead_names, found.lead.id: found.lead.name}
    else:
        named = await recent_calls(ctx.runs.db, ctx.agency_id, limit=5)
        names = dict(named.lead_names)
    calls = [call_summary(row, names[row.opportunity_id]) for row in named.calls]
    result: dict[str, Any] = {"calls": calls}
    if lead and lead.strip() and len(names) == 1:
        only = next(iter(names))
        result |= {"opportunity_id": only, "lead_name": names[only]}
    if not calls:
        who = f" to {next(iter(names.values()))}" if names else ""
        result["message"] = f"No calls have been placed{who} yet."
    return _json(result)


def call_summary(call: Call, lead_name: str) -> dict[str, Any]:
    """A call as the chat tells it: who, status, talk time, what it cost."""
    metering = call_metering(call) or {}
    return {
        "call_id": call.id,
        "lead_name": lead_name,
        "status": call.status,
        "finished": call_finished(call),
        "ended_reason": call.ended_reason,
        "talk_seconds": round(call.billing_seconds) if call.billing_seconds is not None else None,
        "credits_billed": metering.get("billed_minutes"),
        "billing": billed_text(call),
        "summary": call.summary,
        "placed_at": call.created_at,
    }


TOOLS: list[BaseTool] = [
    start_lead_run,
    get_run_status,
    list_leads,
    get_dossier,
    share_report,
    revoke_report,
    set_report_branding,
    list_sources,
    get_credits,
    start_upgrade,
    resume_run,
    place_call,
    get_call_outcome,
    update_agency_profile,
    connect_slack_workspace,
]

# --------------------------------------------------------------------------------------------
# The graph


@dataclass
class AgentTurn:
    text: str
    tool_results: list[tuple[str, Any]]

    def results_of(self, name: str) -> list[Any]:
        return [result for tool_name, result in self.tool_results if tool_name == name]


def _parse(content: Any) -> Any:
    if isinstance(content, str):
        try:
            return json.loads(content)
        except ValueError:
            return content
    return content


def build_graph(
    llm: BaseChatModel, tools: list[BaseTool]
) -> StateGraph[MessagesState, ChatContext, Any, Any]:
    model = llm.bind_tools(tools)

    async def agent(state: MessagesState, runtime: Runtime[ChatContext]) -> dict[str, Any]:
        messages: list[BaseMessage] = [SystemMessage(SYSTEM_PROMPT), *state["messages"]]
        reply = await model.ainvoke(messages)
        return {"messages": [reply]}

    graph = StateGraph(MessagesState, context_schema=ChatContext)
    graph.add_node("agent", agent)
    # Tool errors we did not foresee become a tool message the model can explain, not a crash.
    graph.add_node("tools", ToolNode(tools, handle_tool_errors=True))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition, {"tools": "tools", END: END})
    graph.add_edge("tools", "agent")
    return graph


class ChatAgent:
    """The compiled agent on a checkpointer; one conversation per thread id."""

    def __init__(
        self,
        llm: BaseChatModel,
        checkpointer: BaseCheckpointSaver[str] | None,
        tools: list[BaseTool] | None = None,
    ) -> None:
        self.graph: CompiledStateGraph[MessagesState, ChatContext, Any, Any] = build_graph(
            llm, tools or TOOLS
        ).compile(checkpointer=checkpointer)

    @staticmethod
    def config(thread_id: str) -> RunnableConfig:
        return {"configurable": {"thread_id": thread_id}, "recursion_limit": 24}

    async def reply(
        self,
        text: str,
        *,
        thread_id: str,
        context: ChatContext,
        on_token: Callable[[str], Awaitable[None]] | None = None,
    ) -> AgentTurn:
        """Run one user turn to its answer. `on_token` receives the answer as it streams."""
        config = self.config(thread_id)
        before = await self.graph.aget_state(config)
        seen = len(before.values.get("messages", [])) if before.values else 0
        async for chunk, meta in self.graph.astream(
            {"messages": [HumanMessage(text)]}, config, context=context, stream_mode="messages"
        ):
            if (
                on_token is not None
                and isinstance(chunk, AIMessageChunk)
                and isinstance(meta, dict)
                and meta.get("langgraph_node") == "agent"
                and isinstance(chunk.content, str)
                and chunk.content
            ):
                await on_token(chunk.content)
        state = await self.graph.aget_state(config)
        new = state.values.get("messages", [])[seen:]
        results = [(m.name or "", _parse(m.content)) for m in new if isinstance(m, ToolMessage)]
        answers = [m for m in new if isinstance(m, AIMessage) and not m.tool_calls]
        final = answers[-1].content if answers else ""
        return AgentTurn(text=final if isinstance(final, str) else str(final), tool_results=results)

    async def run_ids(self, thread_id: str) -> list[str]:
        """Run ids this conversation's tools returned, oldest first (to reattach live views)."""
        state = await self.graph.aget_state(self.config(thread_id))
        found: list[str] = []
        for message in state.values.get("messages", []) if state.values else []:
            if isinstance(message, ToolMessage):
                result = _parse(message.content)
                run_id = result.get("run_id") if isinstance(result, dict) else None
                if isinstance(run_id, str) and run_id not in found:
                    found.append(run_id)
        return found


@dataclass
class ChatServices:
    """Everything a chat face needs, sharing one database, checkpointer and provider bundle."""

    settings: Settings
    database: Database
    runs: RunService
    background: Executor
    agent: ChatAgent
    calls: CallService
    follower: CallFollower

    @property
    def accounts(self) -> AccountService:
        """The account service on this face's database and billing (cheap: no connection of its own)."""
        return AccountService(self.database, self.runs.billing, self.settings)

    def context(
        self, agency_id: str, *, user_id: str | None = None, thread_id: str | None = None
    ) -> ChatContext:
        return ChatContext(
            agency_id=agency_id,
            runs=self.runs,
            background=self.background,
            user_id=user_id,
            thread_id=thread_id,
            calls=self.calls,
            follower=self.follower,
            success_url=self.settings.leadgen_public_url or None,
        )


@asynccontextmanager
async def open_chat(
    settings: Settings | None = None, *, llm: BaseChatModel | None = None
) -> AsyncIterator[ChatServices]:
    """Open the database (migrated), one checkpointer for runs and conversations, the providers
    and the agent. Background runs are stopped on exit (their leases expire; recovery resumes)."""
    settings = settings or get_settings()
    database = await open_database(settings.resolved_database_url)
    try:
        async with open_checkpointer(database.url) as saver, Providers.from_settings(settings) as providers:
            runs = RunService(database, billing_for(settings, database.engine), providers, saver, settings)
            background = runs.executor
            calls = CallService(database, runs.billing, providers, settings)
            follower = CallFollower(calls)
            # Streaming, so the UI can show the answer as it is written.
            agent = ChatAgent(llm or providers.llm(streaming=True), saver)
            try:
                yield ChatServices(settings, database, runs, background, agent, calls, follower)
            finally:
                await follower.aclose()
                await background.aclose()
    finally:
        await database.close()
