"""The chat model: `ChatOpenAI` pointed at whichever OpenAI-compatible endpoint Settings names.

No error tree of our own here: langchain-openai raises the openai SDK's exceptions
(`openai.APIError` → `RateLimitError`, `AuthenticationError`, `APIConnectionError`, ...), and the
openai SDK already retries 408/409/429/5xx honouring `retry-after(-ms)` (`max_retries`). A second
retry layer on top would multiply attempts, so this module only configures it.

Pinned choices (reference/provider-apis.md §6): `use_responses_api=False` keeps us on
`/chat/completions` whatever the model name; `stream_usage=True` because langchain turns usage
reporting off for custom base URLs.
"""

from __future__ import annotations

import httpx
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from leadgen.settings import Settings


def chat_model(
    settings: Settings,
    *,
    temperature: float = 0,
    streaming: bool = False,
    max_retries: int = 2,
    timeout: float = 60.0,
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
