"""What an AI call costs, and the rules of metering it once (seed 004). Pure: no I/O.

1 credit per started minute (`ai_call_minutes`), from the agency's one balance; a call needs at
least `PREFLIGHT_MINUTES` credit to be placed; its minutes are billed once, under the
idempotency key `call_key(call_id)`, clamped to the balance at the time of the charge. A call
that never connected or reached voicemail bills nothing, and its metering says why. The service
that does the charging is graphs/calls.py; the talk time it bills comes from Vapi's report
(`tools.vapi.wire.billing_seconds`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from db.models import Call
from tools.vapi.wire import VOICEMAIL_REASON, never_connected, parse_time

FEATURE_ID = "ai_call_minutes"
PREFLIGHT_MINUTES = 1
# A claim older than this belongs to a meterer that died; someone else may take it over.
METERING_CLAIM_SECONDS = 120.0
# The reasons a call's metering gives for minutes that are not billed.
NOT_BILLED_VOICEMAIL = "the call reached voicemail; voicemail minutes are not billed"
NOT_BILLED_NOT_CONNECTED = "the call never connected"


def call_key(call_id: str) -> str:
    """The idempotency key of a call's charge: one per call, whoever meters it."""
    return f"call:{call_id}"


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
    # At least one: any time connected starts a minute, however small the duration reads
    # (a subnormal float divided by 60 rounds to 0.0).
    return max(1, math.ceil(seconds / 60))


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


def is_metered(call: Call) -> bool:
    """Whether the call's metering was recorded (`metadata.ai_call_metering.tracked_at`)."""
    metering = (call.metadata_ or {}).get("ai_call_metering")
    return isinstance(metering, dict) and bool(metering.get("tracked_at"))


def claim_is_live(claim: dict[str, Any], now: datetime) -> bool:
    """Whether a metering claim (`metadata.ai_call_metering_claim`) still holds at `now`."""
    try:
        at = parse_time(claim.get("at"))
    except (TypeError, ValueError):
        return False
    return at is not None and now - at < timedelta(seconds=METERING_CLAIM_SECONDS)
