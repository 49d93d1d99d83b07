"""chat_model, slack_web_client and the Providers bundle: wiring from Settings."""

from __future__ import annotations

import json
import ssl

import httpx
import openai
import pytest
from pydantic import BaseModel, ValidationError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler

from leadgen.settings import MissingProviderKey, Settings
from tools.http import shared_ssl_context
from tools.llm import chat_model, response_format, structured_reply
from tools.providers import Providers
from tools.slack import slack_web_client

TOOL_CALL = {
    "id": "chatcmpl-123",
    "object": "chat.completion",
    "created": 1767225600,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "logprobs": None,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_abc123",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
        }
    ],
    "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
}


BLANK = {
    name: ""
    for name in (
        "leadgen_sandbox_url",
        "google_places_api_key",
        "firecrawl_api_key",
        "firecrawl_api_url",
        "openai_api_key",
        "openai_base_url",
        "autumn_secret_key",
        "autumn_api_url",
        "vapi_api_key",
        "slack_bot_token",
    )
}


def settings(**values: str) -> Settings:
    """Settings from these values alone (the environment's keys must not leak into the test)."""
    return Settings(_env_file=None, **(BLANK | values))  # type: ignore[call-arg]


def test_chat_model_uses_the_settings_endpoint() -> None:
    llm = chat_model(
        settings(openai_api_key="sk-real", openai_base_url="http://llm.local/v1", openai_model="m-1")
    )
    assert llm.model_name == "m-1" and llm.openai_api_base == "http://llm.local/v1"
    assert llm.use_responses_api is False and llm.stream_usage is True and llm.max_retries == 2
    assert llm.temperature == 0


def test_chat_model_on_the_sandbox() -> None:
    llm = chat_model(settings(leadgen_sandbox_url="http://127.0.0.1:9999/"))
    assert llm.openai_api_base == "http://127.0.0.1:9999/openai/v1"


def test_chat_model_without_key_names_the_variable() -> None:
    with pytest.raises(MissingProviderKey, match="OPENAI_API_KEY"):
        chat_model(settings())


async def test_bind_tools_against_the_reference_body() -> None:
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        assert request.url.path == "/v1/chat/completions"
        return httpx.Response(200, json=TOOL_CALL)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        llm = chat_model(
            settings(openai_api_key="sk-x", openai_base_url="http://llm.local/v1"), http_async_client=http
        )

        def get_weather(city: str) -> str:
            """Get the weather for a city."""
            return "sunny"

        message = await llm.bind_tools([get_weather]).ainvoke("weather in Paris?")
    assert message.tool_calls[0]["name"] == "get_weather" and message.tool_calls[0]["args"] == {
        "city": "Paris"
    }
    assert message.usage_metadata["total_tokens"] == 60
    assert seen[0]["tools"][0]["function"]["name"] == "get_weather"


async def test_structured_output_json_schema() -> None:
    class Fit(BaseModel):
        reason: str

    answer = {
        **TOOL_CALL,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": '{"reason": "no website"}'},
            }
        ],
    }
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json=answer)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        llm = chat_model(settings(openai_api_key="sk-x"), http_async_client=http)
        fit = await llm.with_structured_output(Fit, method="json_schema").ainvoke("why?")
    assert fit == Fit(reason="no website")
    assert seen[0]["response_format"]["type"] == "json_schema"


class Reason(BaseModel):
    reason: str


def _reply(message: dict) -> dict:
    return {**TOOL_CALL, "choices": [{"index": 0, "finish_reason": "stop", "message": message}]}


async def test_structured_reply_sends_the_sdk_strict_schema_and_validates_the_answer() -> None:
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json=_reply({"role": "assistant", "content": '{"reason": "no website"}'}))

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        llm = chat_model(settings(openai_api_key="sk-x"), http_async_client=http)
        fit = await structured_reply(llm, Reason, "why?")
    assert fit == Reason(reason="no website")
    # Exactly what the SDK sends when handed the class: strict, named, closed to extra keys.
    sent = seen[0]["response_format"]
    assert sent == response_format(Reason)
    assert sent["json_schema"]["name"] == "Reason" and sent["json_schema"]["strict"] is True
    assert sent["json_schema"]["schema"]["additionalProperties"] is False
    assert response_format(Reason) is response_format(Reason)  # built once per class


@pytest.mark.parametrize(
    ("message", "error", "says"),
    [
        ({"role": "assistant", "content": None, "refusal": "I can't help with that."}, ValueError, "refused"),
        ({"role": "assistant", "content": ""}, ValueError, "no content"),
        ({"role": "assistant", "content": '{"why": "wrong key"}'}, ValidationError, "reason"),
        ({"role": "assistant", "content": "not json"}, ValidationError, "JSON"),
    ],
)
async def test_structured_reply_rejects_refusals_and_malformed_answers(
    message: dict, error: type[Exception], says: str
) -> None:
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda _: httpx.Response(200, json=_reply(message)))
    ) as http:
        llm = chat_model(settings(openai_api_key="sk-x"), http_async_client=http)
        with pytest.raises(error, match=says):
            await structured_reply(llm, Reason, "why?")


async def test_structured_reply_surfaces_sdk_errors() -> None:
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(
            lambda _: httpx.Response(400, json={"error": {"message": "bad schema"}})
        )
    ) as http:
        llm = chat_model(settings(openai_api_key="sk-x"), http_async_client=http, max_retries=0)
        with pytest.raises(openai.BadRequestError):
            await structured_reply(llm, Reason, "why?")


def test_slack_client_has_base_url_and_rate_limit_retries() -> None:
    client = slack_web_client(settings(leadgen_sandbox_url="http://127.0.0.1:9999"))
    assert client.base_url == "http://127.0.0.1:9999/slack/api/"
    assert client.token == "xoxb-sandbox"
    assert any(isinstance(h, AsyncRateLimitErrorRetryHandler) for h in client.retry_handlers)


def test_slack_without_token() -> None:
    with pytest.raises(MissingProviderKey, match="SLACK_BOT_TOKEN"):
        slack_web_client(settings())


async def test_providers_are_lazy_about_missing_keys() -> None:
    async with Providers.from_settings(
        settings(google_places_api_key="AIzaX", autumn_secret_key="am_sk_x")
    ) as p:
        assert p.places is p.places
        assert p.autumn is not None
        with pytest.raises(MissingProviderKey, match="VAPI_API_KEY"):
            _ = p.vapi
        with pytest.raises(MissingProviderKey, match="FIRECRAWL_API_KEY"):
            _ = p.firecrawl


async def test_providers_share_one_http_client_per_provider_and_close_them() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"places": []})

    p = Providers.from_settings(
        settings(leadgen_sandbox_url="http://sandbox.test"), transport=httpx.MockTransport(handler)
    )
    async with p:
        assert await p.places.search_text("dentists in Austin") == []
        http = p._http["places"]
    assert seen == ["http://sandbox.test/places/v1/places:searchText"]
    assert http.is_closed


async def test_providers_verify_tls_with_one_shared_context() -> None:
    async with Providers.from_settings(settings(google_places_api_key="k", firecrawl_api_key="k")) as p:
        contexts = {id(p._client_for(name)._transport._pool._ssl_context) for name in ("places", "firecrawl")}  # type: ignore[attr-defined]
    assert contexts == {id(shared_ssl_context())}
    assert shared_ssl_context().verify_mode == ssl.CERT_REQUIRED and shared_ssl_context().check_hostname
