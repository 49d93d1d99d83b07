"""`LocalLedger`: the billing port over our own database (the default when Autumn is not set).

Tables (db/models.py): `credit_accounts` holds one row per billing customer with `balance`
(granted minus charged) and `held` (reserved by open holds); `credit_holds` holds the holds;
`credit_ledger_entries` is the append-only record of charges, grants and adjustments.

How money stays exact under concurrency:

* Every write runs in `write_session` (SQLite: `BEGIN IMMEDIATE`, so writers queue up front;
  PostgreSQL: an ordinary transaction that takes row locks as it goes).
* Spending is one conditional UPDATE, `... WHERE balance - held >= :credits`; an UPDATE that
  matched no row means the credits did not fit. Because the condition is re-checked against the
  locked row, two writers can never both spend the last credits.
* Idempotency comes from unique keys, not from reading first: a hold inserts its `hold_key`, a
  charge inserts its `idempotency_key`, each with ON CONFLICT DO NOTHING. A concurrent writer of
  the same key waits on the unique index for the first one to commit, then inserts nothing.
  The key is claimed *before* the balance is touched, so a loser never moves money; a winner
  that then finds too few credits raises, and its rollback frees the key again.
"""

from __future__ import annotations

import uuid
from typing import NoReturn

from sqlalchemy import Insert, Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from db.base import utcnow
from db.engine import session_factory, write_session
from tools.billing.ledger_sql import (
    ACCOUNTS,
    HOLDS,
    LEDGER,
    claim_hold,
    ensure_account_row,
    get_hold,
    insert_ignoring_conflict,
)
from tools.billing.port import (
    CreditCheck,
    Hold,
    InsufficientCredits,
    LedgerEntry,
    TrackResult,
    UnknownHold,
    credits_for,
)

PLAN = "local"
# Admin inputs above this are typos, not business (the CLI enforces the same bound).
MAX_ADMIN_CREDITS = 1_000_000


def starting_grant_key(customer_id: str) -> str:
    return f"grant:starting:{customer_id}"


