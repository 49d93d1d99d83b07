"""Slack, judged by `slack_sdk`: its Web API client reads the sandbox's refusals (`ok: false`
with Slack's error codes, HTTP 200), its rate-limit retry handler waits out the sandbox's 429
(`Retry-After`), and its webhook client answers a command through the sandbox's response URL."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient


def bot(url: str, token: str = "xoxb-conformance") -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=url + "/slack/api/")


async def test_refusals_are_slacks(fresh: Any) -> None:
    person = bot(fresh.url, "xoxp-a-person")
    public = (await person.conversations_create(name=f"c-{uuid.uuid4().hex[:8]}"))["channel"]["id"]
    for call, error in (
        (bot(fresh.url).chat_postMessage(channel=public, text="hi"), "not_in_channel"),
        (bot(fresh.url).chat_postMessage(channel="CNOTHERE01", text="hi"), "channel_not_found"),
        (bot(fresh.url, "not-a-token").auth_test(), "invalid_auth"),
    ):
        with pytest.raises(SlackApiError) as refused:
            await call
        assert refused.value.response.status_code == 200 and refused.value.response["error"] == error


async def test_the_sdks_rate_limit_handler_waits_out_the_sandboxs_429(fresh: Any) -> None:
    client = bot(fresh.url)
    channel = (await client.conversations_create(name=f"r-{uuid.uuid4().hex[:8]}"))["channel"]["id"]
    fresh.configure(fail_rate=1.0, fault_kinds=["429"], retry_after_seconds=0.3)
    fresh.clear_requests()
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    with pytest.raises(SlackApiError) as limited:
        await client.chat_postMessage(channel=channel, text="hi")
    response = limited.value.response
    assert response.status_code == 429 and response["error"] == "ratelimited"
    wait = {k.lower(): v for k, v in response.headers.items()}["retry-after"]
    assert int(wait[0] if isinstance(wait, list) else wait) >= 1  # slack_sdk keeps header lists
    assert [r["status"] for r in fresh.requests("slack")] == [429, 429]  # retried once, then gave up


async def test_the_sdks_webhook_client_answers_through_a_response_url(fresh: Any) -> None:
    import httpx

    channel = "C" + uuid.uuid4().hex[:10].upper()
    url = httpx.post(
        f"{fresh.url}/_sandbox/slack/response_urls", json={"channel": channel, "user": "UANA"}
    ).json()["url"]
    answer = await AsyncWebhookClient(url).send(text="only you can see this", response_type="ephemeral")
    assert (answer.status_code, answer.body) == (200, "ok")
