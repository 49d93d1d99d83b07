"""OpenAI chat completions, judged by the `openai` SDK: the structured outputs we send are the
strict JSON schemas its own builder makes (`openai.lib._pydantic.to_strict_json_schema`), its
`chat.completions.parse` path sends the same request and parses the sandbox's answers into our
models, and its error classes read the sandbox's errors and rate limits."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai import AsyncOpenAI
from openai.lib._pydantic import to_strict_json_schema
from pydantic import BaseModel

from graphs.prompts import (
    DOSSIER_SYSTEM,
    URL_SELECTION_SYSTEM,
    DossierDraft,
    PageText,
    UrlSelection,
    dossier_prompt,
    url_selection_prompt,
)
from leadgen.settings import Settings
from tools.llm import chat_model, response_format, structured_reply

KEY = "sk-conformance"
HOME = "https://acme-dental.example/"
PAGES = [
    PageText(
        HOME, "Acme Dental", "# Acme Dental\n\nFamily dentistry in Austin since 1998. Call (512) 555-0100."
    ),
    PageText(HOME + "services", "Services", "# Services\n\n- Cleanings\n- Whitening\n- Implants"),
]


def url_messages() -> list[tuple[str, str]]:
    others = [HOME + "services", HOME + "pricing", HOME + "blog/news", HOME + "about"]
    return [("system", URL_SELECTION_SYSTEM), ("user", url_selection_prompt(HOME, others, 3))]


def dossier_messages() -> list[tuple[str, str]]:
    prompt = dossier_prompt(
        business="Acme Dental",
        vertical="dentists",
        geography="Austin, TX",
        signals=["FEW_GOOGLE_REVIEWS"],
        services=["web design", "SEO"],
        findings=[],
        pages=PAGES,
    )
    return [("system", DOSSIER_SYSTEM), ("user", prompt)]


CASES = [
    pytest.param(UrlSelection, url_messages, id="UrlSelection"),
    pytest.param(DossierDraft, dossier_messages, id="DossierDraft"),
]


def strict_everywhere(schema: Any) -> None:
    """OpenAI's strict mode: every object closed, every property required (nested ones too)."""
    if isinstance(schema, dict):
        if schema.get("type") == "object":
            assert schema.get("additionalProperties") is False, schema
            assert set(schema.get("required", [])) == set(schema.get("properties", {})), schema
        for value in schema.values():
            strict_everywhere(value)
    elif isinstance(schema, list):
        for value in schema:
            strict_everywhere(value)


@pytest.mark.parametrize(("model", "messages"), CASES)
async def test_structured_outputs_are_the_sdks_strict_schemas(
    fresh: Any, sent: Any, model: type[BaseModel], messages: Any
) -> None:
    ours = response_format(model)
    assert ours["type"] == "json_schema" and ours["json_schema"]["strict"] is True
    assert ours["json_schema"]["name"] == model.__name__
    assert ours["json_schema"]["schema"] == to_strict_json_schema(model)
    strict_everywhere(ours["json_schema"]["schema"])

    settings = Settings(_env_file=None, leadgen_sandbox_url=fresh.url, openai_api_key=KEY)  # type: ignore[call-arg]
    answer = await structured_reply(chat_model(settings, max_retries=0), model, messages())
    assert isinstance(answer, model)
    sdk = AsyncOpenAI(api_key=KEY, base_url=fresh.url + "/openai/v1", max_retries=0)
    parsed = await sdk.chat.completions.parse(
        model=settings.openai_model,
        messages=[{"role": role, "content": text} for role, text in messages()],  # type: ignore[misc]
        response_format=model,
    )
    assert isinstance(parsed.choices[0].message.parsed, model)  # the SDK's own parser took it
    ours_sent, theirs_sent = sent("openai", "/openai/v1/chat/completions")[-2:]
    assert ours_sent["body"]["response_format"] == theirs_sent["body"]["response_format"]
    assert ours_sent["body"]["messages"] == theirs_sent["body"]["messages"]


async def test_errors_and_rate_limits_in_openais_shape(fresh: Any) -> None:
    fresh.configure(revoked_keys=["sk-revoked"])
    with pytest.raises(openai.AuthenticationError) as refused:
        await AsyncOpenAI(
            api_key="sk-revoked", base_url=fresh.url + "/openai/v1", max_retries=0
        ).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert refused.value.code == "invalid_api_key" and refused.value.type == "invalid_request_error"

    fresh.configure(fail_rate=1.0, fault_kinds=["429"], retry_after_seconds=0.3)
    fresh.clear_requests()
    client = AsyncOpenAI(api_key=KEY, base_url=fresh.url + "/openai/v1", max_retries=1)
    with pytest.raises(openai.RateLimitError) as limited:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    assert limited.value.code == "rate_limit_exceeded" and limited.value.type == "requests"
    headers = limited.value.response.headers
    assert float(headers["retry-after-ms"]) <= 300 and headers["x-ratelimit-remaining-requests"] == "0"
    attempts = fresh.requests("openai")
    assert [r["status"] for r in attempts] == [429, 429]  # the SDK retried once, honouring the wait
    assert [r["headers"]["x-stainless-retry-count"] for r in attempts] == ["0", "1"]
