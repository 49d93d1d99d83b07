"""Placing calls through the sandbox's Vapi and metering them from the real end-of-call report
posted to the real server: the seed's cases, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from graphs.call_tools import place_call
from graphs.calls import (
    CallFailed,
    CallInProgress,
    InsufficientCallCredits,
    InvalidCallTarget,
    Unauthenticated,
)


def vapi_creates(world: Any) -> int:
    return sum(
        1 for r in world.sandbox.requests("vapi") if r["method"] == "POST" and r["path"] == "/vapi/call"
    )


async def test_zero_credits_refuses_and_places_nothing(world: Any) -> None:
    await world.fund(0)
    before = vapi_creates(world)
    with pytest.raises(InsufficientCallCredits) as refused:
        await world.service.start_call(world.agency, world.opportunity_id, user_id="u1")
    assert (refused.value.balance, refused.value.required) == (0, 1)
    assert refused.value.paywall()["deficit"] == 1
    assert vapi_creates(world) == before
    assert await world.service.list_calls(world.agency) == []
    assert await world.billed() == 0


async def test_thirty_second_call_bills_one_credit(world: Any) -> None:
    await world.fund(5)
    call = await world.service.start_call(
        world.agency,
        world.opportunity_id,
        user_id="u1",
        variables={"sandbox_call_seconds": 30, "sandbox_book_meeting": "true"},
    )
    assert call.status in ("queued", "ringing", "in-progress", "ended")
    assert call.metadata_["billing_customer_id"] == world.customer
    assert call.metadata_["preflight_balance"] == 5

    done = await world.wait_for(call.id)
    assert done.status == "ended"
    assert done.billing_seconds == 30
    assert done.ended_reason == "customer-ended-call"
    assert done.provider_call_id and done.transcript and done.summary
    assert done.started_at is not None and done.ended_at is not None
    metering = done.metadata_["ai_call_metering"]
    assert metering["requested_minutes"] == 1
    assert metering["billed_minutes"] == 1
    assert metering["balance_at_check"] == 5
    assert metering["tracked_at"]
    # The preflight data survived the later merges.
    assert done.metadata_["billing_customer_id"] == world.customer
    assert done.metadata_["preflight_balance"] == 5

    charges = await world.charges()
    assert [(c.feature_id, c.credits, c.idempotency_key) for c in charges] == [
        ("ai_call_minutes", 1, f"call:{call.id}")
    ]
    assert await world.ledger.balance(world.customer) == 4

    async with world.service.db.reader() as repo:
        lead = await repo.get_opportunity(world.agency, world.opportunity_id)
    assert lead is not None and lead.meeting_time is not None
    assert lead.meeting_time.tzinfo is not None and lead.meeting_time > datetime(2020, 1, 1, tzinfo=UTC)


async def test_balance_clamps_a_three_minute_call_to_two_credits(world: Any) -> None:
    await world.fund(2)
    call = await world.service.start_call(
        world.agency, world.opportunity_id, user_id="u1", variables={"sandbox_call_seconds": 180}
    )
    done = await world.wait_for(call.id)
    assert done.billing_seconds == 180
    metering = done.metadata_["ai_call_metering"]
    assert (metering["requested_minutes"], metering["billed_minutes"], metering["balance_at_check"]) == (
        3,
        2,
        2,
    )
    assert await world.billed() == 2
    assert await world.ledger.balance(world.customer) == 0


@pytest.mark.parametrize("reason", ["customer-did-not-answer", "customer-busy"])
async def test_unanswered_call_bills_nothing(world: Any, reason: str) -> None:
    await world.fund(3)
    call = await world.service.start_call(
        world.agency, world.opportunity_id, user_id="u1", variables={"sandbox_ended_reason": reason}
    )
    done = await world.wait_for(call.id)
    assert done.ended_reason == reason
    assert done.billing_seconds == 0
    metering = done.metadata_["ai_call_metering"]
    assert (metering["requested_minutes"], metering["billed_minutes"]) == (0, 0)
    assert metering["tracked_at"]
    assert await world.charges() == []
    assert await world.ledger.balance(world.customer) == 3


async def test_voicemail_has_talk_time_but_is_not_billed_and_says_why(world: Any) -> None:
    """A call that reaches voicemail connects and lasts (greeting, message); we record its real
    duration but bill nothing: the agency did not reach the lead (README, "AI calls")."""
    await world.fund(3)
    call = await world.service.start_call(
        world.agency,
        world.opportunity_id,
        user_id="u1",
        variables={"sandbox_ended_reason": "voicemail", "sandbox_call_seconds": 40},
    )
    done = await world.wait_for(call.id)
    assert done.ended_reason == "voicemail"
    assert done.billing_seconds == 40 and done.started_at is not None
    metering = done.metadata_["ai_call_metering"]
    assert (metering["requested_minutes"], metering["billed_minutes"]) == (0, 0)
    assert "voicemail" in metering["not_billed_reason"] and metering["tracked_at"]
    assert await world.charges() == []
    assert await world.ledger.balance(world.customer) == 3


async def test_a_61_second_call_is_two_started_minutes(world: Any) -> None:
    await world.fund(10)
    call = await world.service.start_call(
        world.agency, world.opportunity_id, user_id="u1", variables={"sandbox_call_seconds": 61}
    )
    done = await world.wait_for(call.id)
    assert done.metadata_["ai_call_metering"]["billed_minutes"] == 2
    assert await world.billed() == 2


async def test_unauthenticated_and_bad_phone_are_refused_before_dialling(world: Any) -> None:
    await world.fund(5)
    before = vapi_creates(world)
    with pytest.raises(Unauthenticated):
        await world.service.start_call(world.agency, world.opportunity_id, user_id=None)
    agency, no_phone = await world.add_agency(phone=None)
    await world.fund(5, customer=agency)
    with pytest.raises(InvalidCallTarget):
        await world.service.start_call(agency, no_phone, user_id="u1")
    _, bad_phone = await world.add_agency(agency, phone="555-0100")
    with pytest.raises(InvalidCallTarget):
        await world.service.start_call(agency, bad_phone, user_id="u1")
    assert vapi_creates(world) == before
    assert await world.service.list_calls(world.agency) == []
    assert await world.service.list_calls(agency) == []


async def test_vapi_refusal_marks_the_call_failed_and_bills_nothing(world: Any) -> None:
    await world.fund(5)
    world.sandbox.configure(outages=["vapi"])
    with pytest.raises(CallFailed) as failed:
        await world.service.start_call(world.agency, world.opportunity_id, user_id="u1")
    world.sandbox.configure(outages=[])
    row = await world.call_row(failed.value.call.id)
    assert row.status == "failed"
    assert row.provider_call_id is None
    assert row.metadata_["error"]
    assert row.metadata_["billing_customer_id"] == world.customer
    assert await world.service.meter_call(world.agency, row.id) is None  # nothing to bill
    assert await world.charges() == []
    assert await world.ledger.balance(world.customer) == 5


async def test_a_second_call_to_a_lead_on_the_phone_is_refused_and_places_nothing(world: Any) -> None:
    await world.fund(5)
    thirty = {"sandbox_call_seconds": 30}
    # The sandbox ends calls at once; its report is held in transit so the first call stays live.
    with world.webhooks_held():
        first = await world.service.start_call(
            world.agency, world.opportunity_id, user_id="u1", variables=thirty
        )
        before = vapi_creates(world)
        with pytest.raises(CallInProgress) as refused:
            await world.service.start_call(world.agency, world.opportunity_id, user_id="u1", variables=thirty)
        assert refused.value.call.id == first.id and first.id in str(refused.value)
        assert vapi_creates(world) == before
        assert [c.id for c in await world.service.list_calls(world.agency)] == [first.id]

    await world.wait_for(first.id)  # ended and metered: the lead may be called again
    second = await world.service.start_call(
        world.agency, world.opportunity_id, user_id="u1", variables=thirty
    )
    await world.wait_for(second.id)
    assert vapi_creates(world) == before + 1
    assert await world.billed() == 2  # one credit per call, each under its own key
    assert {c.idempotency_key for c in await world.charges()} == {f"call:{first.id}", f"call:{second.id}"}


async def test_a_call_that_never_reported_its_end_stops_blocking_the_lead(world: Any) -> None:
    await world.fund(5)
    async with world.service.db.transaction() as repo:
        stale = await repo.create_call(world.agency, world.opportunity_id, to_number="+15125550100")
        await repo.update_call(world.agency, stale.id, created_at=datetime.now(UTC) - timedelta(minutes=31))
    call = await world.service.start_call(world.agency, world.opportunity_id, user_id="u1")
    assert call.id != stale.id


async def test_concurrent_clicks_on_call_place_one_call(world: Any) -> None:
    await world.fund(5)
    before = vapi_creates(world)
    with world.webhooks_held():  # the call stays live until every click was answered
        results = await asyncio.gather(
            *(place_call(world.service, world.agency, world.opportunity_id, user_id="u1") for _ in range(6))
        )
    assert sorted(r["outcome"] for r in results) == ["in_progress"] * 5 + ["placed"]
    placed = next(r for r in results if r["outcome"] == "placed")
    assert all(r["call"]["id"] == placed["call"]["id"] for r in results)
    assert vapi_creates(world) == before + 1
    assert len(await world.service.list_calls(world.agency)) == 1
