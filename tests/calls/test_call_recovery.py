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


async def test_a_recovered_call_asked_for_in_a_chat_thread_reports_its_end_there(
    world: Any, database_url: str
) -> None:
    """The chat server that placed the call is gone, and with it the session that asked: the next
    server follows the call and writes its end into the kept thread, read back by Chainlit's own
    layer as the thread's next message. A call placed elsewhere (the CLI) is followed but not
    reported into any thread; another thread of the same chat is left alone."""
    import uuid

    from assistant.chat_data import make_data_layer, recovered_call_reporter

    await world.fund(5)
    layer = make_data_layer(world.service.db.url)
    thread_id, other_thread = str(uuid.uuid4()), str(uuid.uuid4())
    for thread in (thread_id, other_thread):
        await layer.update_thread(thread, name="Find 5 dentists in Austin, TX")
    try:
        with world.webhooks_held():
            asked = await world.service.start_call(
                world.agency,
                world.opportunity_id,
                user_id="u1",
                variables={"sandbox_call_seconds": 30},
                origin={"face": "chat", "thread_id": thread_id, "lead_name": "Summit Smiles"},
            )
            restarted = CallFollower(world.service, poll_seconds=0.05)
            try:
                await restarted.recover(report_to=recovered_call_reporter(layer, author="Atlas Lead Gen"))
                ended = await restarted.wait(asked.id)
            finally:
                await restarted.aclose()
        assert ended is not None and call_finished(ended)

        thread = await layer.get_thread(thread_id)
        assert thread is not None
        said = [s["output"] for s in thread["steps"] if s["type"] == "assistant_message"]
        assert len(said) == 1 and said[0].startswith("The call to Summit Smiles ended")
        assert "1 credit billed" in said[0]
        untouched = await layer.get_thread(other_thread)
        assert untouched is not None and not untouched["steps"]
        # A thread this server does not keep: nothing is written, and the caller hears so.
        assert await layer.post_to_thread(str(uuid.uuid4()), "x", author="Atlas Lead Gen") is False
    finally:
        await layer.close()
