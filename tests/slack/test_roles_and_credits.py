"""Slack in production, through the real Bolt app: credits are the operator's budget, Slack users
are members unless linked to an admin, and workspaces do not connect themselves.

* Local ledger, no self-service: the paywall has no Upgrade buttons and says to ask the
  administrator; a forged Upgrade click gets an ephemeral refusal and grants nothing.
* LEADGEN_SELF_SERVE_CREDITS=true: the paywall says credits are free; a member's click is
  refused; a linked admin's double click grants once, with the web chat's key for that pause.
* An unknown workspace writing to the bot is not connected (no first-contact claim).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from assistant.slack_blocks import CONFIRM_RUN, RESUME_RUN
from leadgen.settings import reset_settings


@pytest.fixture
def production(slack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """LEADGEN_ENV=production for the `slack` app (request it before `slack`)."""
    monkeypatch.setenv("LEADGEN_ENV", "production")
    reset_settings()
    yield


@pytest.fixture
def self_serve(production: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LEADGEN_SELF_SERVE_CREDITS", "true")
    reset_settings()
    yield


def _actions(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]


async def _paywall(slack: Any, channel: str) -> dict[str, Any]:
    """Start a run with `/leads` that pauses at its dossiers; its paywall message."""
    runs = slack.adapter.services.runs
    await runs.ensure_agency("acme")
    await runs.billing.set_balance("acme", 3)
    assert (await slack.command("3 dentists in Austin, TX", channel=channel)).status_code == 200

    async def posted() -> dict[str, Any] | None:
        return next(
            (
                m
                for m in await slack.bot_messages(channel)
                if m.get("thread_ts") and "paused: out of credits" in json.dumps(m["blocks"])
            ),
            None,
        )

    wall: dict[str, Any] = await slack.wait_for(posted, timeout=120, what="the paywall")
    return wall


async def _upgrade_entries(slack: Any) -> list[tuple[str, int, str]]:
    history = await slack.adapter.services.runs.billing.history("acme")
    return [
        (e.kind, e.credits, e.idempotency_key) for e in history if e.idempotency_key.startswith("upgrade:")
    ]


async def _told(slack: Any, channel: str, user: str) -> list[str]:
    return [
        r["body"]["text"]
        for r in await slack.requests("chat.postEphemeral", channel)
        if r["body"]["user"] == user
    ]


async def test_production_paywall_has_no_upgrade_and_a_click_grants_nothing(
    production: None, slack: Any, channel: str
) -> None:
    await slack.install("TALPHA", "acme")
    await slack.link_admin("TALPHA", "UANA", "acme")  # even an admin cannot grant here
    wall = await _paywall(slack, channel)
    text = json.dumps(wall["blocks"])
    assert "Credits are added by your administrator" in text and "leadgen credits grant" in text
    assert "Plans:" not in text
    assert [e["action_id"] for e in _actions(wall)] == [RESUME_RUN]
    runs = slack.adapter.services.runs
    flow = (await runs.list_runs("acme"))[0]
    balance = await runs.billing.balance("acme")

    forged = {"r": flow.id, "k": str((flow.billing_block or {}).get("created_at")), "p": "agency"}
    for user in ("UANA", "UMAX"):
        response = await slack.action(
            "upgrade_agency", forged, channel=channel, user=user, message_ts=wall["ts"]
        )
        assert response.status_code == 200
    await slack.adapter.drain()
    for user in ("UANA", "UMAX"):
        told = await _told(slack, channel, user)
        assert any("was not applied" in t and "administrator" in t for t in told), told
    assert await _upgrade_entries(slack) == []
    assert await runs.billing.balance("acme") == balance
    assert (await runs.get("acme", flow.id)).status == "paused_for_upgrade"


async def test_self_serve_grants_once_for_a_linked_admin_and_refuses_members(
    self_serve: None, slack: Any, channel: str
) -> None:
    await slack.install("TALPHA", "acme")
    await slack.link_admin("TALPHA", "UANA", "acme")
    wall = await _paywall(slack, channel)
    assert "Credits are free on this installation" in json.dumps(wall["blocks"])
    buttons = {e["action_id"]: e for e in _actions(wall)}
    assert set(buttons) == {"upgrade_starter", "upgrade_pro", "upgrade_agency", RESUME_RUN}
    starter = json.loads(buttons["upgrade_starter"]["value"])
    runs = slack.adapter.services.runs

    # A member (an unlinked Slack user) clicks: an ephemeral refusal, nothing granted.
    response = await slack.action(
        "upgrade_starter", starter, channel=channel, user="UMAX", message_ts=wall["ts"]
    )
    assert response.status_code == 200
    await slack.adapter.drain()
    assert any("Only an admin of your agency can upgrade" in t for t in await _told(slack, channel, "UMAX"))
    assert await _upgrade_entries(slack) == []

    # The linked admin double-clicks: one grant, under the key the web chat uses for this pause.
    for _ in range(2):
        response = await slack.action(
            "upgrade_starter", starter, channel=channel, user="UANA", message_ts=wall["ts"]
        )
        assert response.status_code == 200
    await slack.adapter.drain()
    flow = (await runs.list_runs("acme"))[0]
    assert await _upgrade_entries(slack) == [("grant", 100, f"upgrade:acme:{flow.id}:{starter['k']}:starter")]

    async def completed() -> bool:
        return (await runs.get("acme", flow.id)).status == "completed"

    await slack.wait_for(completed, timeout=120, what="the run to resume by itself and complete")
    assert len(await _upgrade_entries(slack)) == 1


async def test_in_production_an_unknown_workspace_does_not_connect_itself(
    production: None, slack: Any, channel: str
) -> None:
    response = await slack.command("3 dentists in Austin, TX", channel=channel, team="TSTRANGER")
    assert response.status_code == 200 and "not connected" in response.text
    async with slack.adapter.services.database.reader() as repo:
        assert await repo.get_slack_install("TSTRANGER") is None
        assert await repo.list_flows("acme") == []

    # Connected by the operator, the same command runs.
    await slack.install("TSTRANGER", "acme")
    response = await slack.command("1 dentists in Austin, TX", channel=channel, team="TSTRANGER")
    assert response.status_code == 200 and "not connected" not in response.text
    await slack.adapter.drain()
    async with slack.adapter.services.database.reader() as repo:
        assert len(await repo.list_flows("acme")) == 1


async def test_production_call_paywall_has_no_upgrade_buttons(
    production: None, slack: Any, channel: str
) -> None:
    from assistant.slack_blocks import CALL_LEAD

    await slack.install("TALPHA", "acme")
    runs = slack.adapter.services.runs
    flow = await runs.start("acme", num_leads=2, vertical="dentists", geography="Austin, TX")
    assert (await runs.execute("acme", flow.id)).status == "completed"
    opp = next(o for o in await runs.opportunities("acme", flow.id) if o.phone)
    await runs.billing.set_balance("acme", 0)

    assert (await slack.action(CALL_LEAD, {"o": opp.id}, channel=channel)).status_code == 200
    await slack.adapter.drain()
    wall = [
        m
        for m in await slack.bot_messages(channel)
        if "Not enough credits to call" in json.dumps(m["blocks"])
    ]
    assert len(wall) == 1
    assert "Credits are added by your administrator" in json.dumps(wall[0]["blocks"])
    assert _actions(wall[0]) == []
    assert await _upgrade_entries(slack) == []


async def test_the_agent_prepares_free_upgrades_and_large_runs_and_a_click_applies_them_once(
    self_serve: None, slack: Any, channel: str
) -> None:
    await slack.install("TALPHA", "acme")
    await slack.link_admin("TALPHA", "UANA", "acme")
    runs = slack.adapter.services.runs
    await runs.ensure_agency("acme")

    async def ask(text: str) -> dict[str, Any]:
        ts = await slack.user_message(channel, f"<@U0BOT> {text}")
        event = {
            "type": "app_mention",
            "user": "UANA",
            "text": f"<@U0BOT> {text}",
            "ts": ts,
            "channel": channel,
        }
        assert (await slack.event(event)).status_code == 200

        async def with_button() -> dict[str, Any] | None:
            return next(
                (m for m in await slack.bot_messages(channel) if m.get("thread_ts") == ts and _actions(m)),
                None,
            )

        return await slack.wait_for(with_button, timeout=60, what=f"a button answering {text!r}")

    # "upgrade to pro": a button, nothing granted until the admin clicks; a double click grants once.
    offer = await ask("upgrade to pro")
    [button] = _actions(offer)
    assert button["action_id"] == "upgrade_pro" and "Nothing has been added yet" in offer["text"]
    assert await _upgrade_entries(slack) == []
    value = json.loads(button["value"])
    for _ in range(2):
        assert (
            await slack.action("upgrade_pro", value, channel=channel, message_ts=offer["ts"])
        ).status_code == 200
    await slack.adapter.drain()
    assert await _upgrade_entries(slack) == [("grant", 500, f"upgrade:acme:tool:{value['t']}:pro")]

    # "find 12 ...": a Start button; nothing runs before it, and two clicks start one run.
    prepared = await ask("find 12 dentists in Austin, TX")
    [start] = _actions(prepared)
    assert start["action_id"] == CONFIRM_RUN and "up to 25 credits" in prepared["text"]
    assert await runs.list_runs("acme") == []
    value = json.loads(start["value"])
    for _ in range(2):
        assert (
            await slack.action(CONFIRM_RUN, value, channel=channel, message_ts=prepared["ts"])
        ).status_code == 200
    await slack.adapter.drain()
    assert [(f.id, f.num_leads_requested) for f in await runs.list_runs("acme")] == [(value["r"], 12)]
    assert any("already started" in t for t in await _told(slack, channel, "UANA"))
