"""Latency, transient faults, outages and request recording, applied in front of every provider.

One ASGI middleware sees each request before the provider emulators do. It finds the provider
from the path prefix, then (in this order) waits while the provider is held (`hold`: a test stops
work at a known step and releases it), answers 503 when the provider is in an outage, applies
Firecrawl's per-minute plan limit (`firecrawl_rate_limit` per `firecrawl_rate_window_seconds`),
draws a transient fault (429, 500, 503, or a hang longer than clients wait), sleeps the
endpoint's latency, runs the emulator, and records the exchange for `/_sandbox/requests`.

A 429 says when to come back the way each provider says it (its own definitions):
Google Places: `RESOURCE_EXHAUSTED` and no wait at all (back off); Firecrawl: only its body,
"...please retry after Ns, resets at <date>" (no header); OpenAI: `retry-after`,
`retry-after-ms` and `x-ratelimit-*`; Autumn: hono-rate-limiter's draft-6 `RateLimit-*` headers
with `Retry-After` and a plain-text body; Vapi: NestJS's throttler body with `Retry-After`;
Slack: `Retry-After` and `{"ok": false, "error": "ratelimited"}`.

Draws are deterministic: they hash the fault seed, the request and how many times that same
request was seen, so a retry can succeed where the first attempt failed, and a test run replays.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tools.sandbox.control import RecordedRequest, config_changed

# Path prefix -> provider. Firecrawl sits at the root (its SDK drops any path from api_url).
PREFIXES: tuple[tuple[str, str], ...] = (
    ("/places/", "places"),
    ("/openai/", "openai"),
    ("/autumn/", "autumn"),
    ("/vapi/", "vapi"),
    ("/slack/", "slack"),
    ("/v2/", "firecrawl"),
    ("/v1/", "firecrawl"),
)

# Realistic latency per endpoint, in milliseconds (min, max), before `latency_scale`.
LATENCY_MS: dict[str, tuple[int, int]] = {
    "places": (300, 900),
    "firecrawl:map": (400, 1200),
    "firecrawl:scrape": (600, 2500),
    "firecrawl:batch": (150, 400),
    "firecrawl:crawl": (150, 400),
    "openai": (200, 1500),
    "autumn": (60, 250),
    "vapi": (100, 400),
    "slack": (80, 300),
}
SLOW_PAGE_EXTRA_MS = (4000, 7000)

REDACTED_HEADERS = {"authorization", "x-goog-api-key", "x-api-key", "x-vapi-secret", "cookie"}


def service_for(path: str) -> str | None:
    for prefix, service in PREFIXES:
        if path.startswith(prefix):
            return service
    return None


def unit_draw(*parts: object) -> float:
    """A deterministic number in [0, 1) from `parts`."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def fault_attempts(state: Any) -> Counter[str]:
    """How often each request was seen, for the per-attempt fault draws. Kept on the sandbox's
    state, not the middleware, so that resetting the config starts the draws over."""
    attempts: Counter[str] | None = getattr(state, "fault_attempts", None)
    if attempts is None:
        attempts = state.fault_attempts = Counter()
    return attempts


def latency_profile(service: str, path: str) -> tuple[int, int]:
    if service == "firecrawl":
        for word in ("map", "scrape", "batch", "crawl"):
            if f"/{word}" in path:
                key = "firecrawl:batch" if "/batch/" in path else f"firecrawl:{word}"
                return LATENCY_MS[key]
        return LATENCY_MS["firecrawl:crawl"]
    return LATENCY_MS[service]


def latency_seconds(service: str, path: str, body: bytes, scale: float) -> float:
    if scale <= 0:
        return 0.0
    low, high = latency_profile(service, path)
    draw = unit_draw("latency", service, path, hashlib.sha256(body).hexdigest())
    return scale * (low + (high - low) * draw) / 1000


def firecrawl_rate_limit_message(consumed: int, remaining: int, wait: float) -> str:
    """Firecrawl's own 429 sentence (apps/api/src/controllers/auth.ts): the wait is in the text."""
    seconds = round(wait) or 1
    resets = time.strftime(
        "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", time.gmtime(time.time() + wait)
    )
    return (
        f"Rate limit exceeded. Consumed (req/min): {consumed}, Remaining (req/min): {remaining}. "
        f"Upgrade your plan at https://firecrawl.dev/pricing for increased rate limits or please "
        f"retry after {seconds}s, resets at {resets}"
    )


