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

Here: the service and its errors. Vapi's server messages are parsed in `tools/vapi/wire.py`,
what a call's minutes cost is `graphs/call_metering.py` (pure), and `graphs/call_tools.py`
shapes `start_call` for the faces' tools.

Errors (a webhook body we cannot accept is `tools.vapi.wire.MalformedWebhook`)::

    CallError
    ├── CallNotFound             unknown opportunity or call, or another agency's
    ├── InvalidCallTarget        the lead has no valid E.164 phone number
    ├── CallsNotConfigured       VAPI_ASSISTANT_ID / VAPI_PHONE_NUMBER_ID / VAPI_API_KEY missing
    ├── CallRefused              nothing was placed, and nothing was written
    │   ├── Unauthenticated          no user behind the request
    │   ├── InsufficientCallCredits  fewer than 1 credit (faces show the paywall)
    │   ├── CreditCheckUnavailable   the billing provider could not answer
    │   └── CallInProgress           the lead already has a call that has not ended
    └── CallFailed               Vapi refused or failed; the call row is `failed`
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.exc import SQLAlchemyError

from db import Database, Repository, open_database
from db.base import utcnow
from db.models import Call
from graphs.call_metering import (
    FEATURE_ID,
    PREFLIGHT_MINUTES,
    CallMetering,
    call_key,
    claim_is_live,
    is_metered,
    not_billed_reason,
    requested_minutes,
)
from graphs.views import iso
from leadgen.settings import MissingProviderKey, Settings, get_settings
from tools.billing import billing_for
from tools.billing.port import BillingError, BillingProvider, InsufficientCredits
from tools.providers import Providers
from tools.vapi import VapiClient, VapiError, validate_e164
from tools.vapi.wire import (
    AGENCY_ID_VARIABLE,
    CALL_ID_VARIABLE,
    LIVE_STATUSES,
    VAPI_STATUSES,
    CallOutcome,
    EndOfCallReport,
    OtherMessage,
    StatusUpdate,
    VapiCallRef,
    VapiMessage,
    event_id,
    outcome_from_vapi,
)

log = logging.getLogger(__name__)

VAPI_WEBHOOK_PATH = "/webhooks/vapi"
WEBHOOK_PROVIDER = "vapi"
LOCAL_USER = "local"  # the CLI acts as the agency's local user

# Track attempts when the balance moves between our check and the charge (another spender).
METERING_TRACK_ATTEMPTS = 3
TERMINAL_STATUSES = frozenset({"ended", "failed"})
# A call still "live" after this long lost its end-of-call report: it no longer blocks the lead.
LIVE_CALL_WINDOW = timedelta(minutes=30)


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
        origin: Mapping[str, str] | None = None,
    ) -> Call:
        """Call the lead's phone. Returns the call row (`queued`, with its provider call id).

        `user_id` is the authenticated user placing the call (the CLI passes LOCAL_USER); None is
        refused. `variables` go to the assistant as `variableValues` (e.g. the business name).
        `origin` says where the call was asked for (`{"face": "chat", "thread_id": ...}`, or
        Slack's team, channel and thread), kept in its metadata so that a process that follows
        the call after a restart can report its end there (`call_origin`).
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
                    agency_id,
                    call.id,
                    {
                        "billing_customer_id": customer_id,
                        "preflight_balance": balance,
                        **({"origin": dict(origin)} if origin else {}),
                    },
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
        pending = isinstance(message, EndOfCallReport) and not is_metered(call)
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
            if is_metered(call):
                return None
            claim = meta.get("ai_call_metering_claim")
            if isinstance(claim, dict) and claim_is_live(claim, now):
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
                    customer_id, FEATURE_ID, key=call_key(call_id), units=billed
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


def _short(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__)[:300]


__all__ = [
    "LOCAL_USER",
    "VAPI_WEBHOOK_PATH",
    "CallError",
    "CallFailed",
    "CallInProgress",
    "CallNotFound",
    "CallRefused",
    "CallService",
    "CallsNotConfigured",
    "CreditCheckUnavailable",
    "InsufficientCallCredits",
    "InvalidCallTarget",
    "Unauthenticated",
    "WebhookReceipt",
]


def call_origin(call: Call) -> dict[str, str]:
    """Where the call was asked for (see `start_call`); empty when it did not say (the CLI)."""
    origin = (call.metadata_ or {}).get("origin")
    if not isinstance(origin, dict):
        return {}
    return {str(k): str(v) for k, v in origin.items() if isinstance(v, str)}
