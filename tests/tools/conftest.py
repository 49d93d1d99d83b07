"""Fixtures for the provider-client tests: fast retry policies, call logs, mock-transport clients.

Helpers are fixtures (never `import tests.x`: firecrawl-py ships a top-level `tests` package).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tools.http import CallLog, RetryPolicy


@pytest.fixture
def fast_policy() -> RetryPolicy:
    """Four attempts with millisecond backoffs, so fault tests stay fast."""
    return RetryPolicy(
        attempts=4, base_delay=0.001, max_delay=0.01, jitter=0.0, max_total_wait=5.0, max_retry_after=2.0
    )


@pytest.fixture
def call_log() -> CallLog:
    return CallLog()


@dataclass
class Recorder:
    """A MockTransport handler replaying scripted responses and recording every request."""

    script: list[Any]  # httpx.Response | Exception | callable(request) -> Response
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.script[min(len(self.requests), len(self.script)) - 1]
        if isinstance(step, Exception):
            raise step
        if callable(step) and not isinstance(step, httpx.Response):
            result: httpx.Response = step(request)
            return result
        return httpx.Response(step.status_code, headers=step.headers, content=step.content)

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


@pytest.fixture
async def mock_http() -> AsyncIterator[Callable[..., tuple[httpx.AsyncClient, Recorder]]]:
    """`mock_http(resp1, resp2, ...)` -> (AsyncClient over a MockTransport, recorder). The last
    scripted step repeats once the script runs out."""
    clients: list[httpx.AsyncClient] = []

    def make(*script: Any) -> tuple[httpx.AsyncClient, Recorder]:
        recorder = Recorder(list(script))
        client = httpx.AsyncClient(transport=httpx.MockTransport(recorder), timeout=5.0)
        clients.append(client)
        return client, recorder

    yield make
    for client in clients:
        await client.aclose()


def _json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


@pytest.fixture
def jr() -> Callable[..., httpx.Response]:
    """`jr(status, body, headers=None)`: a JSON response to script."""
    return _json_response