class LocalLedger:
    """A `BillingProvider` whose balances live in our database.

    Besides the port it offers the admin operations the CLI needs: `ensure_account`, `grant`
    and `set_balance`.
    """

    plan = PLAN

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._read = session_factory(engine)
        self._dialect = engine.dialect.name

    # ---- the port -------------------------------------------------------------------------

    async def check(self, customer_id: str, feature_id: str, units: int = 1) -> CreditCheck:
        required = credits_for(feature_id, units)
        async with self._read() as session:
            available = await self._available(session, customer_id)
        return self._check(customer_id, feature_id, required, available)

    async def hold(self, customer_id: str, feature_id: str, key: str, units: int = 1) -> Hold:
        required = credits_for(feature_id, units)
        async with write_session(self._engine) as session:
            claimed = await claim_hold(
                session,
                self._dialect,
                key=key,
                customer_id=customer_id,
                feature_id=feature_id,
                units=units,
                credits=required,
            )
            if not claimed:
                existing = await self._get_hold(session, key)
                assert existing is not None, "a conflicting hold key must exist"
                if existing.status != "released":
                    return existing  # open or settled: reserve nothing more
                # A released hold is being retried: re-open it, reserving again below.
                await session.execute(
                    update(HOLDS)
                    .where(HOLDS.c.hold_key == key, HOLDS.c.status == "released")
                    .values(status="open", closed_at=None)
                )
                customer_id, feature_id = existing.customer_id, existing.feature_id
                units, required = existing.units, existing.credits
            reserved = await session.execute(
                update(ACCOUNTS)
                .where(
                    ACCOUNTS.c.customer_id == customer_id,
                    ACCOUNTS.c.balance - ACCOUNTS.c.held >= required,
                )
                .values(held=ACCOUNTS.c.held + required, updated_at=utcnow())
                .returning(ACCOUNTS.c.customer_id)
            )
            if reserved.first() is None:
                # Raising rolls the transaction back, taking the claimed hold row with it.
                await self._refuse(session, customer_id, feature_id, required)
            return Hold(key, customer_id, feature_id, units, required, "open")

    async def settle(self, key: str) -> TrackResult:
        async with write_session(self._engine) as session:
            closed = (
                await session.execute(
                    update(HOLDS)
                    .where(HOLDS.c.hold_key == key, HOLDS.c.status == "open")
                    .values(status="settled", closed_at=utcnow())
                    .returning(HOLDS.c.customer_id, HOLDS.c.feature_id, HOLDS.c.units, HOLDS.c.credits)
                )
            ).first()
            if closed is None:
                existing = await self._get_hold(session, key)
                if existing is None or existing.status == "released":
                    raise UnknownHold(f"no open or settled hold with key {key!r}")
                return TrackResult(key, existing.credits, recorded=False)

            customer_id, feature_id, units, credits = closed
            recorded = await self._insert_entry(
                session, customer_id, "charge", feature_id, units, credits, key
            )
            # If `track` already charged this key, the hold only gives its reservation back:
            # one key is never charged twice, whichever way it arrived.
            spent = credits if recorded else 0
            balance_after = (
                await session.execute(
                    update(ACCOUNTS)
                    .where(ACCOUNTS.c.customer_id == customer_id)
                    .values(
                        balance=ACCOUNTS.c.balance - spent,
                        held=ACCOUNTS.c.held - credits,
                        updated_at=utcnow(),
                    )
                    .returning(ACCOUNTS.c.balance)
                )
            ).scalar_one()
            if recorded:
                await self._set_balance_after(session, key, balance_after)
            return TrackResult(key, credits, recorded=recorded)

    async def release(self, key: str) -> None:
        async with write_session(self._engine) as session:
            closed = (
                await session.execute(
                    update(HOLDS)
                    .where(HOLDS.c.hold_key == key, HOLDS.c.status == "open")
                    .values(status="released", closed_at=utcnow())
                    .returning(HOLDS.c.customer_id, HOLDS.c.credits)
                )
            ).first()
            if closed is None:
                if await self._get_hold(session, key) is None:
                    raise UnknownHold(f"no hold with key {key!r}")
                return  # already released, or settled (which stays settled)
            customer_id, credits = closed
            await session.execute(
                update(ACCOUNTS)
                .where(ACCOUNTS.c.customer_id == customer_id)
                .values(held=ACCOUNTS.c.held - credits, updated_at=utcnow())
            )

    async def track(self, customer_id: str, feature_id: str, key: str, units: int = 1) -> TrackResult:
        required = credits_for(feature_id, units)
        async with write_session(self._engine) as session:
            if not await self._insert_entry(session, customer_id, "charge", feature_id, units, required, key):
                earlier = (
                    await session.execute(select(LEDGER.c.credits).where(LEDGER.c.idempotency_key == key))
                ).scalar_one()
                return TrackResult(key, earlier, recorded=False)
            balance_after = (
                await session.execute(
                    update(ACCOUNTS)
                    .where(
                        ACCOUNTS.c.customer_id == customer_id,
                        ACCOUNTS.c.balance - ACCOUNTS.c.held >= required,
                    )
                    .values(balance=ACCOUNTS.c.balance - required, updated_at=utcnow())
                    .returning(ACCOUNTS.c.balance)
                )
            ).scalar_one_or_none()
            if balance_after is None:
                await self._refuse(session, customer_id, feature_id, required)
            await self._set_balance_after(session, key, balance_after)
            return TrackResult(key, required, recorded=True)

    async def balance(self, customer_id: str) -> int:
        async with self._read() as session:
            return await self._available(session, customer_id)

    async def history(self, customer_id: str) -> list[LedgerEntry]:
        async with self._read() as session:
            rows = await session.execute(
                select(
                    LEDGER.c.kind,
                    LEDGER.c.feature_id,
                    LEDGER.c.credits,
                    LEDGER.c.idempotency_key,
                    LEDGER.c.created_at,
                    LEDGER.c.balance_after,
                )
                .where(LEDGER.c.customer_id == customer_id)
                # Entries of one customer are written while its account row is locked, so
                # created_at is increasing; the id only breaks exact ties deterministically.
                .order_by(LEDGER.c.created_at, LEDGER.c.id)
            )
            return [LedgerEntry(*row) for row in rows]

    # ---- admin (not on the port) -------------------------------------------------------------

    async def ensure_account(self, customer_id: str, starting_credits: int) -> bool:
        """Create the customer's account with `starting_credits`, once. Returns True when this
        call created it; later calls change nothing, whatever `starting_credits` they pass."""
        _check_admin_credits(starting_credits, allow_zero=True)
        async with write_session(self._engine) as session:
            created = await session.execute(
                self._insert_ignoring_conflict(ACCOUNTS, "customer_id")
                .values(customer_id=customer_id, balance=starting_credits, held=0, updated_at=utcnow())
                .returning(ACCOUNTS.c.customer_id)
            )
            if created.first() is None:
                return False
            if starting_credits > 0:
                key = starting_grant_key(customer_id)
                await self._insert_entry(session, customer_id, "grant", None, 0, starting_credits, key)
                await self._set_balance_after(session, key, starting_credits)
            return True

    async def grant(self, customer_id: str, credits: int, key: str | None = None) -> TrackResult:
        """Add `credits` (> 0) to the balance, once per `key` (a fresh key when none is given).
        Creates the account if it does not exist yet."""
        _check_admin_credits(credits, allow_zero=False)
        key = key or f"grant:{customer_id}:{uuid.uuid4().hex}"
        async with write_session(self._engine) as session:
            await self._create_empty_account(session, customer_id)
            if not await self._insert_entry(session, customer_id, "grant", None, 0, credits, key):
                return TrackResult(key, credits, recorded=False)
            balance_after = (
                await session.execute(
                    update(ACCOUNTS)
                    .where(ACCOUNTS.c.customer_id == customer_id)
                    .values(balance=ACCOUNTS.c.balance + credits, updated_at=utcnow())
                    .returning(ACCOUNTS.c.balance)
                )
            ).scalar_one()
            await self._set_balance_after(session, key, balance_after)
            return TrackResult(key, credits, recorded=True)

    async def set_balance(self, customer_id: str, credits: int) -> int:
        """Adjust the balance to exactly `credits` (≥ what open holds reserve), recording the
        difference as an `adjustment` entry. Returns the signed change (0 writes nothing)."""
        _check_admin_credits(credits, allow_zero=True)
        async with write_session(self._engine) as session:
            await self._create_empty_account(session, customer_id)
            # FOR UPDATE: on PostgreSQL no other writer moves the row between this read and our
            # write (SQLite's BEGIN IMMEDIATE already excludes them; it ignores the clause).
            balance, held = (
                await session.execute(
                    select(ACCOUNTS.c.balance, ACCOUNTS.c.held)
                    .where(ACCOUNTS.c.customer_id == customer_id)
                    .with_for_update(key_share=True)  # NO KEY UPDATE: ledger rows' FK locks pass
                )
            ).one()
            if credits < held:
                raise ValueError(
                    f"cannot set the balance to {credits}: {held} credits are held by work in progress; "
                    f"set at least {held}"
                )
            delta = credits - balance
            if delta == 0:
                return 0
            await session.execute(
                update(ACCOUNTS)
                .where(ACCOUNTS.c.customer_id == customer_id)
                .values(balance=credits, updated_at=utcnow())
            )
            key = f"adjust:{customer_id}:{uuid.uuid4().hex}"
            await self._insert_entry(session, customer_id, "adjustment", None, 0, delta, key)
            await self._set_balance_after(session, key, credits)
            return delta

    # ---- helpers -------------------------------------------------------------------------------

    def _insert_ignoring_conflict(self, table: Table, column: str) -> Insert:
        return insert_ignoring_conflict(self._dialect, table, column)

    async def _create_empty_account(self, session: AsyncSession, customer_id: str) -> None:
        await ensure_account_row(session, self._dialect, customer_id)

    async def _insert_entry(
        self,
        session: AsyncSession,
        customer_id: str,
        kind: str,
        feature_id: str | None,
        units: int,
        credits: int,
        key: str,
    ) -> bool:
        """Claim `key` in the ledger; False when it was claimed before (nothing written)."""
        inserted = await session.execute(
            self._insert_ignoring_conflict(LEDGER, "idempotency_key")
            .values(
                id=uuid.uuid4().hex,
                customer_id=customer_id,
                kind=kind,
                feature_id=feature_id,
                units=units,
                credits=credits,
                idempotency_key=key,
                created_at=utcnow(),
            )
            .returning(LEDGER.c.id)
        )
        return inserted.first() is not None

    async def _set_balance_after(self, session: AsyncSession, key: str, balance_after: int) -> None:
        await session.execute(
            update(LEDGER).where(LEDGER.c.idempotency_key == key).values(balance_after=balance_after)
        )

    async def _get_hold(self, session: AsyncSession, key: str) -> Hold | None:
        return await get_hold(session, key)

    async def _available(self, session: AsyncSession, customer_id: str) -> int:
        available = (
            await session.execute(
                select(func.coalesce(ACCOUNTS.c.balance - ACCOUNTS.c.held, 0)).where(
                    ACCOUNTS.c.customer_id == customer_id
                )
            )
        ).scalar_one_or_none()
        return max(int(available or 0), 0)

    async def _refuse(
        self, session: AsyncSession, customer_id: str, feature_id: str, required: int
    ) -> NoReturn:
        available = await self._available(session, customer_id)
        raise InsufficientCredits(self._check(customer_id, feature_id, required, available))

    def _check(self, customer_id: str, feature_id: str, required: int, available: int) -> CreditCheck:
        return CreditCheck(
            allowed=available >= required,
            customer_id=customer_id,
            feature_id=feature_id,
            required_balance=required,
            balance=available,
            deficit=max(required - available, 0),
            plan=PLAN,
        )


def _check_admin_credits(credits: int, *, allow_zero: bool) -> None:
    lowest = 0 if allow_zero else 1
    if isinstance(credits, bool) or not isinstance(credits, int):
        raise ValueError(f"credits must be a whole number, got {credits!r}")
    if not lowest <= credits <= MAX_ADMIN_CREDITS:
        raise ValueError(f"credits must be between {lowest} and {MAX_ADMIN_CREDITS}, got {credits}")