def rate_limited(service: str, wait: float, *, limit: int = 60) -> Response:
    """A 429 telling the client to wait `wait` seconds, in the provider's own way."""
    seconds = max(1, math.ceil(wait))
    if service == "places":  # Google gives no wait: clients back off
        return error_response(service, 429, "Quota exceeded for quota metric 'Text Search requests'.")
    if service == "firecrawl":
        return error_response(service, 429, firecrawl_rate_limit_message(limit + 1, 0, wait))
    if service == "openai":
        headers = {
            "retry-after": str(seconds),
            "retry-after-ms": str(int(wait * 1000)),
            "x-ratelimit-limit-requests": str(limit),
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": f"{wait:.3f}s",
        }
        return error_response(
            service, 429, f"Rate limit reached for requests. Please try again in {wait:.3f}s.", headers
        )
    if service == "autumn":  # hono-rate-limiter, standardHeaders "draft-6"
        headers = {
            "RateLimit-Policy": f"{limit};w=1",
            "RateLimit-Limit": str(limit),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(seconds),
            "Retry-After": str(seconds),
        }
        return Response("Too many requests, please try again later.", 429, headers, media_type="text/plain")
    if service == "vapi":
        return JSONResponse(
            {"statusCode": 429, "message": "ThrottlerException: Too Many Requests"},
            status_code=429,
            headers={"Retry-After": str(seconds)},
        )
    return error_response(service, 429, "ratelimited", {"Retry-After": str(seconds)})  # slack


def error_response(
    service: str, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    """An error in the provider's own envelope."""
    body: dict[str, Any]
    if service == "places":
        google_status = {
            429: "RESOURCE_EXHAUSTED",
            500: "INTERNAL",
            503: "UNAVAILABLE",
            504: "DEADLINE_EXCEEDED",
        }
        body = {"error": {"code": status, "message": message, "status": google_status.get(status, "UNKNOWN")}}
        if status == 429:
            body["error"]["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "RATE_LIMIT_EXCEEDED",
                    "domain": "googleapis.com",
                    "metadata": {"service": "places.googleapis.com"},
                }
            ]
    elif service == "firecrawl":
        body = {"success": False, "error": message}
    elif service == "openai":
        kind = {429: "requests", 500: "server_error", 503: "server_error", 504: "timeout"}
        code = {429: "rate_limit_exceeded", 503: "service_unavailable"}
        body = {"error": {"message": message, "type": kind.get(status, "api_error"), "param": None}}
        body["error"]["code"] = code.get(status)
    elif service == "autumn":
        code = {429: "rate_limit_exceeded", 500: "internal_error", 503: "service_unavailable"}
        body = {"message": message, "code": code.get(status, "internal_error"), "env": "sandbox"}
    elif service == "vapi":
        reason = {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}
        body = {"message": message, "error": reason.get(status, "Error"), "statusCode": status}
    else:  # slack
        body = {"ok": False, "error": "ratelimited" if status == 429 else "service_unavailable"}
    return JSONResponse(body, status_code=status, headers=headers)


def _decode_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    if "json" in content_type or raw[:1] in (b"{", b"["):
        try:
            return json.loads(raw)
        except ValueError:
            pass
    if "x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(raw.decode("utf-8", "replace")))
    return raw[:10_000].decode("utf-8", "replace")


def _redact(name: str, value: str) -> str:
    if name not in REDACTED_HEADERS:
        return value
    scheme, _, token = value.partition(" ")
    shown = token if token else scheme
    prefix = f"{scheme} " if token else ""
    return f"{prefix}{shown[:4]}…(redacted)"


def _redact_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(f"{k}={'(redacted)' if k == 'key' else v}" for k, v in pairs)


