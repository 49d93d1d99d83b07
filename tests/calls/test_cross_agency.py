"""Every read and write is scoped to the caller's agency: another agency can neither call this
agency's leads nor see, refresh or meter its calls (it reads as not found)."""

from __future__ import annotations

from typing import Any

import pytest

from graphs.call_tools import place_call
from graphs.calls import CallNotFound


async def test_another_agency_cannot_call_or_see_this_agencys_leads_and_calls(world: Any) -> None:
    await world.fund(5)
    other, other_lead = await world.add_agency()
    await world.fund(5, customer=other)
    vapi_before = len(world.sandbox.requests("vapi"))

    with pytest.raises(CallNotFound):
        await world.service.start_call(other, world.opportunity_id, user_id="intruder")
    tool = await place_call(world.service, other, world.opportunity_id, user_id="intruder")
    assert (tool["ok"], tool["outcome"], tool["call"]) == (False, "not_found", None)
    assert len(world.sandbox.requests("vapi")) == vapi_before

    mine = await world.service.start_call(world.agency, world.opportunity_id, user_id="owner")
    await world.wait_for(mine.id)
    assert await world.service.list_calls(other) == []
    with pytest.raises(CallNotFound):
        await world.service.get_call(other, mine.id)
    with pytest.raises(CallNotFound):
        await world.service.refresh_call(other, mine.id)
    with pytest.raises(CallNotFound):
        await world.service.meter_call(other, mine.id)

    # The other agency's own lead works, and its calls stay its own.
    theirs = await world.service.start_call(other, other_lead, user_id="them")
    assert [c.id for c in await world.service.list_calls(other)] == [theirs.id]
    assert [c.id for c in await world.service.list_calls(world.agency)] == [mine.id]
    await world.wait_for(theirs.id, agency=other)
    assert await world.billed(other) == 1 and await world.billed() == 1  # 60 s each (sandbox default)


async def test_place_call_tool_reports_each_outcome(world: Any) -> None:
    await world.fund(0)
    refused = await place_call(world.service, world.agency, world.opportunity_id, user_id="u1")
    assert refused["outcome"] == "insufficient_credits" and refused["ok"] is False
    assert refused["paywall"] == {
        "feature_id": "ai_call_minutes",
        "required_balance": 1,
        "balance": 0,
        "deficit": 1,
    }
    anonymous = await place_call(world.service, world.agency, world.opportunity_id, user_id=None)
    assert anonymous["outcome"] == "unauthenticated"
    await world.fund(3)
    placed = await place_call(world.service, world.agency, world.opportunity_id, user_id="u1")
    assert placed["ok"] is True and placed["outcome"] == "placed"
    assert placed["call"]["metadata"]["preflight_balance"] == 3
    assert placed["call"]["provider_call_id"]
    await world.wait_for(placed["call"]["id"])
