"""Every provider client, given a key its provider refuses (the sandbox's `revoked_keys`, answered
in each provider's own shape), says so in one sentence naming the variable that holds the key,
and does not retry. Nothing of the key itself is repeated back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from leadgen.settings import Settings
from tools.autumn import AutumnAuthError, AutumnClient
from tools.firecrawl import FirecrawlAuthError, FirecrawlClient
from tools.http import AuthError, CallLog, RetryPolicy
from tools.places import PlacesAuthError, PlacesClient
from tools.vapi import VapiAuthError, VapiClient

POLICY = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01, jitter=0.0)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client


def one_sentence(message: str, variable: str, key: str) -> None:
    assert variable in message and f"set {variable} to a valid" in message, message
    assert message.endswith(".") and message.count(". ") == 0, message  # one sentence
    assert key not in message, "the key itself is never echoed"


async def test_places(http: httpx.AsyncClient, sandbox_config: Any) -> None:
    key = "AIzaRevokedPlacesKey"
    sandbox_config.configure(revoked_keys=[key])
    log = CallLog()
    client = PlacesClient(http, sandbox_config.url + "/places", key, policy=POLICY, observer=log)
    with pytest.raises(PlacesAuthError) as refused:
        await client.search_text("dentists in Austin, TX")
    one_sentence(str(refused.value), "GOOGLE_PLACES_API_KEY", key)
    assert refused.value.code == "INVALID_ARGUMENT" and log.last.attempts == 1


async def test_firecrawl(http: httpx.AsyncClient, sandbox_config: Any) -> None:
    key = "fc-revoked-firecrawl-key"
    sandbox_config.configure(revoked_keys=[key])
    log = CallLog()
    client = FirecrawlClient(http, sandbox_config.url, key, policy=POLICY, observer=log)
    with pytest.raises(FirecrawlAuthError) as refused:
        await client.scrape("https://example.com/")
    one_sentence(str(refused.value), "FIRECRAWL_API_KEY", key)
    assert refused.value.status_code == 401 and log.last.attempts == 1


async def test_autumn(http: httpx.AsyncClient, sandbox_config: Any) -> None:
    key = "am_sk_test_revoked_autumn_key"
    sandbox_config.configure(revoked_keys=[key])
    log = CallLog()
    client = AutumnClient(http, sandbox_config.url + "/autumn", key, policy=POLICY, observer=log)
    with pytest.raises(AutumnAuthError) as refused:
        await client.create_customer("cust-refused")
    one_sentence(str(refused.value), "AUTUMN_SECRET_KEY", key)
    assert refused.value.code == "invalid_secret_key" and log.last.attempts == 1


async def test_vapi(http: httpx.AsyncClient, sandbox_config: Any) -> None:
    key = "vapi-revoked-key"
    sandbox_config.configure(revoked_keys=[key])
    log = CallLog()
    client = VapiClient(http, sandbox_config.url + "/vapi", key, policy=POLICY, observer=log)
    with pytest.raises(VapiAuthError) as refused:
        await client.get_call("c0ffee00-0000-4000-8000-000000000001")
    one_sentence(str(refused.value), "VAPI_API_KEY", key)
    assert isinstance(refused.value, AuthError) and log.last.attempts == 1


async def test_openai(sandbox_config: Any) -> None:
    import openai

    from tools.llm import chat_model, key_rejected_message

    key = "sk-revoked-openai-key"
    sandbox_config.configure(revoked_keys=[key])
    settings = Settings(_env_file=None, leadgen_sandbox_url=sandbox_config.url, openai_api_key=key)  # type: ignore[call-arg]
    with pytest.raises(openai.AuthenticationError) as refused:
        await chat_model(settings, max_retries=0).ainvoke("Say hello.")
    message = key_rejected_message(refused.value)
    assert message is not None
    one_sentence(message, "OPENAI_API_KEY", key)
    assert key_rejected_message(ValueError("unrelated")) is None


async def test_slack(sandbox_config: Any) -> None:
    from slack_sdk.errors import SlackApiError

    from tools.slack import key_rejected_message, slack_web_client

    key = "xoxb-revoked-slack-token"
    sandbox_config.configure(revoked_keys=[key])
    settings = Settings(_env_file=None, leadgen_sandbox_url=sandbox_config.url, slack_bot_token=key)  # type: ignore[call-arg]
    with pytest.raises(SlackApiError) as refused:
        await slack_web_client(settings).auth_test()
    message = key_rejected_message(refused.value)
    assert message is not None and "SLACK_BOT_TOKEN" in message and "token_revoked" in message
    assert key not in message
