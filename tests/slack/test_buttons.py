"""Buttons through the real Bolt app: the paywall's Upgrade (one grant per pause, whoever
clicks how often) and Resume (also for a run started elsewhere, through RunService.resume and
the flow's lease), and Call (placed with credits; the paywall without)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from assistant.slack_blocks import CALL_LEAD, RESUME_RUN


def _actions(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]


async def _paused_flow(slack: Any, credits: int = 3, count: int = 3) -> str:
    """A run started through RunService (not Slack) that pauses for credits at its dossiers."""
    runs = slack.adapter.services.runs
    await runs.ensure_agency("acme")
    await runs.billing.set_balance("acme", credits)
    flow = await runs.start("acme", num_leads=count, vertical="dentists", geography="Austin, TX")
    outcome = await runs.execute("acme", flow.id)
    assert outcome.status == "paused_for_upgrade"
    return str(flow.id)


async def test_slack_run_pauses_shows_paywall_and_upgrade_grants_once_then_completes(
    slack: Any, channel: str
) -> None:
    runs = slack.adapter.services.runs
    await runs.ensure_agency("acme")
    await slack.link_admin("TALPHA", "UANA", "acme")  # upgrading is for admins
    await runs.billing.set_balance("acme", 3)  # 1 for the search, one dossier (2), then short
    assert (await slack.command("3 dentists in Austin, TX", channel=channel)).status_code == 200

    async def paywall() -> dict[str, Any] | None:
        found = [
            m
            for m in await slack.bot_messages(channel)
            if "paused: out of credits" in json.dumps(m["blocks"])
        ]
        return next((m for m in found if m.get("thread_ts")), None)

    wall = await slack.wait_for(paywall, timeout=120, what="the paywall in the run's thread")
    text = json.dumps(wall["blocks"])
    assert "generate_dossier" in text and "dossier_research" in text
    assert "Balance: *0*" in text and "required: *2*" in text and "short by: *2*" in text
    buttons = {e["action_id"]: e for e in _actions(wall)}
    assert set(buttons) == {"upgrade_starter", "upgrade_pro", "upgrade_agency", RESUME_RUN}
    flow = (await runs.list_runs("acme"))[0]
    assert flow.status == "paused_for_upgrade"

    # Two clicks on the same plan of the same paywall (a double click): one grant.
    starter = json.loads(buttons["upgrade_starter"]["value"])
    clicks = await asyncio.gather(
        *(slack.action("upgrade_starter", starter, channel=channel, message_ts=wall["ts"]) for _ in range(2))
    )
    assert [c.status_code for c in clicks] == [200, 200]

    async def completed() -> bool:
        return (await runs.get("acme", flow.id)).status == "completed"

    await slack.wait_for(completed, timeout=120, what="the run to resume by itself and complete")
    grants = [e for e in await runs.billing.history("acme") if e.idempotency_key.startswith("upgrade:")]
    assert [(g.kind, g.credits) for g in grants] == [("grant", 100)]
    # The web UI's key for the same pause and plan: a click there would grant nothing more.
    pause = str(flow.billing_block["created_at"]) if flow.billing_block else ""
    assert grants[0].idempotency_key == f"upgrade:acme:{flow.id}:{pause}:starter"

    async def edited_done() -> bool:
        top = [m for m in await slack.bot_messages(channel) if not m.get("thread_ts")]
        return len(top) == 1 and "completed" in top[0]["text"] and "Top leads" in json.dumps(top[0]["blocks"])

    await slack.wait_for(edited_done, timeout=30, what="the run message to show the leads")
    # The paywall lost its buttons once the run resumed.
    closed = next(m for m in await slack.bot_messages(channel) if m["ts"] == wall["ts"])
    assert _actions(closed) == []


async def test_resume_from_slack_of_a_run_started_elsewhere(slack: Any, channel: str) -> None:
    await slack.install("TALPHA", "acme")
    run_id = await _paused_flow(slack)
    runs = slack.adapter.services.runs

    # Still short: the click says so, nothing runs, the run stays paused.
    assert (await slack.action(RESUME_RUN, {"r": run_id}, channel=channel)).status_code == 200
    await slack.adapter.drain()
    said = [m["text"] for m in await slack.bot_messages(channel)]
    assert any("Still paused" in t and "short by 2" in t for t in said), said
    assert (await runs.get("acme", run_id)).status == "paused_for_upgrade"

    # The click also put a live message on the run, which shows the paywall once it has read the
    # (still short) balance. Grant only then: granting earlier raced that first read, and the
    # message resumed the run before any paywall was shown.
    async def paywall() -> bool:
        return any(
            e["action_id"] == RESUME_RUN for m in await slack.bot_messages(channel) for e in _actions(m)
        )

    await slack.wait_for(paywall, timeout=30, what="the paywall of the live message")

    # Credits arrive another way (the CLI's `credits grant`), then Resume in Slack: the click
    # resumes it, or the live message does first (it watches the balance); either says so.
    await runs.billing.grant("acme", 50, key="test-grant")
    assert (await slack.action(RESUME_RUN, {"r": run_id}, channel=channel)).status_code == 200

    async def completed() -> bool:
        return (await runs.get("acme", run_id)).status == "completed"

    await slack.wait_for(completed, timeout=120, what="the resumed run to complete")
    said = [m["text"] for m in await slack.bot_messages(channel)]
    assert any("resuming" in t for t in said), said

    async def live_message_done() -> bool:
        return any(
            "completed" in m["text"] and "Top leads" in json.dumps(m["blocks"])
            for m in await slack.bot_messages(channel)
        )

    await slack.wait_for(live_message_done, timeout=30, what="a live message for the resumed run")
    # No dossier charged twice: 1 (search) + 2 per dossier.
    ready = [o for o in await runs.opportunities("acme", run_id) if o.status == "READY"]
    charges = [e for e in await runs.billing.history("acme") if e.kind == "charge"]
    assert sum(c.credits for c in charges) == 1 + 2 * len(ready)
    assert len({c.idempotency_key for c in charges}) == len(charges)


async def test_resume_refused_while_another_holder_runs_it(slack: Any, channel: str) -> None:
    """Both faces go through RunService.resume and the flow's lease: while another process
    holds it, Slack's resume does not run the flow a second time."""
    await slack.install("TALPHA", "acme")
    run_id = await _paused_flow(slack)
    runs = slack.adapter.services.runs
    await runs.billing.grant("acme", 50, key="test-grant-2")
    async with runs.db.transaction() as repo:
        assert await repo.acquire_lease("acme", run_id, "elsewhere:1:web", 30)
    assert (await slack.action(RESUME_RUN, {"r": run_id}, channel=channel)).status_code == 200
    await slack.adapter.drain()
    assert await slack.adapter.background.wait(run_id) == "already_running"
    assert (await runs.get("acme", run_id)).status == "paused_for_upgrade"
    async with runs.db.transaction() as repo:
        assert await repo.release_lease("acme", run_id, "elsewhere:1:web")


