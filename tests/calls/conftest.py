"""Fixtures for the call tests: the real `leadgen serve` app on a free port, the sandbox's Vapi,
and a database (SQLite file, or the session's PostgreSQL via `database_url`).

`world` is a `CallWorld`: settings pointing every provider at the sandbox and the webhook URL
at the running server, a `CallService` for the test's side (start_call, reads), a fresh agency
with a lead, and helpers to fund it, post webhooks and wait for metering. Agency and customer
ids are unique per test because the PostgreSQL database is shared by the whole session.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from assistant.server import create_app
from assistant.webhooks import signed_headers
from db import open_database
from db.models import Call, ClientOpportunity
from graphs.calls import VAPI_WEBHOOK_PATH, CallService
from leadgen.settings import Settings
from tools.billing import billing_for
from tools.billing.local import LocalLedger
from tools.billing.port import LedgerEntry
from tools.http import RetryPolicy
from tools.providers import Providers
from tools.sandbox.server import SandboxHandle

SECRET = "whsec-test-4f0c1e9a7b2d"
PHONE = "+14155550123"


class WebhookGate:
    """In front of the server's app: while closed, Vapi's webhook deliveries wait in transit, as
    a slow network would keep them. A test keeps a call live in our database this way, for as
    long as it needs, instead of racing the sandbox's (instant) end of the call."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.opened = threading.Event()
        self.opened.set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == VAPI_WEBHOOK_PATH and not self.opened.is_set():
            await asyncio.to_thread(self.opened.wait)
        await self.app(scope, receive, send)


