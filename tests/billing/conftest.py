"""Fixtures of the billing contract suite: one set of behavioural tests, every adapter.

The `billing_harness` fixture yields a `BillingHarness`: the `BillingProvider` under test (also
the `billing` fixture) plus `fund(customer_id, credits)` (also the `fund` fixture), the one
thing the port cannot do itself: put credits on a customer's balance. Tests speak only to the
port and to `fund`, so every adapter must pass them unchanged.

It is parametrised over `IMPLEMENTATIONS` × `DATABASES`: each adapter keeps its holds (and the
local ledger its balances) in our database, so each runs on SQLite and on the real PostgreSQL.

A harness factory is an async context manager taking the SQLAlchemy URL of a fresh database
and the test's `pytest.FixtureRequest` (for session fixtures such as `sandbox`), yielding a
harness. `autumn_harness` runs `AutumnBilling` against the session sandbox's Autumn: `fund`
raises the customer's balance there (`POST /_sandbox/autumn/balance`) and records the grant in
our history, as an admin top-up would.

The PostgreSQL database is shared by the whole test session, so tests use the `customer` fixture
(a fresh id) and keys derived from it instead of relying on empty tables.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from db.engine import create_engine
from db.migrate import ensure_schema
from leadgen.settings import Settings
from tools.billing.autumn import AutumnBilling
from tools.billing.local import LocalLedger
from tools.billing.port import BillingProvider
from tools.http import RetryPolicy


@dataclass(frozen=True)
class BillingHarness:
    name: str
    billing: BillingProvider
    fund: Callable[[str, int], Awaitable[None]]
    # Whether we adjust this adapter's credits ourselves (`tools.billing.credit_admin`): starting
    # credits, grants, set balance. The local ledger does; with Autumn, plans grant credits.
    adjusts_credits: bool


@asynccontextmanager
async def prepared_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on `database_url` with the schema migrated to head (the real migrations)."""
    await ensure_schema(database_url)
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@asynccontextmanager
async def local_harness(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[BillingHarness]:
    async with prepared_engine(database_url) as engine:
        ledger = LocalLedger(engine)

        async def fund(customer_id: str, credits: int) -> None:
            await ledger.grant(customer_id, credits)

        yield BillingHarness("local", ledger, fund, adjusts_credits=True)


@asynccontextmanager
async def autumn_harness(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[BillingHarness]:
    sandbox = request.getfixturevalue("sandbox")
    # The contract's unknown customer has nothing: Autumn customers start without credits here
    # (the sandbox's default gives a new customer a starter balance). Put back afterwards.
    settings = Settings(
        _env_file=None,
        autumn_secret_key="am_sk_test_contract",
        leadgen_sandbox_url=sandbox.url,
        leadgen_env="test",
    )
    policy = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05, jitter=0)
    headers = {"Authorization": "Bearer am_sk_test_contract"}
    previous = sandbox.config()["autumn_starting_balance"]
    sandbox.configure(autumn_starting_balance=0)
    try:
        async with prepared_engine(database_url) as engine, httpx.AsyncClient(base_url=sandbox.url) as admin:
            billing = AutumnBilling(settings=settings, engine=engine, policy=policy)

            async def fund(customer_id: str, credits: int) -> None:
                # Get-or-create at Autumn, raise its balance by `credits`, record the grant.
                customer = await admin.post("/autumn/v1/customers", json={"id": customer_id}, headers=headers)
                # A customer with no grant yet has no `atlas_credits` feature at all (as at Autumn).
                feature = customer.raise_for_status().json()["features"].get("atlas_credits") or {}
                balance = feature.get("balance", 0)
                raised = await admin.post(
                    "/_sandbox/autumn/balance",
                    json={"customer_id": customer_id, "balance": balance + credits},
                )
                raised.raise_for_status()
                await billing.record_grant(customer_id, credits)

            try:
                yield BillingHarness("autumn", billing, fund, adjusts_credits=False)
            finally:
                await billing.aclose()
    finally:
        sandbox.configure(autumn_starting_balance=previous)


HarnessFactory = Callable[[str, pytest.FixtureRequest], AbstractAsyncContextManager[BillingHarness]]

IMPLEMENTATIONS: dict[str, HarnessFactory] = {
    "local": local_harness,
    "autumn": autumn_harness,
}
DATABASES = ("sqlite", "postgres")


def _database_url(request: pytest.FixtureRequest, database: str, tmp_path: Path) -> str:
    if database == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'billing.db'}"
    dsn: str = request.getfixturevalue("postgres_dsn")
    return dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


@pytest.fixture(
    params=[(impl, db) for impl in IMPLEMENTATIONS for db in DATABASES],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
async def billing_harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BillingHarness]:
    implementation, database = request.param
    url = _database_url(request, database, tmp_path)
    async with IMPLEMENTATIONS[implementation](url, request) as harness:
        yield harness


@pytest.fixture
def billing(billing_harness: BillingHarness) -> BillingProvider:
    """The provider under test (one per implementation × database)."""
    return billing_harness.billing


@pytest.fixture
def fund(billing_harness: BillingHarness) -> Callable[[str, int], Awaitable[None]]:
    """`await fund(customer_id, credits)`: put credits on a customer's balance."""
    return billing_harness.fund


@pytest.fixture
def customer() -> str:
    return f"cust-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=DATABASES)
async def ledger_engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """For tests of the local ledger's own admin API and tables (not part of the contract)."""
    async with prepared_engine(_database_url(request, request.param, tmp_path)) as engine:
        yield engine
