"""What every chat tool shares: who is asking (`ChatContext`), and the two-part answer.

Tenancy. The agency is never a tool argument: tools read it from the runtime context
(`ToolRuntime.context`), which the face fills from the signed-in user. Whatever id the model
passes, the run service answers only within that agency (another agency's id reads as not found).

Answers. Every tool is declared with `response_format="content_and_artifact"` and returns
`(content, artifact)`: the content is JSON built with graphs/views.py, wrapped in a small envelope
that names the `run_id` (or `opportunity_id`) it is about, for the model; the artifact is the typed
value of assistant/chat_tools/artifacts.py, for the faces. Errors are answers too (`{"error": ...,
"message": ...}` with a `ToolRefused`), so the model can explain them instead of the turn failing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from langgraph.prebuilt import ToolRuntime

from assistant.chat_tools.artifacts import ChatArtifact, ToolRefused
from db.models import LeadGenFlow
from graphs.account_service import AccountService
from graphs.call_follower import CallFollower
from graphs.calls import CallService
from graphs.executors import Executor
from graphs.service import RunService


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
# What a tool returns: the model's JSON, and the face's artifact.
Answer = tuple[str, ChatArtifact]


def to_json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def answer(content: dict[str, Any], artifact: ChatArtifact) -> Answer:
    return to_json(content), artifact


def refuse(kind: str, message: str, **extra: Any) -> Answer:
    return answer({"error": kind, "message": message, **extra}, ToolRefused(kind, message))


def no_run() -> Answer:
    return refuse("no_runs", "There are no runs for this agency yet. Ask me to find some leads.")


async def flow_view(runs: RunService, flow: LeadGenFlow) -> dict[str, Any]:
    """The run as `--json` prints it, read in one session (the snapshot every face draws)."""
    return (await runs.snapshot(flow.agency_id, flow.id)).run


async def pick_flow(ctx: ChatContext, run_id: str | None, *, prefer: str | None = None) -> LeadGenFlow | None:
    """The named run of this agency, else its newest (with status `prefer` when there is one)."""
    if run_id:
        return await ctx.runs.get(ctx.agency_id, run_id.strip())
    flows = await ctx.runs.list_runs(ctx.agency_id, limit=20)
    if prefer:
        preferred = [f for f in flows if f.status == prefer]
        if preferred:
            return preferred[0]
    return flows[0] if flows else None
