"""`lead_gen` under `langgraph dev`, driven through `langgraph_sdk` as a LangGraph user would:
the run is the thread's, its billing pause the thread's interrupt, and the CLI sees and carries
on the very same run (one execution at a time, never a double charge)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

if TYPE_CHECKING:
    from conftest import LeadGenServer

pytestmark = pytest.mark.slow

GRAPH = "lead_gen"
CAMPAIGN = {"target_vertical": "dentists", "target_geography": "Austin, TX"}
PHASES = {"source", "filter_rank", "persist_leads", "scrape_content", "generate_dossier", "finalize_rank"}


@pytest.fixture
async def client(lead_gen_server: LeadGenServer) -> AsyncIterator[LangGraphClient]:
    lg = get_client(url=lead_gen_server.url)
    try:
        yield lg
    finally:
        await lg.aclose()


def fresh_agency() -> str:
    return f"agency-{uuid.uuid4().hex[:10]}"


async def new_thread(client: LangGraphClient) -> tuple[str, str]:
    """A new thread, and the run id it will give its run (the same UUID, 32 hex digits)."""
    thread_id = (await client.threads.create())["thread_id"]
    return thread_id, uuid.UUID(thread_id).hex


async def pending_interrupts(client: LangGraphClient, thread_id: str) -> list[dict[str, Any]]:
    return list((await client.threads.get_state(thread_id))["interrupts"])


def expected_charges(server: LeadGenServer, agency: str, thread_id: str) -> list[tuple[str, int, str]]:
    """One discovery credit for the run, two per finished audit: each once, by its own key."""
    audits = server.leadgen_json("audits", thread_id, "--agency", agency)
    done = [("dossier_research", 2, f"audit:{a['id']}") for a in audits if a["status"] == "completed"]
    assert done
    return sorted([("lead_discovery", 1, f"flow:{uuid.UUID(thread_id).hex}:source"), *done])


async def test_the_server_serves_input_and_output_schemas(client: LangGraphClient) -> None:
    (assistant,) = await client.assistants.search(graph_id=GRAPH)
    schemas = await client.assistants.get_schemas(assistant["assistant_id"])

    given = schemas["input_schema"]
    assert set(given["properties"]) == {"agency_id", "num_leads", "target_vertical", "target_geography"}
    assert sorted(given["required"]) == ["agency_id", "num_leads"]
    assert given["properties"]["num_leads"]["type"] == "integer"
    assert {"run_id", "status", "counts", "leads"} <= set(schemas["output_schema"]["properties"])


async def test_a_run_through_the_sdk_completes_and_is_the_clis_run(
    client: LangGraphClient, lead_gen_server: LeadGenServer
) -> None:
    agency = fresh_agency()
    lead_gen_server.leadgen(
        "agency",
        "set",
        "--agency",
        agency,
        "--criteria",
        "WEAK_WEB_PRESENCE,LOW_GOOGLE_RATING,FEW_GOOGLE_REVIEWS",
    )
    thread_id, run_id = await new_thread(client)

    custom: list[dict[str, Any]] = []
    final: dict[str, Any] = {}
    async for part in client.runs.stream(
        thread_id,
        GRAPH,
        input={"agency_id": agency, "num_leads": 4, **CAMPAIGN},
        stream_mode=["custom", "values"],
    ):
        if part.event == "custom":
            custom.append(part.data)
        elif part.event == "values":
            final = part.data
        else:
            assert part.event == "metadata", part

    assert final["run_id"] == run_id and final["agency_id"] == agency
    assert final["status"] == "completed"
    # The pipeline's progress reaches the SDK's (and Studio's) custom stream.
    assert {e.get("phase") for e in custom if e.get("status") == "complete"} >= PHASES

    status = lead_gen_server.leadgen_json("status", thread_id, "--agency", agency)
    assert status["id"] == run_id and status["status"] == "completed"
    assert status["campaign"] == {"target_vertical": "dentists", "target_geography": "Austin, TX"}
    assert (
        final["counts"] == status["counts"] and status["counts"]["opportunities"] == len(final["leads"]) > 0
    )
    ranked = lead_gen_server.leadgen_json("leads", thread_id, "--agency", agency)
    assert [(lead["id"], lead["name"]) for lead in final["leads"]] == [(r["id"], r["name"]) for r in ranked]
    # Ranked by opportunity score, as every face ranks (graphs/ranking.py).
    scores = [lead["opportunity_score"] for lead in final["leads"]]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) > 1
    assert (await client.threads.get(thread_id))["status"] == "idle"


async def test_a_billing_pause_is_the_threads_interrupt_and_resumes_without_double_charge(
    client: LangGraphClient, lead_gen_server: LeadGenServer, sandbox_config: Any
) -> None:
    # Sites that all answer: the one audit the credits allow must succeed to be charged.
    sandbox_config.configure(world_profile="all_auditable")
    server, agency = lead_gen_server, fresh_agency()
    server.leadgen("credits", "set", "3", "--agency", agency)  # the search and one audit
    thread_id, run_id = await new_thread(client)

    paused = await client.runs.wait(thread_id, GRAPH, input={"agency_id": agency, "num_leads": 5, **CAMPAIGN})

    assert paused["status"] == "paused_for_upgrade"
    assert (await client.threads.get(thread_id))["status"] == "interrupted"
    (pause,) = await pending_interrupts(client, thread_id)
    block = pause["value"]["billing_block"]
    assert pause["value"]["run_id"] == run_id
    assert block["feature_id"] == "dossier_research" and block["phase"] == "generate_dossier"
    assert block["credit_info"]["allowed"] is False and block["credit_info"]["deficit"] > 0
    status = server.leadgen_json("status", thread_id, "--agency", agency, code=0)
    assert (
        status["status"] == "paused_for_upgrade"
        and status["billing_block"]["feature_id"] == "dossier_research"
    )
    charged = server.charges(agency)
    assert sum(credits for _, credits, _ in charged) == 3 and server.balance(agency) == 0

    # Resumed without new credits: paused again, nothing charged, nothing granted.
    again = await client.runs.wait(thread_id, GRAPH, command={"resume": "credits added"})
    assert again["status"] == "paused_for_upgrade"
    (second,) = await pending_interrupts(client, thread_id)
    assert second["value"]["billing_block"]["credit_info"]["allowed"] is False
    assert server.charges(agency) == charged and server.balance(agency) == 0

    server.leadgen("credits", "grant", "20", "--agency", agency)
    done = await client.runs.wait(thread_id, GRAPH, command={"resume": "credits added"})

    assert done["status"] == "completed" and done["run_id"] == run_id
    assert await pending_interrupts(client, thread_id) == []
    after = server.charges(agency)
    assert sorted(after) == expected_charges(server, agency, thread_id)
    assert set(charged) <= set(after)  # what was charged before the pause stays charged once
    assert server.balance(agency) == 3 + 20 - sum(credits for _, credits, _ in after)


async def test_one_execution_at_a_time_and_the_cli_resumes_the_threads_run(
    client: LangGraphClient, lead_gen_server: LeadGenServer
) -> None:
    from db import open_database
    from db.repositories import new_lease_owner

    server, agency = lead_gen_server, fresh_agency()
    server.leadgen("credits", "set", "3", "--agency", agency)
    thread_id, run_id = await new_thread(client)
    await client.runs.wait(thread_id, GRAPH, input={"agency_id": agency, "num_leads": 5, **CAMPAIGN})
    assert len(await pending_interrupts(client, thread_id)) == 1
    server.leadgen("credits", "grant", "20", "--agency", agency)
    charged = server.charges(agency)

    # Someone else (here: this test) executes the run: the SDK's resume is refused, does nothing.
    db = await open_database(server.env["DATABASE_URL"], content_dir=server.db_file.parent / "content")
    owner = new_lease_owner()
    try:
        async with db.transaction() as repo:
            assert await repo.acquire_lease(agency, run_id, owner, 120)
        with pytest.raises(Exception, match="already running"):
            await client.runs.wait(thread_id, GRAPH, command={"resume": "credits added"})
        assert (await client.threads.get(thread_id))["status"] == "error"
        assert server.charges(agency) == charged
    finally:
        async with db.transaction() as repo:
            await repo.release_lease(agency, run_id, owner)
        await db.close()

    # The CLI carries the same run on, by the thread's id...
    resumed = server.leadgen_json("resume", thread_id, "--agency", agency)
    assert resumed["id"] == run_id and resumed["status"] == "completed"
    finished = server.charges(agency)
    assert sorted(finished) == expected_charges(server, agency, thread_id)

    # ...and the thread, run again, reports it without redoing or recharging anything.
    summary = await client.runs.wait(thread_id, GRAPH, input=None)
    assert summary["status"] == "completed" and summary["run_id"] == run_id
    assert summary["counts"] == server.leadgen_json("status", thread_id, "--agency", agency)["counts"]
    assert server.charges(agency) == finished
    assert (await client.threads.get(thread_id))["status"] == "idle"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"agency_id": "{agency}", "num_leads": 0, **CAMPAIGN}, "whole number from 1 to 20, got 0"),
        ({"agency_id": "{agency}", "num_leads": "ten", **CAMPAIGN}, "whole number from 1 to 20, got 'ten'"),
        ({"agency_id": "Not An Id", "num_leads": 3, **CAMPAIGN}, "not a valid agency id"),
        ({"agency_id": "{agency}", "num_leads": 3, "target_vertical": "dentists"}, "no geography"),
        (
            {
                "agency_id": "{agency}",
                "num_leads": 3,
                "target_vertical": "  ",
                "target_geography": "Austin, TX",
            },
            "vertical must not be empty",
        ),
        ({"agency_id": "{agency}", **CAMPAIGN}, "num_leads is missing"),
    ],
)
async def test_bad_input_fails_the_run_with_a_clear_message_and_writes_nothing(
    client: LangGraphClient, lead_gen_server: LeadGenServer, given: dict[str, Any], message: str
) -> None:
    agency = fresh_agency()
    payload = {k: (agency if v == "{agency}" else v) for k, v in given.items()}
    thread_id, run_id = await new_thread(client)

    with pytest.raises(Exception, match="BadRunInput") as failed:
        await client.runs.wait(thread_id, GRAPH, input=payload)

    assert message in str(failed.value)
    assert (await client.threads.get(thread_id))["status"] == "error"
    server = lead_gen_server
    assert server.rows("SELECT id FROM lead_gen_flows WHERE id = ?", run_id) == []
    assert server.rows("SELECT id FROM agencies WHERE id = ?", agency) == []
    assert server.rows("SELECT id FROM credit_ledger_entries WHERE customer_id = ?", agency) == []
