"""Vapi's server messages (the webhooks it posts to us), parsed strictly, and Vapi's vocabulary:
call statuses, ended reasons, and a call's outcome read from a report or from `GET /call/{id}`.

No I/O here: `parse_vapi_webhook` turns a request body into a checked message (or
`MalformedWebhook`, which names the problem), made storable (no NUL, no lone surrogate) and with
the credentials Vapi echoes back (`server.headers`) redacted. The call service decides what a
message does (graphs/calls.py); what a call's minutes cost is graphs/call_metering.py.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from tools.vapi.client import VapiCall

log = logging.getLogger(__name__)

# No real call lasts a day (Vapi caps a call at 12 hours); longer is a malformed report.
MAX_CALL_SECONDS = 24 * 3600.0
MAX_WEBHOOK_BYTES = 5 * 1024 * 1024

# Ended reasons of a call nobody answered: never billed, whatever duration came along.
NOT_CONNECTED_REASONS = frozenset(
    {
        "customer-did-not-answer",
        "customer-busy",
        "twilio-failed-to-connect-call",
        "vonage-failed-to-connect-call",
    }
)
NOT_CONNECTED_PREFIXES = ("call.start.error",)
# The ended reason of a call that reached voicemail: it connected, but its minutes are not
# billed (graphs/call_metering.py).
VOICEMAIL_REASON = "voicemail"
# Header values a call's `server.headers` carries are credentials (our webhook secret among
# them): never stored. Vapi echoes the call, overrides included, in its reports.
REDACTED = "[REDACTED]"
# Vapi's call statuses; every one but `ended` is a call still going on.
VAPI_STATUSES = frozenset({"scheduled", "queued", "ringing", "in-progress", "forwarding", "ended"})
LIVE_STATUSES = VAPI_STATUSES - {"ended"}
# Variables sent with each call so a report that overtakes our own bookkeeping still finds its row.
CALL_ID_VARIABLE = "leadgen_call_id"
AGENCY_ID_VARIABLE = "leadgen_agency_id"


class MalformedWebhook(ValueError):
    """A webhook body we cannot accept (the server answers 400); the message names the problem."""


# -- server messages -------------------------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 (with `Z` or an offset; naive means UTC) → aware UTC datetime."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 string")
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _clean_text(value: str) -> str:
    """Text as the database can store it: PostgreSQL refuses NUL characters, and no driver can
    encode a lone surrogate (both are valid JSON escapes)."""
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def scrub(value: Any) -> Any:
    """`value` (parsed JSON) with every string made storable (see `_clean_text`)."""
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, list):
        return [scrub(item) for item in value]
    if isinstance(value, dict):
        return {_clean_text(str(k)): scrub(v) for k, v in value.items()}
    return value


class _Lenient(BaseModel):
    # Vapi adds fields all the time: unknown ones are ignored, known ones are checked.
    model_config = ConfigDict(extra="ignore")
    # The message as received (made storable), for the webhook inbox.
    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def raw(self) -> dict[str, Any]:
        return self._raw


Seconds = Field(default=None, strict=True, ge=0, le=MAX_CALL_SECONDS, allow_inf_nan=False)


class VapiCallRef(_Lenient):
    id: str = Field(strict=True, min_length=1, max_length=200)
    assistantOverrides: dict[str, Any] | None = None

    def hint(self) -> tuple[str, str] | None:
        """(agency id, our call id) from the variables `start_call` sent along, if present."""
        values = (self.assistantOverrides or {}).get("variableValues")
        if not isinstance(values, dict):
            return None
        agency, call = values.get(AGENCY_ID_VARIABLE), values.get(CALL_ID_VARIABLE)
        if isinstance(agency, str) and isinstance(call, str) and agency and call:
            return agency, call
        return None


class Artifact(_Lenient):
    transcript: str | None = Field(default=None, strict=True)


class Analysis(_Lenient):
    summary: str | None = Field(default=None, strict=True)
    structuredData: dict[str, Any] | None = None

    def meeting_time(self) -> datetime | None:
        """The booked meeting, when the assistant's structured output names one. Free-form data:
        a value we cannot read is logged and ignored, never a reason to refuse the report."""
        data = self.structuredData or {}
        for key in ("meeting_time", "meetingTime"):
            value = data.get(key)
            if value in (None, ""):
                continue
            try:
                return parse_time(value)
            except (TypeError, ValueError, OverflowError):
                log.warning("ignoring unreadable %s in a call report: %.80r", key, value)
        return None


class EndOfCallReport(_Lenient):
    type: Literal["end-of-call-report"]
    call: VapiCallRef
    endedReason: str | None = Field(default=None, strict=True)
    startedAt: datetime | None = None
    endedAt: datetime | None = None
    durationSeconds: float | None = Seconds
    durationMs: float | None = Field(
        default=None, strict=True, ge=0, le=MAX_CALL_SECONDS * 1000, allow_inf_nan=False
    )
    artifact: Artifact | None = None
    analysis: Analysis | None = None
    transcript: str | None = Field(default=None, strict=True)
    summary: str | None = Field(default=None, strict=True)

    @field_validator("startedAt", "endedAt", mode="before")
    @classmethod
    def _iso_string(cls, value: Any) -> datetime | None:
        return parse_time(value)

    @model_validator(mode="after")
    def _plausible_span(self) -> EndOfCallReport:
        span = _span_seconds(self.startedAt, self.endedAt)
        if span is not None and span > MAX_CALL_SECONDS:
            raise ValueError(
                f"endedAt - startedAt is {span:.0f} s; a call lasts at most {MAX_CALL_SECONDS:.0f} s"
            )
        return self

    def outcome(self) -> CallOutcome:
        artifact, analysis = self.artifact or Artifact(), self.analysis or Analysis()
        return CallOutcome(
            provider_call_id=self.call.id,
            ended_reason=self.endedReason,
            billing_seconds=billing_seconds(
                self.durationSeconds, self.durationMs, self.startedAt, self.endedAt, self.endedReason
            ),
            transcript=artifact.transcript or self.transcript,
            summary=analysis.summary or self.summary,
            started_at=self.startedAt,
            ended_at=self.endedAt,
            meeting_time=analysis.meeting_time(),
        )


class StatusUpdate(_Lenient):
    type: Literal["status-update"]
    call: VapiCallRef
    status: str = Field(strict=True, max_length=32)


@dataclass(frozen=True)
class OtherMessage:
    """A server message we do not act on (transcripts, speech updates, ...): acknowledged only."""

    type: str


VapiMessage = EndOfCallReport | StatusUpdate | OtherMessage


def parse_vapi_webhook(raw: bytes) -> VapiMessage:
    """The `message` of a Vapi server webhook body, checked; MalformedWebhook names the problem."""
    if len(raw) > MAX_WEBHOOK_BYTES:
        raise MalformedWebhook(f"body is larger than {MAX_WEBHOOK_BYTES} bytes")

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    def finite_float(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):  # 1e999 parses as infinity, which no database stores as JSON
            raise ValueError(f"{text[:40]} is out of range")
        return value

    try:
        body = json.loads(raw, parse_constant=no_constants, parse_float=finite_float)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise MalformedWebhook(f"body is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
        raise MalformedWebhook('body must be a JSON object {"message": {...}}')
    message = redact_server_headers(scrub(body["message"]))
    kind = message.get("type")
    if not isinstance(kind, str) or not kind:
        raise MalformedWebhook("message.type must be a non-empty string")
    model: type[EndOfCallReport] | type[StatusUpdate]
    if kind == "end-of-call-report":
        model = EndOfCallReport
    elif kind == "status-update":
        model = StatusUpdate
    else:
        return OtherMessage(kind[:100])
    try:
        parsed = model.model_validate(message)
    except ValidationError as exc:
        problems = "; ".join(
            f"message.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise MalformedWebhook(f"bad {kind}: {problems}") from None
    except RecursionError:
        raise MalformedWebhook(f"bad {kind}: nested too deeply") from None
    parsed._raw = message
    return parsed


def redact_server_headers(value: Any) -> Any:
    """`value` with the values of every `server.headers` (and legacy `server.secret`) replaced:
    the report echoes the call, and the call carries the credential our webhook checks."""
    if isinstance(value, list):
        return [redact_server_headers(item) for item in value]
    if not isinstance(value, dict):
        return value
    cleaned = {key: redact_server_headers(item) for key, item in value.items()}
    server = cleaned.get("server")
    if isinstance(server, dict):
        server = dict(server)
        if isinstance(server.get("headers"), dict):
            server["headers"] = dict.fromkeys(server["headers"], REDACTED)
        if "secret" in server:
            server["secret"] = REDACTED
        cleaned["server"] = server
    return cleaned


def event_id(message: EndOfCallReport | StatusUpdate) -> str:
    """The inbox key: one end-of-call report per call; one status update per call and status."""
    if isinstance(message, StatusUpdate):
        return f"{message.call.id}:{message.type}:{message.status}"
    return f"{message.call.id}:{message.type}"


# -- how a call ended ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallOutcome:
    """How a call ended, from a webhook report or from polling Vapi."""

    provider_call_id: str
    ended_reason: str | None
    billing_seconds: float | None
    transcript: str | None = None
    summary: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    meeting_time: datetime | None = None


def _span_seconds(started: datetime | None, ended: datetime | None) -> float | None:
    if started is None or ended is None:
        return None
    return (ended - started).total_seconds()


def never_connected(ended_reason: str | None) -> bool:
    reason = ended_reason or ""
    return reason in NOT_CONNECTED_REASONS or reason.startswith(NOT_CONNECTED_PREFIXES)


def billing_seconds(
    duration_seconds: float | None,
    duration_ms: float | None,
    started_at: datetime | None,
    ended_at: datetime | None,
    ended_reason: str | None,
) -> float | None:
    """Talk time: `durationSeconds`, else `durationMs / 1000`, else `endedAt - startedAt`; never
    negative. 0 for a call that never connected; None when the report says nothing usable."""
    if never_connected(ended_reason):
        return 0.0
    for candidate in (
        duration_seconds,
        duration_ms / 1000 if duration_ms is not None else None,
        _span_seconds(started_at, ended_at),
    ):
        if candidate is not None and math.isfinite(candidate):
            return min(max(0.0, candidate), MAX_CALL_SECONDS)
    return None


def outcome_from_vapi(call: VapiCall) -> CallOutcome:
    """A finished call read back with `GET /call/{id}` (which has no duration field)."""
    return CallOutcome(
        provider_call_id=call.id,
        ended_reason=call.ended_reason,
        billing_seconds=billing_seconds(None, None, call.started_at, call.ended_at, call.ended_reason),
        transcript=call.transcript,
        summary=call.summary,
        started_at=call.started_at,
        ended_at=call.ended_at,
    )
