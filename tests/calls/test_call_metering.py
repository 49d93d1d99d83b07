"""The call metering rules on their own (graphs/call_metering.py is pure: no database, no provider)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from db.models import Call
from graphs.call_metering import (
    METERING_CLAIM_SECONDS,
    NOT_BILLED_NOT_CONNECTED,
    NOT_BILLED_VOICEMAIL,
    CallMetering,
    call_key,
    claim_is_live,
    is_metered,
    not_billed_reason,
    requested_minutes,
)
from tools.vapi.wire import NOT_CONNECTED_REASONS, VOICEMAIL_REASON

# Subnormal durations included: 5e-324 s divided by 60 is 0.0, yet the call started a minute.
seconds = st.floats(min_value=0, max_value=24 * 3600, allow_nan=False)


@given(seconds)
def test_a_connected_call_bills_every_started_minute(talk: float) -> None:
    minutes = requested_minutes(talk, "customer-ended-call")
    if talk == 0:
        assert minutes == 0
    else:
        assert (minutes - 1) * 60 < talk <= minutes * 60
        assert minutes == max(1, math.ceil(talk / 60))


def test_a_vanishingly_short_connected_call_still_starts_a_minute() -> None:
    assert requested_minutes(5e-324, "customer-ended-call") == 1


@given(seconds, st.sampled_from([*sorted(NOT_CONNECTED_REASONS), "call.start.error-vapi", VOICEMAIL_REASON]))
def test_unanswered_and_voicemail_calls_bill_nothing_and_say_why(talk: float, reason: str) -> None:
    assert requested_minutes(talk, reason) == 0
    expected = NOT_BILLED_VOICEMAIL if reason == VOICEMAIL_REASON else NOT_BILLED_NOT_CONNECTED
    assert not_billed_reason(reason) == expected
    assert not_billed_reason("customer-ended-call") is None


def test_the_charge_key_is_one_per_call() -> None:
    assert call_key("c1") == call_key("c1") == "call:c1"
    assert call_key("c1") != call_key("c2")


def test_metering_is_recorded_once_tracked() -> None:
    metering = CallMetering(3, 2, 2, "2030-01-01T00:00:00Z")
    assert metering.as_dict() == {
        "requested_minutes": 3,
        "billed_minutes": 2,
        "balance_at_check": 2,
        "tracked_at": "2030-01-01T00:00:00Z",
    }
    assert (
        CallMetering(0, 0, None, "t", NOT_BILLED_VOICEMAIL).as_dict()["not_billed_reason"]
        == NOT_BILLED_VOICEMAIL
    )
    assert is_metered(Call(metadata_={"ai_call_metering": metering.as_dict()}))
    assert not is_metered(Call(metadata_={"ai_call_metering": {"requested_minutes": 3}}))
    assert not is_metered(Call(metadata_={}))


def test_a_claim_expires_after_its_holder_is_presumed_dead() -> None:
    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    fresh = {"owner": "a", "at": (now - timedelta(seconds=METERING_CLAIM_SECONDS - 1)).isoformat()}
    stale = {"owner": "a", "at": (now - timedelta(seconds=METERING_CLAIM_SECONDS)).isoformat()}
    assert claim_is_live(fresh, now)
    assert not claim_is_live(stale, now)
    assert not claim_is_live({"owner": "a", "at": "not a time"}, now)
    assert not claim_is_live({"owner": "a"}, now)
