"""Password sign-in throttle (graphs/identity.py) on SQLite and the real PostgreSQL, with a
clock the test moves: failures count per username and per address across processes (two
separate database connections stand for two web UI processes), the right password afterwards
works once the window passes, and the password never reaches the log."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from db import Database, open_database
from graphs.identity import SignInLimits, SignInThrottled, add_user, authenticate

LIMITS = SignInLimits(window_seconds=900, per_user=5, per_address=20)
PASSWORD = "the-right-password"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def databases(database_url: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two connections to one database, as two processes of the web UI would hold."""
    first = await open_database(database_url)
    second = await open_database(database_url)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def _address() -> str:
    return f"2001:db8::{uuid.uuid4().hex[:4]}"


async def test_twenty_wrong_passwords_are_throttled_and_the_right_one_works_after_the_window(
    databases: tuple[Database, Database], caplog: pytest.LogCaptureFixture
) -> None:
    web1, web2 = databases
    name = f"ana-{uuid.uuid4().hex[:8]}"
    await add_user(web1, name, "acme", PASSWORD)
    clock, address = Clock(), _address()
    caplog.set_level(logging.INFO, logger="graphs.identity")

    outcomes: list[str] = []
    for attempt in range(20):
        database = web1 if attempt % 2 else web2  # both processes count the same failures
        try:
            who = await authenticate(
                database, name, f"wrong-{attempt}", address=address, limits=LIMITS, clock=clock
            )
            outcomes.append("refused" if who is None else "signed in")
        except SignInThrottled as exc:
            assert "Too many failed sign-in attempts" in str(exc) and "try again in 15 minutes" in str(exc)
            assert exc.retry_after == 900 - attempt  # until the first failure leaves the window
            outcomes.append("throttled")
        clock.advance(1)
    assert outcomes == ["refused"] * 5 + ["throttled"] * 15

    # The right password does not get through while throttled (the attacker cannot tell).
    with pytest.raises(SignInThrottled):
        await authenticate(web1, name, PASSWORD, address=address, limits=LIMITS, clock=clock)
    # Nor does another spelling of the name.
    with pytest.raises(SignInThrottled):
        await authenticate(web1, name.upper(), PASSWORD, address=_address(), limits=LIMITS, clock=clock)

    # The window passes (counted from the first failure): the right password works again.
    clock.advance(900 - 20)
    who = await authenticate(web2, name, PASSWORD, address=address, limits=LIMITS, clock=clock)
    assert who is not None and (who.username, who.agency_id, who.role) == (name, "acme", "member")
    # A success clears the user's failures: one slip right after is an ordinary refusal.
    assert await authenticate(web1, name, "wrong-again", address=address, limits=LIMITS, clock=clock) is None

    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "sign-in failed for user" in logged and "sign-in throttled for user" in logged
    assert address in logged
    assert "wrong-" not in logged and PASSWORD not in logged


async def test_one_address_trying_many_usernames_is_throttled(databases: tuple[Database, Database]) -> None:
    web1, web2 = databases
    name = f"bo-{uuid.uuid4().hex[:8]}"
    await add_user(web1, name, "acme", PASSWORD)
    clock, address = Clock(), _address()
    for i in range(20):  # a spray: one try per username, so no single user's limit is reached
        assert (
            await authenticate(
                web1, f"guess-{uuid.uuid4().hex[:6]}-{i}", "x", address=address, limits=LIMITS, clock=clock
            )
            is None
        )
    with pytest.raises(SignInThrottled):
        await authenticate(web2, name, PASSWORD, address=address, limits=LIMITS, clock=clock)
    # The real user from their own address is not affected.
    assert (
        await authenticate(web2, name, PASSWORD, address=_address(), limits=LIMITS, clock=clock) is not None
    )
    clock.advance(901)
    assert await authenticate(web1, name, PASSWORD, address=address, limits=LIMITS, clock=clock) is not None


async def test_old_failures_are_pruned(databases: tuple[Database, Database]) -> None:
    from sqlalchemy import func, select

    from db.models import SignInFailure

    web1, _ = databases
    clock, address = Clock(), _address()
    name = f"cy-{uuid.uuid4().hex[:8]}"
    for _ in range(3):
        await authenticate(web1, name, "nope", address=address, limits=LIMITS, clock=clock)
    clock.advance(901)
    await authenticate(web1, name, "nope", address=address, limits=LIMITS, clock=clock)
    async with web1.reader() as repo:
        rows = (
            await repo.session.execute(
                select(func.count()).select_from(SignInFailure).where(SignInFailure.address == address)
            )
        ).scalar_one()
    assert rows == 1