async def test_call_button_places_a_call_or_shows_the_paywall(slack: Any, channel: str) -> None:
    await slack.install("TALPHA", "acme")
    await slack.link_admin("TALPHA", "UANA", "acme")  # upgrading is for admins
    runs = slack.adapter.services.runs
    flow = await runs.start("acme", num_leads=2, vertical="dentists", geography="Austin, TX")
    assert (await runs.execute("acme", flow.id)).status == "completed"
    opp = next(o for o in await runs.opportunities("acme", flow.id) if o.phone)
    vapi_before = len(slack.sandbox.requests("vapi"))

    assert (await slack.action(CALL_LEAD, {"o": opp.id}, channel=channel)).status_code == 200
    await slack.adapter.drain()
    said = [m["text"] for m in await slack.bot_messages(channel)]
    assert any("Calling" in t and opp.name in t for t in said), said
    assert len(slack.sandbox.requests("vapi")) > vapi_before
    async with runs.db.reader() as repo:
        calls = await repo.list_calls("acme")
    assert [(c.opportunity_id, c.user_id) for c in calls] == [(opp.id, "slack:TALPHA:UANA")]

    # Without credits: nothing dialled, the paywall with the plans instead.
    await runs.billing.set_balance("acme", 0)
    vapi_before = len(slack.sandbox.requests("vapi"))
    assert (await slack.action(CALL_LEAD, {"o": opp.id}, channel=channel)).status_code == 200
    await slack.adapter.drain()
    wall = [
        m
        for m in await slack.bot_messages(channel)
        if "Not enough credits to call" in json.dumps(m["blocks"])
    ]
    assert len(wall) == 1
    assert "short by: *1*" in json.dumps(wall[0]["blocks"])
    assert {e["action_id"] for e in _actions(wall[0])} == {"upgrade_starter", "upgrade_pro", "upgrade_agency"}
    assert len(slack.sandbox.requests("vapi")) == vapi_before

    # Its Upgrade grants (local ledger), once for that paywall.
    value = json.loads(_actions(wall[0])[0]["value"])
    for _ in range(2):
        assert (await slack.action("upgrade_starter", value, channel=channel)).status_code == 200
    await slack.adapter.drain()
    assert await runs.billing.balance("acme") == 100


async def test_a_call_left_live_by_a_restart_is_reported_where_it_was_asked_for(
    slack: Any, channel: str
) -> None:
    """The Slack process that placed a call stops before it ends; the next one follows it and
    posts its end in the channel where Call was pressed, once."""
    from graphs.call_follower import CallFollower

    await slack.install("TALPHA", "acme")
    runs = slack.adapter.services.runs
    flow = await runs.start("acme", num_leads=2, vertical="dentists", geography="Austin, TX")
    assert (await runs.execute("acme", flow.id)).status == "completed"
    opp = next(o for o in await runs.opportunities("acme", flow.id) if o.phone)

    assert (await slack.action(CALL_LEAD, {"o": opp.id}, channel=channel)).status_code == 200
    await slack.adapter.drain()
    await slack.adapter.services.follower.aclose()  # the process stops following: a restart
    async with runs.db.reader() as repo:
        (call,) = await repo.list_calls("acme")
    origin = call.metadata_["origin"]
    assert {k: origin[k] for k in ("face", "team_id", "channel", "lead_name")} == {
        "face": "slack",
        "team_id": "TALPHA",
        "channel": channel,
        "lead_name": opp.name,
    }

    restarted = CallFollower(slack.adapter.services.calls, poll_seconds=0.05)
    try:
        assert call.id in await restarted.recover(report_to=slack.adapter.recovered_call_reporter)
        await restarted.wait(call.id)
    finally:
        await restarted.aclose()
    reports = [m for m in await slack.bot_messages(channel) if "ended (" in m["text"]]
    assert len(reports) == 1 and reports[0]["text"].startswith(f"The call to {opp.name} ended")
    assert reports[0].get("thread_ts") == origin.get("thread_ts")  # the thread Call was pressed in
