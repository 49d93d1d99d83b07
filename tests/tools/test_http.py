"""The shared retry core: what is retried, how long it waits, what it raises, what it counts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from tools.http import (
    AuthError,
    BadRequestError,
    CallLog,
    ErrorFamily,
    NotFoundError,
    ProviderDownError,
    RateLimitedError,
    RetryingCaller,
    RetryPolicy,
    parse_retry_after,
)
from tools.places import PLACES_ERRORS, PlacesDownError, PlacesRateLimitedError

FAMILY: ErrorFamily = PLACES_ERRORS
URL = "https://provider.test/thing"


def caller(policy: RetryPolicy, log: CallLog, **kw: object) -> RetryingCaller:
    return RetryingCaller("places", FAMILY, policy=policy, observer=log, **kw)  # type: ignore[arg-type]


def test_retry_after_forms() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "0.5"}) == 0.5
    assert parse_retry_after({"retry-after-ms": "250", "Retry-After": "9"}) == 0.25
    date = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=now) == pytest.approx(7.0)
    assert (
        parse_retry_after({"Retry-After": format_datetime(now - timedelta(seconds=5), usegmt=True)}, now=now)
        == 0
    )
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None


async def test_5xx_storm_recovers_within_budget(mock_http, jr, fast_policy, call_log) -> None:
    http, _ = mock_http(jr(500, {}), jr(502, {}), jr(503, {}), jr(200, {"ok": True}))
    response = await caller(fast_policy, call_log).request(http, "GET", URL, operation="get")
    assert response.status_code == 200
    assert call_log.last.attempts == 4
    assert call_log.last.statuses == (500, 502, 503, "ok")
    assert call_log.last.outcome == "ok"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
async def test_plain_4xx_is_never_retried(mock_http, jr, fast_policy, call_log, status: int) -> None:
    http, rec = mock_http(jr(status, {"message": "no"}))
    response = await caller(fast_policy, call_log).request(http, "GET", URL, operation="get")
    assert response.status_code == status
    assert len(rec.requests) == 1
    assert call_log.last.attempts == 1


async def test_408_is_retried(mock_http, jr, fast_policy, call_log) -> None:
    http, rec = mock_http(jr(408, {}), jr(200, {}))
    await caller(fast_policy, call_log).request(http, "GET", URL, operation="get")
    assert len(rec.requests) == 2


class FakeTime:
    """A clock that moves only when the caller sleeps: waits are recorded, never spent."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def timed_caller(policy: RetryPolicy, log: CallLog, fake: FakeTime) -> RetryingCaller:
    return RetryingCaller("places", FAMILY, policy=policy, observer=log, sleep=fake.sleep, clock=fake.clock)


async def test_429_honours_retry_after(mock_http, jr, fast_policy, call_log) -> None:
    http, _ = mock_http(jr(429, {}, {"Retry-After": "0.3"}), jr(200, {}))
    fake = FakeTime()
    await timed_caller(fast_policy, call_log, fake).request(http, "GET", URL, operation="get")
    assert fake.sleeps == [0.3]  # the server's wait, not our millisecond backoff
    assert call_log.last.statuses == (429, "ok")
    assert call_log.last.seconds == 0.3


async def test_retry_after_ms_is_preferred(mock_http, jr, fast_policy, call_log) -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    http, _ = mock_http(jr(429, {}, {"retry-after-ms": "120", "Retry-After": "1"}), jr(200, {}))
    c = RetryingCaller("places", FAMILY, policy=fast_policy, observer=call_log, sleep=sleep)
    await c.request(http, "GET", URL, operation="get")
    assert sleeps == [0.12]


async def test_429_forever_becomes_rate_limited_error(mock_http, jr, fast_policy, call_log) -> None:
    http, rec = mock_http(
        jr(429, {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}, {"Retry-After": "0"})
    )
    with pytest.raises(PlacesRateLimitedError) as caught:
        await caller(fast_policy, call_log).request(http, "GET", URL, operation="get")
    assert isinstance(caught.value, RateLimitedError)
    assert caught.value.status_code == 429
    assert len(rec.requests) == fast_policy.attempts


async def test_retry_after_beyond_cap_gives_up_at_once(mock_http, jr, fast_policy, call_log) -> None:
    http, rec = mock_http(jr(429, {}, {"Retry-After": "3600"}))
    fake = FakeTime()
    with pytest.raises(RateLimitedError) as caught:
        await timed_caller(fast_policy, call_log, fake).request(http, "GET", URL, operation="get")
    assert fake.sleeps == []  # not even a short wait first
    assert caught.value.retry_after == 3600
    assert len(rec.requests) == 1


