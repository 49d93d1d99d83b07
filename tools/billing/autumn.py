"""`AutumnBilling`: the billing port with Autumn holding the balance and our database the holds.

Autumn (useautumn.com) knows each customer's balance of `atlas_credits` and charges usage
(`track`) once per idempotency key. It knows nothing of work in flight, so the holds live in our
`credit_holds` table, and the available balance is *Autumn's balance minus our open holds*
(README, "Credits, pauses and resume": parallel audits never overspend). Our `credit_ledger_entries` keeps a row per
charge (and per grant recorded through `record_grant`) so `history` answers locally.

How it stays exact when audits run in parallel, in one process or many:

* Every operation that spends (`hold`, `track`, `settle`) or frees (`release`) credits first
  takes the customer's row in `credit_accounts` as a lock (`SELECT ... FOR UPDATE` on
  PostgreSQL; on SQLite `write_session` is `BEGIN IMMEDIATE`, which excludes every other writer).
  Under that lock it reads Autumn's balance, sums the open holds and writes, so two callers can
  never both see the same credits as free. The row's `balance`/`held` columns are left alone:
  they belong to the local ledger; here the row is only the per-customer lock.
* A hold's key is unique (`hold_key`): holding a key again returns the existing hold.
* `settle` first commits the hold as `settling` (the time it did so is the hold's `closed_at`):
  from then on we know a charge may have left for Autumn. Then, under the lock again, it tracks
  the hold with the hold key as the idempotency key and `overage_behavior="reject"` (Autumn's
  default, `cap`, would answer 200 for a charge that does not fit and deduct only part of it,
  without saying how much), closes the hold `settled` and writes the charge row.
* A settle finding the hold already `settling` is a retry after a crash or a lost answer, and
  whether Autumn charged is unknown. Autumn keeps idempotency keys for 24 hours only
  (`DEFAULT_IDEMPOTENCY_TTL_HOURS` in its server), so the retry trusts Autumn's 409 only while
  the intent is younger than `TRUST_409_FOR`; past that it looks for the charge itself among
  the customer's events (every track carries the key in its properties, `EVENT_KEY_PROPERTY`)
  and tracks only when none is there. The crash windows:
  - before the intent commits: the hold is still `open`; nothing was sent; the retry tracks.
  - after the intent, before the track reached Autumn: the retry tracks (within the day the key
    is unclaimed; after it, no event has the key).
  - after Autumn recorded the charge, before our commit: within the day the retry gets 409; after
    it, the retry finds the event. Either way it closes the hold without charging again
    (`recorded=False`).
  - after our commit: the hold is `settled`; nothing is sent again.
  A `settling` hold still reserves its credits (Autumn may not have them yet), and `release`
  of one finishes the settlement instead: the work it paid for was delivered.
* `track` is a hold settled at once (after a look in our ledger: a key charged before is never
  sent again), so it gets the same crash safety.

Errors (never fail open):

* Autumn down, timing out, rate limiting us after retries, refusing our key, answering a body
  we cannot read, or failing open itself (HTTP 202, balance unknown) -> `BillingUnavailable`.
  Nothing is held or charged locally in that case (the transaction rolls back).
* Autumn refusing our key (401/403) -> `BillingAuthFailed` (a `BillingUnavailable` whose message
  is the one sentence naming AUTUMN_SECRET_KEY).
* Too few available credits -> `InsufficientCredits` with the `CreditCheck` (available balance,
  required, deficit, and Autumn's `usage`, `included_usage`, `interval`, ...). Autumn refusing a
  track for `insufficient_balance` (its balance fell outside our view) is reported the same way,
  and the hold goes back to `open` (a refused track charged nothing). A customer Autumn knows no
  grant of the feature for (its check has no `balance` at all) has a balance of 0.
* `settle`/`release` of a key never held (or `settle` of a released one) -> `UnknownHold`.
* An unknown feature or units below 1 -> `ValueError` (before anything is sent).

Known limits: while a hold, track or settle talks to Autumn it keeps the customer's lock; on
SQLite that lock is the whole database's write lock, so these operations queue one after another
(fine for one machine; PostgreSQL locks per customer). A track or settle whose first answer was lost and
whose retry came back 409 reports `recorded=False` although this call did charge (money exact,
flag conservative). A track or settle that failed with `BillingUnavailable` while tracking
leaves its hold `settling` (Autumn may have charged): the caller's retry settles it. A retry
after 24 hours relies on Autumn's events list being complete for the intent's time window.
Credits bought at Autumn directly (checkout) move Autumn's balance but have
no grant row in our history unless recorded with `record_grant`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Insert, Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from db.base import utcnow
from db.engine import session_factory, write_session
from tools.autumn import (
    AutumnAuthError,
    AutumnCheck,
    AutumnClient,
    AutumnCustomer,
    AutumnError,
    AutumnInsufficientBalance,
    AutumnNotFoundError,
    DuplicateIdempotencyKey,
)
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
    BALANCE_FEATURE,
    BillingAuthFailed,
    BillingUnavailable,
    CreditCheck,
    Hold,
    InsufficientCredits,
    LedgerEntry,
    TrackResult,
    UnknownHold,
    credits_for,
)
from tools.providers import Providers

if TYPE_CHECKING:
    from leadgen.settings import Settings
    from tools.http import RetryPolicy

log = logging.getLogger(__name__)

# The plan a customer is on when Autumn shows no active product for them.
DEFAULT_PLAN = "autumn"
_ACTIVE_PRODUCT_STATUSES = ("active", "trialing")

SETTLING = "settling"
# Holds whose credits are still reserved: not charged, or charged at Autumn without our knowing.
_RESERVING = ("open", SETTLING)
# Autumn keeps an idempotency key this long (DEFAULT_IDEMPOTENCY_TTL_HOURS = 24 in its server)...
IDEMPOTENCY_TTL = timedelta(hours=24)
# ...so a re-settle trusts its 409 only while the intent is clearly younger than that.
TRUST_409_FOR = IDEMPOTENCY_TTL - timedelta(hours=1)
# Every charge carries its key in the event's properties, so it can be found after the 24 hours.
EVENT_KEY_PROPERTY = "atlas_idempotency_key"
# Clock skew allowed between our intent time and Autumn's event timestamps.
EVENT_WINDOW_SLACK = timedelta(minutes=10)
EVENT_PAGE = 1000
EVENT_MAX_PAGES = 100


T = TypeVar("T")


class AutumnBilling:
    """A `BillingProvider` whose balance lives at Autumn and whose holds live in `engine`'s database.

    `billing_for(settings, engine)` builds it when `AUTUMN_SECRET_KEY` is set. Pass `providers`
    to share an existing `Providers` (then `aclose()` leaves it open) and `policy` to change how
    hard the Autumn client retries.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        engine: AsyncEngine,
        providers: Providers | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._engine = engine
        self._read = session_factory(engine)
        self._dialect = engine.dialect.name
        self._owns_providers = providers is None
        self._providers = providers or Providers.from_settings(settings, policy=policy)
        # Customers known to exist at Autumn (their record as last seen), and one lock per
        # customer so a burst of first calls creates the customer once.
        self._customers: dict[str, AutumnCustomer] = {}
        self._creating: dict[str, asyncio.Lock] = {}

    @property
    def client(self) -> AutumnClient:
        return self._providers.autumn

    async def aclose(self) -> None:
        if self._owns_providers:
            await self._providers.aclose()

    # ---- the port -------------------------------------------------------------------------

    async def check(
        self, customer_id: str, feature_id: str, units: int = 1, *, with_preview: bool = False
    ) -> CreditCheck:
        """Whether `units` fit in Autumn's balance minus our open holds. With `with_preview` the
        customer's plan is read afresh and Autumn's paywall preview is kept (when Autumn refuses)."""
        required = credits_for(feature_id, units)
        await self._ensure_customer(customer_id)
        if with_preview:
            answer, customer = await asyncio.gather(
                self._autumn(
                    customer_id, lambda: self.client.check(customer_id, feature_id, units, with_preview=True)
                ),
                self._autumn(customer_id, lambda: self.client.get_customer(customer_id)),
            )
            self._customers[customer_id] = customer
        else:
            answer = await self._autumn(
                customer_id, lambda: self.client.check(customer_id, feature_id, units)
            )
        async with self._read() as session:
            held = await self._open_holds(session, customer_id)
        return self._credit_check(customer_id, feature_id, required, answer, held)

    async def hold(self, customer_id: str, feature_id: str, key: str, units: int = 1) -> Hold:
        required = credits_for(feature_id, units)
        await self._ensure_customer(customer_id)
        async with write_session(self._engine) as session:
            await self._lock_customer(session, customer_id)
            existing = await self._get_hold(session, key)
            if existing is not None and existing.status != "released":
                return existing  # open or settled: reserve nothing more
            if existing is not None:
                # A released hold being retried is re-opened as it was, reserving its credits again.
                if existing.customer_id != customer_id:
                    raise ValueError(f"hold key {key!r} belongs to another customer")
                feature_id, units, required = existing.feature_id, existing.units, existing.credits
            answer = await self._autumn(
                customer_id, lambda: self.client.check(customer_id, feature_id, units)
            )
            held = await self._open_holds(session, customer_id)
            check = self._credit_check(customer_id, feature_id, required, answer, held)
            if not check.allowed:
                raise InsufficientCredits(check)
            if existing is not None:
                await session.execute(
                    update(HOLDS)
                    .where(HOLDS.c.hold_key == key, HOLDS.c.status == "released")
                    .values(status="open", closed_at=None)
                )
                return Hold(key, customer_id, feature_id, units, required, "open")
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
                # The key was taken under another customer's lock: report that hold, reserve nothing.
                other = await self._get_hold(session, key)
                assert other is not None, "a conflicting hold key must exist"
                return other
            return Hold(key, customer_id, feature_id, units, required, "open")

    async def settle(self, key: str) -> TrackResult:
        async with self._read() as session:
            seen = await self._get_hold(session, key)
        if seen is None or seen.status == "released":
            raise UnknownHold(f"no open or settled hold with key {key!r}")
        if seen.status == "settled":
            return TrackResult(key, seen.credits, recorded=False)

        customer_id = seen.customer_id
        await self._ensure_customer(customer_id)
        # 1. The intent, committed before anything leaves for Autumn (see the module docstring).
        async with write_session(self._engine) as session:
            await self._lock_customer(session, customer_id)
            hold = await self._get_hold(session, key, for_update=True)
            if hold is None or hold.status == "released":
                raise UnknownHold(f"no open or settled hold with key {key!r}")
            if hold.status == "settled":
                return TrackResult(key, hold.credits, recorded=False)
            retry = hold.status == SETTLING
            if not retry:
                await session.execute(
                    update(HOLDS)
                    .where(HOLDS.c.hold_key == key, HOLDS.c.status == "open")
                    .values(status=SETTLING, closed_at=utcnow())
                )
        # 2. The charge, and the hold closed with its ledger row in the same transaction.
        refused: InsufficientCredits | None = None
        async with write_session(self._engine) as session:
            await self._lock_customer(session, customer_id)
            hold = await self._get_hold(session, key, for_update=True)
            if hold is not None and hold.status == "settled":
                return TrackResult(key, hold.credits, recorded=False)  # a concurrent settle won
            if hold is None or hold.status != SETTLING:
                raise UnknownHold(f"no open or settled hold with key {key!r}")
            intent_at = await self._settling_since(session, key)
            try:
                if retry and not _may_trust_409(intent_at) and await self._charged_at_autumn(hold, intent_at):
                    recorded = False  # Autumn has the charge, under a key it may have forgotten
                else:
                    recorded = await self._track_at_autumn(session, hold, key)
            except InsufficientCredits as exc:
                # Autumn refused the charge outright: nothing was charged, so the hold is open
                # again (committed with this transaction) for the caller to release or retry.
                refused = exc
                await session.execute(
                    update(HOLDS)
                    .where(HOLDS.c.hold_key == key, HOLDS.c.status == SETTLING)
                    .values(status="open", closed_at=None)
                )
            else:
                await session.execute(
                    update(HOLDS)
                    .where(HOLDS.c.hold_key == key, HOLDS.c.status == SETTLING)
                    .values(status="settled", closed_at=utcnow())
                )
                # The row may exist already when `track` charged this key before: keep that one.
                await self._insert_charge(
                    session, hold.customer_id, hold.feature_id, hold.units, hold.credits, key
                )
        if refused is not None:
            raise refused
        return TrackResult(key, hold.credits, recorded=recorded)

    async def release(self, key: str) -> None:
        async with self._read() as session:
            seen = await self._get_hold(session, key)
        if seen is None:
            raise UnknownHold(f"no hold with key {key!r}")
        if seen.status == SETTLING:
            # Its settlement began, so the work was delivered and Autumn may have charged it:
            # finish the settlement rather than hand back credits that may be spent.
            try:
                await self.settle(key)
                return
            except InsufficientCredits:
                pass  # Autumn refused the charge: the hold is open again, release it below
            except BillingUnavailable as exc:
                log.warning("hold %s stays settling (Autumn unavailable): %s", key, exc)
                return
        elif seen.status != "open":
            return  # already released, or settled (which stays settled)
        async with write_session(self._engine) as session:
            # Same lock order as settle (customer row, then hold row): no deadlock between them.
            await self._lock_customer(session, seen.customer_id)
            await session.execute(
                update(HOLDS)
                .where(HOLDS.c.hold_key == key, HOLDS.c.status == "open")
                .values(status="released", closed_at=utcnow())
            )

    async def track(self, customer_id: str, feature_id: str, key: str, units: int = 1) -> TrackResult:
        """Charge now, once per key: a hold of `key` settled at once.

        Going through a committed hold is what makes a crash safe: if we die after Autumn
        recorded the charge but before our commit, the caller's retry finds the open hold (its
        credits still reserved, so no second balance check can refuse it), and the settle
        completes it against Autumn's 409.
        """
        credits_for(feature_id, units)  # ValueError before anything is written or sent
        async with self._read() as session:
            earlier = (
                await session.execute(select(LEDGER.c.credits).where(LEDGER.c.idempotency_key == key))
            ).scalar_one_or_none()
        if earlier is not None:
            return TrackResult(key, earlier, recorded=False)  # our ledger had the key: never resend
        await self.hold(customer_id, feature_id, key, units)
        try:
            return await self.settle(key)
        except InsufficientCredits:
            # Autumn refused the charge outright (nothing recorded): give the reservation back.
            # On BillingUnavailable the hold stays open, as Autumn may have recorded the charge;
            # retrying the track settles it once.
            await self.release(key)
            raise

    async def balance(self, customer_id: str) -> int:
        await self._ensure_customer(customer_id)
        answer = await self._autumn(customer_id, lambda: self.client.check(customer_id, BALANCE_FEATURE, 1))
        async with self._read() as session:
            held = await self._open_holds(session, customer_id)
        return max(_autumn_balance(answer) - held, 0)

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
                .order_by(LEDGER.c.created_at, LEDGER.c.id)
            )
            return [LedgerEntry(*row) for row in rows]

    # ---- admin (not on the port) -------------------------------------------------------------

    async def record_grant(self, customer_id: str, credits: int, key: str | None = None) -> bool:
        """Record in our history that `credits` were added to the customer's Autumn balance (by
        our admin path: the purchase or top-up itself happens at Autumn). Once per `key`; returns
        False when the key was recorded before."""
        if isinstance(credits, bool) or not isinstance(credits, int) or credits < 1:
            raise ValueError(f"credits must be a whole number of at least 1, got {credits!r}")
        key = key or f"grant:{customer_id}:{uuid.uuid4().hex}"
        async with write_session(self._engine) as session:
            inserted = await session.execute(
                self._insert_ignoring_conflict(LEDGER, "idempotency_key")
                .values(
                    id=uuid.uuid4().hex,
                    customer_id=customer_id,
                    kind="grant",
                    feature_id=None,
                    units=0,
                    credits=credits,
                    idempotency_key=key,
                    created_at=utcnow(),
                )
                .returning(LEDGER.c.id)
            )
            return inserted.first() is not None

    # ---- Autumn --------------------------------------------------------------------------------

    async def _ensure_customer(self, customer_id: str) -> None:
        """Create the customer at Autumn the first time this instance sees it (Autumn's check and
        track no longer create customers; `POST /customers` is get-or-create)."""
        if customer_id in self._customers:
            return
        lock = self._creating.setdefault(customer_id, asyncio.Lock())
        async with lock:
            if customer_id in self._customers:
                return  # a concurrent first call created it while we waited
            try:
                self._customers[customer_id] = await self.client.create_customer(customer_id)
            except AutumnAuthError as exc:
                raise BillingAuthFailed(str(exc)) from exc
            except AutumnError as exc:
                raise BillingUnavailable(f"Autumn could not create customer {customer_id!r}: {exc}") from exc

    async def verify_credentials(self, customer_id: str) -> None:
        """Raise BillingAuthFailed when Autumn refuses our secret key (checked by getting or
        creating the customer, which costs nothing); other failures are left to the run."""
        try:
            await self._ensure_customer(customer_id)
        except BillingAuthFailed:
            raise
        except BillingUnavailable as exc:
            log.warning("could not verify the Autumn key before a run: %s", exc)

    async def _autumn(self, customer_id: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run one Autumn call, turning every failure into BillingUnavailable (never fail open).

        A customer deleted at Autumn since we cached it is created again once, then retried.
        DuplicateIdempotencyKey and AutumnInsufficientBalance pass through: callers decide.
        """
        try:
            try:
                return await call()
            except AutumnNotFoundError as exc:
                if exc.code != "customer_not_found":
                    raise
                self._customers.pop(customer_id, None)
                await self._ensure_customer(customer_id)
                return await call()
        except (DuplicateIdempotencyKey, AutumnInsufficientBalance):
            raise
        except AutumnAuthError as exc:
            raise BillingAuthFailed(str(exc)) from exc
        except AutumnError as exc:
            raise BillingUnavailable(f"Autumn is unavailable: {exc}") from exc

    async def _track_at_autumn(self, session: AsyncSession, hold: Hold, key: str) -> bool:
        """Charge the hold at Autumn once per `key`: True when charged now, False when Autumn
        had the key (within its 24 hours). Refused beyond the balance, never capped."""
        customer_id, feature_id, units = hold.customer_id, hold.feature_id, hold.units
        try:
            await self._autumn(
                customer_id,
                lambda: self.client.track(
                    customer_id,
                    feature_id,
                    units,
                    idempotency_key=key,
                    properties={EVENT_KEY_PROPERTY: key},
                    overage_behavior="reject",
                ),
            )
        except DuplicateIdempotencyKey:
            return False  # recorded before (a crashed settle or track): nothing charged now
        except AutumnInsufficientBalance as exc:
            # Autumn's balance fell below what we saw as available (changed outside Atlas).
            answer = await self._autumn(
                customer_id, lambda: self.client.check(customer_id, feature_id, units)
            )
            held = await self._open_holds(session, customer_id)
            check = self._credit_check(customer_id, feature_id, credits_for(feature_id, units), answer, held)
            raise InsufficientCredits(replace(check, allowed=False, deficit=max(check.deficit, 1))) from exc
        return True

    async def _charged_at_autumn(self, hold: Hold, intent_at: datetime | None) -> bool:
        """Whether Autumn recorded the hold's charge: an event of its feature carrying its key,
        at or after the intent (less some clock skew). Used once Autumn may have forgotten the key."""
        start_ms = int((intent_at - EVENT_WINDOW_SLACK).timestamp() * 1000) if intent_at else None
        for page in range(EVENT_MAX_PAGES):
            events, more = await self._autumn(
                hold.customer_id,
                functools.partial(
                    self.client.list_events,
                    hold.customer_id,
                    hold.feature_id,
                    start_ms=start_ms,
                    limit=EVENT_PAGE,
                    offset=page * EVENT_PAGE,
                ),
            )
            if any(e.properties.get(EVENT_KEY_PROPERTY) == hold.key for e in events):
                return True
            if not more:
                return False
        raise BillingUnavailable(
            f"could not tell whether Autumn charged {hold.key!r}: more than "
            f"{EVENT_MAX_PAGES * EVENT_PAGE} events since the charge was intended"
        )

    def _credit_check(
        self, customer_id: str, feature_id: str, required: int, answer: AutumnCheck, held: int
    ) -> CreditCheck:
        autumn_balance = _autumn_balance(answer)
        available = max(autumn_balance - held, 0)
        # Unlimited features and overage-allowed plans are Autumn's promise to bill beyond the
        # balance; only then may a request that does not fit be allowed.
        allowed = available >= required or answer.unlimited or answer.overage_allowed
        extra: dict[str, Any] = {
            "autumn_balance": autumn_balance,
            "held": held,
            "interval_count": answer.interval_count,
            "next_reset_at": answer.next_reset_at,
        }
        if answer.usage_limit is not None:
            extra["usage_limit"] = answer.usage_limit
        if answer.breakdown is not None:
            extra["breakdown"] = answer.breakdown
        if answer.preview is not None:
            extra["preview"] = answer.preview
        return CreditCheck(
            allowed=allowed,
            customer_id=customer_id,
            feature_id=feature_id,
            required_balance=required,
            balance=available,
            deficit=0 if allowed else required - available,
            usage=_whole(answer.usage),
            included_usage=_whole(answer.included_usage),
            interval=answer.interval,
            unlimited=answer.unlimited,
            overage_allowed=answer.overage_allowed,
            plan=self._plan(customer_id),
            extra=extra,
        )

    def _plan(self, customer_id: str) -> str:
        customer = self._customers.get(customer_id)
        products = customer.products if customer is not None else ()
        active = [p for p in products if p.get("status") in _ACTIVE_PRODUCT_STATUSES and p.get("id")]
        return str(active[-1]["id"]) if active else DEFAULT_PLAN

    # ---- our tables ----------------------------------------------------------------------------

    def _insert_ignoring_conflict(self, table: Table, column: str) -> Insert:
        return insert_ignoring_conflict(self._dialect, table, column)

    async def _lock_customer(self, session: AsyncSession, customer_id: str) -> None:
        """Serialise spending per customer, across processes: the customer's account row, locked.
        (SQLite ignores FOR UPDATE; its BEGIN IMMEDIATE already holds the database's write lock.)"""
        await ensure_account_row(session, self._dialect, customer_id)
        await session.execute(
            select(ACCOUNTS.c.customer_id)
            .where(ACCOUNTS.c.customer_id == customer_id)
            .with_for_update(key_share=True)  # NO KEY UPDATE: holds' FK locks on the row pass
        )

    async def _open_holds(self, session: AsyncSession, customer_id: str) -> int:
        """Credits our holds reserve: open ones, and settling ones (Autumn may not have them yet)."""
        held = (
            await session.execute(
                select(func.coalesce(func.sum(HOLDS.c.credits), 0)).where(
                    HOLDS.c.customer_id == customer_id, HOLDS.c.status.in_(_RESERVING)
                )
            )
        ).scalar_one()
        return int(held)

    async def _settling_since(self, session: AsyncSession, key: str) -> datetime | None:
        """When the settling hold's intent was committed (kept in its `closed_at`)."""
        since: datetime | None = (
            await session.execute(select(HOLDS.c.closed_at).where(HOLDS.c.hold_key == key))
        ).scalar_one_or_none()
        return since

    async def _get_hold(self, session: AsyncSession, key: str, *, for_update: bool = False) -> Hold | None:
        return await get_hold(session, key, for_update=for_update)

    async def _insert_charge(
        self, session: AsyncSession, customer_id: str, feature_id: str, units: int, credits: int, key: str
    ) -> bool:
        """Claim `key` with a charge row; False when the key was claimed before (nothing written)."""
        inserted = await session.execute(
            self._insert_ignoring_conflict(LEDGER, "idempotency_key")
            .values(
                id=uuid.uuid4().hex,
                customer_id=customer_id,
                kind="charge",
                feature_id=feature_id,
                units=units,
                credits=credits,
                idempotency_key=key,
                created_at=utcnow(),
            )
            .returning(LEDGER.c.id)
        )
        return inserted.first() is not None


def _may_trust_409(intent_at: datetime | None) -> bool:
    """Whether Autumn still holds the key of a charge intended at `intent_at`."""
    return intent_at is not None and utcnow() - intent_at < TRUST_409_FOR


def _autumn_balance(answer: AutumnCheck) -> int:
    """Autumn's balance in whole credits. A refusal without a balance is a customer with no grant
    of the feature (Autumn's 1.2 check then omits every counter): 0. Unknown otherwise (Autumn
    failed open with a 202, or allowed without a balance) is an error: we never let spending
    through on a balance we cannot see."""
    if answer.unlimited and answer.balance is None and not answer.fail_open:
        return 0  # unlimited features may carry no counter; `allowed` comes from `unlimited`
    if answer.balance is None and not answer.allowed and not answer.fail_open:
        return 0
    if answer.fail_open or answer.balance is None:
        raise BillingUnavailable(
            f"Autumn did not report a balance for {answer.customer_id!r} "
            f"({'it failed open' if answer.fail_open else 'no balance in its answer'})"
        )
    return int(answer.balance)


def _whole(value: float | None) -> int | None:
    return None if value is None else int(value)
