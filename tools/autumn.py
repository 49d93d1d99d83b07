"""Autumn billing API (v1 paths, `X-Api-Version: 1.2.0`) over httpx.

Why not `autumn-py`: its models drop `usage`, `included_usage`, `unlimited`, `interval`,
`overage_allowed` and the paywall `preview` (Autumn API reference, version 1.2.0); we keep every field.

Errors (each also subclasses the common kind from `tools.http`)::

    AutumnError(ProviderError)
    ├── AutumnAuthError(AuthError)                 401/403
    ├── AutumnNotFoundError(NotFoundError)         404, e.g. customer_not_found
    ├── AutumnBadRequestError(BadRequestError)     other 4xx
    │   ├── DuplicateIdempotencyKey                409 duplicate_idempotency_key: recorded in the
    │   │                                          last 24 h (Autumn forgets keys after that)
    │   └── AutumnInsufficientBalance              400 insufficient_balance on a track sent with
    │                                              `overage_behavior="reject"`
    ├── AutumnRateLimitedError(RateLimitedError)   429 after retries
    ├── AutumnDownError(ProviderDownError)         5xx, timeouts, connection errors after retries
    └── AutumnBadResponseError(BadResponseError)   a body we cannot read
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

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

API_VERSION = "1.2.0"


class AutumnError(ProviderError):
    provider = "autumn"


class AutumnAuthError(AutumnError, AuthError):
    pass


class AutumnNotFoundError(AutumnError, NotFoundError):
    pass


class AutumnBadRequestError(AutumnError, BadRequestError):
    pass


class DuplicateIdempotencyKey(AutumnBadRequestError):
    """The idempotency key was recorded before: nothing was charged this time."""


class AutumnInsufficientBalance(AutumnBadRequestError):
    pass


class AutumnRateLimitedError(AutumnError, RateLimitedError):
    pass


class AutumnDownError(AutumnError, ProviderDownError):
    pass


class AutumnBadResponseError(AutumnError, BadResponseError):
    pass


AUTUMN_ERRORS = ErrorFamily(
    root=AutumnError,
    auth=AutumnAuthError,
    not_found=AutumnNotFoundError,
    bad_request=AutumnBadRequestError,
    rate_limited=AutumnRateLimitedError,
    down=AutumnDownError,
    bad_response=AutumnBadResponseError,
    name="Autumn",
    key_variable=KEY_VARIABLES["autumn"],
)
_CODE_ERRORS: dict[str, type[AutumnError]] = {
    "duplicate_idempotency_key": DuplicateIdempotencyKey,
    "insufficient_balance": AutumnInsufficientBalance,
    "customer_not_found": AutumnNotFoundError,
}


@dataclass(frozen=True)
class AutumnCheck:
    """`POST /v1/check`. A 202 is Autumn failing open: allowed, balance unknown (None)."""

    allowed: bool
    customer_id: str
    feature_id: str | None
    code: str | None = None
    required_balance: float | None = None
    balance: float | None = None
    usage: float | None = None
    included_usage: float | None = None
    interval: str | None = None
    interval_count: int | None = None
    unlimited: bool = False
    overage_allowed: bool = False
    next_reset_at: int | None = None  # epoch milliseconds
    usage_limit: float | None = None
    preview: dict[str, Any] | None = None
    breakdown: list[dict[str, Any]] | None = None
    fail_open: bool = False  # True when the answer was a 202
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class AutumnTrack:
    id: str | None
    code: str | None
    customer_id: str | None
    feature_id: str | None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class AutumnEvent:
    """One tracked event, as `POST /v1/events/list` lists it."""

    id: str
    timestamp: int  # epoch milliseconds
    feature_id: str
    customer_id: str
    value: float
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AutumnAttach:
    checkout_url: str | None
    code: str | None
    customer_id: str | None = None
    product_ids: tuple[str, ...] = ()
    message: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class AutumnCustomer:
    id: str
    name: str | None = None
    email: str | None = None
    env: str | None = None
    products: tuple[dict[str, Any], ...] = ()
    features: dict[str, dict[str, Any]] = field(default_factory=dict)  # keyed by feature id (1.2)
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


class AutumnClient:
    """Check, track, attach and customers against `{base_url}/v1/...`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        secret_key: str,
        *,
        policy: RetryPolicy | None = None,
        concurrency: int = 16,
        observer: Observer | None = None,
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/") + "/v1"
        self._headers = {
            "Authorization": f"Bearer {secret_key}",
            "X-Api-Version": API_VERSION,
            "Accept": "application/json",
        }
        self.caller = RetryingCaller(
            "autumn", AUTUMN_ERRORS, policy=policy, concurrency=concurrency, observer=observer
        )

    async def _call(
        self, method: str, path: str, operation: str, body: dict[str, Any] | None = None
    ) -> tuple[httpx.Response, dict[str, Any]]:
        response = await self.caller.request(
            self._http, method, self._base + path, operation=operation, json=body, headers=self._headers
        )
        if response.status_code >= 400:
            error = self.caller.error_for(response)
            special = _CODE_ERRORS.get(error.code or "")
            if special is not None:
                error = self.caller.error_for(response, cls=special)
            raise error
        return response, json_object(self.caller, response)

    async def check(
        self,
        customer_id: str,
        feature_id: str,
        required_balance: float = 1,
        with_preview: bool = False,
    ) -> AutumnCheck:
        response, data = await self._call(
            "POST",
            "/check",
            "check",
            {
                "customer_id": customer_id,
                "feature_id": feature_id,
                "required_balance": required_balance,
                "send_event": False,
                "with_preview": with_preview,
            },
        )
        fail_open = response.status_code == 202
        if "allowed" not in data and not fail_open:
            raise self.caller.bad_response("check answer without `allowed`", response)
        try:
            return AutumnCheck(
                allowed=bool(data.get("allowed", fail_open)),
                customer_id=str(data.get("customer_id") or customer_id),
                feature_id=data.get("feature_id", feature_id),
                code=data.get("code"),
                required_balance=_num(data.get("required_balance")),
                balance=_num(data.get("balance")),
                usage=_num(data.get("usage")),
                included_usage=_num(data.get("included_usage")),
                interval=data.get("interval"),
                interval_count=_int(data.get("interval_count")),
                unlimited=bool(data.get("unlimited") or False),
                overage_allowed=bool(data.get("overage_allowed") or False),
                next_reset_at=_int(data.get("next_reset_at")),
                usage_limit=_num(data.get("usage_limit")),
                preview=data.get("preview"),
                breakdown=data.get("breakdown"),
                fail_open=fail_open,
                raw=data,
            )
        except (TypeError, ValueError) as exc:
            raise self.caller.bad_response(f"malformed check answer: {exc}", response) from exc

    async def track(
        self,
        customer_id: str,
        feature_id: str,
        value: float = 1,
        *,
        idempotency_key: str | None = None,
        properties: dict[str, Any] | None = None,
        overage_behavior: Literal["cap", "reject", "overflow"] | None = None,
    ) -> AutumnTrack:
        """Record usage. Raises DuplicateIdempotencyKey when the key was recorded in the last 24 h.

        Retrying a track is safe only with a key: a retry after a lost answer then comes back 409
        (for a day: Autumn forgets the key after that). Beyond the balance Autumn's default
        `overage_behavior` is `cap`: it answers 200 and deducts only what fits, without saying
        how much; `reject` makes it refuse with AutumnInsufficientBalance instead.
        """
        body: dict[str, Any] = {"customer_id": customer_id, "feature_id": feature_id, "value": value}
        if idempotency_key is not None:
            body["idempotency_key"] = idempotency_key
        if properties:
            body["properties"] = properties
        if overage_behavior is not None:
            body["overage_behavior"] = overage_behavior
        _, data = await self._call("POST", "/track", "track", body)
        return AutumnTrack(
            id=data.get("id"),
            code=data.get("code"),
            customer_id=data.get("customer_id"),
            feature_id=data.get("feature_id"),
            raw=data,
        )

    async def list_events(
        self,
        customer_id: str,
        feature_id: str,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[AutumnEvent], bool]:
        """`POST /v1/events/list`: one page of the customer's events of `feature_id` in the time
        range, and whether more follow."""
        body: dict[str, Any] = {
            "customer_id": customer_id,
            "feature_id": feature_id,
            "limit": limit,
            "offset": offset,
        }
        window = {k: v for k, v in (("start", start_ms), ("end", end_ms)) if v is not None}
        if window:
            body["custom_range"] = window
        response, data = await self._call("POST", "/events/list", "list_events", body)
        items = data.get("list")
        if not isinstance(items, list):
            raise self.caller.bad_response("events answer without `list`", response)
        try:
            events = [
                AutumnEvent(
                    id=str(item["id"]),
                    timestamp=int(item["timestamp"]),
                    feature_id=str(item["feature_id"]),
                    customer_id=str(item["customer_id"]),
                    value=float(item["value"]),
                    properties=dict(item.get("properties") or {}),
                )
                for item in items
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise self.caller.bad_response(f"malformed event: {exc!r}", response) from exc
        return events, bool(data.get("has_more"))

    async def attach(self, customer_id: str, product_id: str, success_url: str | None = None) -> AutumnAttach:
        body: dict[str, Any] = {"customer_id": customer_id, "product_id": product_id}
        if success_url:
            body["success_url"] = success_url
        _, data = await self._call("POST", "/attach", "attach", body)
        return AutumnAttach(
            checkout_url=data.get("checkout_url"),
            code=data.get("code"),
            customer_id=data.get("customer_id"),
            product_ids=tuple(data.get("product_ids") or ()),
            message=data.get("message"),
            raw=data,
        )

    async def create_customer(
        self, id: str, name: str | None = None, email: str | None = None
    ) -> AutumnCustomer:
        """Get-or-create (Autumn answers the existing customer for a known id)."""
        body: dict[str, Any] = {"id": id}
        if name is not None:
            body["name"] = name
        if email is not None:
            body["email"] = email
        response, data = await self._call("POST", "/customers", "create_customer", body)
        return self._customer(response, data)

    async def get_customer(self, id: str) -> AutumnCustomer:
        response, data = await self._call("GET", f"/customers/{id}", "get_customer")
        return self._customer(response, data)

    def _customer(self, response: httpx.Response, data: dict[str, Any]) -> AutumnCustomer:
        features = data.get("features") or {}
        if isinstance(features, list):  # pre-1.2 servers send a list; normalise to the 1.2 dict
            features = {f.get("id"): f for f in features if isinstance(f, dict)}
        if not isinstance(data.get("id"), str) or not isinstance(features, dict):
            raise self.caller.bad_response("malformed customer", response)
        return AutumnCustomer(
            id=data["id"],
            name=data.get("name"),
            email=data.get("email"),
            env=data.get("env"),
            products=tuple(data.get("products") or ()),
            features=features,
            raw=data,
        )


def _num(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return value


def _int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected an integer, got {value!r}")
    return int(value)
