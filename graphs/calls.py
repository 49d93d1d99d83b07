"""AI phone calls to leads (Vapi), metered per started minute in credits (seed 004).

    async with CallService.open() as calls:
        call = await calls.start_call("acme", opportunity_id, user_id="local")  # preflight + dial
        ...                                        # Vapi posts an end-of-call report to `leadgen serve`
        await calls.handle_end_of_call_report(report)      # records the outcome, then meters it

How a call is billed:

1. `start_call` refuses unless the agency has at least 1 credit (`billing.check`); a billing
   outage refuses too, with a generic message (provider errors are logged, never shown).
2. The call row is written first (`queued`, metadata `{billing_customer_id, preflight_balance}`),
   then Vapi is asked to dial. If Vapi refuses, the row becomes `failed` and nothing is billed.
3. The end-of-call report (webhook) or a poll of `GET /call/{id}` records `billing_seconds`
   (first recorded value wins), then `meter_call` bills `min(ceil(seconds / 60), balance)`
   credits once, with idempotency key `call:{call_id}`, and writes
   `metadata.ai_call_metering = {requested_minutes, billed_minutes, balance_at_check, tracked_at}`.
   A call that never connected (`customer-did-not-answer`, `customer-busy`, zero seconds) is
   recorded with 0 billed minutes. So is a call that reached voicemail, although it has talk
   time (recorded in `billing_seconds` as reported): the agency did not reach the lead, so its
   minutes are not billed. Both say why in `ai_call_metering.not_billed_reason`.

Race safety of metering: a claim (`metadata.ai_call_metering_claim`) is taken under the call's
row lock, so concurrent deliveries of one report meter it once; a claim older than
`METERING_CLAIM_SECONDS` is taken over (its holder died). The billing provider's unique
idempotency key is the backstop: even two meterers that both got through charge once.

Errors::

    CallError
    ├── CallNotFound             unknown opportunity or call, or another agency's
    ├── InvalidCallTarget        the lead has no valid E.164 phone number
    ├── CallsNotConfigured       VAPI_ASSISTANT_ID / VAPI_PHONE_NUMBER_ID / VAPI_API_KEY missing
    ├── CallRefused              nothing was placed, and nothing was written
    │   ├── Unauthenticated          no user behind the request
    │   ├── InsufficientCallCredits  fewer than 1 credit (faces show the paywall)
    │   ├── CreditCheckUnavailable   the billing provider could not answer
    │   └── CallInProgress           the lead already has a call that has not ended
    ├── CallFailed               Vapi refused or failed; the call row is `failed`
    └── MalformedWebhook         a webhook body we cannot accept (the server answers 400)
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.exc import SQLAlchemyError

from db import Database, Repository, open_database
from db.base import utcnow
from db.models import Call
from graphs.views import call_json, iso
from leadgen.settings import MissingProviderKey, Settings, get_settings
from tools.billing import billing_for
from tools.billing.port import BillingError, BillingProvider, InsufficientCredits
from tools.providers import Providers
from tools.vapi import VapiCall, VapiClient, VapiError, validate_e164

log = logging.getLogger(__name__)

FEATURE_ID = "ai_call_minutes"
PREFLIGHT_MINUTES = 1
VAPI_WEBHOOK_PATH = "/webhooks/vapi"
WEBHOOK_PROVIDER = "vapi"
LOCAL_USER = "local"  # the CLI acts as the agency's local user

# A claim older than this belongs to a meterer that died; someone else may take it over.
METERING_CLAIM_SECONDS = 120.0
# Track attempts when the balance moves between our check and the charge (another spender).
METERING_TRACK_ATTEMPTS = 3
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
# Connected calls whose minutes are not billed, and the reason the call's metering gives.
VOICEMAIL_REASON = "voicemail"
NOT_BILLED_VOICEMAIL = "the call reached voicemail; voicemail minutes are not billed"
NOT_BILLED_NOT_CONNECTED = "the call never connected"
# Header values a call's `server.headers` carries are credentials (our webhook secret among
# them): never stored. Vapi echoes the call, overrides included, in its reports.
REDACTED = "[REDACTED]"
TERMINAL_STATUSES = frozenset({"ended", "failed"})
VAPI_STATUSES = frozenset({"scheduled", "queued", "ringing", "in-progress", "forwarding", "ended"})
LIVE_STATUSES = VAPI_STATUSES - {"ended"}
# A call still "live" after this long lost its end-of-call report: it no longer blocks the lead.
LIVE_CALL_WINDOW = timedelta(minutes=30)
# Variables sent with each call so a report that overtakes our own bookkeeping still finds its row.
CALL_ID_VARIABLE = "leadgen_call_id"
AGENCY_ID_VARIABLE = "leadgen_agency_id"


# -- errors ------------------------------------------------------------------------------------


class CallError(Exception):
    """Root of the call errors; messages are meant for the user."""


class CallNotFound(CallError, LookupError):
    pass


class InvalidCallTarget(CallError, ValueError):
    pass


class CallsNotConfigured(CallError):
    pass


class CallRefused(CallError):
    """Nothing was placed and nothing was written."""


class Unauthenticated(CallRefused):
    pass


class InsufficientCallCredits(CallRefused):
    def __init__(self, balance: int, required: int = PREFLIGHT_MINUTES) -> None:
        self.balance = balance
        self.required = required
        super().__init__(
            f"Insufficient credits for an AI call: it needs at least {required} credit "
            f"(1 credit per started minute) and {balance} are available. Add credits to call."
        )

    def paywall(self) -> dict[str, Any]:
        """What a face needs to show the paywall."""
        return {
            "feature_id": FEATURE_ID,
            "required_balance": self.required,
            "balance": self.balance,
            "deficit": max(0, self.required - self.balance),
        }


class CreditCheckUnavailable(CallRefused):
    def __init__(self) -> None:
        super().__init__("Could not verify your credits right now, so no call was placed. Try again shortly.")


class CallInProgress(CallRefused):
    """A second Call click (or a retried request) while the first call is still live."""

    def __init__(self, call: Call, lead: str) -> None:
        self.call = call
        super().__init__(
            f"A call to {lead} is already {call.status} (call {call.id}); "
            "wait for it to end before calling again."
        )


class CallFailed(CallError):
    def __init__(self, message: str, call: Call) -> None:
        self.call = call
        super().__init__(message)


class MalformedWebhook(CallError, ValueError):
    pass


# -- webhook payloads (Vapi server messages) -------------------------------------------------------


def _parse_time(value: Any) -> datetime | None:
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
                return _parse_time(value)
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
        return _parse_time(value)

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


# -- outcomes and billing arithmetic -------------------------------------------------------------


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


def not_billed_reason(ended_reason: str | None) -> str | None:
    """Why a call's minutes are not billed whatever its duration; None when they are."""
    if never_connected(ended_reason):
        return NOT_BILLED_NOT_CONNECTED
    if ended_reason == VOICEMAIL_REASON:
        return NOT_BILLED_VOICEMAIL
    return None


