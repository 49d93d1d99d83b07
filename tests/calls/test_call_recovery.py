"""A process that stops while calls are live (a chat server restarted) leaves them to the next
one: at start-up `CallFollower.recover` follows every call placed at Vapi recently and not yet
ended and metered, of every agency, and meters each once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from graphs.call_follower import CallFollower, call_finished


async def test_calls_left_live_by_a_stopped_process_are_followed_to_their_end(world: Any) -> None:
    await world.fund(5)
    other_agency, other_lead = await world.add_agency()
    await world.ledger.grant(other_agency, 5, key="test:other")
    async with world.service.db.transaction() as repo:  # long gone: not worth following
        old = await repo.create_call(world.agency, world.opportunity_id, to_number="+15125550100")
        await repo.update_call(
            world.agency,
            old.id,
            provider_call_id="vapi-old",
            created_at=datetime.now(UTC) - timedelta(minutes=50),
        )

    with world.webhooks_held():  # Vapi cannot reach us: only polling learns how the calls end
        mine = await world.service.start_call(
            world.agency, world.opportunity_id, user_id="u1", variables={"sandbox_call_seconds": 30}
        )
        theirs = await world.service.start_call(
            other_agency, other_lead, user_id="u2", variables={"sandbox_call_seconds": 61}
        )
        # The process that placed them stops here without following them; the next one starts.
        restarted = CallFollower(world.service, poll_seconds=0.05)
        # The sweep spans every agency, and the session's database holds other tests' calls too:
        # judge it on this test's calls (the old one included, which it must leave alone).
        ours = {mine.id, theirs.id, old.id}
        try:
            assert set(await restarted.recover()) & ours == {mine.id, theirs.id}
            ended = [await restarted.wait(mine.id), await restarted.wait(theirs.id)]
            # Following twice (a second sweep) adds nothing.
            assert set(await restarted.recover()) & ours == set()
        finally:
            await restarted.aclose()

    assert all(call is not None and call_finished(call) for call in ended)
    assert [c.agency_id for c in ended if c is not None] == [world.agency, other_agency]
    charged = [
        (c.feature_id, c.credits, c.idempotency_key)
        for c in await world.ledger.history(world.customer)
        if c.kind == "charge"
    ]
    assert charged == [("ai_call_minutes", 1, f"call:{mine.id}")]
    assert await world.ledger.balance(other_agency) == 5 - 2  # 61 s: two started minutes
    assert (await world.service.get_call(world.agency, old.id)).status == "queued"
