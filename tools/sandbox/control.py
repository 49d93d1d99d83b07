"""The sandbox's own control API: knobs, the request log and the world's ground truth.

GET    /_sandbox/config            the current knobs
POST   /_sandbox/config            change some knobs (JSON object of knob -> value)
DELETE /_sandbox/config            back to the knobs the server started with (and counters)
GET    /_sandbox/requests          requests answered, newest last (?service=places|firecrawl|...)
DELETE /_sandbox/requests          forget them
GET    /_sandbox/truth?domain=...  the finding codes true for a site, read from the HTML it serves
GET    /_sandbox/health            {"ok": true}
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tools.sandbox.model_faults import MODEL_FAULTS

SERVICES = ("places", "firecrawl", "openai", "autumn", "vapi", "slack")
FAULT_KINDS = ("429", "500", "503", "timeout")
VAPI_WEBHOOK_AUTH = ("none", "x-vapi-secret", "bearer", "hmac")


@dataclass
class SandboxConfig:
    """Every knob. Defaults are what `leadgen sandbox` runs with (realistic latency, no faults)."""

    latency_scale: float = 1.0  # multiplies each endpoint's latency profile; 0 = answer at once
    fail_rate: float = 0.0  # share of provider requests that get a transient fault
    fault_seed: int = 0  # faults are drawn from this seed, the request and its attempt number
    fault_kinds: list[str] = field(default_factory=lambda: list(FAULT_KINDS))
    retry_after_seconds: float = 1.0  # upper bound of Retry-After on 429 (scaled by latency_scale)
    timeout_seconds: float = 30.0  # how long a "timeout" fault hangs before answering 504
    outages: list[str] = field(default_factory=list)  # providers answering 503 always
    hold: list[str] = field(default_factory=list)  # providers whose requests wait until released
    down_domains: list[str] = field(default_factory=list)  # firecrawl domains that fail to load
    places_max_results: int = 60  # businesses per well-formed query, 20 a page (as Places: at most 60)
    world_profile: str = "realistic"  # or "all_auditable": only leads with a phone and a working own site
    autumn_starting_balance: int = 20  # atlas_credits of a customer created without a plan
    vapi_call_seconds: float = 60.0  # simulated talk time
    vapi_ended_reason: str = "customer-ended-call"
    vapi_ring_seconds: float = 2.0  # wall time queued -> ringing -> in-progress (x latency_scale)
    vapi_max_talk_seconds: float = 5.0  # a call's talk is compressed to at most this (x latency_scale)
    vapi_server_url: str = ""  # where end-of-call reports go when the call names no server URL
    vapi_webhook_auth: str = "none"
    vapi_webhook_secret: str = ""
    slack_rate_limit_per_minute: int = 0  # per method and channel; 0 = no limit
    # A workspace whose admin turned file uploads off: files.getUploadURLExternal answers
    # `file_uploads_disabled`, as Slack does.
    slack_file_uploads_disabled: bool = False
    # Keys every provider refuses as it refuses a wrong or revoked key (each in its own shape).
    revoked_keys: list[str] = field(default_factory=list)
    # Firecrawl's plan limit: requests per window per endpoint group (0 = none); its window is a
    # minute, shorter only so tests can wait one out.
    firecrawl_rate_limit: int = 0
    firecrawl_rate_window_seconds: float = 60.0
    # The chat model misbehaving on purpose (tools/sandbox/model_faults.py); [] = well behaved.
    model_faults: list[str] = field(default_factory=list)
    model_fault_schemas: list[str] = field(default_factory=list)  # [] = every request
    model_fault_limit: int = 0  # misbehave on the first N matching requests only; 0 = always
    # Text the web carries (e.g. a prompt injection): appended to every page of these sites.
    planted_text: str = ""
    planted_domains: list[str] = field(default_factory=list)  # [] = every site

    def update(self, changes: dict[str, Any]) -> None:
        """Apply `changes`, refusing unknown knobs and bad values (ValueError)."""
        known = {f.name: f for f in dataclasses.fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown sandbox knob {name!r}; known: {', '.join(sorted(known))}")
            current = getattr(self, name)
            if isinstance(current, bool | list):
                if isinstance(current, list) and isinstance(value, str):
                    value = [v for v in value.split(",") if v]
                if type(value) is not type(current):
                    raise ValueError(f"{name} must be a {type(current).__name__}")
            elif isinstance(current, float):
                value = float(value)
            elif isinstance(current, int):
                value = int(value)
            elif isinstance(current, str):
                value = str(value)
            setattr(self, name, value)
        if not 0 <= self.fail_rate <= 1:
            raise ValueError("fail_rate must be between 0 and 1")
        if self.latency_scale < 0:
            raise ValueError("latency_scale must be >= 0")
        if self.world_profile not in ("realistic", "all_auditable"):
            raise ValueError("world_profile must be realistic or all_auditable")
        if self.vapi_webhook_auth not in VAPI_WEBHOOK_AUTH:
            raise ValueError(f"vapi_webhook_auth must be one of {', '.join(VAPI_WEBHOOK_AUTH)}")
        if set(self.hold) - set(SERVICES):
            raise ValueError(f"hold must list services among {', '.join(SERVICES)}")
        unknown_kinds = set(self.fault_kinds) - set(FAULT_KINDS)
        if unknown_kinds:
            raise ValueError(f"fault_kinds must be among {', '.join(FAULT_KINDS)}")
        if set(self.model_faults) - set(MODEL_FAULTS):
            raise ValueError(f"model_faults must be among {', '.join(MODEL_FAULTS)}")
        if self.model_fault_limit < 0:
            raise ValueError("model_fault_limit must be >= 0 (0 = every matching request)")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class RecordedRequest:
    service: str
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    status: int
    at: float
    duration_ms: float

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class RequestLog:
    """Every provider request the sandbox answered, oldest first (thread-safe, bounded).

    `clear()` starts a new generation: a request that began before it (a hung "timeout" fault
    still being served, say) is not recorded when it ends, so the log after a clear holds only
    what was asked after it."""

    def __init__(self, limit: int = 20_000) -> None:
        self._items: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._limit = limit
        self.generation = 0

    def add(self, item: RecordedRequest, generation: int | None = None) -> None:
        with self._lock:
            if generation is not None and generation != self.generation:
                return
            self._items.append(item)
            if len(self._items) > self._limit:
                del self._items[: len(self._items) - self._limit]

    def list(self, service: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self._items if service is None or r.service == service]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.generation += 1


def _state(request: Request) -> Any:
    return request.app.state.sandbox


def config_changed(state: Any) -> asyncio.Condition:
    """Notified whenever the knobs change, for requests waiting on one (a held provider)."""
    condition: asyncio.Condition | None = getattr(state, "config_changed", None)
    if condition is None:
        condition = state.config_changed = asyncio.Condition()
    return condition


async def _knobs_changed(state: Any) -> None:
    condition = config_changed(state)
    async with condition:
        condition.notify_all()


async def get_config(request: Request) -> JSONResponse:
    return JSONResponse(_state(request).config.as_dict())


async def post_config(request: Request) -> JSONResponse:
    state = _state(request)
    try:
        changes = await request.json()
        if not isinstance(changes, dict):
            raise ValueError("the body must be a JSON object of knob -> value")
        candidate = SandboxConfig(**state.config.as_dict())
        candidate.update(changes)
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    state.config = candidate
    await _knobs_changed(state)
    return JSONResponse(candidate.as_dict())


async def reset_config(request: Request) -> JSONResponse:
    """The starting knobs, and the counters behind them: which attempt of a request this is (the
    fault draws) and of a flaky page (it fails every other time). A reset sandbox answers the
    same requests the same way, whatever was asked before."""
    state = _state(request)
    state.config = SandboxConfig(**state.initial_config.as_dict())
    getattr(state, "fault_attempts", {}).clear()
    firecrawl = state.stores.get("firecrawl")
    if firecrawl is not None:
        firecrawl.attempts.clear()
    await _knobs_changed(state)
    return JSONResponse(state.config.as_dict())


async def get_requests(request: Request) -> JSONResponse:
    service = request.query_params.get("service")
    if service and service not in SERVICES:
        return JSONResponse({"error": f"unknown service {service!r}; one of {', '.join(SERVICES)}"}, 400)
    return JSONResponse([r.as_dict() for r in _state(request).log.list(service)])


async def clear_requests(request: Request) -> JSONResponse:
    _state(request).log.clear()
    return JSONResponse({"ok": True})


async def get_truth(request: Request) -> JSONResponse:
    domain = request.query_params.get("domain", "").strip().lower()
    if not domain:
        return JSONResponse({"error": "pass ?domain=example.com"}, status_code=400)
    domain = domain.split("://", 1)[-1].split("/", 1)[0]
    truth = _state(request).world.truth(domain)
    if truth is None:
        return JSONResponse({"error": f"no site at {domain} in this world"}, status_code=404)
    return JSONResponse(truth)


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True, "time": time.time()})


routes = [
    Route("/_sandbox/config", get_config, methods=["GET"]),
    Route("/_sandbox/config", post_config, methods=["POST"]),
    Route("/_sandbox/config", reset_config, methods=["DELETE"]),
    Route("/_sandbox/requests", get_requests, methods=["GET"]),
    Route("/_sandbox/requests", clear_requests, methods=["DELETE"]),
    Route("/_sandbox/truth", get_truth, methods=["GET"]),
    Route("/_sandbox/health", health, methods=["GET"]),
]