def requested_minutes(seconds: float, ended_reason: str | None = None) -> int:
    """Started minutes: ceil(seconds / 60); 0 for a call that never connected or reached voicemail."""
    if not_billed_reason(ended_reason) is not None or seconds <= 0:
        return 0
    return math.ceil(seconds / 60)


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


@dataclass(frozen=True)
class CallMetering:
    requested_minutes: int
    billed_minutes: int
    balance_at_check: int | None
    tracked_at: str
    not_billed_reason: str | None = None  # set when the call's minutes are not billed at all

    def as_dict(self) -> dict[str, Any]:
        metering: dict[str, Any] = {
            "requested_minutes": self.requested_minutes,
            "billed_minutes": self.billed_minutes,
            "balance_at_check": self.balance_at_check,
            "tracked_at": self.tracked_at,
        }
        if self.not_billed_reason is not None:
            metering["not_billed_reason"] = self.not_billed_reason
        return metering


@dataclass(frozen=True)
class WebhookReceipt:
    """What the server learned while accepting a webhook (before processing it)."""

    event_id: str | None  # None: nothing was recorded (unknown call, or a message we ignore)
    new: bool  # False for a redelivery of a recorded event
    process: bool  # whether to process it now (new, or a redelivery of a call not yet metered)
    reason: str


# -- the service ------------------------------------------------------------------------------


