"""Vapi outbound calls at `/vapi/call`, simulated end to end.

A created call moves queued -> ringing -> in-progress -> ended in the background (wall time
scaled by `latency_scale`; the talk is compressed to at most `vapi_max_talk_seconds`), then the
sandbox POSTs a real `end-of-call-report` (`{"message": {...}}`) to the server URL: the request's
`assistantOverrides.server.url` or `assistant.server.url`, else the `vapi_server_url` knob (the
org's or phone number's saved server URL).

How the report is authenticated follows where the URL came from, as at Vapi: a URL supplied in
the request gets exactly that request's `server.headers` (Vapi withholds the org's credential
then; reference §4, "Gotcha"); the saved URL is signed per `vapi_webhook_auth` (none |
x-vapi-secret | bearer | hmac), HMAC being the hex SHA-256 of f"{timestamp}.{raw_body}" keyed by
`vapi_webhook_secret`, in `x-signature`, with the Unix timestamp (seconds) in `x-timestamp`.

Simulated times are consistent: `endedAt - startedAt` equals the call's talk time even when the
wall clock ran faster. Talk time and outcome come from `vapi_call_seconds` / `vapi_ended_reason`
or, per call, `assistantOverrides.variableValues.sandbox_call_seconds` / `sandbox_ended_reason`
(`sandbox_book_meeting` true/false forces the analysis outcome). A call that reaches voicemail
connects and has talk time (the greeting, the assistant's message), as a real one does; only the
calls nobody picked up (`UNANSWERED`) last 0 s.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tools.sandbox.faults import unit_draw

log = logging.getLogger(__name__)
UNANSWERED = {"customer-did-not-answer", "customer-busy", "twilio-failed-to-connect-call"}
VOICEMAIL = "voicemail"
E164 = re.compile(r"^\+[1-9]\d{7,14}$")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def vapi_error(status: int, message: str | list[str]) -> JSONResponse:
    reason = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}.get(status, "Error")
    return JSONResponse({"message": message, "error": reason, "statusCode": status}, status_code=status)


class VapiStore:
    def __init__(self) -> None:
        self.calls: dict[str, dict[str, Any]] = {}
        self.deliveries: list[dict[str, Any]] = []  # webhook attempts: url, status or error
        self.tasks: set[asyncio.Task[None]] = set()


def _store(request: Request) -> VapiStore:
    store: VapiStore = request.app.state.sandbox.stores.setdefault("vapi", VapiStore())
    return store


def _denied(request: Request) -> JSONResponse | None:
    auth = request.headers.get("authorization", "")
    revoked = auth.removeprefix("Bearer ") in request.app.state.sandbox.config.revoked_keys
    if not auth.startswith("Bearer ") or len(auth) <= len("Bearer ") or revoked:
        return vapi_error(401, "Invalid Key. Hot tip, make sure you're using the private key.")
    return None


async def create_call(request: Request) -> Response:
    if denied := _denied(request):
        return denied
    try:
        body = await request.json()
    except ValueError:
        return vapi_error(400, "Invalid JSON body")
    if not isinstance(body, dict):
        return vapi_error(400, "Body must be an object")
    customer = body.get("customer") or {}
    problems = []
    if not E164.match(str(customer.get("number", ""))):
        problems.append("customer.number must be a valid phone number in the E.164 format.")
    if not (body.get("assistantId") or body.get("assistant") or body.get("squadId") or body.get("squad")):
        problems.append("Need Either `assistantId`, `assistant`, `squadId`, or `squad`.")
    if not (body.get("phoneNumberId") or body.get("phoneNumber")):
        problems.append("Need Either `phoneNumberId` Or `phoneNumber`.")
    if problems:
        return vapi_error(400, problems)

    state = request.app.state.sandbox
    config = state.config
    overrides = body.get("assistantOverrides") or {}
    variables = overrides.get("variableValues") or {}
    now = datetime.now(UTC)
    call_id = str(uuid.uuid4())
    call: dict[str, Any] = {
        "id": call_id,
        "orgId": "org-sandbox",
        "createdAt": _iso(now),
        "updatedAt": _iso(now),
        "type": "outboundPhoneCall",
        "status": "queued",
        "assistantId": body.get("assistantId"),
        "phoneNumberId": body.get("phoneNumberId"),
        "customer": customer,
        "phoneCallProvider": "twilio",
        "phoneCallTransport": "pstn",
        "monitor": {
            "listenUrl": f"wss://sandbox.invalid/{call_id}/listen",
            "controlUrl": f"{str(request.base_url).rstrip('/')}/vapi/call/{call_id}/control",
        },
    }
    if body.get("assistantOverrides"):
        call["assistantOverrides"] = body["assistantOverrides"]
    requested = overrides.get("server") or (body.get("assistant") or {}).get("server") or {}
    if requested.get("url"):
        # The URL came with the request: Vapi withholds the org's credential and sends only the
        # headers the request itself names.
        server_url, headers, auth = requested["url"], dict(requested.get("headers") or {}), "none"
    else:
        server_url, headers, auth = config.vapi_server_url, {}, config.vapi_webhook_auth
    plan = {
        "seconds": float(variables.get("sandbox_call_seconds", config.vapi_call_seconds)),
        "reason": str(variables.get("sandbox_ended_reason", config.vapi_ended_reason)),
        "book": variables.get("sandbox_book_meeting"),
        "server_url": server_url,
        "server_headers": {str(k): str(v) for k, v in headers.items()},
        "scale": float(request.scope.get("state", {}).get("latency_scale", config.latency_scale)),
        "auth": auth,
        "secret": config.vapi_webhook_secret,
        "ring": config.vapi_ring_seconds,
        "max_talk": config.vapi_max_talk_seconds,
    }
    store = _store(request)
    store.calls[call_id] = call
    task = asyncio.create_task(_run_call(store, call, plan))
    store.tasks.add(task)
    task.add_done_callback(store.tasks.discard)
    return JSONResponse(call, status_code=201)


async def _run_call(store: VapiStore, call: dict[str, Any], plan: dict[str, Any]) -> None:
    scale, ring = plan["scale"], plan["ring"]

    def move(status: str) -> None:
        call["status"] = status
        call["updatedAt"] = _iso(datetime.now(UTC))

    await asyncio.sleep(ring * scale / 2)
    move("ringing")
    await asyncio.sleep(ring * scale / 2)
    reason = plan["reason"]
    answered = reason not in UNANSWERED
    seconds = plan["seconds"] if answered else 0.0
    if answered:
        started = datetime.now(UTC)
        call["startedAt"] = _iso(started)
        move("in-progress")
        await asyncio.sleep(min(seconds, plan["max_talk"]) * scale)
        ended = started + timedelta(seconds=seconds)
    else:
        ended = datetime.now(UTC)
    name = (call.get("customer") or {}).get("name") or "there"
    transcript = _transcript(name, answered, reason)
    if reason == VOICEMAIL:
        analysis = {
            "summary": "The call reached voicemail; the assistant left a message.",
            "structuredData": {"interested": False},
            "successEvaluation": "false",
        }
    else:
        analysis = _analysis(call["id"], name, answered, plan["book"], ended)
    cost = round(0.05 + 0.11 * seconds / 60, 4)
    call.update(
        {
            "endedAt": _iso(ended),
            "endedReason": reason,
            "cost": cost,
            "costBreakdown": {"transport": round(cost * 0.2, 4), "vapi": round(cost * 0.3, 4), "total": cost},
            "artifact": {
                "transcript": transcript,
                "messages": [],
                "recordingUrl": f"https://storage.sandbox.invalid/{call['id']}.wav" if answered else None,
            },
            "analysis": analysis,
        }
    )
    move("ended")
    if plan["server_url"]:
        await _deliver(store, call, plan, seconds)


def _transcript(name: str, answered: bool, reason: str) -> str:
    if not answered:
        return ""
    if reason == VOICEMAIL:
        return "\n".join(
            [
                f"User: Hi, you've reached {name}. Please leave a message after the tone.",
                "AI: Hi, this is the agency calling about your website. We noticed a few quick wins, "
                "like online booking. Please call us back when you have a moment. Thanks!",
            ]
        )
    lines = [
        f"AI: Hi, is this {name}? I'm calling from the agency about your website.",
        "User: Yes, speaking. What is this about?",
        "AI: We noticed a few quick wins on your site, like online booking. Could we set up a short call?",
    ]
    if reason == "customer-ended-call":
        lines.append("User: Sure, send me some times. Thanks, bye.")
    return "\n".join(lines)


def _analysis(call_id: str, name: str, answered: bool, book: Any, ended: datetime) -> dict[str, Any]:
    if not answered:
        return {"summary": "The customer did not answer.", "structuredData": {"interested": False}}
    booked = bool(book) if book is not None else unit_draw("vapi-book", call_id) < 0.4
    data: dict[str, Any] = {"interested": booked or unit_draw("vapi-interest", call_id) < 0.5}
    summary = f"Spoke with {name} about their website."
    if booked:
        meeting = (ended + timedelta(days=2)).replace(hour=15, minute=0, second=0, microsecond=0)
        data.update({"meeting_booked": True, "meeting_time": _iso(meeting)})
        summary += f" A meeting was booked for {_iso(meeting)}."
    else:
        data["meeting_booked"] = False
    return {"summary": summary, "structuredData": data, "successEvaluation": "true" if booked else "false"}


async def _deliver(store: VapiStore, call: dict[str, Any], plan: dict[str, Any], seconds: float) -> None:
    started = call.get("startedAt")
    message: dict[str, Any] = {
        "type": "end-of-call-report",
        "timestamp": int(time.time() * 1000),
        "endedReason": call["endedReason"],
        "endedAt": call["endedAt"],
        "cost": call["cost"],
        "artifact": call["artifact"],
        "analysis": call["analysis"],
        "call": call,
        "customer": call.get("customer"),
        "phoneNumber": {"id": call.get("phoneNumberId")},
        "durationSeconds": seconds,
        "durationMs": int(seconds * 1000),
        "durationMinutes": round(seconds / 60, 4),
        "summary": call["analysis"]["summary"],
        "transcript": call["artifact"]["transcript"],
    }
    if started:
        message["startedAt"] = started
    raw = json.dumps({"message": message}).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "Vapi-Sandbox/1.0", **plan["server_headers"]}
    secret = plan["secret"]
    if plan["auth"] == "x-vapi-secret":
        headers["X-Vapi-Secret"] = secret
    elif plan["auth"] == "bearer":
        headers["Authorization"] = f"Bearer {secret}"
    elif plan["auth"] == "hmac":
        timestamp = str(int(time.time()))
        digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
        headers.update({"x-timestamp": timestamp, "x-signature": digest})
    record: dict[str, Any] = {"call_id": call["id"], "url": plan["server_url"], "at": time.time()}
    try:
        async with httpx.AsyncClient(timeout=20) as client:
            response = await client.post(plan["server_url"], content=raw, headers=headers)
        record["status"] = response.status_code
    except httpx.HTTPError as exc:
        # Vapi does not retry webhooks by default either; the failure is kept for tests to read.
        record["error"] = f"{type(exc).__name__}: {exc}"
        log.warning("sandbox vapi: webhook to %s failed: %s", plan["server_url"], exc)
    store.deliveries.append(record)


async def get_call(request: Request) -> Response:
    if denied := _denied(request):
        return denied
    call = _store(request).calls.get(request.path_params["call_id"])
    if call is None:
        return vapi_error(404, "Call not found")
    return JSONResponse(call)


async def list_calls(request: Request) -> Response:
    if denied := _denied(request):
        return denied
    limit = int(request.query_params.get("limit", "100"))
    calls = sorted(_store(request).calls.values(), key=lambda c: c["createdAt"], reverse=True)
    return JSONResponse(calls[:limit])


async def deliveries(request: Request) -> Response:
    """Sandbox-only: every end-of-call webhook attempt (url, status or error)."""
    return JSONResponse(_store(request).deliveries)


routes = [
    Route("/vapi/call", create_call, methods=["POST"]),
    Route("/vapi/call", list_calls, methods=["GET"]),
    Route("/vapi/call/{call_id}", get_call, methods=["GET"]),
    Route("/_sandbox/vapi/deliveries", deliveries, methods=["GET"]),
]
