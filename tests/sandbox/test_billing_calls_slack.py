"""Autumn, Vapi and Slack emulators over real HTTP (and slack_sdk unchanged)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import threading
import uuid
from typing import Any

import httpx
import pytest
import uvicorn
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tools.sandbox.server import start_sandbox

AUTUMN = {"Authorization": "Bearer am_sk_test_x", "X-Api-Version": "1.2.0"}

# One client per module: building a client (and its TLS context) per request is slow.
HTTP = httpx.Client(timeout=10)


def _customer(url: str) -> str:
    customer_id = f"cus_{uuid.uuid4().hex[:8]}"
    created = HTTP.post(
        f"{url}/autumn/v1/customers", json={"id": customer_id, "name": "Acme"}, headers=AUTUMN
    )
    assert created.status_code == 200
    return customer_id


def test_autumn_check_track_and_idempotency(sandbox_url: str) -> None:
    customer = _customer(sandbox_url)
    HTTP.post(f"{sandbox_url}/_sandbox/autumn/balance", json={"customer_id": customer, "balance": 3})
    check = HTTP.post(
        f"{sandbox_url}/autumn/v1/check",
        json={"customer_id": customer, "feature_id": "dossier_research", "required_balance": 1},
        headers=AUTUMN,
    ).json()
    assert check["allowed"] is True and check["required_balance"] == 2 and check["balance"] == 3
    body = {
        "customer_id": customer,
        "feature_id": "dossier_research",
        "value": 1,
        "idempotency_key": "audit:1",
    }
    assert HTTP.post(f"{sandbox_url}/autumn/v1/track", json=body, headers=AUTUMN).status_code == 200
    duplicate = HTTP.post(f"{sandbox_url}/autumn/v1/track", json=body, headers=AUTUMN)
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "duplicate_idempotency_key"
    # Beyond the balance: `reject` refuses the whole charge...
    again = {**body, "idempotency_key": "audit:2", "overage_behavior": "reject"}
    short = HTTP.post(f"{sandbox_url}/autumn/v1/track", json=again, headers=AUTUMN)
    assert short.status_code == 400 and short.json()["code"] == "insufficient_balance"
    state = HTTP.get(f"{sandbox_url}/autumn/v1/customers/{customer}", headers=AUTUMN).json()
    assert state["features"]["atlas_credits"]["balance"] == 1
    # ...while Autumn's default, `cap`, answers 200 and takes only what fits.
    capped = HTTP.post(
        f"{sandbox_url}/autumn/v1/track", json={**body, "idempotency_key": "audit:3"}, headers=AUTUMN
    )
    assert capped.status_code == 200
    state = HTTP.get(f"{sandbox_url}/autumn/v1/customers/{customer}", headers=AUTUMN).json()
    assert state["features"]["atlas_credits"]["balance"] == 0
    blocked = HTTP.post(
        f"{sandbox_url}/autumn/v1/check",
        json={"customer_id": customer, "feature_id": "dossier_research", "with_preview": True},
        headers=AUTUMN,
    ).json()
    assert blocked["allowed"] is False and blocked["preview"]["upgrade_product_id"] == "pro"
    unknown = HTTP.post(
        f"{sandbox_url}/autumn/v1/check",
        json={"customer_id": "cus_nobody", "feature_id": "x"},
        headers=AUTUMN,
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "customer_not_found"


def test_autumn_attach_checkout_grants_credits_once(sandbox_url: str) -> None:
    customer = _customer(sandbox_url)
    HTTP.post(f"{sandbox_url}/_sandbox/autumn/balance", json={"customer_id": customer, "balance": 0})
    attach = HTTP.post(
        f"{sandbox_url}/autumn/v1/attach", json={"customer_id": customer, "product_id": "pro"}, headers=AUTUMN
    ).json()
    assert attach["code"] == "checkout_created"
    assert HTTP.get(attach["checkout_url"]).status_code == 200
    HTTP.post(attach["checkout_url"])  # a second visit grants nothing more
    state = HTTP.get(f"{sandbox_url}/autumn/v1/customers/{customer}", headers=AUTUMN).json()
    assert state["features"]["atlas_credits"]["balance"] == 200
    assert [p["id"] for p in state["products"]] == ["pro"]


class Receiver:
    """A tiny local webhook server collecting what it is sent."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []

        async def hook(request: Request) -> JSONResponse:
            self.received.append((dict(request.headers), await request.body()))
            return JSONResponse({"ok": True})

        self.app = Starlette(routes=[Route("/webhooks/vapi", hook, methods=["POST"])])


