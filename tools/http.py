"""The one place where provider calls are retried, limited and counted.

Every provider client owns a `RetryingCaller` built over its own `httpx.AsyncClient`. The caller

* retries 429 (honouring `Retry-After` in seconds or as an HTTP date, `retry-after-ms`, the
  draft-6 `RateLimit-Reset` Autumn sends, or a wait the provider only states in its body, as
  Firecrawl does: see `RetryableStatus`), 408, 500/502/503/504, timeouts and connection errors,
  with exponential backoff plus jitter, a bounded number of attempts and a cap on the total
  time spent waiting;
* never retries any other 4xx: the same request would fail the same way;
* lets at most `concurrency` calls of one client instance be in flight at once;
* reports every finished call (attempts, statuses, outcome) to an optional observer.

Errors (every client module subclasses each of these under its own root, e.g.
`PlacesError(ProviderError)` with `PlacesAuthError(PlacesError, AuthError)`, so callers can catch
one provider's errors or one kind of error across providers)::

    ProviderError                 status_code, code, provider, retry_after
    ├── AuthError                 401/403, or a provider's "bad key" code; its message is one
    │                             sentence naming the variable that holds the key (`key_rejected`)
    ├── NotFoundError             404
    ├── BadRequestError           any other 4xx (never retried)
    ├── RateLimitedError          429 still answered after the retry budget
    ├── ProviderDownError         5xx, timeouts, connection errors after the retry budget
    └── BadResponseError          a 2xx body we cannot parse or did not expect
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

log = logging.getLogger(__name__)

T = TypeVar("T")


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One verifying TLS context (httpx's default: certifi, or SSL_CERT_FILE/SSL_CERT_DIR) for
    every client in the process. httpx builds a fresh one per client, and loading the CA bundle
    costs ~20 ms of CPU that would otherwise stall the event loop mid-run, once per provider."""
    return httpx.create_ssl_context()


# 408 and 429 are the only 4xx a repeat can cure; the 5xx listed are the transient ones.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class ProviderError(Exception):
    """Root of every provider error; `status_code`/`code` are None when no answer arrived."""

    provider: str = "provider"

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.retry_after = retry_after
        self.body = body


class AuthError(ProviderError):
    pass


class NotFoundError(ProviderError):
    pass


class BadRequestError(ProviderError):
    pass


class RateLimitedError(ProviderError):
    pass


class ProviderDownError(ProviderError):
    pass


class BadResponseError(ProviderError):
    pass


@dataclass(frozen=True)
class ErrorFamily:
    """One provider's subclasses of the common errors, so the core can raise the right one.

    `name` is how the provider is called in messages and `key_variable` the setting that holds
    its key, so a refused key can be reported as the one thing to fix."""

    root: type[ProviderError]
    auth: type[AuthError]
    not_found: type[NotFoundError]
    bad_request: type[BadRequestError]
    rate_limited: type[RateLimitedError]
    down: type[ProviderDownError]
    bad_response: type[BadResponseError]
    name: str = "the provider"
    key_variable: str | None = None

    def for_status(self, status: int) -> type[ProviderError]:
        if status in (401, 403):
            return self.auth
        if status == 404:
            return self.not_found
        if status == 429:
            return self.rate_limited
        if status >= 500 or status == 408:
            return self.down
        if status >= 400:
            return self.bad_request
        return self.bad_response


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Tests pass tiny delays; production keeps the defaults."""

    attempts: int = 4
    base_delay: float = 0.5  # first backoff; doubles each retry
    max_delay: float = 8.0  # cap on one backoff
    jitter: float = 0.25  # up to this many seconds of random extra wait
    max_total_wait: float = 30.0  # give up rather than start a wait that would pass this
    max_retry_after: float = 20.0  # a server asking for longer than this gets a RateLimitedError now

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")


@dataclass(frozen=True)
class CallRecord:
    """What one logical call cost: reported to the observer when it finishes."""

    provider: str
    operation: str
    attempts: int
    statuses: tuple[int | str, ...]  # HTTP status per attempt, or the exception name
    outcome: str  # "ok" or the name of the error raised
    seconds: float
    waits: tuple[float, ...] = ()  # the backoff slept before each retry


Observer = Callable[[CallRecord], None]


@dataclass
class CallLog:
    """A ready-made observer that keeps every record (tests and the bench read it)."""

    records: list[CallRecord] = field(default_factory=list)

    def __call__(self, record: CallRecord) -> None:
        self.records.append(record)

    @property
    def last(self) -> CallRecord:
        return self.records[-1]

    def clear(self) -> None:
        self.records.clear()


def first_sentence(text: str) -> str:
    """The provider's first sentence, without its full stop (to quote inside one of ours)."""
    return text.strip().split(". ", 1)[0].rstrip(". ")


