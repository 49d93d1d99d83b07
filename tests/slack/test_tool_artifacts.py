"""The Slack face draws a chat turn from the tools' typed artifacts alone: the turn below carries
no tool output at all (`tool_results` empty), and what is posted comes from the artifacts; an
artifact with nothing to draw (a refusal, a finished run's status) posts nothing."""

from __future__ import annotations

import json
from typing import Any

from assistant.agent import AgentTurn
from assistant.chat_tools.artifacts import RunNeedsConfirmation, RunStatusShown, ToolRefused
from assistant.slack_app import Place
from assistant.slack_blocks import CONFIRM_RUN
from db.base import new_id


async def test_a_turn_is_drawn_from_its_artifacts(slack: Any, channel: str) -> None:
    adapter = slack.adapter
    ws = await adapter.workspace("TALPHA")
    assert ws is not None
    prepared = RunNeedsConfirmation(
        run_id=new_id(),
        num_leads=12,
        vertical="dentists",
        geography="Austin, TX",
        refresh=False,
        max_credits=25,
        balance=100,
        message="Ready to find 12 dentists in Austin, TX. Nothing starts until you press Start the run.",
    )
    turn = AgentTurn(
        text="",
        tool_results=[],
        artifacts=[
            ToolRefused("bad_count", "a run finds between 1 and 20 leads"),
            RunStatusShown(new_id(), "completed"),
            prepared,
        ],
    )
    await adapter.render_turn(ws, Place(channel), "UANA", turn)

    [posted] = await slack.bot_messages(channel)
    assert posted["text"] == prepared.message
    [button] = [e for b in posted["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert button["action_id"] == CONFIRM_RUN
    assert json.loads(button["value"]) == {
        "r": prepared.run_id,
        "n": 12,
        "v": "dentists",
        "g": "Austin, TX",
        "f": False,
    }

    # The button starts the run the artifact prepared, under its id.
    response = await slack.action(
        CONFIRM_RUN, json.loads(button["value"]), channel=channel, message_ts=posted["ts"]
    )
    assert response.status_code == 200
    await adapter.drain()
    flows = await adapter.services.runs.list_runs(ws.agency_id)
    assert [(f.id, f.num_leads_requested, f.target_vertical) for f in flows] == [
        (prepared.run_id, 12, "dentists")
    ]
