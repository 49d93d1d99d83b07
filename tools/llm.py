"""The chat model: `ChatOpenAI` pointed at whichever OpenAI-compatible endpoint Settings names.

No error tree of our own here: langchain-openai raises the openai SDK's exceptions
(`openai.APIError` → `RateLimitError`, `AuthenticationError`, `APIConnectionError`, ...), and the
openai SDK already retries 408/409/429/5xx honouring `retry-after(-ms)` (`max_retries`). A second
retry layer on top would multiply attempts, so this module only configures it.

Pinned choices (langchain-openai's ChatOpenAI): `use_responses_api=False` keeps us on
`/chat/completions` whatever the model name; `stream_usage=True` because langchain turns usage
reporting off for custom base URLs.
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar

import httpx
from langchain_core.language_models import LanguageModelInput
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, SecretStr

from leadgen.settings import KEY_VARIABLES, Settings
from tools.http import first_sentence

M = TypeVar("M", bound=BaseModel)


def chat_model(
    settings: Settings,
    *,
    temperature: float = 0,
    streaming: bool = False,
    max_retries: int = 2,
    timeout: float | None = 60.0,
    model: str | None = None,
    http_async_client: httpx.AsyncClient | None = None,
) -> ChatOpenAI:
    """A ChatOpenAI for `settings` (raises MissingProviderKey, naming the variable, without a key
    or a sandbox). Works with `bind_tools` and `with_structured_output(..., method="json_schema")`."""
    endpoint = settings.endpoint("openai")
    return ChatOpenAI(
        model=model or settings.openai_model,
        base_url=endpoint.base_url,
        api_key=SecretStr(endpoint.api_key),
        temperature=temperature,
        streaming=streaming,
        max_retries=max_retries,
        timeout=timeout,
        use_responses_api=False,
        stream_usage=True,
        http_async_client=http_async_client,  # tests and fault injection plug in here
    )


@functools.cache
def response_format(schema: type[BaseModel]) -> dict[str, Any]:
    """The strict `json_schema` response format the openai SDK would send for `schema`, built once
    per class. Handing the SDK the class instead makes it rebuild the schema on every request
    (~2 ms of CPU each, paid by every audit twice)."""
    from openai.lib._parsing._completions import type_to_response_format_param

    built: dict[str, Any] = dict(type_to_response_format_param(schema))  # type: ignore[arg-type]
    return built


async def structured_reply(llm: ChatOpenAI, schema: type[M], messages: LanguageModelInput) -> M:
    """The model's answer to `messages` as a validated `schema` (OpenAI structured outputs).

    Raises what the openai SDK raises, `pydantic.ValidationError` for a reply that does not match,
    and `ValueError` when the model refuses or says nothing."""
    reply = await llm.bind(response_format=response_format(schema)).ainvoke(messages)
    if refusal := reply.additional_kwargs.get("refusal"):
        raise ValueError(f"the model refused: {refusal}")
    if not isinstance(reply.content, str) or not reply.content.strip():
        raise ValueError("the model returned no content")
    return schema.model_validate_json(reply.content)


def key_rejected_message(exc: BaseException) -> str | None:
    """The one sentence naming OPENAI_API_KEY when `exc` is the endpoint refusing our key
    (401, or 403 for a key without access); None for any other error."""
    import openai

    if not isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return None
    body = exc.body if isinstance(exc.body, dict) else {}
    detail = first_sentence(str(body.get("message") or exc.message))
    variable = KEY_VARIABLES["openai"]
    return (
        f"OpenAI refused the key in {variable} (HTTP {exc.status_code}: {detail}); "
        f"set {variable} to a valid key."
    )