class CallService:
    def __init__(
        self, db: Database, billing: BillingProvider, providers: Providers, settings: Settings
    ) -> None:
        self.db = db
        self.billing = billing
        self.providers = providers
        self.settings = settings

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings | None = None) -> AsyncIterator[CallService]:
        settings = settings or get_settings()
        db = await open_database(settings.resolved_database_url)
        try:
            async with Providers.from_settings(settings) as providers:
                yield cls(db, billing_for(settings, db.engine), providers, settings)
        finally:
            await db.close()

    # -- placing a call ---------------------------------------------------------------------

    def _vapi(self) -> tuple[VapiClient, str, str]:
        """The client, assistant id and phone number id, or CallsNotConfigured naming what is missing."""
        try:
            endpoint = self.settings.endpoint("vapi")
            client = self.providers.vapi
        except MissingProviderKey as exc:
            raise CallsNotConfigured(str(exc)) from None
        assistant, number = self.settings.vapi_assistant_id, self.settings.vapi_phone_number_id
        if endpoint.sandbox:
            # The sandbox accepts any ids; a new user trying calls needs no Vapi account.
            assistant, number = assistant or "asst-sandbox", number or "pn-sandbox"
        missing = [
            name
            for name, value in (("VAPI_ASSISTANT_ID", assistant), ("VAPI_PHONE_NUMBER_ID", number))
            if not value
        ]
        if missing:
            raise CallsNotConfigured(
                f"{' and '.join(missing)} not set: create them in the Vapi dashboard, or set "
                f"LEADGEN_SANDBOX_URL to try calls against the built-in sandbox."
            )
        return client, assistant, number

    def _server(self) -> tuple[str | None, dict[str, str] | None]:
        """Where Vapi should post the call's reports, and the headers that authenticate them.
        Vapi withholds the org's credential when the URL comes with the request, so the secret
        travels in the request's `server.headers` (reference §4, "Gotcha")."""
        public = self.settings.leadgen_public_url.strip().rstrip("/")
        if not public:
            return None, None
        secret = self.settings.vapi_webhook_secret
        return public + VAPI_WEBHOOK_PATH, ({"X-Vapi-Secret": secret} if secret else None)

    async def _preflight(self, customer_id: str) -> int:
        """The available balance when at least 1 call minute fits; else a CallRefused."""
        try:
            check = await self.billing.check(customer_id, FEATURE_ID, PREFLIGHT_MINUTES)
        except (BillingError, httpx.HTTPError, OSError, SQLAlchemyError, ValueError) as exc:
            # Provider errors can carry keys or internals: log them, tell the user something generic.
            log.error("credit check for an AI call failed for %s: %r", customer_id, exc)
            raise CreditCheckUnavailable() from None
        if not check.allowed:
            raise InsufficientCallCredits(balance=max(0, check.balance), required=check.required_balance)
        return check.balance

    async def start_call(
        self,
        agency_id: str,
        opportunity_id: str,
        *,
        user_id: str | None,
        variables: Mapping[str, str | int | float] | None = None,
    ) -> Call:
        """Call the lead's phone. Returns the call row (`queued`, with its provider call id).

        `user_id` is the authenticated user placing the call (the CLI passes LOCAL_USER); None is
        refused. `variables` go to the assistant as `variableValues` (e.g. the business name).
        """
        if not user_id:
            raise Unauthenticated("Sign in to place a call.")
        client, assistant_id, phone_number_id = self._vapi()
        async with self.db.reader() as repo:
            opportunity = await repo.get_opportunity(agency_id, opportunity_id)
            agency = await repo.get_agency(agency_id)
        if opportunity is None or agency is None:
            raise CallNotFound(f"lead {opportunity_id!r} not found")
        try:
            number = validate_e164(opportunity.phone or "")
        except ValueError:
            raise InvalidCallTarget(
                f"lead {opportunity.name!r} has no valid phone number to call ({opportunity.phone!r})"
            ) from None
        customer_id = agency.billing_customer_id
        balance = await self._preflight(customer_id)

        async with self.db.transaction() as repo:
            live = await repo.active_call(
                agency_id, opportunity_id, statuses=LIVE_STATUSES, since=utcnow() - LIVE_CALL_WINDOW
            )
            if live is None:
                call = await repo.create_call(agency_id, opportunity_id, to_number=number, user_id=user_id)
                call = await repo.merge_call_metadata(
                    agency_id, call.id, {"billing_customer_id": customer_id, "preflight_balance": balance}
                )
        if live is not None:  # raised after the commit, so the live call stays readable
            raise CallInProgress(live, opportunity.name)
        server_url, server_headers = self._server()
        values: dict[str, Any] = {"business": opportunity.name, **(variables or {})}
        values |= {CALL_ID_VARIABLE: call.id, AGENCY_ID_VARIABLE: agency_id}
        try:
            placed = await client.create_call(
                assistant_id=assistant_id,
                phone_number_id=phone_number_id,
                customer_number=number,
                customer_name=opportunity.name,
                server_url=server_url,
                server_headers=server_headers,
                variable_values=values,
            )
        except (VapiError, ValueError) as exc:
            log.error("Vapi refused call %s for %s: %r", call.id, agency_id, exc)
            async with self.db.transaction() as repo:
                await repo.update_call(agency_id, call.id, status="failed")
                call = await repo.merge_call_metadata(agency_id, call.id, {"error": _short(exc)})
            raise CallFailed(f"The call could not be placed: {_short(exc)}", call) from None

        async with self.db.transaction() as repo:
            call = await _lock_call(repo, agency_id, call.id)
            fields: dict[str, Any] = {"provider_call_id": placed.id}
            # A fast report may already have ended the call: never move it back.
            if call.status == "queued" and placed.status in LIVE_STATUSES:
                fields["status"] = placed.status
            call = await repo.update_call(agency_id, call.id, **fields)
        log.info("call %s placed for %s (vapi %s)", call.id, agency_id, placed.id)
        return call

    # -- reading ------------------------------------------------------------------------------

    async def get_call(self, agency_id: str, call_id: str) -> Call:
        async with self.db.reader() as repo:
            call = await repo.get_call(agency_id, call_id)
        if call is None:
            raise CallNotFound(f"call {call_id!r} not found")
        return call

    async def list_calls(self, agency_id: str, limit: int = 100) -> list[Call]:
        async with self.db.reader() as repo:
            return await repo.list_calls(agency_id, limit=limit)

    async def refresh_call(self, agency_id: str, call_id: str) -> Call:
        """Ask Vapi how the call is doing and record it; a finished call is finalised and metered
        exactly as from its end-of-call report. For hosts that Vapi cannot reach (no
        LEADGEN_PUBLIC_URL), this is how calls get their outcome."""
        call = await self.get_call(agency_id, call_id)
        if call.provider_call_id is None or call.status == "failed":
            return call
        if call.status == "ended":
            await self.meter_call(agency_id, call_id)
            return await self.get_call(agency_id, call_id)
        client, _, _ = self._vapi()
        remote = await client.get_call(call.provider_call_id)
        if remote.status == "ended":
            await self.record_outcome(call, outcome_from_vapi(remote))
        elif remote.status in VAPI_STATUSES and remote.status != call.status:
            await self._set_status(agency_id, call_id, remote.status)
        return await self.get_call(agency_id, call_id)

    # -- webhooks -----------------------------------------------------------------------------

    async def locate_call(self, repo: Repository, ref: VapiCallRef) -> Call | None:
        """The call a Vapi message is about: by Vapi's call id, else by the ids `start_call` sent
        in the call's variables (a report can overtake the write of the provider id)."""
        call = await repo.find_call_by_provider_id(ref.id)
        if call is not None:
            return call
        hint = ref.hint()
        if hint is None:
            return None
        call = await repo.get_call(*hint)
        if call is None or call.provider_call_id not in (None, ref.id):
            return None
        return call

    async def accept_webhook(self, message: VapiMessage) -> WebhookReceipt:
        """Record an authenticated, parsed message in the inbox, unless it is about a call we do
        not know (then nothing is written). Fast: meant to run inside the HTTP request."""
        if isinstance(message, OtherMessage):
            return WebhookReceipt(None, False, False, f"{message.type} is not acted on")
        async with self.db.reader() as repo:
            call = await self.locate_call(repo, message.call)
        if call is None:
            log.warning("Vapi %s for unknown call %r ignored", message.type, message.call.id)
            return WebhookReceipt(None, False, False, "unknown call")
        key = event_id(message)
        async with self.db.transaction() as repo:
            new = await repo.record_webhook(WEBHOOK_PROVIDER, key, message.type, {"message": message.raw})
        if new:
            return WebhookReceipt(key, True, True, "recorded")
        # A redelivery. Processing is idempotent, so it is re-run while the call is not yet
        # metered: that is how a first attempt that failed gets another chance.
        pending = isinstance(message, EndOfCallReport) and not _metered(call)
        return WebhookReceipt(key, False, pending, "duplicate")

    async def process_webhook(self, message: EndOfCallReport | StatusUpdate) -> Call | None:
        """Act on an accepted message and mark it processed (or failed, with the error, re-raised)."""
        key = event_id(message)
        try:
            if isinstance(message, EndOfCallReport):
                call = await self.handle_end_of_call_report(message)
            else:
                call = await self.handle_status_update(message)
        except Exception as exc:
            async with self.db.transaction() as repo:
                await repo.mark_webhook(WEBHOOK_PROVIDER, key, "failed", _short(exc))
            raise
        async with self.db.transaction() as repo:
            await repo.mark_webhook(WEBHOOK_PROVIDER, key, "processed")
        return call

    async def handle_status_update(self, message: StatusUpdate) -> Call | None:
        if message.status not in LIVE_STATUSES:
            return None  # `ended` comes with the end-of-call report, which carries the details
        async with self.db.reader() as repo:
            call = await self.locate_call(repo, message.call)
        if call is None:
            return None
        return await self._set_status(call.agency_id, call.id, message.status)

    async def handle_end_of_call_report(self, report: EndOfCallReport) -> Call | None:
        """Record how the call ended, then meter it. None when the call is unknown."""
        async with self.db.reader() as repo:
            call = await self.locate_call(repo, report.call)
        if call is None:
            log.warning("end-of-call report for unknown call %r ignored", report.call.id)
            return None
        return await self.record_outcome(call, report.outcome())

    async def record_outcome(self, call: Call, outcome: CallOutcome) -> Call:
        """Mark the call ended with what we learned, set the lead's meeting time, then meter."""
        agency_id = call.agency_id
        async with self.db.transaction() as repo:
            current = await _lock_call(repo, agency_id, call.id)
            fields: dict[str, Any] = {
                "status": "ended",
                "provider_call_id": outcome.provider_call_id,
                "ended_reason": (outcome.ended_reason or current.ended_reason or "")[:200] or None,
                "transcript": outcome.transcript or current.transcript,
                "summary": outcome.summary or current.summary,
                "started_at": outcome.started_at or current.started_at,
                "ended_at": outcome.ended_at or current.ended_at,
            }
            # The first recorded duration is the one billed: a redelivery cannot change it.
            if current.billing_seconds is None and outcome.billing_seconds is not None:
                fields["billing_seconds"] = outcome.billing_seconds
            await repo.update_call(agency_id, call.id, **fields)
            if outcome.meeting_time is not None:
                await repo.update_opportunity(
                    agency_id, current.opportunity_id, meeting_time=outcome.meeting_time
                )
        await self.meter_call(agency_id, call.id)
        return await self.get_call(agency_id, call.id)

    # -- metering -----------------------------------------------------------------------------

    async def meter_call(self, agency_id: str, call_id: str) -> CallMetering | None:
        """Bill the call's started minutes once (seed `meterAiCallUsage`). None when there is
        nothing to do: already metered, being metered by someone else, or data missing (logged)."""
        now = utcnow()
        owner = uuid.uuid4().hex
        async with self.db.transaction() as repo:
            call = await _lock_call(repo, agency_id, call_id)
            meta = call.metadata_ or {}
            if _metered(call):
                return None
            claim = meta.get("ai_call_metering_claim")
            if isinstance(claim, dict) and _claim_is_live(claim, now):
                log.info("call %s is being metered by %s", call_id, claim.get("owner"))
                return None
            customer = meta.get("billing_customer_id")
            seconds = call.billing_seconds
            if seconds is None or not math.isfinite(seconds) or not customer:
                log.warning(
                    "not metering call %s: %s",
                    call_id,
                    "no billing_seconds" if seconds is None else "no billing customer",
                )
                return None
            await repo.merge_call_metadata(
                agency_id, call_id, {"ai_call_metering_claim": {"owner": owner, "at": iso(now)}}
            )
        try:
            metering = await self._charge(call_id, str(customer), seconds, call.ended_reason)
        except BaseException:
            # Give the claim back so a redelivery or a poll can try again.
            async with self.db.transaction() as repo:
                await repo.merge_call_metadata(agency_id, call_id, {"ai_call_metering_claim": None})
            raise
        async with self.db.transaction() as repo:
            await repo.merge_call_metadata(
                agency_id, call_id, {"ai_call_metering": metering.as_dict(), "ai_call_metering_claim": None}
            )
        log.info(
            "call %s metered: %s of %s minutes billed",
            call_id,
            metering.billed_minutes,
            metering.requested_minutes,
        )
        return metering

    async def _charge(
        self, call_id: str, customer_id: str, seconds: float, ended_reason: str | None
    ) -> CallMetering:
        requested = requested_minutes(seconds, ended_reason)
        if requested == 0:
            return CallMetering(0, 0, None, iso(utcnow()) or "", not_billed_reason(ended_reason))
        for _ in range(METERING_TRACK_ATTEMPTS):
            balance = max(0, await self.billing.balance(customer_id))
            billed = min(requested, balance)
            if billed == 0:
                return CallMetering(requested, 0, balance, iso(utcnow()) or "")
            try:
                result = await self.billing.track(
                    customer_id, FEATURE_ID, key=f"call:{call_id}", units=billed
                )
            except InsufficientCredits:
                continue  # someone spent between our check and the charge: clamp again
            # A key recorded before (recorded=False) reports what was charged then.
            return CallMetering(requested, result.credits, balance, iso(utcnow()) or "")
        raise BillingError(f"the balance kept moving while metering call {call_id}; will retry")

    async def _set_status(self, agency_id: str, call_id: str, status: str) -> Call:
        async with self.db.transaction() as repo:
            call = await _lock_call(repo, agency_id, call_id)
            if call.status in TERMINAL_STATUSES:
                return call  # a late status update never revives an ended call
            return await repo.update_call(agency_id, call_id, status=status)


