"""Mentions and direct messages go to the chat agent; a Slack thread is one conversation,
answered in the thread; a redelivered event (same event_id, X-Slack-Retry-Num) runs once."""

from __future__ import annotations

import asyncio
import json
from typing import Any


def _mention(channel: str, text: str, ts: str, thread_ts: str | None = None) -> dict[str, Any]:
    event = {"type": "app_mention", "user": "UANA", "text": f"<@U0BOT> {text}", "ts": ts, "channel": channel}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def _bot_replies(messages: list[dict[str, Any]], thread: str) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("thread_ts") == thread and m["text"] and "<@U0BOT>" not in m["text"]]


async def test_mention_is_answered_in_its_thread_by_the_agent(slack: Any, channel: str) -> None:
    ts = await slack.user_message(channel, "<@U0BOT> how many credits do I have?")
    response = await slack.event(_mention(channel, "how many credits do I have?", ts))
    assert response.status_code == 200
    await slack.adapter.drain()
    replies = _bot_replies(await slack.bot_messages(channel), ts)
    assert len(replies) == 1
    assert "100" in replies[0]["text"] and "(sandbox model)" in replies[0]["text"]

    # The same thread is the same conversation: the agent's checkpoint holds both turns.
    reply_ts = await slack.user_message(channel, "<@U0BOT> what is my balance?", thread_ts=ts)
    response = await slack.event(_mention(channel, "what is my balance?", reply_ts, thread_ts=ts))
    assert response.status_code == 200
    await slack.adapter.drain()
    agent = slack.adapter.services.agent
    state = await agent.graph.aget_state(agent.config(f"slack:TALPHA:{channel}:{ts}"))
    humans = [m.content for m in state.values["messages"] if m.type == "human"]
    assert humans == ["how many credits do I have?", "what is my balance?"]  # the mention is stripped
    assert len(_bot_replies(await slack.bot_messages(channel), ts)) == 2


async def test_a_redelivered_event_is_processed_once(slack: Any, channel: str) -> None:
    ts = await slack.user_message(channel, "<@U0BOT> how many credits do I have?")
    event = _mention(channel, "how many credits do I have?", ts)
    first = await slack.event(event, event_id="EvRETRY0001")
    # Slack retries when it thinks we were slow: same event_id, with X-Slack-Retry-Num.
    retries = await asyncio.gather(
        slack.event(event, event_id="EvRETRY0001", retry_num=1),
        slack.event(event, event_id="EvRETRY0001", retry_num=2),
    )
    assert [r.status_code for r in (first, *retries)] == [200, 200, 200]
    await slack.adapter.drain()
    assert len(_bot_replies(await slack.bot_messages(channel), ts)) == 1
    # The model was asked once: one request whose last message is the person's (the request log
    # holds this test's requests only; an agent turn may go on with tool results after it).
    asked = [
        body["messages"][-1]["content"]
        for r in slack.sandbox.requests("openai")
        if isinstance(body := r.get("body"), dict) and body.get("messages", [{}])[-1].get("role") == "user"
    ]
    assert len(asked) == 1 and "how many credits" in json.dumps(asked), asked
    async with slack.adapter.services.database.reader() as repo:
        from sqlalchemy import select

        from db.models import WebhookInbox

        rows = (
            (await repo.session.execute(select(WebhookInbox).where(WebhookInbox.provider == "slack")))
            .scalars()
            .all()
        )
    assert [(r.event_id, r.status, r.event_type) for r in rows] == [
        ("EvRETRY0001", "processed", "app_mention")
    ]


async def test_mention_that_starts_a_run_gets_a_live_run_message_in_the_thread(
    slack: Any, channel: str
) -> None:
    ts = await slack.user_message(channel, "<@U0BOT> find 2 dentists in Austin, TX")
    response = await slack.event(_mention(channel, "find 2 dentists in Austin, TX", ts))
    assert response.status_code == 200

    async def finished() -> list[dict[str, Any]]:
        return [
            m
            for m in await slack.bot_messages(channel)
            if m.get("thread_ts") == ts and "completed" in m["text"]
        ]

    done = await slack.wait_for(finished, timeout=120, what="the run message in the thread to complete")
    assert "Top leads" in json.dumps(done[0]["blocks"])
    flows = await slack.adapter.services.runs.list_runs("acme")
    assert [(f.status, f.num_leads_requested, f.user_id) for f in flows] == [
        ("completed", 2, "slack:TALPHA:UANA")
    ]


async def test_direct_messages_go_to_the_agent_and_bot_messages_are_ignored(slack: Any, channel: str) -> None:
    dm = "D" + channel[1:]
    await slack.create_channel(dm, im=True)  # the person's DM with the bot
    event = {
        "type": "message",
        "channel_type": "im",
        "user": "UANA",
        "text": "how many credits do I have?",
        "ts": "1700000400.000100",
        "channel": dm,
    }
    assert (await slack.event(event)).status_code == 200
    # Our own posts come back as message events with a bot id; edits carry a subtype.
    assert (await slack.event({**event, "ts": "1700000401.000100", "bot_id": "B0BOT"})).status_code == 200
    assert (
        await slack.event({**event, "ts": "1700000402.000100", "subtype": "message_changed"})
    ).status_code == 200
    # A channel message that is not a mention is not for us.
    assert (
        await slack.event({**event, "ts": "1700000403.000100", "channel_type": "channel"})
    ).status_code == 200
    await slack.adapter.drain()
    answers = await slack.bot_messages(dm)
    assert len(answers) == 1
    assert answers[0].get("thread_ts") is None  # a DM is answered in the DM itself
    assert "(sandbox model)" in answers[0]["text"]
