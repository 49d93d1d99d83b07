"""The billing contract: what every `BillingProvider` must do, tested through the port alone.

Runs once per adapter and database (see conftest.py). Money is asserted exactly: every test
that spends checks the resulting balance and the ledger totals, not just "something happened".
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tools.billing import credit_admin
from tools.billing.port import (
    BillingProvider,
    CreditCheck,
    Hold,
    InsufficientCredits,
    LedgerEntry,
    TrackResult,
    UnknownHold,
)

Fund = Callable[[str, int], Awaitable[None]]


def charges(history: list[LedgerEntry]) -> list[LedgerEntry]:
    return [e for e in history if e.kind == "charge"]


def ledger_total(history: list[LedgerEntry]) -> int:
    """Credits the ledger says the customer has: grants and adjustments in, charges out."""
    return sum(-e.credits if e.kind == "charge" else e.credits for e in history)


async def test_unknown_customer_has_nothing(billing: BillingProvider, fund: Fund, customer: str) -> None:
    assert await billing.balance(customer) == 0
    assert await billing.history(customer) == []
    check = await billing.check(customer, "lead_discovery")
    assert (check.allowed, check.balance, check.required_balance, check.deficit) == (False, 0, 1, 1)


async def test_check_reports_without_spending(billing: BillingProvider, fund: Fund, customer: str) -> None:
    await fund(customer, 5)
    ok = await billing.check(customer, "dossier_research", units=2)
    assert isinstance(ok, CreditCheck)
    assert (ok.allowed, ok.balance, ok.required_balance, ok.deficit) == (True, 5, 4, 0)
    assert ok.customer_id == customer and ok.feature_id == "dossier_research"
    assert ok.plan  # adapters name their plan ("local", or Autumn's product)
    short = await billing.check(customer, "dossier_research", units=3)
    assert (short.allowed, short.balance, short.required_balance, short.deficit) == (False, 5, 6, 1)
    assert await billing.balance(customer) == 5
    assert charges(await billing.history(customer)) == []


async def test_funding_is_a_grant_row(billing: BillingProvider, fund: Fund, customer: str) -> None:
    await fund(customer, 7)
    await fund(customer, 3)
    history = await billing.history(customer)
    assert [(e.kind, e.feature_id, e.credits) for e in history] == [("grant", None, 7), ("grant", None, 3)]
    assert await billing.balance(customer) == 10 == ledger_total(history)


async def test_hold_reserves_and_settle_charges_once(
    billing: BillingProvider, fund: Fund, customer: str
) -> None:
    await fund(customer, 10)
    key = f"audit:{customer}:1"

    hold = await billing.hold(customer, "dossier_research", key)
    assert hold == Hold(key, customer, "dossier_research", 1, 2, "open")
    assert await billing.balance(customer) == 8  # available = balance - held
    assert charges(await billing.history(customer)) == []  # a hold is not a charge
    assert (await billing.check(customer, "dossier_research", units=5)).deficit == 2

    first = await billing.settle(key)
    assert first == TrackResult(key, 2, recorded=True)
    again = await billing.settle(key)
    assert again == TrackResult(key, 2, recorded=False)

    assert await billing.balance(customer) == 8
    history = await billing.history(customer)
    assert [(e.feature_id, e.credits, e.idempotency_key) for e in charges(history)] == [
        ("dossier_research", 2, key)
    ]
    assert ledger_total(history) == 8


async def test_hold_of_the_same_key_reserves_once(
    billing: BillingProvider, fund: Fund, customer: str
) -> None:
    await fund(customer, 10)
    key = f"audit:{customer}:1"
    first = await billing.hold(customer, "dossier_research", key)
    second = await billing.hold(customer, "dossier_research", key)
    assert first == second
    assert await billing.balance(customer) == 8

    await billing.settle(key)
    after_settle = await billing.hold(customer, "dossier_research", key)
    assert after_settle.status == "settled"  # the existing hold, as it is now
    assert await billing.balance(customer) == 8
    assert len(charges(await billing.history(customer))) == 1


async def test_hold_multiplies_units(billing: BillingProvider, fund: Fund, customer: str) -> None:
    await fund(customer, 7)
    hold = await billing.hold(customer, "dossier_research", f"audit:{customer}:big", units=3)
    assert (hold.units, hold.credits) == (3, 6)
    assert await billing.balance(customer) == 1


async def test_release_gives_credits_back(billing: BillingProvider, fund: Fund, customer: str) -> None:
    await fund(customer, 3)
    key = f"audit:{customer}:failed"
    await billing.hold(customer, "dossier_research", key)
    assert await billing.balance(customer) == 1
    await billing.release(key)
    assert await billing.balance(customer) == 3
    await billing.release(key)  # releasing again is a no-op
    assert await billing.balance(customer) == 3
    with pytest.raises(UnknownHold):
        await billing.settle(key)  # a released hold cannot be charged
    history = await billing.history(customer)
    assert charges(history) == [] and ledger_total(history) == 3


async def test_holding_a_released_key_reopens_it_for_a_retry(
    billing: BillingProvider, fund: Fund, customer: str
) -> None:
    await fund(customer, 3)
    key = f"flow:{customer}:source-retry"
    await billing.hold(customer, "dossier_research", key)
    await billing.release(key)
    again = await billing.hold(customer, "dossier_research", key)
    assert again.status == "open" and again.credits == 2
    assert await billing.balance(customer) == 1
    assert (await billing.hold(customer, "dossier_research", key)).status == "open"
    assert await billing.balance(customer) == 1  # still reserved once
    assert (await billing.settle(key)).recorded
    assert [
        (e.feature_id, e.credits, e.idempotency_key) for e in charges(await billing.history(customer))
    ] == [("dossier_research", 2, key)]
    assert await billing.balance(customer) == 1


async def test_reopening_a_released_hold_needs_the_credits(
    billing: BillingProvider, fund: Fund, customer: str
) -> None:
    await fund(customer, 2)
    key = f"audit:{customer}:retry-short"
    await billing.hold(customer, "dossier_research", key)
    await billing.release(key)
    await billing.hold(customer, "dossier_research", f"audit:{customer}:other")
    with pytest.raises(InsufficientCredits):
        await billing.hold(customer, "dossier_research", key)
    await billing.release(f"audit:{customer}:other")
    assert (await billing.hold(customer, "dossier_research", key)).status == "open"


async def test_release_after_settle_is_a_no_op(billing: BillingProvider, fund: Fund, customer: str) -> None:
    await fund(customer, 4)
    key = f"audit:{customer}:done"
    await billing.hold(customer, "dossier_research", key)
    await billing.settle(key)
    await billing.release(key)
    assert await billing.balance(customer) == 2  # not refunded
    assert (await billing.hold(customer, "dossier_research", key)).status == "settled"
    assert ledger_total(await billing.history(customer)) == 2


async def test_unknown_hold(billing: BillingProvider, fund: Fund, customer: str) -> None:
    with pytest.raises(UnknownHold):
        await billing.settle(f"audit:{customer}:never")
    with pytest.raises(UnknownHold):
        await billing.release(f"audit:{customer}:never")


async def test_insufficient_hold_reserves_nothing_and_keeps_the_key_free(
    billing: BillingProvider, fund: Fund, customer: str
) -> None:
    await fund(customer, 1)
    key = f"audit:{customer}:1"
    with pytest.raises(InsufficientCredits) as info:
        await billing.hold(customer, "dossier_research", key)
    check = info.value.check
    assert (check.allowed, check.balance, check.required_balance, check.deficit) == (False, 1, 2, 1)
    assert (check.customer_id, check.feature_id) == (customer, "dossier_research")
    assert await billing.balance(customer) == 1
    with pytest.raises(UnknownHold):
        await billing.settle(key)  # the refused hold left nothing behind

    await fund(customer, 1)
    assert (await billing.hold(customer, "dossier_research", key)).status == "open"
    assert await billing.balance(customer) == 0


async def test_track_charges_once_per_key(billing: BillingProvider, fund: Fund, customer: str) -> None:
    await fund(customer, 5)
    key = f"flow:{customer}:source"
    assert await billing.track(customer, "lead_discovery", key) == TrackResult(key, 1, recorded=True)
    assert await billing.track(customer, "lead_discovery", key) == TrackResult(key, 1, recorded=False)
    assert await billing.balance(customer) == 4
    minutes = await billing.track(customer, "ai_call_minutes", f"call:{customer}", units=3)
    assert minutes == TrackResult(f"call:{customer}", 3, recorded=True)
    assert await billing.balance(customer) == 1
    history = await billing.history(customer)
    assert [(e.kind, e.feature_id, e.credits, e.idempotency_key) for e in history] == [
        ("grant", None, 5, history[0].idempotency_key),
        ("charge", "lead_discovery", 1, key),
        ("charge", "ai_call_minutes", 3, f"call:{customer}"),
    ]
    assert ledger_total(history) == 1


async def test_track_refused_when_it_does_not_fit(
    billing: BillingProvider, fund: Fund, customer: str
) -> None:
    await fund(customer, 4)
    await billing.hold(customer, "dossier_research", f"audit:{customer}:1")  # available 2 of 4
    key = f"call:{customer}"
    with pytest.raises(InsufficientCredits) as info:
        await billing.track(customer, "ai_call_minutes", key, units=3)
    check = info.value.check
    assert (check.allowed, check.balance, check.required_balance, check.deficit) == (False, 2, 3, 1)
    assert await billing.balance(customer) == 2
    assert charges(await billing.history(customer)) == []
    # The refused key was not burned: once it fits, it charges.
    assert (await billing.track(customer, "ai_call_minutes", key, units=2)).recorded is True
    assert await billing.balance(customer) == 0


async def test_unknown_feature_is_refused(billing: BillingProvider, fund: Fund, customer: str) -> None:
    await fund(customer, 5)
    with pytest.raises(ValueError, match="unknown feature"):
        await billing.track(customer, "free_lunch", f"x:{customer}")
    with pytest.raises(ValueError, match="units"):
        await billing.hold(customer, "dossier_research", f"y:{customer}", units=0)
    assert await billing.balance(customer) == 5


# ---- concurrency ---------------------------------------------------------------------------


async def test_fifty_concurrent_holds_never_overspend(
    billing: BillingProvider, fund: Fund, customer: str
) -> None:
    await fund(customer, 10)
    keys = [f"audit:{customer}:{i}" for i in range(50)]
    results = await asyncio.gather(
        *(billing.hold(customer, "dossier_research", k) for k in keys), return_exceptions=True
    )
    granted = [r for r in results if isinstance(r, Hold)]
    refused = [r for r in results if isinstance(r, InsufficientCredits)]
    assert len(granted) == 5 and len(refused) == 45, results
    assert all(r.check.balance >= 0 and r.check.deficit > 0 for r in refused)
    assert await billing.balance(customer) == 0

    # Held 10: settling every granted hold charges exactly 10, and nothing is left.
    settled = await asyncio.gather(*(billing.settle(h.key) for h in granted))
    assert all(s.recorded for s in settled)
    history = await billing.history(customer)
    assert sum(e.credits for e in charges(history)) == 10
    assert sorted(e.idempotency_key for e in charges(history)) == sorted(h.key for h in granted)
    assert ledger_total(history) == 0 == await billing.balance(customer)


async def test_fifty_concurrent_holds_of_one_key_reserve_once(
    billing: BillingProvider, fund: Fund, customer: str
) -> None:
    await fund(customer, 10)
    key = f"audit:{customer}:same"
    results = await asyncio.gather(*(billing.hold(customer, "dossier_research", key) for _ in range(50)))
    assert {r.key for r in results} == {key}
    assert await billing.balance(customer) == 8


async def test_fifty_concurrent_tracks_of_one_key_charge_once(
    billing: BillingProvider, fund: Fund, customer: str
) -> None:
    await fund(customer, 10)
    key = f"flow:{customer}:source"
    results = await asyncio.gather(*(billing.track(customer, "dossier_research", key) for _ in range(50)))
    assert sum(r.recorded for r in results) == 1
    assert all(r.credits == 2 and r.key == key for r in results)
    history = await billing.history(customer)
    assert [(e.idempotency_key, e.credits) for e in charges(history)] == [(key, 2)]
    assert await billing.balance(customer) == 8 == ledger_total(history)


async def test_concurrent_settles_of_one_hold_charge_once(
    billing: BillingProvider, fund: Fund, customer: str
) -> None:
    await fund(customer, 6)
    key = f"audit:{customer}:1"
    await billing.hold(customer, "dossier_research", key)
    results = await asyncio.gather(*(billing.settle(key) for _ in range(30)))
    assert sum(r.recorded for r in results) == 1
    history = await billing.history(customer)
    assert [(e.idempotency_key, e.credits) for e in charges(history)] == [(key, 2)]
    assert await billing.balance(customer) == 4 == ledger_total(history)


async def test_racing_settle_and_release_pick_one_outcome(
    billing: BillingProvider, fund: Fund, customer: str
) -> None:
    await fund(customer, 40)
    keys = [f"audit:{customer}:{i}" for i in range(10)]
    for k in keys:
        await billing.hold(customer, "dossier_research", k)
    ops = [billing.settle(k) for k in keys] + [billing.release(k) for k in keys]
    results = await asyncio.gather(*ops, return_exceptions=True)
    # A release that won makes the settle fail with UnknownHold; a settle that won makes the release a no-op.
    settled = [r for r in results if isinstance(r, TrackResult)]
    unknown = [r for r in results if isinstance(r, UnknownHold)]
    assert len(settled) + len(unknown) == 10
    assert not [r for r in results if isinstance(r, BaseException) and not isinstance(r, UnknownHold)]
    history = await billing.history(customer)
    assert len(charges(history)) == len(settled)
    assert await billing.balance(customer) == 40 - 2 * len(settled) == ledger_total(history)


async def test_available_never_negative_under_mixed_load(
    billing: BillingProvider, fund: Fund, customer: str
) -> None:
    await fund(customer, 9)
    holds = [billing.hold(customer, "dossier_research", f"audit:{customer}:{i}") for i in range(15)]
    tracks = [billing.track(customer, "lead_discovery", f"flow:{customer}:{i}") for i in range(15)]
    results = await asyncio.gather(*holds, *tracks, return_exceptions=True)
    assert all(isinstance(r, Hold | TrackResult | InsufficientCredits) for r in results), results
    held = sum(r.credits for r in results if isinstance(r, Hold))
    tracked = sum(r.credits for r in results if isinstance(r, TrackResult))
    available = await billing.balance(customer)
    assert available >= 0
    assert held + tracked + available == 9
    # Available only ever fell here, so a refusal means it was already too low for that request.
    if any(isinstance(r, InsufficientCredits) and r.check.feature_id == "dossier_research" for r in results):
        assert available < 2
    if any(isinstance(r, InsufficientCredits) and r.check.feature_id == "lead_discovery" for r in results):
        assert available < 1
    history = await billing.history(customer)
    assert sum(e.credits for e in charges(history)) == tracked
    assert ledger_total(history) == 9 - tracked


async def test_history_is_oldest_first_and_totals_match(
    billing: BillingProvider, fund: Fund, customer: str
) -> None:
    await fund(customer, 20)
    await billing.track(customer, "lead_discovery", f"flow:{customer}:source")
    await billing.hold(customer, "dossier_research", f"audit:{customer}:a")
    await billing.hold(customer, "dossier_research", f"audit:{customer}:b")
    await billing.settle(f"audit:{customer}:b")
    await billing.release(f"audit:{customer}:a")
    await fund(customer, 5)
    await billing.track(customer, "ai_call_minutes", f"call:{customer}", units=4)

    history = await billing.history(customer)
    assert [(e.kind, e.feature_id, e.credits) for e in history] == [
        ("grant", None, 20),
        ("charge", "lead_discovery", 1),
        ("charge", "dossier_research", 2),
        ("grant", None, 5),
        ("charge", "ai_call_minutes", 4),
    ]
    assert [e.idempotency_key for e in charges(history)] == [
        f"flow:{customer}:source",
        f"audit:{customer}:b",
        f"call:{customer}",
    ]
    times = [e.created_at for e in history]
    assert times == sorted(times) and all(t.tzinfo is not None for t in times)
    assert sum(e.credits for e in charges(history)) == 7
    assert ledger_total(history) == 18 == await billing.balance(customer)


async def test_credit_administration_is_declared_by_the_port(billing_harness: Any, customer: str) -> None:
    """What the account service (graphs/account_service.py) branches on, asked through the port:
    `credit_admin` is the adapter's credit administration when we keep the credits, None when
    the provider does. Where it exists: an account opens with its starting credits once, a
    grant with a key is recorded once, and a set balance is exact, all rows of the history."""
    billing: BillingProvider = billing_harness.billing
    admin = credit_admin(billing)
    assert (admin is not None) == billing_harness.adjusts_credits, billing_harness.name
    if admin is None:
        assert await billing.history(customer) == []  # asking wrote nothing
        return
    assert await admin.ensure_account(customer, 5) is True
    assert await admin.ensure_account(customer, 5) is False
    assert await billing.balance(customer) == 5
    first = await admin.grant(customer, 3, key=f"upgrade:{customer}:tool:1:starter")
    again = await admin.grant(customer, 3, key=f"upgrade:{customer}:tool:1:starter")
    assert (first.recorded, again.recorded) == (True, False)
    assert await billing.balance(customer) == 8
    assert await admin.set_balance(customer, 2) == -6  # the signed change
    assert await admin.set_balance(customer, 2) == 0
    history = await billing.history(customer)
    assert [(e.kind, e.credits) for e in history][:2] == [("grant", 5), ("grant", 3)]
    assert history[-1].kind == "adjustment"
    assert await billing.balance(customer) == 2 == ledger_total(history)
