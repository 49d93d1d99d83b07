"""Chat tools about phone calls: prepare one (the person's button places it), and tell how the
calls to a lead went."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import tool

from assistant.chat_tools.artifacts import CallPrepared, CallsShown, ToolRefused
from assistant.chat_tools.context import Answer, Runtime_, answer, refuse
from assistant.chat_tools.leads import resolve, unresolved
from db.models import Call
from graphs.call_follower import call_finished
from graphs.call_reads import recent_calls
from graphs.views import billed_text, call_metering


@tool(parse_docstring=True, response_format="content_and_artifact")
async def place_call(runtime: Runtime_, lead: str) -> Answer:
    """Prepare an AI phone call to one lead. Calls cost 1 credit per started minute, so the call is placed only when the user presses the confirmation button this returns.

    Args:
        lead: The lead as the user referred to it: its business name (e.g. "Summit Smiles"), its place in the list just shown ("the second one"), or "that lead" for the one being discussed.
    """
    ctx = runtime.context
    if ctx.calls is None:
        return refuse("not_configured", "Calls are not available in this chat.")
    found = await resolve(runtime, lead)
    if found.lead is None:
        return unresolved(found, "call_lead")
    opp = found.lead
    if not opp.phone:
        message = f"{opp.name} has no phone number to call."
        return answer(
            {"opportunity_id": opp.id, "lead_name": opp.name, "outcome": "invalid_phone", "message": message},
            ToolRefused("invalid_phone", message),
        )
    balance = await ctx.accounts.balance(ctx.agency_id)
    prepared = CallPrepared(opp.id, opp.name, opp.phone, balance)
    return answer(
        {
            "opportunity_id": opp.id,
            "lead_name": opp.name,
            "phone": opp.phone,
            "outcome": "needs_confirmation",
            "balance": balance,
            "message": prepared.message,
        },
        prepared,
    )


@tool(parse_docstring=True, response_format="content_and_artifact")
async def get_call_outcome(runtime: Runtime_, lead: str | None = None) -> Answer:
    """What happened with the calls placed to a lead: their status, how long they lasted, what was charged and any meeting booked. Without a lead: the agency's latest calls.

    Args:
        lead: The lead as the user referred to it: its business name (e.g. "Summit Smiles"), its place in the list just shown ("the second one"), or "that lead". Leave empty for the latest calls.
    """
    ctx = runtime.context
    if lead and lead.strip():
        found = await resolve(runtime, lead)
        if found.lead is None:
            return unresolved(found, "call_outcome")
        named = await recent_calls(ctx.runs.db, ctx.agency_id, opportunity_id=found.lead.id, limit=5)
        names = {**named.lead_names, found.lead.id: found.lead.name}
    else:
        named = await recent_calls(ctx.runs.db, ctx.agency_id, limit=5)
        names = dict(named.lead_names)
    calls = [call_summary(row, names[row.opportunity_id]) for row in named.calls]
    result: dict[str, Any] = {"calls": calls}
    shown = CallsShown(calls)
    if lead and lead.strip() and len(names) == 1:
        only = next(iter(names))
        result |= {"opportunity_id": only, "lead_name": names[only]}
        shown = CallsShown(calls, only, names[only])
    if not calls:
        who = f" to {next(iter(names.values()))}" if names else ""
        result["message"] = f"No calls have been placed{who} yet."
    return answer(result, shown)


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