@pytest.fixture
def receiver() -> Any:
    """A local webhook receiver on its own thread."""
    target = Receiver()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    uv = uvicorn.Server(uvicorn.Config(target.app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(uv.serve(sockets=[sock])), daemon=True)
    thread.start()
    while not uv.started:
        threading.Event().wait(0.01)
    target.url = f"http://127.0.0.1:{sock.getsockname()[1]}/webhooks/vapi"  # type: ignore[attr-defined]
    yield target
    uv.should_exit = True
    thread.join(5)


async def _wait_for(predicate: Any, seconds: float = 30) -> None:  # a deadline, not an expectation
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out waiting")


async def test_vapi_call_lifecycle_and_hmac_webhook(sandbox_config: Any, receiver: Any) -> None:
    sandbox_config.configure(
        vapi_webhook_auth="hmac", vapi_webhook_secret="s3cret", vapi_server_url=receiver.url
    )
    async with httpx.AsyncClient(
        base_url=sandbox_config.url, headers={"Authorization": "Bearer vapi-x"}
    ) as c:
        created = await c.post(
            "/vapi/call",
            json={
                "assistantId": "asst-1",
                "phoneNumberId": "pn-1",
                "customer": {"number": "+15125550123", "name": "Acme Plumbing"},
                "assistantOverrides": {
                    "variableValues": {"sandbox_call_seconds": 95, "sandbox_book_meeting": True}
                },
            },
        )
        assert created.status_code == 201 and created.json()["status"] == "queued"
        call_id = created.json()["id"]
        await _wait_for(lambda: receiver.received)
        call = (await c.get(f"/vapi/call/{call_id}")).json()
    assert call["status"] == "ended" and call["endedReason"] == "customer-ended-call"
    headers, raw = receiver.received[0]
    expected = hmac.new(b"s3cret", f"{headers['x-timestamp']}.".encode() + raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-signature"], expected)
    message = json.loads(raw)["message"]
    assert message["type"] == "end-of-call-report" and message["call"]["id"] == call_id
    assert message["durationSeconds"] == 95 and message["startedAt"] and message["endedAt"]
    assert message["analysis"]["structuredData"]["meeting_booked"] is True
    assert message["artifact"]["transcript"] and message["customer"]["number"] == "+15125550123"


async def test_vapi_unanswered_call_and_request_server_url(sandbox_config: Any, receiver: Any) -> None:
    sandbox_config.configure(vapi_webhook_auth="x-vapi-secret", vapi_webhook_secret="shh")
    async with httpx.AsyncClient(
        base_url=sandbox_config.url, headers={"Authorization": "Bearer vapi-x"}
    ) as c:
        created = await c.post(
            "/vapi/call",
            json={
                "assistantId": "asst-1",
                "phoneNumberId": "pn-1",
                "customer": {"number": "+15125550124"},
                "assistantOverrides": {
                    "server": {"url": receiver.url, "headers": {"X-Vapi-Secret": "from-the-call"}},
                    "variableValues": {"sandbox_ended_reason": "customer-did-not-answer"},
                },
            },
        )
        assert created.status_code == 201
        await _wait_for(lambda: receiver.received)
        bad = await c.post(
            "/vapi/call", json={"assistantId": "a", "phoneNumberId": "p", "customer": {"number": "555"}}
        )
    headers, raw = receiver.received[0]
    message = json.loads(raw)["message"]
    # A URL given in the request gets that request's own headers; the org's credential is withheld.
    assert headers["x-vapi-secret"] == "from-the-call"
    assert message["endedReason"] == "customer-did-not-answer"
    assert "startedAt" not in message and message["durationSeconds"] == 0
    assert bad.status_code == 400


async def test_slack_sdk_post_update_auth(sandbox_url: str) -> None:
    client = AsyncWebClient(token="xoxb-x", base_url=sandbox_url + "/slack/api/")
    auth = await client.auth_test()
    assert auth["ok"] and auth["bot_id"]
    # The sandbox is shared by the whole session: a channel of this test's own, the bot its creator.
    created = await client.conversations_create(name=f"runs-{uuid.uuid4().hex[:8]}")
    channel = created["channel"]["id"]
    assert created["channel"]["is_member"] is True
    posted = await client.chat_postMessage(channel=channel, text="Run started", blocks=[{"type": "divider"}])
    await client.chat_update(channel=channel, ts=posted["ts"], text="Run finished")
    reply = await client.chat_postMessage(channel=channel, text="details", thread_ts=posted["ts"])
    thread = await client.conversations_replies(channel=channel, ts=posted["ts"])
    assert [m["text"] for m in thread["messages"]] == ["Run finished", "details"] and reply["ok"]
    stored = HTTP.get(f"{sandbox_url}/_sandbox/slack/messages", params={"channel": channel}).json()
    assert stored[0]["text"] == "Run finished" and stored[0]["blocks"] == [{"type": "divider"}]
    recorded = HTTP.get(f"{sandbox_url}/_sandbox/requests", params={"service": "slack"}).json()
    assert recorded[-1]["path"].endswith("conversations.replies")
    assert "xoxb-x" not in json.dumps(recorded)  # tokens are redacted


async def test_slack_errors_are_200_ok_false(sandbox_url: str) -> None:
    from slack_sdk.errors import SlackApiError

    client = AsyncWebClient(token="xoxb-x", base_url=sandbox_url + "/slack/api/")
    channel = (await client.conversations_create(name=f"errs-{uuid.uuid4().hex[:8]}"))["channel"]["id"]
    with pytest.raises(SlackApiError) as caught:
        await client.chat_update(channel=channel, ts="1.2", text="x")
    assert caught.value.response.status_code == 200 and caught.value.response["error"] == "message_not_found"


async def test_slack_rate_limit(sandbox_config: Any) -> None:
    from slack_sdk.errors import SlackApiError

    sandbox_config.configure(slack_rate_limit_per_minute=1)
    client = AsyncWebClient(token="xoxb-x", base_url=sandbox_config.url + "/slack/api/")
    channel = (await client.conversations_create(name=f"rate-{uuid.uuid4().hex[:8]}"))["channel"]["id"]
    await client.chat_postMessage(channel=channel, text="one")
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel=channel, text="two")
    assert caught.value.response.status_code == 429 and int(caught.value.response.headers["Retry-After"]) >= 1


def test_start_sandbox_context_manager() -> None:
    with start_sandbox(latency_scale=0) as handle:
        assert HTTP.get(f"{handle.url}/_sandbox/health").json()["ok"] is True


async def test_slack_refuses_channels_the_bot_is_not_in_as_slack_does(sandbox_url: str) -> None:
    from slack_sdk.errors import SlackApiError

    bot = AsyncWebClient(token="xoxb-x", base_url=sandbox_url + "/slack/api/")
    person = AsyncWebClient(token="xoxp-a-person", base_url=sandbox_url + "/slack/api/")
    public = (await person.conversations_create(name=f"pub-{uuid.uuid4().hex[:8]}"))["channel"]["id"]
    private = (await person.conversations_create(name=f"priv-{uuid.uuid4().hex[:8]}", is_private=True))[
        "channel"
    ]["id"]

    async def refusal(call: Any) -> str:
        with pytest.raises(SlackApiError) as caught:
            await call
        assert caught.value.response.status_code == 200
        return str(caught.value.response["error"])

    assert await refusal(bot.chat_postMessage(channel=public, text="hi")) == "not_in_channel"
    assert await refusal(bot.chat_postEphemeral(channel=public, user="UANA", text="hi")) == "not_in_channel"
    assert await refusal(bot.chat_postMessage(channel=private, text="hi")) == "channel_not_found"
    assert await refusal(bot.chat_postMessage(channel="CNOSUCHONE", text="hi")) == "channel_not_found"
    assert await refusal(bot.conversations_join(channel=private)) == "method_not_supported_for_channel_type"
    assert (await person.chat_postMessage(channel=public, text="people may post"))["ok"]
    assert (await bot.conversations_join(channel=public))["channel"]["is_member"] is True
    assert (await bot.chat_postMessage(channel=public, text="now I may"))["ok"]


async def test_a_command_response_url_answers_anywhere_five_times(sandbox_url: str) -> None:
    from slack_sdk.webhook.async_client import AsyncWebhookClient

    channel = f"C{uuid.uuid4().hex[:8].upper()}"  # not even a channel the sandbox knows
    issued = HTTP.post(
        f"{sandbox_url}/_sandbox/slack/response_urls", json={"channel": channel, "user": "UANA"}
    )
    hook = AsyncWebhookClient(issued.json()["url"])
    answers = [await hook.send(text=f"answer {n}", response_type="ephemeral") for n in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [404] and answers[-1].body == "used_url"
    shown = HTTP.get(f"{sandbox_url}/_sandbox/slack/messages", params={"channel": channel}).json()
    assert [m["text"] for m in shown] == [f"answer {n}" for n in range(5)]
    assert {m["ephemeral_user"] for m in shown} == {"UANA"} and {m["via"] for m in shown} == {"response_url"}
