"""The `lead_gen` graph in-process (no server): its schemas, the thread-id mapping, and that the
pipeline it drives checkpoints on our checkpointer as the CLI's runs do, not nested under the
caller's graph."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from graphs.platform_graph import compile_platform_graph
from graphs.run_input import check_agency_id, normalise_run_id, run_id_for_thread
from graphs.service import BadRunInput, RunService
from leadgen.settings import reset_settings


@pytest.fixture
def platform_env(
    sandbox: Any, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    for name in ("LEADGEN_EXECUTOR", "AUTUMN_SECRET_KEY", "LEADGEN_STARTING_CREDITS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEADGEN_SANDBOX_URL", sandbox.url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LEADGEN_DATA_DIR", str(tmp_path / "data"))
    reset_settings()
    yield database_url
    reset_settings()


def test_input_and_output_schemas_build() -> None:
    graph = compile_platform_graph()
    given = graph.get_input_jsonschema()
    assert set(given["properties"]) == {"agency_id", "num_leads", "target_vertical", "target_geography"}
    assert sorted(given["required"]) == ["agency_id", "num_leads"]
    assert {"run_id", "status", "counts", "leads"} <= set(graph.get_output_jsonschema()["properties"])


def test_a_thread_id_names_its_run_in_either_spelling() -> None:
    thread = uuid.uuid4()
    assert run_id_for_thread(str(thread)) == thread.hex == normalise_run_id(str(thread))
    assert normalise_run_id(thread.hex) == thread.hex
    assert normalise_run_id("not-a-uuid") == "not-a-uuid"  # left as typed: reads as not found
    with pytest.raises(ValueError, match="not a UUID"):
        run_id_for_thread("thread-1")


@pytest.mark.parametrize("bad", ["", "Acme", "acme corp", "-acme", "a" * 65, 7, None])
def test_agency_ids_follow_the_clis_rule(bad: Any) -> None:
    with pytest.raises(ValueError, match="not a valid agency id"):
        check_agency_id(bad)
    assert check_agency_id(" acme-digital_2 ") == "acme-digital_2"


async def test_the_pipeline_runs_on_our_checkpointer_under_the_threads_id(platform_env: str) -> None:
    agency = f"agency-{uuid.uuid4().hex[:10]}"
    graph = compile_platform_graph(InMemorySaver())  # stands in for the server's checkpointer
    thread_id = str(uuid.uuid4())
    config: Any = {"configurable": {"thread_id": thread_id}}

    campaign = {"target_vertical": "dentists", "target_geography": "Austin, TX"}
    out = await graph.ainvoke({"agency_id": agency, "num_leads": 3, **campaign}, config)

    run_id = uuid.UUID(thread_id).hex
    assert out["run_id"] == run_id and out["status"] == "completed" and out["leads"]
    # Ours holds the pipeline's whole run, at the top level where `leadgen resume` looks for it...
    async with RunService.open() as runs:
        pipeline = await runs.graph.aget_state({"configurable": {"thread_id": run_id}})
        assert pipeline.values["flow_id"] == run_id and pipeline.next == ()
        assert pipeline.values["audit_job_ids"]
        assert (await runs.get(agency, run_id)).status == "completed"
    # ...and the caller's checkpointer only this small graph's state.
    outer = await graph.aget_state(config)
    assert "audit_job_ids" not in outer.values and outer.next == ()

    # The thread holds this run: asked again, it reports it; another campaign or agency is refused.
    again = await graph.ainvoke({"agency_id": agency, "num_leads": 3, **campaign}, config)
    assert again["run_id"] == run_id and again["leads"] == out["leads"]
    with pytest.raises(BadRunInput, match="start a new thread for another campaign"):
        await graph.ainvoke({"agency_id": agency, "num_leads": 4, **campaign}, config)
    other = f"agency-{uuid.uuid4().hex[:10]}"
    with pytest.raises(BadRunInput, match="another agency's run"):
        await graph.ainvoke({"agency_id": other, "num_leads": 3, **campaign}, config)
    async with RunService.open() as runs:
        async with runs.db.reader() as repo:
            assert await repo.get_agency(other) is None
        assert (await runs.get(agency, run_id)).status == "completed"


async def test_bad_input_raises_before_anything_is_written(platform_env: str) -> None:
    agency = f"agency-{uuid.uuid4().hex[:10]}"
    graph = compile_platform_graph(InMemorySaver())
    config: Any = {"configurable": {"thread_id": str(uuid.uuid4())}}

    with pytest.raises(BadRunInput, match="number of leads must be a whole number from 1 to 20, got 21"):
        await graph.ainvoke({"agency_id": agency, "num_leads": 21, "target_vertical": "cafes"}, config)

    async with RunService.open() as runs:
        assert await runs.list_runs(agency) == []
        async with runs.db.reader() as repo:
            assert await repo.get_agency(agency) is None
