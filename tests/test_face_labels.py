"""One label table: the web chat, Slack and the terminal word a run's status the same way
(graphs/wording.py), for every status the run table can hold; they used to drift ("queued" /
"not started", "paused: out of credits" / "paused for credits", "done" / "completed")."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from db.statuses import FlowStatus
from graphs.run_snapshot import RunCounts, RunSnapshot
from graphs.wording import RUN_STATUS_LABELS, run_status_label

PHASES = ("source", "filter_rank", "persist_leads", "scrape_content", "generate_dossier", "finalize_rank")


def a_run(status: FlowStatus) -> RunSnapshot:
    run: dict[str, Any] = {
        "id": "0f1e2d3c-aaaa-bbbb-cccc-000000000001",
        "agency_id": "acme",
        "status": status.value,
        "num_leads_requested": 5,
        "num_leads_fetched": 7,
        "campaign": {"target_vertical": "dentists", "target_geography": "Austin, TX"},
        "phases": [
            {"name": name, "status": "pending", "progress": 0.0, "started_at": None, "completed_at": None}
            for name in PHASES
        ],
        "progress": 0.0,
        "last_event": None,
        "billing_block": None,
        "counts": dict.fromkeys(RunCounts.__dataclass_fields__, 0),
        "error": None,
        "created_at": None,
        "completed_at": None,
    }
    return RunSnapshot.from_json(run)


@pytest.mark.parametrize("status", list(FlowStatus))
def test_every_face_words_a_run_status_from_the_one_table(status: FlowStatus) -> None:
    from assistant import slack_blocks
    from assistant.chainlit_views import progress_markdown
    from assistant.cli.run_views import run_header

    snap = a_run(status)
    label = run_status_label(status)
    assert label == RUN_STATUS_LABELS[status]
    assert f"**{label}**" in progress_markdown(snap)
    assert f": {label}, 0%" in slack_blocks.run_text(snap)
    assert f"*{label}*" in slack_blocks.run_blocks(snap)[0]["text"]["text"]
    terminal = Console(file=io.StringIO(), width=200, color_system=None)
    terminal.print(run_header(snap.run))
    assert f"Run {snap.id} {label} ·" in terminal.file.getvalue()  # type: ignore[attr-defined]


def test_the_drifted_words_are_gone() -> None:
    assert run_status_label(FlowStatus.IDLE) == "queued"
    assert run_status_label(FlowStatus.PAUSED_FOR_UPGRADE) == "paused: out of credits"
    assert run_status_label(FlowStatus.COMPLETED) == "completed"
