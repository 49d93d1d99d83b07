"""The chat agent: a LangGraph tool-calling loop over the run service and the credits.

    agent = ChatAgent(llm, checkpointer)
    context = ChatContext(agency_id="acme", user_id="ana", runs=runs, background=runs.executor)
    turn = await agent.reply("find 5 dentists in Austin, TX", thread_id="t1", context=context)
    turn.text          # what the model answered
    turn.artifacts     # the typed artifacts the tools handed the faces this turn, in order
    turn.tool_results  # [(tool name, the JSON the model read), ...] of this turn

Graph: `agent` (the model with the tools bound) -> `tools` (ToolNode) -> `agent` ... until the
model answers without a tool call. The conversation is checkpointed per thread (the Chainlit
thread id), so a reopened chat continues where it stopped.

The tools (assistant/chat_tools/, by area) answer `(content, artifact)`: the model reads the
JSON content, the faces draw the typed artifact (assistant/chat_tools/artifacts.py). The
artifacts leave the graph on its custom stream, once per tool call, and are taken off the tool
messages before those are checkpointed: they are for the turn that made them (the face draws
them now), while the checkpoint keeps what the model read. A checkpoint holding our own classes
would also be read back through LangGraph's serializer, which warns about (and will block)
classes it does not know.

The names the faces and tests used from here before the tools moved are re-exported below.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

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
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.runtime import Runtime
from langgraph.types import Command

from assistant.chat_tools import TOOLS
from assistant.chat_tools.account import confirm_upgrade, upgrade, upgrade_offer
from assistant.chat_tools.artifacts import ChatArtifact
from assistant.chat_tools.context import ChatContext
from assistant.chat_tools.leads import tool_content
from assistant.chat_tools.reports import share_json
from assistant.chat_tools.runs import (
    LARGE_RUN_LEADS,
    prepare_run,
    resume_flow,
    run_cost_ceiling,
    run_needs_confirmation,
    start_confirmed_run,
    start_lead_run,
)
from db import Database, open_database
from graphs.account_service import AccountService
from graphs.accounts import PLANS, plan_by_id, plans_json
from graphs.call_follower import CallFollower
from graphs.calls import CallService
from graphs.checkpoints import open_checkpointer
from graphs.executors import Executor
from graphs.run_input import MAX_LEADS, MIN_LEADS
from graphs.service import RunService
from leadgen.settings import Settings, get_settings
from tools.billing import billing_for
from tools.providers import Providers

__all__ = [
    "LARGE_RUN_LEADS",
    "PLANS",
    "TOOLS",
    "AgentTurn",
    "ChatAgent",
    "ChatContext",
    "ChatServices",
    "build_graph",
    "confirm_upgrade",
    "open_chat",
    "plan_by_id",
    "plans_json",
    "prepare_run",
    "resume_flow",
    "run_cost_ceiling",
    "run_needs_confirmation",
    "share_json",
    "start_confirmed_run",
    "start_lead_run",
    "upgrade",
    "upgrade_offer",
]

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
# The graph


@dataclass
class AgentTurn:
    text: str
    tool_results: list[tuple[str, Any]]
    # What the faces draw: one typed artifact per tool call that made one, in the order of the
    # tool messages (tool errors the ToolNode caught have none).
    artifacts: list[ChatArtifact] = field(default_factory=list)


@dataclass(frozen=True)
class HandedOver:
    """A tool's artifact on its way to the face (the graph's custom stream)."""

    tool_call_id: str
    artifact: ChatArtifact


async def hand_over_artifact(
    request: ToolCallRequest, execute: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]]
) -> ToolMessage | Command[Any]:
    """Run the tool; send its artifact to the face and keep it out of the checkpoint."""
    result = await execute(request)
    if isinstance(result, ToolMessage) and result.artifact is not None:
        request.runtime.stream_writer(HandedOver(result.tool_call_id, result.artifact))
        return result.model_copy(update={"artifact": None})
    return result


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
    graph.add_node("tools", ToolNode(tools, handle_tool_errors=True, awrap_tool_call=hand_over_artifact))
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
        handed: dict[str, ChatArtifact] = {}
        async for mode, data in self.graph.astream(
            {"messages": [HumanMessage(text)]}, config, context=context, stream_mode=["messages", "custom"]
        ):
            if mode == "custom":
                if isinstance(data, HandedOver):
                    handed[data.tool_call_id] = data.artifact
                continue
            chunk, meta = data if isinstance(data, tuple) else (None, None)
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
        tool_messages = [m for m in new if isinstance(m, ToolMessage)]
        results = [(m.name or "", tool_content(m)) for m in tool_messages]
        artifacts = [handed[m.tool_call_id] for m in tool_messages if m.tool_call_id in handed]
        answers = [m for m in new if isinstance(m, AIMessage) and not m.tool_calls]
        final = answers[-1].content if answers else ""
        return AgentTurn(
            text=final if isinstance(final, str) else str(final), tool_results=results, artifacts=artifacts
        )

    async def run_ids(self, thread_id: str) -> list[str]:
        """Run ids this conversation's tools returned, oldest first (to reattach live views)."""
        state = await self.graph.aget_state(self.config(thread_id))
        found: list[str] = []
        for message in state.values.get("messages", []) if state.values else []:
            if isinstance(message, ToolMessage):
                # The transcript, not artifacts: a thread reopened days later has only the former.
                result = tool_content(message)
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
