"""What only the Autumn adapter does: Autumn's 409 for a repeated idempotency key, outages, creating
unknown customers, keeping Autumn's check fields. The port's behaviour itself is the contract suite's.

Runs against the session sandbox's Autumn, on SQLite and PostgreSQL. The sandbox is shared by the
whole session, so each test uses a fresh customer id and filters the request log by it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from db.engine import create_engine, write_session
from db.migrate import ensure_schema
from db.models import CreditHold, CreditLedgerEntry
from leadgen.settings import Settings
from tools.billing import billing_for
from tools.billing.autumn import DEFAULT_PLAN, AutumnBilling
from tools.billing.port import (
    BillingAuthFailed,
    BillingUnavailable,
    InsufficientCredits,
    TrackResult,
    UnknownHold,
)
from tools.http import RetryPolicy
from tools.providers import Providers
from tools.sandbox.server import SandboxHandle

SECRET = "am_sk_test_specific"
FAST = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05, jitter=0)


def autumn_settings(sandbox_url: str) -> Settings:
    return Settings(
        _env_file=None,
        autumn_secret_key=SECRET,
        leadgen_sandbox_url=sandbox_url,
        leadgen_env="test",
    )


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await ensure_schema(database_url)
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def autumn(sandbox: SandboxHandle, engine: AsyncEngine) -> AsyncIterator[AutumnBilling]:
    billing = AutumnBilling(settings=autumn_settings(sandbox.url), engine=engine, policy=FAST)
    try:
        yield billing
    finally:
        await billing.aclose()


@pytest.fixture
def customer() -> str:
    return f"cust-{uuid.uuid4().hex[:12]}"


def set_autumn_balance(sandbox: SandboxHandle, customer_id: str, balance: int) -> None:
    response = httpx.post(
        f"{sandbox.url}/_sandbox/autumn/balance", json={"customer_id": customer_id, "balance": balance}
    )
    response.raise_for_status()


def autumn_balance(sandbox: SandboxHandle, customer_id: str) -> int:
    """The balance as Autumn itself holds it (not minus our holds)."""
    response = httpx.get(
        f"{sandbox.url}/autumn/v1/customers/{customer_id}", headers={"Authorization": f"Bearer {SECRET}"}
    )
    response.raise_for_status()
    balance: int = response.json()["features"]["atlas_credits"]["balance"]
    return balance


def autumn_requests(sandbox: SandboxHandle, customer_id: str, path: str) -> list[dict[str, Any]]:
    """The sandbox's Autumn requests at `path` that concern `customer_id`."""

    def concerns(r: dict[str, Any]) -> bool:
        body = r["body"] if isinstance(r["body"], dict) else {}
        return customer_id in (body.get("customer_id"), body.get("id")) or r["path"].endswith(customer_id)

    return [r for r in sandbox.requests("autumn") if r["path"] == path and concerns(r)]


