"""The conversation: starting and reopening a thread, the agent's streamed answer to each message,
and the rich views of the typed artifacts its tools handed over (render_turn).
"""

from __future__ import annotations

import contextlib

import chainlit as cl
from chainlit.types import ThreadDict

from assistant.agent import AgentTurn
from assistant.chainlit_ui.calls import send_call_confirmation
from assistant.chainlit_ui.choices import send_run_confirmation, send_upgrade_confirmation
from assistant.chainlit_ui.leads import (
    send_candidates,
    send_dossier,
    send_leads,
    send_pages,
    send_report_share,
)
from assistant.chainlit_ui.lifecycle import STATE
from assistant.chainlit_ui.runs import TERMINAL, RunView, watch
from assistant.chainlit_ui.session import bind_session, chat_context, ensure_bound, session_agency
from assistant.chainlit_views import view_id
from assistant.chat_tools.artifacts import (
    CallPrepared,
    CandidatesToChoose,
    CheckoutOpened,
    DossierShown,
    LeadsShown,
    ReportShared,
    ResumeAnswered,
    RunNeedsConfirmation,
    RunStarted,
    RunStatusShown,
    SourcesShown,
    UpgradeOffered,
)
from graphs.service import RunNotFound


@cl.set_starters
async def starters(user: cl.User | None = None, language: str | None = None) -> list[cl.Starter]:
    return [
        cl.Starter(label="Find 5 dentists in Austin, TX", message="Find 5 dentists in Austin, TX"),
        cl.Starter(label="Find 10 plumbers in Denver, CO", message="Find 10 plumbers in Denver, CO"),
        cl.Starter(label="How is my run doing?", message="What's the status of my run?"),
        cl.Starter(label="Show me the leads", message="Show me the leads"),
        cl.Starter(label="How many credits do I have?", message="How many credits do I have?"),
    ]


@cl.on_chat_start
async def on_chat_start() -> None:
    await bind_session()


@cl.on_chat_resume
async def on_chat_resume(thread: ThreadDict) -> None:
    if await bind_session() is None:
        return
    # Redraw, in place, the view of each run this conversation showed: its current state once
    # (progress, paywall, results), never a stale copy above a fresh one.
    existing = {str(step["id"]): str(step.get("createdAt") or "") for step in thread.get("steps") or []}
    thread_id = cl.context.session.thread_id
    for run_id in await STATE.chat.agent.run_ids(thread["id"]):
        with contextlib.suppress(RunNotFound):
            flow = await STATE.chat.runs.get(session_agency(), run_id)
            shown_here = view_id(thread_id, run_id, "progress") in existing
            if flow.status not in TERMINAL or shown_here:
                await watch(run_id, existing)


@cl.on_chat_end
async def on_chat_end() -> None:
    # The tab is gone: stop its views (the runs go on; a reopened tab gets new views).
    views: dict[str, RunView] = cl.user_session.get("views") or {}
    for view in views.values():
        view.stop()


@cl.on_message
async def on_message(message: cl.Message) -> None:
    if not await ensure_bound():
        return
    thread_id = cl.context.session.thread_id
    lock = STATE.locks[thread_id]
    if lock.locked():
        await cl.Message(content="Still working on your previous message; one moment.").send()
    async with lock:
        answer = cl.Message(content="")
        if STATE.sandbox_url and not cl.user_session.get("sandbox_noted"):
            cl.user_session.set("sandbox_noted", True)
            await answer.stream_token(
                "_Sandbox mode: no provider keys are set, so Places, Firecrawl, the model and billing "
                "are emulated locally with synthetic businesses._\n\n"
            )
        turn = await STATE.chat.agent.reply(
            message.content, thread_id=thread_id, context=chat_context(), on_token=answer.stream_token
        )
        if not answer.streaming:  # the model answered without streaming tokens
            answer.content += turn.text
        await answer.send()
        await render_turn(turn)


async def render_turn(turn: AgentTurn) -> None:
    """Rich views for what the tools handed over this turn (the text answer is already shown)."""
    for artifact in turn.artifacts:
        match artifact:
            case CandidatesToChoose(candidates=[_, *_]):
                await send_candidates(artifact)
            case CallPrepared():
                await send_call_confirmation(artifact)
            case RunNeedsConfirmation():
                await send_run_confirmation(artifact)
            case UpgradeOffered():
                await send_upgrade_confirmation(artifact)
            case RunStarted(run_id=run_id) | ResumeAnswered(run_id=run_id, live=True):
                await watch(run_id)
            case RunStatusShown(run_id=run_id, live=True):
                await watch(run_id)
            case LeadsShown():
                await send_leads(artifact.run_id, artifact.leads, title="Leads", notes=artifact.notes)
            case DossierShown():
                await send_dossier(artifact.dossier, artifact.lead)
            case ReportShared():
                await send_report_share(artifact.share)
            case SourcesShown(audit_job_id=str(job_id)):
                await send_pages(job_id, artifact.pages)
            case CheckoutOpened():
                await cl.Message(
                    content=f"[Open the checkout]({artifact.checkout_url}) to finish the upgrade."
                ).send()