async def test_outage_is_provider_down_after_bounded_attempts(mock_http, jr, fast_policy, call_log) -> None:
    http, rec = mock_http(jr(503, {"message": "down"}))
    with pytest.raises(PlacesDownError) as caught:
        await caller(fast_policy, call_log).request(http, "GET", URL, operation="get")
    assert isinstance(caught.value, ProviderDownError)
    assert caught.value.status_code == 503
    assert len(rec.requests) == 4
    assert call_log.last.outcome == "PlacesDownError"


@pytest.mark.parametrize(
    "failure", [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), httpx.RemoteProtocolError("eof")]
)
async def test_timeouts_and_connection_errors(mock_http, fast_policy, call_log, failure: Exception) -> None:
    http, rec = mock_http(failure)
    with pytest.raises(PlacesDownError):
        await caller(fast_policy, call_log).request(http, "GET", URL, operation="get")
    assert len(rec.requests) == 4
    assert call_log.last.statuses == (type(failure).__name__,) * 4


async def test_timeout_then_success(mock_http, jr, fast_policy, call_log) -> None:
    http, _ = mock_http(httpx.ReadTimeout("slow"), jr(200, {}))
    response = await caller(fast_policy, call_log).request(http, "GET", URL, operation="get")
    assert response.status_code == 200 and call_log.last.attempts == 2


async def test_total_wait_is_capped(mock_http, jr, call_log) -> None:
    policy = RetryPolicy(attempts=10, base_delay=0.2, max_delay=0.2, jitter=0.0, max_total_wait=0.5)
    http, rec = mock_http(jr(500, {}))
    fake = FakeTime()
    with pytest.raises(ProviderDownError):
        await timed_caller(policy, call_log, fake).request(http, "GET", URL, operation="get")
    # Waits of 0.2 at 0.0 and 0.2; a third would end at 0.6, past the budget, so it is not begun.
    assert fake.sleeps == [0.2, 0.2]
    assert len(rec.requests) == 3


async def test_backoff_grows_exponentially(mock_http, jr, call_log) -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    policy = RetryPolicy(attempts=4, base_delay=0.5, max_delay=1.5, jitter=0.0)
    http, _ = mock_http(jr(500, {}))
    c = RetryingCaller("places", FAMILY, policy=policy, observer=call_log, sleep=sleep)
    with pytest.raises(ProviderDownError):
        await c.request(http, "GET", URL, operation="get")
    assert sleeps == [0.5, 1.0, 1.5]


async def test_non_idempotent_requests_retry_only_when_not_processed(
    mock_http, jr, fast_policy, call_log
) -> None:
    http, rec = mock_http(jr(500, {}))
    with pytest.raises(ProviderDownError):
        await caller(fast_policy, call_log).request(http, "POST", URL, operation="create", idempotent=False)
    assert len(rec.requests) == 1
    http, rec = mock_http(httpx.ReadTimeout("slow"))
    with pytest.raises(ProviderDownError):
        await caller(fast_policy, call_log).request(http, "POST", URL, operation="create", idempotent=False)
    assert len(rec.requests) == 1
    http, rec = mock_http(jr(429, {}, {"Retry-After": "0"}), httpx.ConnectError("refused"), jr(201, {}))
    response = await caller(fast_policy, call_log).request(
        http, "POST", URL, operation="create", idempotent=False
    )
    assert response.status_code == 201 and len(rec.requests) == 3


async def test_concurrency_is_limited_per_instance(fast_policy, call_log) -> None:
    in_flight = 0
    peak = 0
    full = asyncio.Event()  # three requests in flight: the limit was reached

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight == 3:
            full.set()
        # Each request stays in flight until the limit is reached: a fourth would show in `peak`.
        await asyncio.wait_for(full.wait(), 10)
        in_flight -= 1
        return httpx.Response(200, json={})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        c = caller(fast_policy, call_log, concurrency=3)
        await asyncio.gather(*(c.request(http, "GET", URL, operation="get") for _ in range(12)))
    assert peak == 3
    assert len(call_log.records) == 12


def test_error_family_maps_statuses() -> None:
    assert issubclass(FAMILY.for_status(401), AuthError)
    assert issubclass(FAMILY.for_status(403), AuthError)
    assert issubclass(FAMILY.for_status(404), NotFoundError)
    assert issubclass(FAMILY.for_status(422), BadRequestError)
    assert issubclass(FAMILY.for_status(504), ProviderDownError)


def test_policy_rejects_zero_attempts() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
