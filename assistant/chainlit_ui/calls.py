"""Calls from the chat: the Call button, its confirmation, placing the call and a message that
follows it live to its outcome and charge.
"""

from __future__ import annotations

import asyncio
import contextvars

import chainlit as cl

from assistant.chainlit_ui.choices import close_choice, send_choice
from assistant.chainlit_ui.lifecycle import STATE
from assistant.chainlit_ui.session import chat_context, ensure_bound, session_agency
from assistant.chat_tools.artifacts import CallPrepared
from db.models import Call
from graphs.call_follower import call_finished, call_report
from graphs.wording import plural


@cl.action_callback("call_lead")
async def on_call_lead(action: cl.Action) -> None:
    """A Call button (dossier, leads table, a candidate): prepare the call and ask to confirm."""
    if not await ensure_bound():
        return
    opp = await STATE.chat.runs.opportunity(session_agency(), str(action.payload.get("opportunity_id", "")))
    if opp is None:
        await cl.Message(content="That lead is not available.").send()
        return
    balance = await STATE.chat.accounts.balance(session_agency())
    await send_call_confirmation(CallPrepared(opp.id, opp.name, opp.phone, balance))


async def send_call_confirmation(prepared: CallPrepared) -> None:
    """What the call costs, and the button that places it (nothing is dialled before)."""
    name, balance = prepared.lead_name, prepared.balance
    if not prepared.phone:
        await cl.Message(content=f"{name} has no phone number to call.").send()
        return
    await send_choice(
        cl.Message(
            content=f"**Call {name}** at {prepared.phone}? A call costs 1 credit per started minute; "
            f"you have {plural(balance, 'credit')}.",
            actions=[
                cl.Action(
                    name="confirm_call",
                    payload={"opportunity_id": prepared.opportunity_id},
                    label=f"Call {name}",
                    icon="phone",
                ),
                cl.Action(name="dismiss", payload={}, label="Cancel", icon="x"),
            ],
        )
    )


@cl.action_callback("confirm_call")
async def on_confirm_call(action: cl.Action) -> None:
    if not await ensure_bound():
        return
    from graphs.call_tools import place_call

    ctx = chat_context()
    opp_id = str(action.payload.get("opportunity_id", ""))
    opp = await STATE.chat.runs.opportunity(ctx.agency_id, opp_id)
    if opp is None:
        await cl.Message(content="That lead is not available.").send()
        return
    await close_choice(action)  # one click, one call
    # Where it was asked for: a server that restarts while the call is live reports it there.
    origin = {"face": "chat", "thread_id": cl.context.session.thread_id, "lead_name": opp.name}
    result = await place_call(
        STATE.chat.calls,
        ctx.agency_id,
        opp.id,
        user_id=ctx.user_id,
        variables={"business_name": opp.name},
        origin=origin,
    )
    if result["outcome"] in ("placed", "in_progress") and result.get("call"):
        await follow_call_in_chat(result["call"]["id"], opp.name, result["message"])
    else:
        await cl.Message(content=result["message"]).send()


async def follow_call_in_chat(call_id: str, lead_name: str, opening: str) -> None:
    """A message that follows the call live and ends with its outcome and charge. The call is
    followed by the process (graphs/call_follower.py) even if this tab closes."""
    status = cl.Message(content=f"{opening}\n\nFollowing the call to {lead_name}…")
    await status.send()
    session = contextvars.copy_context()  # the follower's task may belong to another session

    async def report(call: Call) -> None:
        async def draw() -> None:
            if call_finished(call):
                status.content = f"{opening}\n\n**{call_report(call, lead_name)}**"
            else:
                status.content = f"{opening}\n\nThe call to {lead_name} is {call.status.replace('-', ' ')}…"
            await status.update()

        await asyncio.get_running_loop().create_task(draw(), context=session)

    STATE.chat.follower.follow(session_agency(), call_id, on_update=report)
    call = await STATE.chat.calls.get_call(session_agency(), call_id)
    if call_finished(call):  # it ended before we subscribed
        await report(call)
