"""People name leads as they see them: by business name, by place in a list, by pointing back.
The agent resolves those within the agency, asks when two match, never asks for an id, and
prepares (never places) a call; a confirmed call is followed to its end and its charge."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assistant.agent import AgentTurn, ChatServices
from db.models import ClientOpportunity
from graphs.call_follower import call_finished, call_report
from graphs.call_tools import place_call
from graphs.lead_lookup import match_name, name_score

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    Say = Callable[..., Awaitable[AgentTurn]]


def only(turn: AgentTurn, tool: str) -> dict[str, Any]:
    results = [r for name, r in turn.tool_results if name == tool]
    assert len(results) == 1, f"expected one {tool} call, got {[n for n, _ in turn.tool_results]}"
    return dict(results[0])


def opp(ident: str, name: str, address: str = "1 Main St") -> ClientOpportunity:
    return ClientOpportunity(id=ident, agency_id="acme", name=name, address=address)


def test_names_match_loosely_but_not_wrongly() -> None:
    assert name_score("summit smiles", "Summit Smiles") == 1.0
    assert name_score("Brightway plumbing", "Brightway Plumbing & Heating LLC") > 0.85
    assert name_score("Brightwy Plumbing", "Brightway Plumbing") > 0.85  # a typo
    assert name_score("Summit Smiles", "True North Dental") < 0.5


def test_one_clear_match_is_the_lead_and_two_alike_are_a_question() -> None:
    leads = [opp("a", "Summit Smiles"), opp("b", "True North Dental"), opp("c", "Summit Family Dentistry")]
    assert match_name("Summit Smiles", leads).lead is leads[0]
    asked = match_name("Summit", leads)
    assert asked.kind == "ambiguous" and {c.id for c in asked.candidates} == {"a", "c"}
    assert "Summit Smiles (1 Main St)" in asked.message and "a" not in [w for w in asked.message.split()]
    assert match_name("Brightway Plumbing", leads).kind == "not_found"
    twins = [opp("x", "Summit Smiles", "1 Main St, Austin"), opp("y", "Summit Smiles", "9 Oak Ave, Dallas")]
    same = match_name("summit smiles", twins)
    assert same.kind == "ambiguous" and "9 Oak Ave, Dallas" in same.message
    # Of two same-named leads, the one in the list just shown is the one meant.
    assert match_name("summit smiles", twins, shown=["y"]).lead is twins[1]


async def _run(say: Say, chat: ChatServices, text: str, thread: str = "thread-acme") -> str:
    started = only(await say(text, thread=thread), "start_lead_run")
    await chat.background.wait(started["run_id"])
    return str(started["run_id"])


async def test_the_right_lead_by_name_by_place_and_by_pointing(say: Say, chat: ChatServices) -> None:
    await _run(say, chat, "find 5 dentists in Austin, TX")
    await _run(say, chat, "find 5 plumbers in Denver, CO")
    plumbers = only(await say("show me the leads"), "list_leads")["leads"]
    # A dentist from the first run, asked for by name in a new thread (no list shown there).
    dentist_run = (await chat.runs.list_runs("acme"))[-1]
    dentists = [lead for lead in await chat.runs.run_leads("acme", dentist_run.id) if lead.dossier_id]
    wanted = dentists[-1].opportunity
    opened = only(await say(f"Open the dossier for {wanted.name}", thread="fresh"), "get_dossier")
    assert opened["opportunity_id"] == wanted.id and opened["dossier"]["opportunity_id"] == wanted.id

    # "The second one" is the second of the list this thread was shown.
    second = only(await say("open the dossier for the second one"), "get_dossier")
    assert second["opportunity_id"] == plumbers[1]["id"]
    # "That lead" is the one just discussed: a call to it is prepared, not placed.
    prepared = only(await say("call that lead"), "place_call")
    assert prepared["outcome"] == "needs_confirmation" and prepared["opportunity_id"] == plumbers[1]["id"]
    # Asking about a call is not placing one.
    turn = await say(f"What happened with my call to {plumbers[1]['name']}?")
    outcome = only(turn, "get_call_outcome")
    assert not [r for name, r in turn.tool_results if name == "place_call"]
    assert outcome["calls"] == [] and "No calls have been placed" in turn.text
    async with chat.database.reader() as repo:
        assert await repo.list_calls("acme") == []

    # Another agency cannot reach these leads by name.
    other = only(await say(f"Open the dossier for {wanted.name}", agency="bravo", thread="b"), "get_dossier")
    assert other["error"] == "lead_not_found" and wanted.id not in str(other)


async def test_no_answer_asks_for_an_id(say: Say, chat: ChatServices) -> None:
    turn = await say("call the third one", thread="empty")
    result = only(turn, "place_call")
    assert result["error"] == "lead_not_found"
    assert "id" not in turn.text.lower().split()


async def test_a_confirmed_call_is_followed_to_its_end_and_charge(say: Say, chat: ChatServices) -> None:
    await _run(say, chat, "find 3 dentists in Austin, TX")
    lead = only(await say("show me the leads"), "list_leads")["leads"][0]
    customer = await chat.runs.ensure_agency("acme")
    before = await chat.runs.billing.balance(customer)
    placed = await place_call(chat.calls, "acme", lead["id"], user_id="local")
    assert placed["outcome"] == "placed"
    told: list[str] = []

    async def tell(call: Any) -> None:
        told.append(call_report(call, lead["name"]) if call_finished(call) else call.status)

    chat.follower.follow("acme", placed["call"]["id"], on_update=tell)
    done = await chat.follower.wait(placed["call"]["id"])
    assert done is not None and call_finished(done) and done.status == "ended"
    billed = done.metadata_["ai_call_metering"]["billed_minutes"]
    assert billed >= 1
    assert told[-1].startswith(f"The call to {lead['name']} ended") and f"{billed} credit" in told[-1]
    assert await chat.runs.billing.balance(customer) == before - billed
    # The lead is free for another call.
    again = await place_call(chat.calls, "acme", lead["id"], user_id="local")
    assert again["outcome"] == "placed"
    await chat.follower.aclose()
