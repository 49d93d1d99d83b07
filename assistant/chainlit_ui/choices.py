"""Questions answered by one of their buttons (Start/Cancel, Call/Cancel, Upgrade/Cancel): sending
and closing them, starting a confirmed run, upgrades (the paywall's and the agent's) and the
paywall's "I've upgraded - resume".
"""

from __future__ import annotations

import contextlib

import chainlit as cl

from assistant.agent import confirm_upgrade, plan_by_id, resume_flow, start_confirmed_run, upgrade
from assistant.chainlit_ui.lifecycle import STATE
from assistant.chainlit_ui.runs import watch
from assistant.chainlit_ui.session import chat_context, ensure_bound, session_agency
from assistant.chat_tools.artifacts import RunNeedsConfirmation, UpgradeOffered
from graphs import accounts
from graphs.service import RunNotFound
from tools.billing.port import BillingError


async def send_choice(message: cl.Message) -> None:
    """A question answered by one of its buttons (Start/Cancel, Call/Cancel, Upgrade/Cancel).
    Its buttons are remembered so that answering it takes them all away: a Cancel left under a
    started run or a placed call would say nothing was charged."""
    await message.send()
    choices: dict[str, list[cl.Action]] = cl.user_session.get("choices") or {}
    choices[message.id] = list(message.actions)
    cl.user_session.set("choices", choices)


async def close_choice(action: cl.Action) -> None:
    """Take away every button of the question `action` answered (at least `action` itself)."""
    choices: dict[str, list[cl.Action]] = cl.user_session.get("choices") or {}
    buttons = choices.pop(action.forId or "", [])
    for button in [action, *(b for b in buttons if b.id != action.id)]:
        with contextlib.suppress(Exception):
            await button.remove()


async def send_run_confirmation(prepared: RunNeedsConfirmation) -> None:
    """A large or refreshed run: what it may cost, and the button that starts it (once)."""
    await send_choice(
        cl.Message(
            content=f"**{prepared.message}**",
            actions=[
                cl.Action(
                    name="confirm_run",
                    payload={
                        "run_id": prepared.run_id,
                        "num_leads": prepared.num_leads,
                        "vertical": prepared.vertical,
                        "geography": prepared.geography,
                        "refresh": prepared.refresh,
                    },
                    label="Start the run",
                    icon="play",
                ),
                cl.Action(name="dismiss", payload={}, label="Cancel", icon="x"),
            ],
        )
    )


async def send_upgrade_confirmation(prepared: UpgradeOffered) -> None:
    """A free upgrade the agent prepared: granted only by this button."""
    plan = plan_by_id(prepared.plan_id)
    if plan is None:
        return
    await send_choice(
        cl.Message(
            content=prepared.message,
            actions=[
                cl.Action(
                    name="upgrade",
                    payload={"plan": plan.id, "tool_call": prepared.tool_call_id},
                    label=f"Upgrade: {plan.name} (+{plan.credits})",
                ),
                cl.Action(name="dismiss", payload={}, label="Cancel", icon="x"),
            ],
        )
    )


@cl.action_callback("confirm_run")
async def on_confirm_run(action: cl.Action) -> None:
    if not await ensure_bound():
        return
    run_id = str(action.payload.get("run_id", ""))
    # One start per prepared run: a second click waits for the first and finds its run.
    async with STATE.locks[f"start/{run_id}"]:
        result = await start_confirmed_run(
            chat_context(),
            run_id,
            num_leads=action.payload.get("num_leads"),
            vertical=action.payload.get("vertical"),
            geography=action.payload.get("geography"),
            refresh=action.payload.get("refresh"),
        )
    await close_choice(action)
    if result["status"] == "started":
        await watch(result["run_id"])
    else:
        await cl.Message(content=result["message"]).send()


@cl.action_callback("dismiss")
async def on_dismiss(action: cl.Action) -> None:
    await close_choice(action)
    await cl.Message(content="Cancelled: nothing was charged.").send()


@cl.action_callback("upgrade")
async def on_upgrade(action: cl.Action) -> None:
    if not await ensure_bound():
        return
    plan = plan_by_id(str(action.payload.get("plan", "")))
    run_id = str(action.payload.get("run_id", ""))
    tool_call = str(action.payload.get("tool_call") or "")
    if plan is None:
        await cl.Message(content="Unknown plan.").send()
        return
    if not tool_call:
        try:
            await STATE.chat.runs.get(session_agency(), run_id)
        except RunNotFound:
            await cl.Message(content="That run is not available.").send()
            return
    try:
        if tool_call:  # the button the agent's start_upgrade returned: once per that tool call
            result = await confirm_upgrade(chat_context(), plan, tool_call)
        else:
            # One grant per paywall and plan: a double click (or a second tab, or Slack) adds
            # nothing more.
            occasion = accounts.UpgradeOccasion.run_pause(run_id, str(action.payload.get("pause", "")))
            result = await upgrade(chat_context(), plan, occasion)
    except accounts.NotAllowed as exc:
        await cl.Message(content=str(exc)).send()
        return
    except BillingError as exc:
        await cl.Message(content=f"The upgrade could not be applied: {exc}").send()
        return
    if tool_call:  # the agent's question is answered
        await close_choice(action)
    text = result["message"]
    if result.get("checkout_url"):
        text += f"\n\n[Open the checkout]({result['checkout_url']})"
    else:
        text += f" Balance: {result['balance']} credits."
    await cl.Message(content=text).send()


@cl.action_callback("resume_paused")
async def on_resume_paused(action: cl.Action) -> None:
    if not await ensure_bound():
        return
    run_id = str(action.payload.get("run_id", ""))
    try:
        flow = await STATE.chat.runs.get(session_agency(), run_id)
    except RunNotFound:
        await cl.Message(content="That run is not available.").send()
        return
    result = await resume_flow(chat_context(), flow)
    await cl.Message(content=result["message"]).send()
    if result["status"] in ("resuming", "running", "paused_for_upgrade"):
        (await watch(run_id)).watch.poke()
