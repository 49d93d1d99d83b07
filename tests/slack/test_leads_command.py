"""`/leads` through the real Bolt app in `leadgen serve`: a run is started, ONE message is posted
and edited to completion with the top leads; bad input is explained ephemerally with nothing
written; the run is the same run the CLI and the web UI's data show."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest
from typer.testing import CliRunner

from assistant.cli.app import app as cli_app


def _blocks_text(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks") or [])


def _run_id_of(message: dict[str, Any]) -> str | None:
    import re

    found = re.search(r"run id `([0-9a-f]{32})`", _blocks_text(message))
    return found.group(1) if found else None


async def test_leads_command_edits_one_message_to_completion(slack: Any, channel: str) -> None:
    response = await slack.command("3 dentists in Austin, TX", channel=channel)
    assert response.status_code == 200
    assert response.text == ""  # acked at once, nothing for the user to read

    async def completed() -> dict[str, Any] | None:
        messages = await slack.bot_messages(channel)
        top = [m for m in messages if not m.get("thread_ts")]
        done = [m for m in top if "completed" in m["text"]]
        return done[0] if done else None

    message = await slack.wait_for(completed, timeout=120, what="the run message to show completion")
    messages = await slack.bot_messages(channel)
    assert len([m for m in messages if not m.get("thread_ts")]) == 1, "exactly one channel message"
    assert message.get("edited"), "the message was edited, not re-posted"
    text = _blocks_text(message)
    assert "Top leads" in text and "score" in text
    assert '"action_id": "open_dossier"' in text
    updates = await slack.requests("chat.update", channel)
    assert len(updates) >= 2, "edited as phases advanced, not only at the end"
    # Throttled: never two edits of the message closer than MIN_EDIT_SECONDS (0.3 s in tests).
    from assistant.slack_app import RunWatcher

    times = sorted(u["at"] for u in updates)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= RunWatcher.MIN_EDIT_SECONDS - 0.05, gaps

    # The same run, same status, in the web UI's data (RunService) and the CLI.
    run_id = _run_id_of(message)
    assert run_id is not None
    runs = slack.adapter.services.runs
    listed = {f.id: f.status for f in await runs.list_runs("acme")}
    assert listed == {run_id: "completed"}
    flow = await runs.get("acme", run_id)
    assert flow.user_id == "slack:TALPHA:UANA"
    result = await asyncio.to_thread(
        CliRunner().invoke, cli_app, ["status", run_id, "--json", "--agency", "acme"]
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["id"] == run_id and shown["status"] == "completed"
    assert shown["counts"]["opportunities"] == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "tell me what to find and where"),
        ("help", "tell me what to find and where"),
        ("0 dentists in Austin, TX", "out of range"),
        ("25 dentists in Austin, TX", "out of range"),
        ("-3 dentists in Austin, TX", "is not a whole number"),
        ("1.5 dentists in Austin, TX", "is not a whole number"),
        ("10 dentists", "needs a place"),
        ("10 dentists in ", "needs a place"),
        ("10 " + "d" * 250 + " in Austin, TX", "at most 200"),
        ("5 dent\u0007ists in Austin, TX", "control character"),
    ],
)
async def test_bad_input_is_explained_ephemerally_and_writes_nothing(
    slack: Any, channel: str, text: str, expected: str
) -> None:
    response = await slack.command(text, channel=channel)
    assert response.status_code == 200
    # A plain-text ack is shown to the invoking user only (an ephemeral answer).
    assert expected in response.text, response.text
    assert "Nothing was started" in response.text and "/leads" in response.text
    await slack.adapter.drain()
    assert await slack.bot_messages(channel) == []
    async with slack.adapter.services.database.reader() as repo:
        assert await repo.list_flows("acme") == []
        assert await repo.get_slack_install("TALPHA") is None  # not even the workspace claim


async def test_count_defaults_to_ten_and_geography_after_the_last_in(slack: Any) -> None:
    from assistant.slack_app import parse_leads_command

    parsed = parse_leads_command("  coffee shops in Brooklyn   in New York, NY ")
    assert (parsed.num_leads, parsed.vertical, parsed.geography) == (
        10,
        "coffee shops in Brooklyn",
        "New York, NY",
    )
    parsed = parse_leads_command("3D printers in Austin, TX")
    assert (parsed.num_leads, parsed.vertical) == (10, "3D printers")
    assert parse_leads_command("20 plumbers in Denver, CO").num_leads == 20


async def test_leads_in_a_channel_the_bot_is_not_in_answers_through_the_response_url(slack: Any) -> None:
    """Slack refuses the bot's posts there (`not_in_channel`), ephemeral ones too: the user is
    answered through the command's `response_url`, and no run is started."""
    import uuid

    channel = "C" + uuid.uuid4().hex[:10].upper()
    await slack.create_channel(channel, bot_member=False)
    response = await slack.command("3 dentists in Austin, TX", channel=channel)
    assert response.status_code == 200 and response.text == ""

    async def answered() -> list[dict[str, Any]]:
        return [m for m in await slack.messages(channel) if m.get("via") == "response_url"]

    (answer,) = await slack.wait_for(answered, timeout=30, what="the answer through the response URL")
    assert answer["ephemeral_user"] == "UANA" and "/invite @Atlas" in answer["text"]
    assert "Nothing was started" in answer["text"]
    posts = await slack.requests("chat.postMessage", channel)
    assert posts and all(p["status"] == 200 for p in posts)  # tried, refused with ok:false
    assert [m for m in await slack.messages(channel) if m.get("via") != "response_url"] == []
    await slack.adapter.drain()
    async with slack.adapter.services.database.reader() as repo:
        assert await repo.list_flows("acme") == []


async def test_a_second_run_of_a_campaign_says_it_reused_dossiers(slack: Any, channel: str) -> None:
    async def completed(count: int) -> list[dict[str, Any]] | None:
        top = [m for m in await slack.bot_messages(channel) if not m.get("thread_ts")]
        done = [m for m in top if "completed" in m["text"]]
        return done if len(done) >= count else None

    for count in (1, 2):
        assert (await slack.command("3 dentists in Austin, TX", channel=channel)).status_code == 200
        done = await slack.wait_for(
            lambda c=count: completed(c), timeout=120, what=f"run {count} to complete"
        )
    newest, oldest = [f.id for f in await slack.adapter.services.runs.list_runs("acme")][:2]
    by_run = {_run_id_of(m): _blocks_text(m) for m in done}
    assert "reused a recent dossier" in by_run[newest] and "(reused dossier)" in by_run[newest]
    assert "reused" not in by_run[oldest]  # the first run researched its leads itself