# -- helpers --------------------------------------------------------------------------------------


async def _lock_call(repo: Repository, agency_id: str, call_id: str) -> Call:
    """The call, freshly read under its row lock (an empty metadata merge is the repository's
    locking read), so read-then-write on it is safe on PostgreSQL as well as SQLite."""
    try:
        return await repo.merge_call_metadata(agency_id, call_id, {})
    except LookupError:
        raise CallNotFound(f"call {call_id!r} not found") from None


def _metered(call: Call) -> bool:
    metering = (call.metadata_ or {}).get("ai_call_metering")
    return isinstance(metering, dict) and bool(metering.get("tracked_at"))


def _claim_is_live(claim: dict[str, Any], now: datetime) -> bool:
    try:
        at = _parse_time(claim.get("at"))
    except (TypeError, ValueError):
        return False
    return at is not None and now - at < timedelta(seconds=METERING_CLAIM_SECONDS)


def _short(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__)[:300]


# -- the chat agent's tool ------------------------------------------------------------------------

PlaceCallOutcome = Literal[
    "placed",
    "insufficient_credits",
    "credits_unavailable",
    "unauthenticated",
    "not_found",
    "invalid_phone",
    "not_configured",
    "in_progress",
    "failed",
]


async def place_call(
    calls: CallService,
    agency_id: str,
    opportunity_id: str,
    *,
    user_id: str | None,
    variables: Mapping[str, str | int | float] | None = None,
) -> dict[str, Any]:
    """`start_call` shaped for a tool: never raises for an expected outcome. Returns
    `{"ok", "outcome", "message", "call" (call JSON or None), "paywall" (or None)}`; with
    `outcome == "insufficient_credits"` the face shows the paywall from `paywall`."""
    call: Call | None = None
    paywall: dict[str, Any] | None = None
    outcome: PlaceCallOutcome
    try:
        call = await calls.start_call(agency_id, opportunity_id, user_id=user_id, variables=variables)
        outcome, message = "placed", f"Calling {call.to_number} now; the call is {call.status}."
    except InsufficientCallCredits as exc:
        outcome, message, paywall = "insufficient_credits", str(exc), exc.paywall()
    except CreditCheckUnavailable as exc:
        outcome, message = "credits_unavailable", str(exc)
    except Unauthenticated as exc:
        outcome, message = "unauthenticated", str(exc)
    except CallNotFound as exc:
        outcome, message = "not_found", str(exc)
    except InvalidCallTarget as exc:
        outcome, message = "invalid_phone", str(exc)
    except CallsNotConfigured as exc:
        outcome, message = "not_configured", str(exc)
    except CallInProgress as exc:
        outcome, message, call = "in_progress", str(exc), exc.call
    except CallFailed as exc:
        outcome, message, call = "failed", str(exc), exc.call
    return {
        "ok": outcome == "placed",
        "outcome": outcome,
        "message": message,
        "call": call_json(call) if call is not None else None,
        "paywall": paywall,
    }


__all__ = [
    "VAPI_WEBHOOK_PATH",
    "CallError",
    "CallFailed",
    "CallInProgress",
    "CallMetering",
    "CallNotFound",
    "CallOutcome",
    "CallRefused",
    "CallService",
    "CallsNotConfigured",
    "CreditCheckUnavailable",
    "EndOfCallReport",
    "InsufficientCallCredits",
    "InvalidCallTarget",
    "MalformedWebhook",
    "StatusUpdate",
    "Unauthenticated",
    "WebhookReceipt",
    "billing_seconds",
    "not_billed_reason",
    "parse_vapi_webhook",
    "place_call",
    "requested_minutes",
]
