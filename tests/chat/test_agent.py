"""The chat agent against the sandbox's scripted model over HTTP: every tool is reachable from
plain language, bad campaigns become answers (never runs), and agencies never see each other."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from langchain_core.utils.function_calling import convert_to_openai_tool

from assistant.agent import PLANS, TOOLS, AgentTurn, ChatServices, confirm_upgrade
from tools.billing import LocalLedger

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tools.sandbox.server import SandboxHandle

    Say = Callable[..., Awaitable[AgentTurn]]


def only_result(turn: AgentTurn, tool: str) -> dict[str, Any]:
    """The single result of `tool` in this turn (fails with the turn's tools when absent)."""
    results = [r for name, r in turn.tool_results if name == tool]
    assert len(results) == 1, f"expected one {tool} call, the turn called {[n for n, _ in turn.tool_results]}"
    assert isinstance(results[0], dict)
    return results[0]


async def start_and_finish(say: Say, chat: ChatServices, text: str, **kw: Any) -> str:
    started = only_result(await say(text, **kw), "start_lead_run")
    assert started["status"] == "started", started
    await chat.background.wait(started["run_id"])
    return str(started["run_id"])


def test_the_model_never_sees_an_agency_parameter() -> None:
    for t in TOOLS:
        params = convert_to_openai_tool(t)["function"]["parameters"].get("properties", {})
        assert not {"agency", "agency_id", "runtime", "customer_id"} & set(params), (t.name, params)


async def test_every_tool_is_reachable_from_plain_language(
    say: Say, chat: ChatServices, sandbox: SandboxHandle
) -> None:
    run_id = await start_and_finish(say, chat, "find 5 dentists in Austin, TX")
    assert chat.background.outcomes[run_id] == "completed"

    status = only_result(await say("what's the status of my run?"), "get_run_status")
    assert status["run"]["id"] == run_id and status["run"]["status"] == "completed"
    assert [p["status"] for p in status["run"]["phases"]] == ["complete"] * 6

    listed = await say("show me the leads")
    leads = only_result(listed, "list_leads")["leads"]
    assert leads and all(lead["phone"] for lead in leads)
    assert "(sandbox model)" in listed.text and leads[0]["name"] in listed.text
    with_dossier = next(lead for lead in leads if lead["dossier_id"])

    dossier = only_result(await say(f"open the dossier for {with_dossier['name']}"), "get_dossier")
    assert dossier["dossier"]["id"] == with_dossier["dossier_id"]
    assert dossier["dossier"]["sources"] and dossier["dossier"]["summary"]

    pages = only_result(await say(f"which pages were scraped for {with_dossier['name']}?"), "list_sources")
    assert pages["audit_job_id"] == with_dossier["audit_job_id"] and pages["count"] >= 1

    credits = only_result(await say("how many credits do I have?"), "get_credits")
    assert credits["balance"] == 20 - 1 - 2 * sum(1 for lead in leads if lead["dossier_id"])

    # A free upgrade is prepared by the tool and granted only by the person's click.
    prepared = only_result(await say("upgrade to pro"), "start_upgrade")
    assert prepared["outcome"] == "needs_confirmation" and prepared["credits_granted"] == 0
    assert await chat.runs.billing.balance("acme") == credits["balance"]
    context = chat.context("acme", user_id="local")
    upgraded = await confirm_upgrade(context, PLANS[1], prepared["tool_call_id"])
    assert upgraded["credits_granted"] == 500 and upgraded["balance"] == credits["balance"] + 500

    resumed = only_result(await say("resume my run"), "resume_run")
    assert resumed["status"] == "completed"

    # A call is prepared, never placed, by the model: the person confirms with a button.
    called = only_result(await say(f"call {with_dossier['name']}"), "place_call")
    assert called["outcome"] == "needs_confirmation" and called["opportunity_id"] == with_dossier["id"]
    assert called["balance"] == upgraded["balance"]
    async with chat.database.reader() as repo:
        assert await repo.list_calls("acme") == []

    # The tools went to the sandbox model as OpenAI tool schemas, over real HTTP.
    sent = [r for r in sandbox.requests("openai") if isinstance(r["body"], dict) and r["body"].get("tools")]
    assert {"start_lead_run", "get_dossier", "place_call"} <= {
        t["function"]["name"] for t in sent[-1]["body"]["tools"]
    }


async def test_missing_campaign_is_a_question_and_starts_nothing(say: Say, chat: ChatServices) -> None:
    turn = await say("find some leads for me")
    result = only_result(turn, "start_lead_run")
    assert result["error"] == "missing_campaign"
    assert "What kind of business" in turn.text
    assert await chat.runs.list_runs("acme") == []


async def test_the_agency_profile_fills_a_missing_campaign(say: Say, chat: ChatServices) -> None:
    await chat.runs.ensure_agency("acme")
    async with chat.database.transaction() as repo:
        await repo.set_profile("acme", target_vertical="plumbers", target_geography="Denver, CO")
    run_id = await start_and_finish(say, chat, "find 3 leads for me")
    flow = await chat.runs.get("acme", run_id)
    assert (flow.target_vertical, flow.target_geography, flow.num_leads_requested) == (
        "plumbers",
        "Denver, CO",
        3,
    )


@pytest.mark.parametrize("text", ["find 50 dentists in Austin", "find 0 dentists in Austin"])
async def test_a_count_out_of_range_is_answered_never_clamped(
    say: Say, chat: ChatServices, text: str
) -> None:
    turn = await say(text)
    result = only_result(turn, "start_lead_run")
    assert result["error"] == "bad_count"
    assert "between 1 and 20" in turn.text
    assert await chat.runs.list_runs("acme") == []


async def test_another_agency_sees_nothing_through_the_tools(say: Say, chat: ChatServices) -> None:
    run_id = await start_and_finish(say, chat, "find 5 dentists in Austin, TX")
    leads = only_result(await say("show me the leads"), "list_leads")["leads"]
    lead = next(lead for lead in leads if lead["dossier_id"])

    as_b: dict[str, Any] = {"agency": "bravo", "thread": "thread-bravo"}
    assert only_result(await say(f"status of run {run_id}", **as_b), "get_run_status")["error"] == "not_found"
    assert (
        only_result(await say("what's the status of my run?", **as_b), "get_run_status")["error"] == "no_runs"
    )
    assert only_result(await say(f"list leads of {run_id}", **as_b), "list_leads")["error"] == "not_found"
    dossier = only_result(await say(f"open the dossier {lead['id']}", **as_b), "get_dossier")
    assert dossier["error"] == "lead_not_found"
    dossier = only_result(await say(f"open the dossier {lead['dossier_id']}", **as_b), "get_dossier")
    assert dossier["error"] == "lead_not_found"
    sources = only_result(
        await say(f"which pages were scraped for {lead['audit_job_id']}", **as_b), "list_sources"
    )
    assert sources["error"] == "lead_not_found"
    assert only_result(await say(f"resume {run_id}", **as_b), "resume_run")["error"] == "not_found"
    assert only_result(await say(f"call {lead['id']}", **as_b), "place_call")["error"] == "lead_not_found"
    assert only_result(await say(f"call {lead['name']}", **as_b), "place_call")["error"] == "lead_not_found"
    dossier = only_result(await say(f"open the dossier for {lead['name']}", **as_b), "get_dossier")
    assert dossier["error"] == "lead_not_found" and dossier["candidates"] == []
    # B's own answers never quote A's data.
    turn = await say(f"list leads of {run_id}", **as_b)
    assert lead["name"] not in turn.text and lead["name"] not in json.dumps(turn.tool_results)


async def test_a_run_short_of_credits_pauses_then_upgrade_and_resume_finish_it(
    say: Say, chat: ChatServices, sandbox_config: Any
) -> None:
    # Sites that always answer: the one audit the credits allow must not fail and free its hold.
    sandbox_config.configure(world_profile="all_auditable")
    customer = await chat.runs.ensure_agency("acme")
    ledger = chat.runs.billing
    assert isinstance(ledger, LocalLedger)
    await ledger.set_balance(customer, 3)  # 1 search + one dossier, then short
    run_id = await start_and_finish(say, chat, "find 5 dentists in Austin, TX")
    assert chat.background.outcomes[run_id] == "paused_for_upgrade"

    still = only_result(await say("resume my run"), "resume_run")
    assert still["status"] == "paused_for_upgrade" and still["deficit"] == 2 and still["balance"] == 0

    status = only_result(await say("what's the status of my run?"), "get_run_status")
    block = status["run"]["billing_block"]
    assert block["phase"] == "generate_dossier" and block["feature_id"] == "dossier_research"

    # ("upgrade to starter" would read as "start ..." to the scripted model: it matches substrings)
    prepared = only_result(await say("upgrade to pro"), "start_upgrade")
    await confirm_upgrade(chat.context("acme", user_id="local"), PLANS[1], prepared["tool_call_id"])
    resumed = only_result(await say("resume my run"), "resume_run")
    assert resumed["status"] == "resuming"
    assert await chat.background.wait(run_id) == "completed"
    assert (await chat.runs.get("acme", run_id)).status == "completed"


async def test_the_conversation_is_checkpointed_per_thread(say: Say, chat: ChatServices) -> None:
    run_id = await start_and_finish(say, chat, "find 2 dentists in Austin, TX", thread="one")
    assert await chat.agent.run_ids("one") == [run_id]
    assert await chat.agent.run_ids("two") == []
    # A later turn in the same thread finds the run id in the earlier tool results.
    leads = only_result(await say("show me the leads", thread="one"), "list_leads")
    assert leads["run_id"] == run_id


async def test_answers_stream_token_by_token(say: Say) -> None:
    tokens: list[str] = []

    async def on_token(token: str) -> None:
        tokens.append(token)

    turn = await say("how many credits do I have?", on_token=on_token)
    assert len(tokens) > 3 and "".join(tokens) == turn.text


async def test_a_second_run_reuses_dossiers_and_the_tools_say_so(say: Say, chat: ChatServices) -> None:
    first = await start_and_finish(say, chat, "find 4 dentists in Austin, TX")
    second = await start_and_finish(say, chat, "find 4 dentists in Austin, TX")
    leads = only_result(await say(f"list leads of {second}"), "list_leads")
    reused = [lead for lead in leads["leads"] if lead["dossier_reused"]]
    assert reused and all(lead["runs"] == [second, first] for lead in reused)
    assert any("reused a recent dossier" in note for note in leads["notes"])
    status = only_result(await say(f"status of run {second}"), "get_run_status")
    assert status["run"]["counts"]["reused"] == len(reused)
    assert any("reused a recent dossier" in note for note in status["notes"])
    # The first run still lists its leads.
    earlier = only_result(await say(f"list leads of {first}"), "list_leads")
    assert {lead["id"] for lead in earlier["leads"]} == {lead["id"] for lead in leads["leads"]}


async def test_a_report_is_shared_and_revoked_by_the_lead_name(say: Say, chat: ChatServices) -> None:
    """share_report and revoke_report take the lead as the person names it, never an internal id,
    and another agency naming the same business finds no lead (and no link is made)."""
    from graphs.reports import ReportService

    await start_and_finish(say, chat, "find 3 dentists in Austin, TX")
    leads = only_result(await say("show me the leads"), "list_leads")["leads"]
    lead = leads[0]
    balance = await chat.runs.billing.balance("acme")

    shared = only_result(await say(f"share the report for {lead['name']}"), "share_report")
    assert shared["opportunity_id"] == lead["id"] and shared["lead"]["name"] == lead["name"]
    assert "/r/" in shared["url"] and shared["pdf_url"] == shared["url"] + "/report.pdf"
    reports = ReportService(chat.database, chat.runs.settings)
    token = shared["url"].rsplit("/", 1)[1]
    assert await reports.resolve(token) == ("acme", lead["id"])

    # "that lead" is the one just shared; revoking ends the link.
    revoked = only_result(await say("revoke the report link for that lead"), "revoke_report")
    assert revoked["opportunity_id"] == lead["id"] and revoked["revoked"] == 1
    assert await reports.resolve(token) is None
    assert await chat.runs.billing.balance("acme") == balance, "reports are free"

    as_b: dict[str, Any] = {"agency": "bravo", "thread": "thread-bravo"}
    foreign = only_result(await say(f"share the report for {lead['name']}", **as_b), "share_report")
    assert foreign["error"] == "lead_not_found" and foreign["candidates"] == []
    foreign = only_result(await say(f"share the report for {lead['id']}", **as_b), "share_report")
    assert foreign["error"] == "lead_not_found"
    async with chat.database.reader() as repo:
        assert len(await repo.list_report_links("acme", lead["id"])) == 1, "bravo made no link"
