"""Spending that waits for the person: a large run (more than LARGE_RUN_LEADS leads) or a run that
researches leads again is prepared by the agent and started by a click, once, whatever the
clicks; a forged or stale click starts nothing the agency did not ask for."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from langchain_core.tools import StructuredTool
from sqlalchemy import func, select

from assistant.agent import (
    LARGE_RUN_LEADS,
    AgentTurn,
    ChatServices,
    run_cost_ceiling,
    run_needs_confirmation,
    start_confirmed_run,
    start_lead_run,
)
from db.models import LeadGenFlow

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    Say = Callable[..., Awaitable[AgentTurn]]


def only(turn: AgentTurn, tool: str) -> dict[str, Any]:
    results = [r for name, r in turn.tool_results if name == tool]
    assert len(results) == 1, f"expected one {tool} call, got {[n for n, _ in turn.tool_results]}"
    return dict(results[0])


async def flows(chat: ChatServices, agency: str | None = None) -> int:
    async with chat.database.reader() as repo:
        query = select(func.count()).select_from(LeadGenFlow)
        if agency is not None:
            query = query.where(LeadGenFlow.agency_id == agency)
        return int((await repo.session.execute(query)).scalar_one())


def test_which_runs_wait_for_a_click() -> None:
    assert LARGE_RUN_LEADS == 10
    assert not run_needs_confirmation(10, False)  # the default run size starts at once
    assert run_needs_confirmation(11, False) and run_needs_confirmation(1, True)
    assert run_cost_ceiling(15) == 31  # one search, two credits per dossier


async def test_a_large_run_is_prepared_then_started_once_however_often_it_is_confirmed(
    say: Say, chat: ChatServices
) -> None:
    prepared = only(await say("find 12 dentists in Austin, TX"), "start_lead_run")
    assert prepared["outcome"] == "needs_confirmation" and "status" not in prepared
    assert prepared["num_leads_requested"] == 12 and prepared["max_credits"] == 25
    assert prepared["campaign"] == {"target_vertical": "dentists", "target_geography": "Austin, TX"}
    assert prepared["balance"] == await chat.runs.billing.balance("acme")
    assert "Start the run" in prepared["message"]
    assert await flows(chat) == 0, "nothing starts before the click"

    # A double click (two requests at once), then a late third one.
    ctx = chat.context("acme", user_id="local", thread_id="thread-acme")
    args = {"num_leads": 12, "vertical": "dentists", "geography": "Austin, TX", "refresh": False}
    clicks = await asyncio.gather(*(start_confirmed_run(ctx, prepared["run_id"], **args) for _ in range(2)))
    late = await start_confirmed_run(ctx, prepared["run_id"], **args)
    assert sorted(c["status"] for c in [*clicks, late]) == ["already_started", "already_started", "started"]
    assert await flows(chat) == 1
    flow = await chat.runs.get("acme", prepared["run_id"])
    assert flow.num_leads_requested == 12 and not flow.refresh_dossiers and flow.user_id == "local"
    assert await chat.background.wait(flow.id) in ("completed", "paused_for_upgrade")


async def call_start_lead_run(runtime: Any, **args: Any) -> dict[str, Any]:
    """The tool as the model calls it (the sandbox's scripted model never asks to refresh)."""
    assert isinstance(start_lead_run, StructuredTool) and start_lead_run.coroutine is not None
    # The tool answers (content, artifact): the JSON the model reads, the typed value for faces.
    content, artifact = await start_lead_run.coroutine(runtime, **args)
    result = dict(json.loads(content))
    assert artifact.run_id == result["run_id"]
    return result


async def test_a_refreshed_run_waits_for_a_click_even_when_small(chat: ChatServices) -> None:
    ctx = chat.context("acme", user_id="local", thread_id="thread-acme")
    runtime = SimpleNamespace(context=ctx, tool_call_id="call_1")
    campaign = {"vertical": "florists", "geography": "Omaha, NE", "num_leads": 2}
    prepared = await call_start_lead_run(runtime, **campaign, refresh=True)
    assert prepared["outcome"] == "needs_confirmation" and prepared["refresh"] is True
    assert "again" in prepared["message"] and await flows(chat) == 0
    started = await start_confirmed_run(
        ctx, prepared["run_id"], num_leads=2, vertical="florists", geography="Omaha, NE", refresh=True
    )
    assert started["status"] == "started"
    assert (await chat.runs.get("acme", prepared["run_id"])).refresh_dossiers is True
    await chat.background.wait(prepared["run_id"])

    # A small run without refresh starts at once, as before.
    direct = await call_start_lead_run(runtime, **campaign)
    assert direct["status"] == "started"
    await chat.background.wait(direct["run_id"])


async def test_forged_or_stale_confirmations_start_nothing_foreign(say: Say, chat: ChatServices) -> None:
    prepared = only(await say("find 12 dentists in Austin, TX"), "start_lead_run")
    acme = chat.context("acme", user_id="local", thread_id="thread-acme")
    bravo = chat.context("bravo", user_id="local", thread_id="thread-bravo")
    args = {"num_leads": 12, "vertical": "dentists", "geography": "Austin, TX", "refresh": False}
    await chat.runs.ensure_agency("bravo")

    # Payloads that are not a run: refused or a clear "nothing was started", no row written.
    assert (await start_confirmed_run(acme, "../etc", **args))["status"] == "refused"
    assert (await start_confirmed_run(acme, prepared["run_id"], **(args | {"num_leads": "12"})))[
        "status"
    ] == "refused"
    bad = await start_confirmed_run(acme, prepared["run_id"], **(args | {"num_leads": 99}))
    assert bad["status"] == "bad_input" and "Nothing was started" in bad["message"]
    assert await flows(chat) == 0

    # acme starts it; bravo replaying acme's button (its run id) neither sees nor starts a run.
    assert (await start_confirmed_run(acme, prepared["run_id"], **args))["status"] == "started"
    replay = await start_confirmed_run(bravo, prepared["run_id"], **args)
    assert replay["status"] == "refused" and replay["run_id"] is None
    assert await flows(chat, "bravo") == 0 and await flows(chat) == 1
    await chat.background.wait(prepared["run_id"])
