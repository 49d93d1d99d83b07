"""Firecrawl as its own server answers (issue 20): a 429 states its wait only in the body
("...please retry after Ns, resets at ..."), the limits are per minute, and a batch start must
carry an idempotency key so a retry cannot start (and bill) a second batch."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tools.firecrawl import FirecrawlClient, FirecrawlStartUnknown, retry_after_hint
from tools.http import CallLog, RetryPolicy

SITE = "https://acme-dental.example/"


@pytest.fixture
def fresh(sandbox_config: Any) -> Any:
    sandbox_config.clear_requests()
    return sandbox_config


def test_the_wait_is_read_from_firecrawls_own_sentence() -> None:
    sentence = (
        "Rate limit exceeded. Consumed (req/min): 11, Remaining (req/min): 0. Upgrade your plan at "
        "https://firecrawl.dev/pricing for increased rate limits or please retry after 37s, resets at "
        "Thu Dec 03 2026 10:00:37 GMT+0000 (Coordinated Universal Time)"
    )
    assert retry_after_hint(sentence) == 37.0
    assert retry_after_hint("Unauthorized: Invalid token") is None


async def test_a_body_only_429_is_waited_out(fresh: Any) -> None:
    """Plan limit 1 per 3 s window: the second scrape is refused with the wait in the body only.
    The client waits what Firecrawl said (not a short backoff that gives up) and succeeds."""
    fresh.configure(firecrawl_rate_limit=1, firecrawl_rate_window_seconds=3.0)
    log = CallLog()
    async with httpx.AsyncClient(timeout=10.0) as http:
        client = FirecrawlClient(http, fresh.url, "fc-sandbox", observer=log)  # default policy
        await client.scrape(SITE)
        second = await client.scrape(SITE)
    assert second.ok
    record = log.last
    assert record.statuses == (429, "ok") and record.outcome == "ok"
    assert record.waits[0] >= 2.0, record.waits  # the body's "retry after 3s", not a 0.5 s backoff
    refused = [r for r in fresh.requests("firecrawl") if r["status"] == 429]
    assert len(refused) == 1


class LoseFirstBatchAnswer(httpx.AsyncBaseTransport):
    """Passes everything to the sandbox; the first batch start reaches Firecrawl, but its answer
    is lost (a read timeout), so the client retries the start."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.lost = 0
        self.keys: list[str | None] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and request.url.path == "/v2/batch/scrape":
            self.keys.append(request.headers.get("x-idempotency-key"))
            if self.lost == 0:
                self.lost += 1
                await response.aread()
                raise httpx.ReadTimeout("the answer never came", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def lossy() -> AsyncIterator[tuple[httpx.AsyncClient, LoseFirstBatchAnswer]]:
    transport = LoseFirstBatchAnswer()
    async with httpx.AsyncClient(transport=transport, timeout=10.0) as http:
        yield http, transport


async def test_a_retried_batch_start_never_starts_a_second_batch(
    fresh: Any, lossy: tuple[httpx.AsyncClient, LoseFirstBatchAnswer]
) -> None:
    http, transport = lossy
    policy = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.01, jitter=0.0)
    client = FirecrawlClient(http, fresh.url, "fc-sandbox", policy=policy, poll_interval=0.01)
    with pytest.raises(FirecrawlStartUnknown):
        await client.batch_scrape([SITE, SITE + "about"])
    starts = [
        r for r in fresh.requests("firecrawl") if r["method"] == "POST" and r["path"] == "/v2/batch/scrape"
    ]
    assert [r["status"] for r in starts] == [200, 409]  # one batch started, the retry refused
    key = transport.keys[0]
    assert key is not None and uuid.UUID(key) and transport.keys == [key, key]  # one key, a UUID


async def test_each_batch_start_has_a_key_of_its_own(fresh: Any) -> None:
    async with httpx.AsyncClient(timeout=10.0) as http:
        client = FirecrawlClient(http, fresh.url, "fc-sandbox", poll_interval=0.01)
        first = await client.batch_scrape([SITE])
        second = await client.batch_scrape([SITE])
    assert first[0].ok and second[0].ok
    starts = [
        r for r in fresh.requests("firecrawl") if r["method"] == "POST" and r["path"] == "/v2/batch/scrape"
    ]
    keys = [r["headers"].get("x-idempotency-key") for r in starts]
    assert len(set(keys)) == 2 and all(uuid.UUID(k) for k in keys)


def test_the_sandbox_refuses_a_used_or_malformed_key_as_firecrawl_does(fresh: Any) -> None:
    headers = {"Authorization": "Bearer fc-sandbox"}
    body = {"urls": [SITE]}
    key = str(uuid.uuid4())
    first = httpx.post(
        f"{fresh.url}/v2/batch/scrape", json=body, headers={**headers, "x-idempotency-key": key}
    )
    again = httpx.post(
        f"{fresh.url}/v2/batch/scrape", json=body, headers={**headers, "x-idempotency-key": key}
    )
    bad = httpx.post(
        f"{fresh.url}/v2/batch/scrape", json=body, headers={**headers, "x-idempotency-key": "k-1"}
    )
    assert first.status_code == 200
    for refused in (again, bad):
        assert refused.status_code == 409
        assert refused.json() == {"success": False, "error": "Idempotency key already used"}