def key_rejected(family: ErrorFamily, status: int | None, detail: str) -> str:
    """The one sentence a refused key gets: who refused it, and which variable to fix."""
    answer = f"HTTP {status}: {first_sentence(detail)}" if status is not None else first_sentence(detail)
    if family.key_variable is None:
        return f"{family.name} refused our credentials ({answer})."
    return (
        f"{family.name} refused the key in {family.key_variable} ({answer}); "
        f"set {family.key_variable} to a valid key."
    )


class RetryableStatus(Exception):
    """Raised by an attempt whose answer was a retryable status (see `RETRY_STATUSES`).

    The wait comes from the headers unless the caller passes `retry_after` (a wait the provider
    states elsewhere, e.g. in its error body)."""

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str],
        detail: str = "",
        body: Any = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"HTTP {status}: {detail}" if detail else f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after if retry_after is not None else parse_retry_after(headers)
        self.detail = detail
        self.body = body


class stop_when(stop_base):
    """A tenacity stop condition from a plain predicate (so it composes with `|`)."""

    def __init__(self, predicate: Callable[[RetryCallState], bool]) -> None:
        self.predicate = predicate

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.predicate(retry_state)


_TRANSIENT = (RetryableStatus, httpx.TimeoutException, httpx.TransportError)
# For a request that is not safe to repeat: only answers meaning "not processed", and failures
# before the request left this machine.
_NOT_PROCESSED_STATUSES = frozenset({429, 503})


def _safe_to_repeat(exc: BaseException) -> bool:
    if isinstance(exc, RetryableStatus):
        return exc.status in _NOT_PROCESSED_STATUSES
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, `Retry-After` as seconds or an HTTP date, or else
    the IETF draft-6 `RateLimit-Reset` (seconds until the window resets)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if (ms := lowered.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        reset = lowered.get("ratelimit-reset")
        try:
            return max(0.0, float(reset)) if reset is not None else None
        except ValueError:
            return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def error_message(response: httpx.Response) -> tuple[str, str | None, Any]:
    """(message, code, parsed body) from the common JSON error shapes, falling back to the text."""
    try:
        body: Any = response.json()
    except ValueError:
        return (response.text[:300] or f"HTTP {response.status_code}", None, None)
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict):  # Google and OpenAI nest the details under "error"
            message = inner.get("message") or inner.get("status")
            code = inner.get("status") or inner.get("code") or inner.get("type")
            return (str(message or response.status_code), str(code) if code else None, body)
        message = body.get("message") or body.get("error") or f"HTTP {response.status_code}"
        if isinstance(message, list):  # NestJS validation errors are a list of sentences
            message = "; ".join(str(m) for m in message)
        code = body.get("code")
        return (str(message), str(code) if code is not None else None, body)
    return (f"HTTP {response.status_code}", None, body)


