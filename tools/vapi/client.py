"""Vapi outbound calls (`POST /call`, `GET /call/{id}`) over httpx.

Errors (each also subclasses the common kind from `tools.http`); Vapi answers NestJS-style
`{"message": str | [str], "error": "Bad Request", "statusCode": 400}`::

    VapiError(ProviderError)
    ├── VapiAuthError(AuthError)                 401/403
    ├── VapiNotFoundError(NotFoundError)         404 (unknown call id)
    ├── VapiBadRequestError(BadRequestError)     other 4xx (402 out of funds included)
    ├── VapiRateLimitedError(RateLimitedError)   429 after retries
    ├── VapiDownError(ProviderDownError)         5xx, timeouts, connection errors after retries
    └── VapiBadResponseError(BadResponseError)   a body that is not a Call

`POST /call` has no idempotency key, so `create_call` is retried only when the call cannot have
been placed (429, 503, failure to connect); a timeout or a 500 surfaces at once as VapiDownError
rather than risk ringing a business twice. `get_call` retries like every read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import phonenumbers

from leadgen.settings import KEY_VARIABLES
from tools.http import (
    AuthError,
    BadRequestError,
    BadResponseError,
    ErrorFamily,
    NotFoundError,
    Observer,
    ProviderDownError,
    ProviderError,
    RateLimitedError,
    RetryingCaller,
    RetryPolicy,
    json_object,
)


class VapiError(ProviderError):
    provider = "vapi"


class VapiAuthError(VapiError, AuthError):
    pass


class VapiNotFoundError(VapiError, NotFoundError):
    pass


class VapiBadRequestError(VapiError, BadRequestError):
    pass


class VapiRateLimitedError(VapiError, RateLimitedError):
    pass


class VapiDownError(VapiError, ProviderDownError):
    pass


class VapiBadResponseError(VapiError, BadResponseError):
    pass


VAPI_ERRORS = ErrorFamily(
    root=VapiError,
    auth=VapiAuthError,
    not_found=VapiNotFoundError,
    bad_request=VapiBadRequestError,
    rate_limited=VapiRateLimitedError,
    down=VapiDownError,
    bad_response=VapiBadResponseError,
    name="Vapi",
    key_variable=KEY_VARIABLES["vapi"],
)

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def validate_e164(number: str) -> str:
    """`number` if it is a possible phone number written in E.164 (`+14155550123`), else ValueError."""
    if not _E164.match(number):
        raise ValueError(f"{number!r} is not an E.164 phone number (like +14155550123)")
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{number!r} is not a phone number: {exc}") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError(f"{number!r} is not a possible phone number")
    return number


@dataclass(frozen=True)
class VapiCall:
    id: str
    status: str | None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    ended_reason: str | None = None
    transcript: str | None = None
    summary: str | None = None
    cost: float | None = None
    customer_number: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def duration_seconds(self) -> float | None:
        """`endedAt - startedAt`: Vapi's Call has no duration field of its own."""
        if self.started_at is None or self.ended_at is None:
            return None
        return max(0.0, (self.ended_at - self.started_at).total_seconds())

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> VapiCall:
        call_id = raw["id"]
        if not isinstance(call_id, str) or not call_id:
            raise ValueError("call without an id")
        artifact = raw.get("artifact") or {}
        analysis = raw.get("analysis") or {}
        customer = raw.get("customer") or {}
        cost = raw.get("cost")
        return cls(
            id=call_id,
            status=raw.get("status"),
            started_at=_iso(raw.get("startedAt")),
            ended_at=_iso(raw.get("endedAt")),
            ended_reason=raw.get("endedReason"),
            transcript=artifact.get("transcript") or raw.get("transcript"),
            summary=analysis.get("summary") or raw.get("summary"),
            cost=float(cost) if cost is not None else None,
            customer_number=customer.get("number"),
            raw=raw,
        )


def _iso(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO-8601 string, got {value!r}")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class VapiClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        api_key: str,
        *,
        policy: RetryPolicy | None = None,
        concurrency: int = 4,
        observer: Observer | None = None,
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self.caller = RetryingCaller(
            "vapi", VAPI_ERRORS, policy=policy, concurrency=concurrency, observer=observer
        )

    async def create_call(
        self,
        *,
        assistant_id: str,
        phone_number_id: str,
        customer_number: str,
        customer_name: str | None = None,
        server_url: str | None = None,
        server_headers: dict[str, str] | None = None,
        variable_values: dict[str, Any] | None = None,
    ) -> VapiCall:
        """Place an outbound phone call (answer 201 with the queued Call)."""
        customer: dict[str, Any] = {"number": validate_e164(customer_number)}
        if customer_name:
            customer["name"] = customer_name
        body: dict[str, Any] = {
            "assistantId": assistant_id,
            "phoneNumberId": phone_number_id,
            "customer": customer,
        }
        overrides: dict[str, Any] = {}
        if variable_values:
            overrides["variableValues"] = variable_values
        if server_url:
            # Vapi withholds the org credential when the URL comes in the request, so auth for
            # our webhook must travel in these headers (reference §4, "Gotcha").
            server: dict[str, Any] = {"url": server_url}
            if server_headers:
                server["headers"] = server_headers
            overrides["server"] = server
        if overrides:
            body["assistantOverrides"] = overrides
        return await self._call("POST", "/call", "create_call", body)

    async def get_call(self, call_id: str) -> VapiCall:
        if not call_id or "/" in call_id:
            raise ValueError(f"bad call id {call_id!r}")
        return await self._call("GET", f"/call/{call_id}", "get_call")

    async def _call(
        self, method: str, path: str, operation: str, body: dict[str, Any] | None = None
    ) -> VapiCall:
        response = await self.caller.request(
            self._http,
            method,
            self._base + path,
            operation=operation,
            json=body,
            headers=self._headers,
            idempotent=method == "GET",
        )
        if response.status_code >= 400:
            raise self.caller.error_for(response)
        data = json_object(self.caller, response)
        try:
            return VapiCall.from_api(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self.caller.bad_response(f"malformed Call: {exc!r}", response) from exc
