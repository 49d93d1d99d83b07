"""The webhook endpoint of the real server: every auth scheme, duplicates (sequential and
concurrent) billed once, race-safe metering, and forged / unsigned / replayed / malformed
deliveries answered 401/400 with nothing written."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from assistant.webhooks import hmac_signature, signed_headers
from db.models import WebhookInbox

WATCHED = ("calls", "webhook_inbox", "credit_ledger_entries", "credit_accounts", "client_opportunities")


async def place_silently(world: Any, seconds: float = 150, **variables: Any):
    """A placed call whose report the sandbox will NOT post (no server URL): the test posts it."""
    world.service.settings = world.settings.model_copy(update={"leadgen_public_url": ""})
    call = await world.service.start_call(
        world.agency,
        world.opportunity_id,
        user_id="u1",
        variables={"sandbox_call_seconds": seconds, **variables},
    )
    world.service.settings = world.settings
    assert call.provider_call_id
    return call


async def inbox_rows(world: Any, event_id: str) -> int:
    async with world.service.db.reader() as repo:
        stmt = select(func.count()).select_from(WebhookInbox).where(WebhookInbox.event_id == event_id)
        return int((await repo.session.execute(stmt)).scalar_one())


@pytest.mark.parametrize("scheme", ["x-vapi-secret", "bearer", "hmac"])
async def test_sandbox_reports_signed_each_way_are_accepted(world: Any, scheme: str) -> None:
    """The org's saved server URL (no URL in the request): Vapi signs with the org's credential."""
    world.sandbox.configure(vapi_webhook_auth=scheme, vapi_server_url=world.webhook_url)
    world.service.settings = world.settings.model_copy(update={"leadgen_public_url": ""})
    await world.fund(4)
    call = await world.service.start_call(
        world.agency, world.opportunity_id, user_id="u1", variables={"sandbox_call_seconds": 45}
    )
    done = await world.wait_for(call.id)
    world.service.settings = world.settings
    assert done.metadata_["ai_call_metering"]["billed_minutes"] == 1
    assert await world.billed() == 1


async def test_a_report_authenticated_only_by_the_calls_own_headers_is_accepted_and_stores_no_secret(
    world: Any,
) -> None:
    """Production's set-up: the server URL travels with the call, so Vapi withholds the org's
    credential and authenticates the report with the call's own `server.headers` alone. The
    report echoes the call (overrides included): the secret must not reach the inbox."""
    world.sandbox.configure(vapi_webhook_auth="none")  # no org credential at all
    await world.fund(4)
    call = await world.service.start_call(
        world.agency, world.opportunity_id, user_id="u1", variables={"sandbox_call_seconds": 45}
    )
    done = await world.wait_for(call.id)
    assert done.metadata_["ai_call_metering"]["billed_minutes"] == 1
    created = next(
        r for r in world.sandbox.requests("vapi") if r["method"] == "POST" and r["path"] == "/vapi/call"
    )
    sent = created["body"]["assistantOverrides"]["server"]
    assert sent["headers"] == {"X-Vapi-Secret": world.settings.vapi_webhook_secret}
    async with world.service.db.reader() as repo:
        rows = (await repo.session.execute(select(WebhookInbox.payload))).scalars().all()
    stored = json.dumps(list(rows))
    assert rows and world.settings.vapi_webhook_secret not in stored
    assert '"X-Vapi-Secret": "[REDACTED]"' in stored  # the report did carry it, in the echoed call


async def test_same_report_ten_times_concurrently_then_sequentially_bills_once(
    world: Any, make_report: Any
) -> None:
    await world.fund(10)
    call = await place_silently(world)
    body = make_report(call.provider_call_id, durationSeconds=150.0)
    answers = await asyncio.gather(*(world.post(body) for _ in range(10)))
    assert [a.status_code for a in answers] == [200] * 10
    assert sorted(a.json()["status"] for a in answers).count("recorded") == 1
    await world.wait_for(call.id)
    await world.settle()
    for _ in range(10):
        again = await world.post(body, auth="hmac")
        assert again.status_code == 200 and again.json()["status"] == "duplicate"
    await world.settle()

    assert await inbox_rows(world, f"{call.provider_call_id}:end-of-call-report") == 1
    charges = await world.charges()
    assert [(c.credits, c.idempotency_key) for c in charges] == [(3, f"call:{call.id}")]
    assert await world.ledger.balance(world.customer) == 7
    done = await world.call_row(call.id)
    assert done.metadata_["ai_call_metering"]["billed_minutes"] == 3


async def test_meter_call_ten_times_concurrently_bills_once(world: Any) -> None:
    await world.fund(10)
    call = await place_silently(world)
    async with world.service.db.transaction() as repo:
        await repo.update_call(world.agency, call.id, status="ended", billing_seconds=125.0)
    results = await asyncio.gather(*(world.service.meter_call(world.agency, call.id) for _ in range(10)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1 and winners[0].billed_minutes == 3
    for _ in range(10):
        assert await world.service.meter_call(world.agency, call.id) is None
    assert await world.billed() == 3
    assert len(await world.charges()) == 1
    assert await world.ledger.balance(world.customer) == 7


async def test_idempotency_key_is_the_backstop_when_metering_data_is_lost(world: Any) -> None:
    await world.fund(10)
    call = await place_silently(world)
    async with world.service.db.transaction() as repo:
        await repo.update_call(world.agency, call.id, status="ended", billing_seconds=100.0)
    first = await world.service.meter_call(world.agency, call.id)
    assert first is not None and first.billed_minutes == 2
    # Lose the record of having metered (as if the write after the charge never happened).
    async with world.service.db.transaction() as repo:
        await repo.merge_call_metadata(world.agency, call.id, {"ai_call_metering": None})
    again = await world.service.meter_call(world.agency, call.id)
    assert again is not None and again.billed_minutes == 2  # what was charged then, not a new charge
    assert await world.billed() == 2
    assert await world.ledger.balance(world.customer) == 8


async def test_first_recorded_duration_wins(world: Any, make_report: Any) -> None:
    await world.fund(10)
    call = await place_silently(world)
    assert (await world.post(make_report(call.provider_call_id, durationSeconds=50.0))).status_code == 200
    await world.wait_for(call.id)
    # A different report for the same call (same event id) changes nothing that was billed.
    assert (await world.post(make_report(call.provider_call_id, durationSeconds=500.0))).status_code == 200
    await world.settle()
    assert (await world.call_row(call.id)).billing_seconds == 50.0
    assert await world.billed() == 1


@pytest.mark.parametrize(
    ("durations", "seconds", "minutes"),
    [
        ({"durationSeconds": 20.0, "durationMs": 95_000.0}, 20.0, 1),
        ({"durationMs": 95_000.0}, 95.0, 2),  # before endedAt - startedAt, which says 30 s
        ({}, 30.0, 1),
    ],
    ids=["durationSeconds", "durationMs", "endedAt-startedAt"],
)
async def test_talk_time_is_duration_seconds_else_duration_ms_else_the_timestamps(
    sqlite_world: Any, make_report: Any, durations: dict[str, float], seconds: float, minutes: int
) -> None:
    world = sqlite_world
    await world.fund(10)
    call = await place_silently(world)
    body = make_report(call.provider_call_id)  # startedAt .. endedAt: 30 s apart
    del body["message"]["durationSeconds"]
    body["message"].update(durations)
    assert (await world.post(body)).status_code == 200
    done = await world.wait_for(call.id)
    assert done.billing_seconds == seconds
    assert done.metadata_["ai_call_metering"]["billed_minutes"] == minutes
    assert await world.billed() == minutes


async def test_report_that_overtakes_the_provider_id_is_still_matched(world: Any, make_report: Any) -> None:
    """The ids start_call sends as variables find the row before its provider id is stored."""
    await world.fund(5)
    call = await place_silently(world)
    async with world.service.db.transaction() as repo:
        await repo.update_call(world.agency, call.id, provider_call_id=None)
    overrides = {"variableValues": {"leadgen_call_id": call.id, "leadgen_agency_id": world.agency}}
    body = make_report("vapi-late-id", call={"id": "vapi-late-id", "assistantOverrides": overrides})
    assert (await world.post(body)).status_code == 200
    done = await world.wait_for(call.id)
    assert done.provider_call_id == "vapi-late-id"
    assert await world.billed() == 1


def snapshot(db_file: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(db_file) as conn:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in WATCHED}


def db_file(world: Any) -> Path:
    return Path(world.settings.database_url.split("///", 1)[1])


async def test_forged_unsigned_and_replayed_webhooks_are_refused(sqlite_world: Any, make_report: Any) -> None:
    world = sqlite_world
    await world.fund(5)
    call = await place_silently(world)
    raw = json.dumps(make_report(call.provider_call_id)).encode()
    url = world.webhook_url
    secret = world.settings.vapi_webhook_secret
    stale = str(int(time.time()) - 301)
    future = str(int(time.time()) + 400)
    now = str(int(time.time()))
    attempts: dict[str, dict[str, str]] = {
        "unsigned": {},
        "wrong secret": {"X-Vapi-Secret": "guess"},
        "wrong bearer": {"Authorization": "Bearer guess"},
        "basic auth": {"Authorization": "Basic d2hzZWM6"},
        "hmac, wrong key": signed_headers("guess", raw),
        "hmac, stale timestamp": {
            "x-timestamp": stale,
            "x-signature": hmac_signature(secret, stale, raw),
        },
        "hmac, future timestamp": {
            "x-timestamp": future,
            "x-signature": hmac_signature(secret, future, raw),
        },
        "hmac, no timestamp": {"x-signature": hmac_signature(secret, now, raw)},
        "hmac, other body": {
            "x-timestamp": now,
            "x-signature": hmac_signature(secret, now, raw + b" "),
        },
        "hmac, garbage": {"x-timestamp": "soon", "x-signature": "zz"},
    }
    before = snapshot(db_file(world))
    for name, headers in attempts.items():
        answer = await world.http.post(
            url, content=raw, headers={"Content-Type": "application/json", **headers}
        )
        assert answer.status_code == 401, name
        assert "error" in answer.json()
    await world.quiet()
    assert snapshot(db_file(world)) == before
    assert (await world.call_row(call.id)).status != "ended"


MALFORMED: dict[str, tuple[bytes | dict[str, Any], str]] = {
    "not json": (b"{nope", "not valid JSON"),
    "array": (b"[1, 2]", "JSON object"),
    "no message": ({"event": {}}, "JSON object"),
    "no type": ({"message": {"call": {"id": "x"}}}, "message.type"),
    "no call": ({"message": {"type": "end-of-call-report"}}, "message.call"),
    "call id number": ({"message": {"type": "end-of-call-report", "call": {"id": 12}}}, "message.call.id"),
    "NaN duration": (
        b'{"message": {"type": "end-of-call-report", "call": {"id": "c"}, "durationSeconds": NaN}}',
        "NaN",
    ),
    "huge number": (
        b'{"message": {"type": "end-of-call-report", "call": {"id": "c"}, "durationSeconds": 1e999}}',
        "out of range",
    ),
}


@pytest.mark.parametrize(
    "override",
    [
        {"durationSeconds": "30"},
        {"durationSeconds": -5},
        {"durationSeconds": 10**9},
        {"durationMs": True},
        {"startedAt": "yesterday"},
        {"endedAt": 12},
        {"startedAt": "2020-01-01T00:00:00Z", "endedAt": "2026-01-01T00:00:00Z", "durationSeconds": None},
        {"artifact": "transcript"},
        {"endedReason": 5},
    ],
    ids=lambda o: ",".join(o),
)
async def test_malformed_report_fields_are_400_naming_the_field(
    sqlite_world: Any, make_report: Any, override: Any
) -> None:
    world = sqlite_world
    await world.fund(5)
    call = await place_silently(world)
    body = make_report(call.provider_call_id, **override)
    body["message"] = {k: v for k, v in body["message"].items() if v is not None}
    before = snapshot(db_file(world))
    answer = await world.post(body)
    assert answer.status_code == 400
    named = next(iter(k for k in override if override[k] is not None), "startedAt")
    assert named in answer.json()["error"] or "endedAt" in answer.json()["error"]
    assert snapshot(db_file(world)) == before


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_malformed_bodies_are_400_and_write_nothing(sqlite_world: Any, name: str) -> None:
    world = sqlite_world
    body, expected = MALFORMED[name]
    before = snapshot(db_file(world))
    answer = await world.post(body)
    assert answer.status_code == 400
    assert expected in answer.json()["error"]
    assert snapshot(db_file(world)) == before


async def test_unknown_call_and_ignored_types_are_acknowledged_without_writing(
    sqlite_world, make_report
) -> None:
    world = sqlite_world
    before = snapshot(db_file(world))
    unknown = await world.post(make_report("no-such-call"))
    assert unknown.status_code == 200 and unknown.json()["status"] == "unknown call"
    chatter = await world.post({"message": {"type": "speech-update", "status": "started"}})
    assert chatter.status_code == 200
    await world.quiet()
    assert snapshot(db_file(world)) == before


async def test_status_updates_move_the_call_but_never_revive_it(world: Any, make_report: Any) -> None:
    await world.fund(5)
    call = await place_silently(world)
    update = {
        "message": {"type": "status-update", "status": "in-progress", "call": {"id": call.provider_call_id}}
    }
    assert (await world.post(update)).status_code == 200
    await world.settle()
    assert (await world.call_row(call.id)).status == "in-progress"
    assert (await world.post(make_report(call.provider_call_id))).status_code == 200
    await world.wait_for(call.id)
    late = {"message": {"type": "status-update", "status": "ringing", "call": {"id": call.provider_call_id}}}
    assert (await world.post(late)).status_code == 200
    await world.settle()
    assert (await world.call_row(call.id)).status == "ended"


async def test_without_a_secret_production_refuses_and_development_accepts(
    sqlite_url: str, tmp_path: Path, sandbox_url: str, start_webhook_server, make_report
) -> None:
    body = make_report("no-such-call")
    production = start_webhook_server(sqlite_url, vapi_webhook_secret="", leadgen_env="production")
    development = start_webhook_server(sqlite_url, vapi_webhook_secret="", leadgen_env="development")
    async with httpx.AsyncClient(timeout=30) as http:
        refused = await http.post(production + "/webhooks/vapi", json=body)
        accepted = await http.post(development + "/webhooks/vapi", json=body)
        health = await http.get(production + "/healthz")
    assert refused.status_code == 401
    assert accepted.status_code == 200 and accepted.json()["status"] == "unknown call"
    assert health.status_code == 200 and health.json() == {"ok": True}