@dataclass
class RunningServer:
    url: str
    server: uvicorn.Server
    thread: threading.Thread
    app: Any
    gate: WebhookGate

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def start_server(make_settings: Any) -> tuple[RunningServer, Settings]:
    """`leadgen serve`'s app under uvicorn in a thread with its own event loop, on a free port.
    `make_settings(url)` builds the settings once the URL is known."""
    sock = socket.socket(socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings: Settings = make_settings(url)
    app = create_app(settings)
    gate = WebhookGate(app)
    config = uvicorn.Config(gate, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the webhook server did not start")
        time.sleep(0.01)
    return RunningServer(url, server, thread, app, gate), settings


def make_settings(database_url: str, data_dir: Path, sandbox_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "leadgen_data_dir": data_dir,
        "leadgen_sandbox_url": sandbox_url,
        "leadgen_env": "test",
        "vapi_webhook_secret": SECRET,
        "autumn_secret_key": "",
        "vapi_api_key": "",
        "vapi_assistant_id": "",
        "vapi_phone_number_id": "",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class CallWorld:
    settings: Settings
    service: CallService
    server_url: str
    sandbox: SandboxHandle
    agency: str
    customer: str
    opportunity_id: str
    http: httpx.AsyncClient = field(repr=False)
    background: Any = field(default=None, repr=False)  # the server's BackgroundWork
    gate: Any = field(default=None, repr=False)  # the server's WebhookGate

    @property
    def ledger(self) -> LocalLedger:
        assert isinstance(self.service.billing, LocalLedger)
        return self.service.billing

    @property
    def webhook_url(self) -> str:
        return self.server_url + VAPI_WEBHOOK_PATH

    async def fund(self, credits: int, customer: str | None = None) -> None:
        customer = customer or self.customer
        await self.ledger.ensure_account(customer, 0)
        await self.ledger.set_balance(customer, credits)

    async def add_agency(self, name: str | None = None, *, phone: str | None = PHONE) -> tuple[str, str]:
        """A new agency with one lead; returns (agency id, opportunity id)."""
        agency = name or f"ag-{uuid.uuid4().hex[:10]}"
        async with self.service.db.transaction() as repo:
            await repo.ensure_agency(agency)
            lead = ClientOpportunity(agency_id=agency, name="Acme Plumbing", phone=phone, signals=[])
            repo.session.add(lead)
            await repo.session.flush()
            return agency, lead.id

    async def call_row(self, call_id: str, agency: str | None = None) -> Call:
        return await self.service.get_call(agency or self.agency, call_id)

    async def wait_for(
        self, call_id: str, *, agency: str | None = None, metered: bool = True, timeout: float = 20.0
    ) -> Call:
        """The call once it has ended (and, by default, been metered)."""
        deadline = time.monotonic() + timeout
        while True:
            call = await self.call_row(call_id, agency)
            done = call.status in ("ended", "failed")
            if done and (not metered or (call.metadata_ or {}).get("ai_call_metering")):
                return call
            if time.monotonic() > deadline:
                raise AssertionError(f"call {call_id} did not finish: {call.status} {call.metadata_}")
            await asyncio.sleep(0.05)

    async def charges(self, customer: str | None = None) -> list[LedgerEntry]:
        history = await self.ledger.history(customer or self.customer)
        return [entry for entry in history if entry.kind == "charge"]

    async def billed(self, customer: str | None = None) -> int:
        return sum(entry.credits for entry in await self.charges(customer))

    async def post(
        self, body: dict[str, Any] | bytes, *, auth: str = "x-vapi-secret", secret: str = SECRET
    ) -> httpx.Response:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if auth == "x-vapi-secret":
            headers["X-Vapi-Secret"] = secret
        elif auth == "bearer":
            headers["Authorization"] = f"Bearer {secret}"
        elif auth == "hmac":
            headers |= signed_headers(secret, raw)
        return await self.http.post(self.webhook_url, content=raw, headers=headers)

    @contextmanager
    def webhooks_held(self) -> Iterator[None]:
        """Vapi's reports reach the server only when the block ends: calls placed inside stay live."""
        self.gate.opened.clear()
        try:
            yield
        finally:
            self.gate.opened.set()

    async def quiet(self, timeout: float = 20.0) -> None:
        """Wait until the server has no work left from the requests it answered: it spawns that
        work before it answers, so afterwards nothing more can be written on their behalf."""
        deadline = time.monotonic() + timeout
        while self.background.pending:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.background.pending} background tasks still running")
            await asyncio.sleep(0.01)

    async def settle(self, timeout: float = 20.0) -> None:
        """Wait until every inbox row is processed (the server works after answering)."""
        from sqlalchemy import func, select

        from db.models import WebhookInbox

        deadline = time.monotonic() + timeout
        while True:
            async with self.service.db.reader() as repo:
                pending = (
                    await repo.session.execute(
                        select(func.count())
                        .select_from(WebhookInbox)
                        .where(WebhookInbox.status == "received")
                    )
                ).scalar_one()
            if pending == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{pending} webhooks still unprocessed")
            await asyncio.sleep(0.05)


def report(provider_call_id: str, **fields: Any) -> dict[str, Any]:
    """An end-of-call report body as Vapi sends it (fields override the defaults)."""
    message: dict[str, Any] = {
        "type": "end-of-call-report",
        "timestamp": int(time.time() * 1000),
        "endedReason": "customer-ended-call",
        "startedAt": "2026-01-01T00:00:05.000Z",
        "endedAt": "2026-01-01T00:00:35.000Z",
        "artifact": {"transcript": "AI: Hi\nUser: Hello", "messages": []},
        "analysis": {"summary": "Short chat.", "structuredData": {}},
        "call": {"id": provider_call_id, "status": "ended"},
        "durationSeconds": 30.0,
    }
    message.update(fields)
    return {"message": message}


@pytest.fixture
def sandbox_vapi(sandbox_config: SandboxHandle) -> Iterator[SandboxHandle]:
    """The session sandbox with its Vapi signing reports with our secret (X-Vapi-Secret)."""
    sandbox_config.configure(vapi_webhook_auth="x-vapi-secret", vapi_webhook_secret=SECRET)
    yield sandbox_config


async def _open_world(
    database_url: str, tmp_path: Path, sandbox: SandboxHandle, **overrides: Any
) -> AsyncIterator[CallWorld]:
    running, settings = start_server(
        lambda url: make_settings(
            database_url, tmp_path / "data", sandbox.url, leadgen_public_url=url, **overrides
        )
    )
    try:
        database = await open_database(settings.resolved_database_url)
        # Tiny backoffs: a test of a Vapi outage should not sit through production retries.
        providers = Providers(
            settings, policy=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02, jitter=0)
        )
        service = CallService(database, billing_for(settings, database.engine), providers, settings)
        try:
            async with httpx.AsyncClient(timeout=30) as http:
                world = CallWorld(settings, service, running.url, sandbox, "", "", "", http)
                world.background, world.gate = running.app.state.background, running.gate
                agency, opportunity = await world.add_agency()
                world.agency, world.customer, world.opportunity_id = agency, agency, opportunity
                yield world
        finally:
            await providers.aclose()
            await database.close()
    finally:
        running.stop()


@pytest.fixture
async def world(database_url: str, tmp_path: Path, sandbox_vapi: SandboxHandle) -> AsyncIterator[CallWorld]:
    """On SQLite and on PostgreSQL."""
    async for item in _open_world(database_url, tmp_path, sandbox_vapi):
        yield item


@pytest.fixture
async def sqlite_world(
    sqlite_url: str, tmp_path: Path, sandbox_vapi: SandboxHandle
) -> AsyncIterator[CallWorld]:
    """On a SQLite file only (tests that snapshot whole tables)."""
    async for item in _open_world(sqlite_url, tmp_path, sandbox_vapi):
        yield item


@pytest.fixture
def make_report() -> Any:
    """`make_report(provider_call_id, **fields)` → an end-of-call report body."""
    return report


@pytest.fixture
def start_webhook_server(tmp_path: Path, sandbox_url: str) -> Iterator[Any]:
    """`start_webhook_server(database_url, **settings)` → the URL of another running server."""
    running: list[RunningServer] = []

    def start(database_url: str, **overrides: Any) -> str:
        server, _ = start_server(
            lambda url: make_settings(database_url, tmp_path / "data", sandbox_url, **overrides)
        )
        running.append(server)
        return server.url

    yield start
    for server in running:
        server.stop()
