"""Request signing (bad or stale -> 401, nothing done), Slack's url_verification, and tenancy:
workspaces map to agencies, unknown teams are refused once one is installed, forged button
values never reach another agency's data."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from assistant.slack_blocks import CALL_LEAD, OPEN_DOSSIER, RESUME_RUN


async def _nothing_done(slack: Any, channel: str) -> None:
    await slack.adapter.drain()
    assert await slack.bot_messages(channel) == []
    async with slack.adapter.services.database.reader() as repo:
        assert await repo.list_flows("acme") == []
        assert await repo.get_slack_install("TALPHA") is None


@pytest.mark.parametrize(
    ("secret", "age"),
    [
        ("not-the-secret", 0),
        (None, 301),  # stale: the replay window is 5 minutes
        (None, -400),  # from the future
    ],
    ids=["wrong-secret", "stale", "future"],
)
async def test_bad_or_stale_signature_is_401_and_does_nothing(
    slack: Any, channel: str, secret: str | None, age: int
) -> None:
    # The timestamp is taken now, not at collection: a long session would otherwise age it.
    signing: dict[str, Any] = {"timestamp": int(time.time()) - age}
    if secret is not None:
        signing["secret"] = secret
    response = await slack.command("3 dentists in Austin, TX", channel=channel, **signing)
    assert response.status_code == 401
    event = {
        "type": "app_mention",
        "user": "UANA",
        "text": "<@U0BOT> find 3 dentists in Austin, TX",
        "ts": "1700000001.000100",
        "channel": channel,
    }
    response = await slack.event(event, **signing)
    assert response.status_code == 401
    response = await slack.action(RESUME_RUN, {"r": "x" * 32}, channel=channel, **signing)
    assert response.status_code == 401
    await _nothing_done(slack, channel)


async def test_unsigned_or_tampered_body_is_401(slack: Any, channel: str) -> None:
    body = (
        b"team_id=TALPHA&channel_id="
        + channel.encode()
        + b"&user_id=U1&command=%2Fleads&text=3+dentists+in+Austin"
    )
    response = await slack.http.post(
        "/slack/events", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 401
    await _nothing_done(slack, channel)


async def test_url_verification_answers_the_challenge(slack: Any) -> None:
    body = json.dumps({"token": "legacy", "challenge": "c-123", "type": "url_verification"}).encode()
    response = await slack.post(body, "application/json")
    assert response.status_code == 200
    assert response.json() == {"challenge": "c-123"}


async def test_first_unknown_team_takes_the_default_agency_then_others_are_refused(
    slack: Any, channel: str
) -> None:
    response = await slack.command("2 dentists in Austin, TX", channel=channel, team="TFIRST")
    assert response.status_code == 200 and response.text == ""
    async with slack.adapter.services.database.reader() as repo:
        install = await repo.get_slack_install("TFIRST")
    assert install is not None and install.agency_id == "acme" and install.source == "claimed"

    other = "C" + channel[1:][::-1]
    response = await slack.command("2 dentists in Austin, TX", channel=other, team="TSECOND")
    assert response.status_code == 200
    assert "not connected to an Atlas agency" in response.text
    await slack.adapter.drain()
    assert await slack.bot_messages(other) == []
    async with slack.adapter.services.database.reader() as repo:
        assert await repo.get_slack_install("TSECOND") is None
        flows = await repo.list_flows("acme")
    assert len(flows) == 1  # only TFIRST's run


async def _completed_run(slack: Any, agency: str, count: int = 2) -> str:
    runs = slack.adapter.services.runs
    flow = await runs.start(agency, num_leads=count, vertical="dentists", geography="Austin, TX")
    outcome = await runs.execute(agency, flow.id)
    assert outcome.status == "completed"
    return str(flow.id)


async def test_team_b_cannot_reach_team_a_data_with_forged_button_values(slack: Any, channel: str) -> None:
    await slack.install("TALPHA", "acme")
    await slack.install("TBETA", "beta")
    run_id = await _completed_run(slack, "acme")
    runs = slack.adapter.services.runs
    opp = next(o for o in await runs.opportunities("acme", run_id) if o.phone)
    vapi_before = len(slack.sandbox.requests("vapi"))
    views_before = len(await slack.requests("views.open"))

    for action_id, value in (
        (OPEN_DOSSIER, {"o": opp.id}),
        (CALL_LEAD, {"o": opp.id}),
        (RESUME_RUN, {"r": run_id}),
        ("upgrade_pro", {"r": run_id, "k": "pause", "p": "pro"}),
        (OPEN_DOSSIER, "not json at all"),
    ):
        response = await slack.action(action_id, value, channel=channel, team="TBETA", user="UBOB")
        assert response.status_code == 200
    await slack.adapter.drain()

    told = [r["body"] for r in await slack.requests("chat.postEphemeral", channel)]
    assert [t["user"] for t in told] == ["UBOB"] * 5
    assert all("not available" in t["text"] for t in told), told
    assert len(await slack.requests("views.open")) == views_before
    assert len(slack.sandbox.requests("vapi")) == vapi_before
    assert [m for m in await slack.bot_messages(channel) if "ephemeral_user" not in m] == []
    async with slack.adapter.services.database.reader() as repo:
        assert await repo.list_flows("beta") == []
    assert await runs.billing.balance("beta") == 0  # no plan granted through a foreign run

    # The owner's click on the same button opens the dossier (a modal).
    response = await slack.action(OPEN_DOSSIER, {"o": opp.id}, channel=channel, team="TALPHA")
    assert response.status_code == 200
    await slack.adapter.drain()
    opened = (await slack.requests("views.open"))[views_before:]
    assert len(opened) == 1
    view = opened[0]["body"]["view"]
    view = json.loads(view) if isinstance(view, str) else view
    dossier = await runs.dossier_for_opportunity("acme", opp.id)
    assert dossier is not None
    assert view["type"] == "modal" and opp.name in json.dumps(view)
    assert dossier.summary.split("(")[0].strip()[:40] in json.dumps(view, ensure_ascii=False)