class RetryingCaller:
    """Retries, limits and counts the calls of one client instance.

    `sleep` and `clock` are injectable so unit tests can record backoffs instead of waiting them
    out, and measure the total wait on a clock they control.
    """

    def __init__(
        self,
        provider: str,
        family: ErrorFamily,
        *,
        policy: RetryPolicy | None = None,
        concurrency: int = 8,
        observer: Observer | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.provider = provider
        self.family = family
        self.policy = policy or RetryPolicy()
        self.concurrency = concurrency
        self.observer = observer
        self._sleep = sleep
        self._clock = clock
        self._slots = asyncio.Semaphore(concurrency)

    def _wait(self, state: RetryCallState) -> float:
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, RetryableStatus) and exc.retry_after is not None:
            return exc.retry_after  # the server knows best; the budget caps it
        backoff = wait_exponential_jitter(
            multiplier=self.policy.base_delay, max=self.policy.max_delay, jitter=self.policy.jitter
        )
        return float(backoff(state))

    def _too_long(self, state: RetryCallState) -> bool:
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        return (
            isinstance(exc, RetryableStatus)
            and exc.retry_after is not None
            and exc.retry_after > self.policy.max_retry_after
        )

    async def run(self, operation: str, attempt: Callable[[], Awaitable[T]], *, idempotent: bool = True) -> T:
        """Run `attempt` until it returns, retrying only the transient failures.

        `attempt` signals a retryable answer by raising `RetryableStatus`; timeouts and connection
        errors are recognised from httpx's exceptions. Anything else it raises propagates at once.
        With `idempotent=False` only 429/503 and failures to connect are retried: a timeout or a
        500 may mean the provider acted on the request.
        """
        statuses: list[int | str] = []
        waits: list[float] = []
        started = self._clock()

        async def sleep(seconds: float) -> None:
            waits.append(seconds)
            await self._sleep(seconds)

        retrying = AsyncRetrying(
            retry=(
                retry_if_exception_type(_TRANSIENT) if idempotent else retry_if_exception(_safe_to_repeat)
            ),
            stop=(
                stop_after_attempt(self.policy.attempts)
                # Give up rather than start a wait that would end past the budget.
                | stop_when(
                    lambda state: (
                        self._clock() - started + (state.upcoming_sleep or 0) >= self.policy.max_total_wait
                    )
                )
                | stop_when(self._too_long)
            ),
            wait=self._wait,
            sleep=sleep,
            reraise=True,
        )
        outcome = "ok"
        try:
            async for try_ in retrying:
                with try_:
                    async with self._slots:  # held per attempt, not across backoff sleeps
                        try:
                            result = await attempt()
                        except RetryableStatus as exc:
                            statuses.append(exc.status)
                            raise
                        except BaseException as exc:
                            status = getattr(exc, "status_code", None)
                            statuses.append(status if isinstance(status, int) else type(exc).__name__)
                            raise
                        statuses.append("ok")
            return result
        except RetryableStatus as exc:
            error = self._exhausted(exc)
            outcome = type(error).__name__
            raise error from exc
        except httpx.TimeoutException as exc:
            outcome = self.family.down.__name__
            raise self.family.down(
                f"{self.provider} {operation}: timed out after {len(statuses)} attempt(s)"
            ) from exc
        except httpx.TransportError as exc:
            outcome = self.family.down.__name__
            raise self.family.down(
                f"{self.provider} {operation}: could not connect after {len(statuses)} attempt(s) ({exc})"
            ) from exc
        except BaseException as exc:
            outcome = type(exc).__name__
            raise
        finally:
            if self.observer is not None:
                self.observer(
                    CallRecord(
                        provider=self.provider,
                        operation=operation,
                        attempts=len(statuses),
                        statuses=tuple(statuses),
                        outcome=outcome,
                        seconds=self._clock() - started,
                        waits=tuple(waits),
                    )
                )

    def _exhausted(self, exc: RetryableStatus) -> ProviderError:
        cls = self.family.for_status(exc.status)
        detail = f": {exc.detail}" if exc.detail else ""
        return cls(
            f"{self.provider} answered HTTP {exc.status}{detail}",
            status_code=exc.status,
            retry_after=exc.retry_after,
            body=exc.body,
        )

    async def request(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        *,
        operation: str,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        """Send one logical request; returns the final response (any non-retryable status).

        The caller turns a final 4xx into its own error class: only it knows its error envelope.
        """

        async def attempt() -> httpx.Response:
            response = await client.request(method, url, json=json, params=params, headers=headers)
            if response.status_code in RETRY_STATUSES:
                message, _, body = error_message(response)
                raise RetryableStatus(response.status_code, response.headers, message, body)
            return response

        return await self.run(operation, attempt, idempotent=idempotent)

    def error_for(self, response: httpx.Response, *, cls: type[ProviderError] | None = None) -> ProviderError:
        """The family's error for a final non-2xx response (default class chosen by status)."""
        message, code, body = error_message(response)
        error_cls = cls or self.family.for_status(response.status_code)
        text = f"{self.provider} answered HTTP {response.status_code}: {message}"
        if issubclass(error_cls, AuthError):
            text = key_rejected(self.family, response.status_code, message)
        return error_cls(
            text,
            status_code=response.status_code,
            code=code,
            body=body,
        )

    def bad_response(self, what: str, response: httpx.Response | None = None) -> BadResponseError:
        status = response.status_code if response is not None else None
        return self.family.bad_response(f"{self.provider}: {what}", status_code=status)


def json_object(caller: RetryingCaller, response: httpx.Response) -> dict[str, Any]:
    """The response body as a JSON object, or the family's BadResponseError."""
    try:
        body = response.json()
    except ValueError as exc:
        raise caller.bad_response(f"body is not JSON: {response.text[:120]!r}", response) from exc
    if not isinstance(body, dict):
        raise caller.bad_response(f"expected a JSON object, got {type(body).__name__}", response)
    return body


DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