async def holds_of(engine: AsyncEngine, customer_id: str) -> list[tuple[str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(CreditHold.hold_key, CreditHold.status).where(CreditHold.customer_id == customer_id)
        )
        return [(key, status) for key, status in rows]


async def charge_rows(engine: AsyncEngine, customer_id: str) -> list[tuple[str, int]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(CreditLedgerEntry.idempotency_key, CreditLedgerEntry.credits).where(
                CreditLedgerEntry.customer_id == customer_id, CreditLedgerEntry.kind == "charge"
            )
        )
        return [(key, credits) for key, credits in rows]


# ---- Autumn's 409: the key was recorded before ------------------------------------------------


async def test_settle_after_autumn_already_recorded_the_key_charges_once(
    autumn: AutumnBilling, sandbox: SandboxHandle, engine: AsyncEngine, customer: str
) -> None:
    """A settle that crashed after Autumn recorded the charge, before our commit, is finished by
    the next settle: Autumn answers 409, nothing is charged again, the hold closes, one row."""
    set_autumn_balance(sandbox, customer, 10)
    key = f"audit:{customer}:crashed"
    await autumn.hold(customer, "dossier_research", key)
    # The crashed attempt's Autumn call, as it reached Autumn:
    await autumn.client.track(customer, "dossier_research", 1, idempotency_key=key)
    assert autumn_balance(sandbox, customer) == 8

    assert await autumn.settle(key) == TrackResult(key, 2, recorded=False)
    assert await autumn.settle(key) == TrackResult(key, 2, recorded=False)

    tracks = autumn_requests(sandbox, customer, "/autumn/v1/track")
    assert [r["status"] for r in tracks] == [200, 409]  # the second settle never reached Autumn
    assert all(r["body"]["idempotency_key"] == key for r in tracks)
    assert autumn_balance(sandbox, customer) == 8  # charged once
    assert await holds_of(engine, customer) == [(key, "settled")]
    assert await charge_rows(engine, customer) == [(key, 2)]
    assert await autumn.balance(customer) == 8


async def test_track_after_autumn_already_recorded_the_key_charges_once(
    autumn: AutumnBilling, sandbox: SandboxHandle, engine: AsyncEngine, customer: str
) -> None:
    """The same for a direct track: its hold was committed, Autumn recorded the charge, our
    commit was lost. The retry must not be refused for want of the credits it already spent."""
    set_autumn_balance(sandbox, customer, 5)
    key = f"call:{customer}"
    await autumn.hold(customer, "ai_call_minutes", key, units=3)  # the crashed track's first step
    await autumn.client.track(customer, "ai_call_minutes", 3, idempotency_key=key)  # reached Autumn
    assert autumn_balance(sandbox, customer) == 2

    assert await autumn.track(customer, "ai_call_minutes", key, units=3) == TrackResult(
        key, 3, recorded=False
    )
    assert await autumn.track(customer, "ai_call_minutes", key, units=3) == TrackResult(
        key, 3, recorded=False
    )

    assert [r["status"] for r in autumn_requests(sandbox, customer, "/autumn/v1/track")] == [200, 409]
    assert autumn_balance(sandbox, customer) == 2
    assert await charge_rows(engine, customer) == [(key, 3)]  # the local row is written once
    history = await autumn.history(customer)
    assert [(e.kind, e.feature_id, e.credits) for e in history] == [("charge", "ai_call_minutes", 3)]


async def test_concurrent_settles_send_one_track_to_autumn(
    autumn: AutumnBilling, sandbox: SandboxHandle, engine: AsyncEngine, customer: str
) -> None:
    set_autumn_balance(sandbox, customer, 6)
    key = f"audit:{customer}:race"
    await autumn.hold(customer, "dossier_research", key)
    results = await asyncio.gather(*(autumn.settle(key) for _ in range(20)))
    assert sum(r.recorded for r in results) == 1
    assert [r["status"] for r in autumn_requests(sandbox, customer, "/autumn/v1/track")] == [200]
    assert autumn_balance(sandbox, customer) == 4
    assert await charge_rows(engine, customer) == [(key, 2)]


# ---- outages: never fail open -------------------------------------------------------------------


async def test_outage_refuses_everything_that_needs_autumn_and_leaves_no_hold(
    autumn: AutumnBilling, sandbox_config: SandboxHandle, engine: AsyncEngine, customer: str
) -> None:
    sandbox = sandbox_config
    set_autumn_balance(sandbox, customer, 10)
    assert await autumn.balance(customer) == 10  # the customer is known before the outage
    settled_later = f"audit:{customer}:before"
    await autumn.hold(customer, "dossier_research", settled_later)

    sandbox.configure(outages=["autumn"])
    with pytest.raises(BillingUnavailable):
        await autumn.check(customer, "lead_discovery")
    with pytest.raises(BillingUnavailable):
        await autumn.balance(customer)
    with pytest.raises(BillingUnavailable):
        await autumn.hold(customer, "dossier_research", f"audit:{customer}:during")
    with pytest.raises(BillingUnavailable):
        await autumn.track(customer, "lead_discovery", f"flow:{customer}:source")
    with pytest.raises(BillingUnavailable):
        await autumn.settle(settled_later)
    with pytest.raises(BillingUnavailable):  # a customer first seen now cannot be created
        await autumn.check(f"{customer}-new", "lead_discovery")

    # Nothing was held or charged locally. The earlier hold stays reserved as `settling` (its
    # charge was sent, and an unanswered track may have reached Autumn), to settle later.
    assert await holds_of(engine, customer) == [(settled_later, "settling")]
    assert await charge_rows(engine, customer) == []
    # Releasing needs only our database, so a failed audit still gives its credits back.
    release_me = f"audit:{customer}:released-in-outage"
    sandbox.reset_config()
    await autumn.hold(customer, "dossier_research", release_me)
    sandbox.configure(outages=["autumn"])
    await autumn.release(release_me)

    sandbox.reset_config()
    assert await autumn.settle(settled_later) == TrackResult(settled_later, 2, recorded=True)
    assert autumn_balance(sandbox, customer) == 8 == await autumn.balance(customer)
    assert sorted(await holds_of(engine, customer)) == sorted(
        [(settled_later, "settled"), (release_me, "released")]
    )
    assert await charge_rows(engine, customer) == [(settled_later, 2)]


async def test_autumn_failing_open_is_not_allowed(engine: AsyncEngine, sandbox: SandboxHandle) -> None:
    """Autumn answers 202 `allowed: true` with no balance when it is overloaded: unknown is not enough."""
    customer = f"cust-{uuid.uuid4().hex[:12]}"

    def autumn_api(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/customers"):
            return httpx.Response(200, json={"id": customer, "features": {}, "products": []})
        body = json.loads(request.content)
        return httpx.Response(
            202, json={"allowed": True, "customer_id": body["customer_id"], "balance": None}
        )

    providers = Providers(
        autumn_settings(sandbox.url), policy=FAST, transport=httpx.MockTransport(autumn_api)
    )
    billing = AutumnBilling(settings=autumn_settings(sandbox.url), engine=engine, providers=providers)
    try:
        with pytest.raises(BillingUnavailable, match="failed open"):
            await billing.hold(customer, "dossier_research", f"audit:{customer}:1")
        with pytest.raises(BillingUnavailable):
            await billing.check(customer, "dossier_research")
        assert await holds_of(engine, customer) == []
    finally:
        await providers.aclose()


async def test_settle_and_release_of_unknown_keys_need_no_autumn(
    autumn: AutumnBilling, sandbox_config: SandboxHandle, customer: str
) -> None:
    sandbox_config.configure(outages=["autumn"])
    with pytest.raises(UnknownHold):
        await autumn.settle(f"audit:{customer}:never")
    with pytest.raises(UnknownHold):
        await autumn.release(f"audit:{customer}:never")


# ---- customers ------------------------------------------------------------------------------


async def test_unknown_customer_is_created_once_with_autumns_starting_balance(
    autumn: AutumnBilling, sandbox: SandboxHandle, customer: str
) -> None:
    starting = sandbox.config()["autumn_starting_balance"]
    balances = await asyncio.gather(*(autumn.balance(customer) for _ in range(10)))
    assert balances == [starting] * 10
    assert len(autumn_requests(sandbox, customer, "/autumn/v1/customers")) == 1
    # The instance remembers it: later calls go straight to check.
    await autumn.check(customer, "lead_discovery")
    assert len(autumn_requests(sandbox, customer, "/autumn/v1/customers")) == 1


async def test_billing_for_chooses_autumn_when_its_key_is_set(
    sandbox: SandboxHandle, engine: AsyncEngine
) -> None:
    billing = billing_for(autumn_settings(sandbox.url), engine)
    assert isinstance(billing, AutumnBilling)
    await billing.aclose()


# ---- the check keeps Autumn's fields --------------------------------------------------------


async def test_check_keeps_autumns_fields(
    autumn: AutumnBilling, sandbox: SandboxHandle, customer: str
) -> None:
    set_autumn_balance(sandbox, customer, 9)
    await autumn.hold(customer, "dossier_research", f"audit:{customer}:1")  # 2 of 9 held

    check = await autumn.check(customer, "ai_call_minutes", units=7)
    assert (check.allowed, check.balance, check.required_balance, check.deficit) == (True, 7, 7, 0)
    assert check.interval == "lifetime"
    assert check.usage == 0 and check.included_usage is not None
    assert (check.unlimited, check.overage_allowed) == (False, False)
    assert check.plan == DEFAULT_PLAN  # no product bought yet
    assert check.extra["autumn_balance"] == 9 and check.extra["held"] == 2
    info = check.credit_info()
    assert info["balance"] == 7 and info["autumn_balance"] == 9 and "next_reset_at" in info

    short = await autumn.check(customer, "ai_call_minutes", units=10, with_preview=True)
    assert (short.allowed, short.balance, short.deficit) == (False, 7, 3)
    preview = short.extra["preview"]
    assert preview["scenario"] == "usage_limit" and preview["upgrade_product_id"] == "pro"
    assert short.credit_info()["preview"] == preview


async def test_refused_hold_carries_autumns_fields(
    autumn: AutumnBilling, sandbox: SandboxHandle, customer: str
) -> None:
    set_autumn_balance(sandbox, customer, 3)
    await autumn.hold(customer, "dossier_research", f"audit:{customer}:1")
    with pytest.raises(InsufficientCredits) as info:
        await autumn.hold(customer, "dossier_research", f"audit:{customer}:2")
    check = info.value.check
    # Autumn alone would allow it (3 >= 2); our open hold makes it short.
    assert (check.allowed, check.balance, check.required_balance, check.deficit) == (False, 1, 2, 1)
    assert check.interval == "lifetime" and check.extra["autumn_balance"] == 3 and check.extra["held"] == 2


async def test_plan_follows_the_product_bought_at_autumn(
    autumn: AutumnBilling, sandbox: SandboxHandle, customer: str
) -> None:
    set_autumn_balance(sandbox, customer, 0)
    assert (await autumn.check(customer, "lead_discovery", with_preview=True)).plan == DEFAULT_PLAN
    attached = await autumn.client.attach(customer, "pro")
    assert attached.checkout_url
    httpx.get(attached.checkout_url).raise_for_status()  # the sandbox's checkout grants 200

    after = await autumn.check(customer, "lead_discovery", with_preview=True)
    assert after.plan == "pro" and after.allowed and after.balance == 200
    assert "preview" not in after.extra  # Autumn previews only a refusal


async def test_autumn_refusing_the_track_gives_the_reservation_back(
    engine: AsyncEngine, sandbox: SandboxHandle
) -> None:
    """Autumn's balance fell between our check and the track (spent outside Atlas): Autumn answers
    400 insufficient_balance. That is a refusal, not an outage: nothing charged, nothing held."""
    customer = f"cust-{uuid.uuid4().hex[:12]}"

    def autumn_api(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/customers"):
            return httpx.Response(200, json={"id": customer, "features": {}, "products": []})
        if request.url.path.endswith("/check"):
            return httpx.Response(200, json={"allowed": True, "customer_id": customer, "balance": 10})
        return httpx.Response(400, json={"message": "Insufficient balance", "code": "insufficient_balance"})

    providers = Providers(
        autumn_settings(sandbox.url), policy=FAST, transport=httpx.MockTransport(autumn_api)
    )
    billing = AutumnBilling(settings=autumn_settings(sandbox.url), engine=engine, providers=providers)
    key = f"flow:{customer}:source"
    try:
        with pytest.raises(InsufficientCredits) as info:
            await billing.track(customer, "lead_discovery", key)
        assert not info.value.check.allowed and info.value.check.deficit >= 1
        assert await holds_of(engine, customer) == [(key, "released")]
        assert await charge_rows(engine, customer) == []
        assert await billing.balance(customer) == 10  # nothing left reserved
    finally:
        await providers.aclose()


# ---- Autumn as its own definitions say (issue 20) ------------------------------------------------


async def backdate_intent(engine: AsyncEngine, key: str, by: timedelta) -> None:
    """Make the settling hold's intent (its `closed_at`) `by` older, as if that time had passed."""
    async with write_session(engine) as session:
        conn = await session.connection()
        since = (
            await conn.execute(select(CreditHold.closed_at).where(CreditHold.hold_key == key))
        ).scalar_one()
        assert since is not None, "the hold has no recorded intent"
        await conn.execute(update(CreditHold).where(CreditHold.hold_key == key).values(closed_at=since - by))


class LosingAnswers(httpx.AsyncBaseTransport):
    """Sends every request to the sandbox, but loses the answer of each `track`: the connection
    drops after Autumn acted, as a crash or a network cut between its answer and our commit."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path.endswith("/v1/track"):
            await response.aread()
            raise httpx.ReadError("connection lost after the request was sent", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_resettle_after_autumns_key_expired_does_not_charge_twice(
    sandbox: SandboxHandle, engine: AsyncEngine, customer: str
) -> None:
    """Autumn keeps an idempotency key 24 hours. A settle whose charge reached Autumn but whose
    answer was lost is retried more than a day later: Autumn would take the same key again, so
    the retry must recognise the earlier charge itself (its event carries the key)."""
    set_autumn_balance(sandbox, customer, 10)
    key = f"audit:{customer}:lost-answer"
    settings = autumn_settings(sandbox.url)
    providers = Providers(settings, policy=FAST, transport=LosingAnswers())
    lossy = AutumnBilling(settings=settings, engine=engine, providers=providers)
    try:
        await lossy.hold(customer, "dossier_research", key)
        with pytest.raises(BillingUnavailable):
            await lossy.settle(key)  # charged at Autumn; the answer (and the retry's 409) lost
    finally:
        await providers.aclose()
    assert autumn_balance(sandbox, customer) == 8

    # A day and an hour pass, at Autumn and here (the intent was recorded that long ago).
    httpx.post(f"{sandbox.url}/_sandbox/autumn/clock", json={"advance_seconds": 25 * 3600}).raise_for_status()
    await backdate_intent(engine, key, timedelta(hours=25))

    fresh = AutumnBilling(settings=settings, engine=engine, policy=FAST)
    try:
        assert await fresh.settle(key) == TrackResult(key, 2, recorded=False)
        assert await fresh.settle(key) == TrackResult(key, 2, recorded=False)
    finally:
        await fresh.aclose()
    assert autumn_balance(sandbox, customer) == 8  # charged once
    assert await holds_of(engine, customer) == [(key, "settled")]
    assert await charge_rows(engine, customer) == [(key, 2)]
    tracks = autumn_requests(sandbox, customer, "/autumn/v1/track")
    assert [r["status"] for r in tracks] == [200, 409]  # only the lost attempts: no track after


async def test_a_resettle_after_the_ttl_charges_when_the_first_attempt_never_reached_autumn(
    autumn: AutumnBilling, sandbox_config: SandboxHandle, engine: AsyncEngine, customer: str
) -> None:
    """The other side of the same window: the intent was recorded, but Autumn was down and never
    saw the charge. A day later no event carries the key, so the retry charges it, once."""
    sandbox = sandbox_config
    set_autumn_balance(sandbox, customer, 10)
    key = f"audit:{customer}:never-sent"
    await autumn.hold(customer, "dossier_research", key)
    sandbox.configure(outages=["autumn"])
    with pytest.raises(BillingUnavailable):
        await autumn.settle(key)
    sandbox.reset_config()
    await backdate_intent(engine, key, timedelta(hours=25))

    assert await autumn.settle(key) == TrackResult(key, 2, recorded=True)
    assert autumn_balance(sandbox, customer) == 8
    assert await charge_rows(engine, customer) == [(key, 2)]
    assert [r["status"] for r in autumn_requests(sandbox, customer, "/autumn/v1/events/list")] == [200]


async def test_a_track_beyond_autumns_balance_is_refused_so_the_ledger_equals_what_autumn_took(
    autumn: AutumnBilling, sandbox: SandboxHandle, engine: AsyncEngine, customer: str
) -> None:
    """Autumn's default `overage_behavior` is `cap`: a charge beyond the balance answers 200 and
    takes only what fits. We send `reject`, so a charge that no longer fits is refused whole."""
    set_autumn_balance(sandbox, customer, 4)
    key = f"audit:{customer}:overdrawn"
    await autumn.hold(customer, "dossier_research", key)  # 2 of 4, as Autumn saw it then
    set_autumn_balance(sandbox, customer, 1)  # spent outside Atlas meanwhile

    with pytest.raises(InsufficientCredits):
        await autumn.settle(key)
    (track,) = autumn_requests(sandbox, customer, "/autumn/v1/track")
    assert track["body"]["overage_behavior"] == "reject" and track["status"] == 400
    assert autumn_balance(sandbox, customer) == 1  # Autumn took nothing...
    assert await charge_rows(engine, customer) == []  # ...and our ledger says so
    assert await holds_of(engine, customer) == [(key, "open")]  # still reserved, for a retry
    await autumn.release(key)
    assert await holds_of(engine, customer) == [(key, "released")]


async def test_a_customer_without_a_grant_has_a_balance_of_zero_not_an_outage(
    autumn: AutumnBilling, sandbox_config: SandboxHandle, customer: str
) -> None:
    """Autumn's check for a customer with no grant of the feature carries no `balance` at all."""
    sandbox_config.configure(autumn_starting_balance=0)
    check = await autumn.check(customer, "lead_discovery", with_preview=True)
    assert (check.allowed, check.balance, check.required_balance, check.deficit) == (False, 0, 1, 1)
    assert await autumn.balance(customer) == 0
    with pytest.raises(InsufficientCredits) as refused:
        await autumn.hold(customer, "lead_discovery", f"flow:{customer}:source")
    assert refused.value.check.balance == 0
    (answer,) = [r for r in autumn_requests(sandbox_config, customer, "/autumn/v1/check")][:1]
    assert answer["status"] == 200


async def test_a_refused_secret_key_is_one_sentence_naming_the_variable(
    sandbox_config: SandboxHandle, engine: AsyncEngine, customer: str
) -> None:
    sandbox_config.configure(revoked_keys=[SECRET])
    billing = AutumnBilling(settings=autumn_settings(sandbox_config.url), engine=engine, policy=FAST)
    try:
        with pytest.raises(BillingAuthFailed) as refused:
            await billing.check(customer, "lead_discovery")
    finally:
        await billing.aclose()
    message = str(refused.value)
    assert "AUTUMN_SECRET_KEY" in message and "401" in message and SECRET not in message
    assert message.count(". ") == 0 and message.endswith("valid key.")
