"""The chat tools hand the faces typed artifacts beside the JSON the model reads (LangChain's
`content_and_artifact`): each artifact says the same as its content, and it is not written into
the conversation's checkpoint (the transcript keeps only what the model read)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_core.messages import ToolMessage

from assistant.agent import AgentTurn, ChatServices
from assistant.chat_tools.artifacts import (
    CallPrepared,
    CandidatesToChoose,
    CreditsShown,
    DossierShown,
    LeadsShown,
    ResumeAnswered,
    RunNeedsConfirmation,
    RunStarted,
    RunStatusShown,
    ToolRefused,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    Say = Callable[..., Awaitable[AgentTurn]]


def one(turn: AgentTurn, tool: str) -> tuple[dict[str, Any], Any]:
    """The single result of `tool` this turn, and the turn's single artifact."""
    results = [r for name, r in turn.tool_results if name == tool]
    assert len(results) == 1, f"expected one {tool} call, got {[n for n, _ in turn.tool_results]}"
    assert len(turn.artifacts) == 1, turn.artifacts
    return dict(results[0]), turn.artifacts[0]


async def test_each_artifact_is_typed_and_says_what_its_content_says(say: Say, chat: ChatServices) -> None:
    content, started = one(await say("find 3 dentists in Austin, TX"), "start_lead_run")
    assert isinstance(started, RunStarted)
    assert (started.run_id, started.num_leads) == (content["run_id"], 3)
    assert (started.vertical, started.geography) == ("dentists", "Austin, TX")
    assert await chat.background.wait(started.run_id) == "completed"

    content, status = one(await say("what's the status of my run?"), "get_run_status")
    assert status == RunStatusShown(started.run_id, "completed") and not status.live
    assert content["run"]["status"] == "completed"

    content, listed = one(await say("show me the leads"), "list_leads")
    assert isinstance(listed, LeadsShown) and listed.run_id == started.run_id
    assert listed.leads == content["leads"] and listed.notes == content["notes"] and listed.leads

    lead = next(lead for lead in listed.leads if lead["dossier_id"])
    content, opened = one(await say(f"open the dossier for {lead['name']}"), "get_dossier")
    assert isinstance(opened, DossierShown)
    assert opened.opportunity_id == lead["id"] and opened.dossier == content["dossier"]
    assert opened.dossier["opportunity_id"] == lead["id"]

    content, call = one(await say("call that lead"), "place_call")
    assert isinstance(call, CallPrepared) and call.opportunity_id == lead["id"]
    assert call.message == content["message"] and call.phone == content["phone"] and call.phone

    content, credits = one(await say("how many credits do I have?"), "get_credits")
    assert credits == CreditsShown(content["customer_id"], content["balance"])

    content, resumed = one(await say("resume my run"), "resume_run")
    assert isinstance(resumed, ResumeAnswered) and resumed.status == "completed" and not resumed.live
    assert resumed.message == content["message"]


async def test_questions_and_refusals_are_artifacts_too(say: Say, chat: ChatServices) -> None:
    content, prepared = one(await say("find 12 dentists in Austin, TX"), "start_lead_run")
    assert isinstance(prepared, RunNeedsConfirmation)
    assert (prepared.run_id, prepared.num_leads, prepared.max_credits) == (content["run_id"], 12, 25)
    assert prepared.message == content["message"] and not prepared.refresh

    content, refused = one(await say("find 50 dentists in Austin, TX"), "start_lead_run")
    assert refused == ToolRefused("bad_count", content["message"])

    content, asked = one(await say("call the third one", thread="empty"), "place_call")
    assert isinstance(asked, CandidatesToChoose) and asked.found_none and asked.action == "call_lead"
    assert asked.message == content["message"] and content["error"] == "lead_not_found"


async def test_artifacts_stay_out_of_the_checkpoint(say: Say, chat: ChatServices) -> None:
    turn = await say("find 3 dentists in Austin, TX", thread="kept")
    assert isinstance(turn.artifacts[0], RunStarted)
    await chat.background.wait(turn.artifacts[0].run_id)
    await say("show me the leads", thread="kept")
    state = await chat.agent.graph.aget_state(chat.agent.config("kept"))
    tool_messages = [m for m in state.values["messages"] if isinstance(m, ToolMessage)]
    assert [m.name for m in tool_messages] == ["start_lead_run", "list_leads"]
    assert all(m.artifact is None for m in tool_messages)
    # A reopened conversation still finds its runs from the transcript.
    assert await chat.agent.run_ids("kept") == [turn.artifacts[0].run_id]
