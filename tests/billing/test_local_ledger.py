"""The local ledger beyond the port: its admin operations, its tables' invariants, and the
`billing_for` factory. (The port's behaviour is covered by test_contract.py.)"""

from __future__ import annotations

import asyncio
import importlib.util

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from db.models import CreditAccount, CreditHold, CreditLedgerEntry
from leadgen.settings import Settings
from tools.billing import BillingNotConfigured, billing_for
from tools.billing.local import LocalLedger, starting_grant_key
from tools.billing.port import InsufficientCredits


async def account_row(engine: AsyncEngine, customer: str) -> tuple[int, int]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(CreditAccount.balance, CreditAccount.held).where(CreditAccount.customer_id == customer)
            )
        ).one()
    return row[0], row[1]


async def test_ensure_account_grants_the_starting_credits_once(
    ledger_engine: AsyncEngine, customer: str
) -> None:
    ledger = LocalLedger(ledger_engine)
    assert await ledger.ensure_account(customer, 20) is True
    assert await ledger.ensure_account(customer, 50) is False  # later calls change nothing
    results = await asyncio.gather(*(ledger.ensure_account(customer, 20) for _ in range(10)))
    assert not any(results)
    assert await ledger.balance(customer) == 20
    history = await ledger.history(customer)
    assert [(e.kind, e.credits, e.idempotency_key, e.balance_after) for e in history] == [
        ("grant", 20, starting_grant_key(customer), 20)
    ]


async def test_ensure_account_with_zero_writes_no_entry(ledger_engine: AsyncEngine, customer: str) -> None:
    ledger = LocalLedger(ledger_engine)
    assert await ledger.ensure_account(customer, 0) is True
    assert await ledger.history(customer) == []
    assert await account_row(ledger_engine, customer) == (0, 0)


async def test_grant_adds_once_per_key(ledger_engine: AsyncEngine, customer: str) -> None:
    ledger = LocalLedger(ledger_engine)
    first = await ledger.grant(customer, 5, key=f"promo:{customer}")
    again = await ledger.grant(customer, 5, key=f"promo:{customer}")
    assert (first.recorded, again.recorded) == (True, False)
    await ledger.grant(customer, 3)  # no key: always a new grant
    await ledger.grant(customer, 3)
    assert await ledger.balance(customer) == 11
    assert [e.balance_after for e in await ledger.history(customer)] == [5, 8, 11]


@pytest.mark.parametrize("bad", [0, -1, 1_000_001, 2.5, True, "3"])
async def test_grant_refuses_bad_amounts(ledger_engine: AsyncEngine, customer: str, bad: object) -> None:
    ledger = LocalLedger(ledger_engine)
    with pytest.raises(ValueError, match="credits"):
        await ledger.grant(customer, bad)  # type: ignore[arg-type]
    assert await ledger.history(customer) == []


async def test_set_balance_records_the_difference(ledger_engine: AsyncEngine, customer: str) -> None:
    ledger = LocalLedger(ledger_engine)
    await ledger.ensure_account(customer, 20)
    await ledger.track(customer, "lead_discovery", f"flow:{customer}:source")
    assert await ledger.set_balance(customer, 50) == 31
    assert await ledger.set_balance(customer, 50) == 0  # already there: nothing written
    assert await ledger.set_balance(customer, 4) == -46
    history = await ledger.history(customer)
    assert [(e.kind, e.credits, e.balance_after) for e in history] == [
        ("grant", 20, 20),
        ("charge", 1, 19),
        ("adjustment", 31, 50),
        ("adjustment", -46, 4),
    ]
    assert await ledger.balance(customer) == 4


async def test_set_balance_refuses_to_go_below_what_is_held(
    ledger_engine: AsyncEngine, customer: str
) -> None:
    ledger = LocalLedger(ledger_engine)
    await ledger.ensure_account(customer, 10)
    await ledger.hold(customer, "dossier_research", f"audit:{customer}:1", units=3)  # 6 held
    with pytest.raises(ValueError, match="held"):
        await ledger.set_balance(customer, 5)
    assert await account_row(ledger_engine, customer) == (10, 6)
    assert await ledger.set_balance(customer, 6) == -4
    assert await ledger.balance(customer) == 0
    with pytest.raises(InsufficientCredits):
        await ledger.track(customer, "lead_discovery", f"flow:{customer}:x")


async def test_set_balance_creates_a_missing_account(ledger_engine: AsyncEngine, customer: str) -> None:
    ledger = LocalLedger(ledger_engine)
    assert await ledger.set_balance(customer, 7) == 7
    assert await ledger.balance(customer) == 7


async def test_settle_of_a_key_already_tracked_does_not_charge_twice(
    ledger_engine: AsyncEngine, customer: str
) -> None:
    ledger = LocalLedger(ledger_engine)
    await ledger.ensure_account(customer, 10)
    key = f"audit:{customer}:1"
    await ledger.hold(customer, "dossier_research", key)
    await ledger.track(customer, "dossier_research", key)  # e.g. an old code path metered directly
    result = await ledger.settle(key)
    assert result.recorded is False
    assert await account_row(ledger_engine, customer) == (8, 0)
    assert len(await ledger.history(customer)) == 2  # the grant and the one charge


async def test_tables_stay_consistent_under_load(ledger_engine: AsyncEngine, customer: str) -> None:
    """`held` equals the open holds and `balance` equals the ledger, after a concurrent mix."""
    ledger = LocalLedger(ledger_engine)
    await ledger.ensure_account(customer, 30)
    keys = [f"audit:{customer}:{i}" for i in range(20)]
    await asyncio.gather(
        *(ledger.hold(customer, "dossier_research", k) for k in keys), return_exceptions=True
    )
    ops = [ledger.settle(k) for k in keys[::2]] + [ledger.release(k) for k in keys[1::4]]
    ops += [ledger.track(customer, "lead_discovery", f"flow:{customer}:{i}") for i in range(10)]
    await asyncio.gather(*ops, return_exceptions=True)

    async with ledger_engine.connect() as conn:
        open_held = (
            await conn.execute(
                select(func.coalesce(func.sum(CreditHold.credits), 0)).where(
                    CreditHold.customer_id == customer, CreditHold.status == "open"
                )
            )
        ).scalar_one()
        signed = (
            await conn.execute(
                select(CreditLedgerEntry.kind, func.sum(CreditLedgerEntry.credits))
                .where(CreditLedgerEntry.customer_id == customer)
                .group_by(CreditLedgerEntry.kind)
            )
        ).all()
    totals = dict(signed)
    balance, held = await account_row(ledger_engine, customer)
    assert held == open_held
    assert balance == totals.get("grant", 0) + totals.get("adjustment", 0) - totals.get("charge", 0)
    assert balance - held >= 0


def test_billing_for_picks_the_local_ledger_without_autumn(ledger_engine: AsyncEngine) -> None:
    assert isinstance(billing_for(Settings(autumn_secret_key=""), ledger_engine), LocalLedger)


def test_billing_for_autumn(ledger_engine: AsyncEngine) -> None:
    settings = Settings(autumn_secret_key="am_sk_test_x")
    if importlib.util.find_spec("tools.billing.autumn") is None:
        with pytest.raises(BillingNotConfigured, match="AUTUMN_SECRET_KEY"):
            billing_for(settings, ledger_engine)
    else:
        assert type(billing_for(settings, ledger_engine)).__name__ == "AutumnBilling"