class SandboxMiddleware:
    """Applies the knobs in front of the emulators and records what they answered."""

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.state = state
        # Firecrawl's limiter: per endpoint group, a fixed 60 s window from its first request.
        self.firecrawl_windows: dict[str, tuple[float, int]] = {}
        self._windows_config: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        service = service_for(scope.get("path", "")) if scope["type"] == "http" else None
        if service is None:
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        generation = self.state.log.generation  # a request begun before a clear is not logged
        raw = await _read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path, method = scope["path"], scope["method"]
        if service in self.state.config.hold:  # a test holds this provider at a known step
            changed = config_changed(self.state)
            async with changed:
                await changed.wait_for(lambda: service not in self.state.config.hold)
        config = self.state.config
        latency_scale = float(headers.get("x-sandbox-latency", config.latency_scale))
        fail_rate = float(headers.get("x-sandbox-fail-rate", config.fail_rate))
        status_holder = [0]

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
            await send(message)

        response = await self._fault(service, method, path, raw, config, latency_scale, fail_rate)
        if response is not None:
            await response(scope, receive, recording_send)
        else:
            await asyncio.sleep(latency_seconds(service, path, raw, latency_scale))
            scope.setdefault("state", {})["latency_scale"] = latency_scale
            await self.app(scope, _replay(raw), recording_send)
        self.state.log.add(
            RecordedRequest(
                service=service,
                method=method,
                path=path,
                query=_redact_query(scope.get("query_string", b"").decode("latin-1")),
                headers={k: _redact(k, v) for k, v in headers.items()},
                body=_decode_body(raw, headers.get("content-type", "")),
                status=status_holder[0],
                at=time.time(),
                duration_ms=round((time.monotonic() - started) * 1000, 1),
            ),
            generation,
        )

    async def _fault(
        self, service: str, method: str, path: str, raw: bytes, config: Any, scale: float, fail_rate: float
    ) -> Response | None:
        if service in config.outages:
            return error_response(
                service, 503, f"The service is currently unavailable (sandbox outage of {service})."
            )
        if config is not self._windows_config:  # new knobs: the limiter starts afresh
            self._windows_config, self.firecrawl_windows = config, {}
        if service == "firecrawl" and config.firecrawl_rate_limit > 0:
            limited = self._firecrawl_limit(
                method, path, config.firecrawl_rate_limit, config.firecrawl_rate_window_seconds
            )
            if limited is not None:
                return limited
        if fail_rate <= 0 or not config.fault_kinds:
            return None
        key = f"{service}|{method}|{path}|{hashlib.sha256(raw).hexdigest()}"
        attempts = fault_attempts(self.state)
        attempts[key] += 1
        attempt = attempts[key]
        if unit_draw("fault", config.fault_seed, key, attempt) >= fail_rate:
            return None
        kinds = config.fault_kinds
        kind = kinds[int(unit_draw("kind", config.fault_seed, key, attempt) * len(kinds))]
        if kind == "429":
            wait = config.retry_after_seconds * unit_draw("retry", key, attempt) * min(scale, 1.0)
            return rate_limited(service, wait)
        if kind == "timeout":
            await asyncio.sleep(config.timeout_seconds)
            return error_response(service, 504, "Deadline exceeded (sandbox timeout fault).")
        return error_response(service, int(kind), f"Transient server error {kind} (sandbox fault).")

    def _firecrawl_limit(self, method: str, path: str, limit: int, window: float) -> Response | None:
        """Firecrawl's plan limit (rate-limiter-flexible, fixed 60 s windows from the first
        request) per endpoint group: scrape and batch starts share one, as do map, crawl
        starts, and job status reads."""
        if method == "GET":
            group = "crawlStatus"
        elif "/map" in path:
            group = "map"
        elif path.rstrip("/").endswith("/crawl"):
            group = "crawl"
        else:
            group = "scrape"
        now = time.monotonic()
        started, used = self.firecrawl_windows.get(group, (now, 0))
        if now - started >= window:
            started, used = now, 0
        used += 1
        self.firecrawl_windows[group] = (started, used)
        if used <= limit:
            return None
        wait = window - (now - started)
        return error_response("firecrawl", 429, firecrawl_rate_limit_message(used, 0, wait))


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(raw: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        # After the body, behave like a connection that stays open until the response ends.
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    return receive
