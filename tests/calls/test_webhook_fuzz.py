"""Hypothesis-generated Vapi server messages posted to the real server: random, missing and odd
fields, huge / negative / NaN / infinite durations, strings where numbers belong, junk around them.

The server must never fail (no 5xx: only 200 or 400), and billing must stay right: per call at
most one charge, never more than ceil(the longest duration any accepted report stated / 60),
equal to what the call's metering record says, and no balance ever goes negative.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tools.vapi.wire import NOT_CONNECTED_REASONS

CALLS = 2  # fresh calls per example
STARTING = 1_000_000  # enough for 250 examples × 2 calls × 1440 minutes
MISSING = object()

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(min_value=0, max_value=2 * 86400),
    st.integers(min_value=0, max_value=4000),
)
oddities = st.one_of(st.text(max_size=12), st.booleans(), st.none(), st.lists(st.integers(), max_size=2))
json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
iso_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.isoformat().replace("+00:00", "Z"))
near_times = st.integers(min_value=0, max_value=3 * 3600).map(
    lambda s: datetime.fromtimestamp(1_767_225_600 + s, UTC).isoformat().replace("+00:00", "Z")
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(MISSING), strategy)


def mostly(valid: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`valid` about nine times in ten, so that with ten fields enough reports pass to exercise
    the billing. (The odd values sit mid-range: Hypothesis favours the ends of a range.)"""
    return st.integers(0, 99).flatmap(lambda n: odd if 40 <= n < 50 else valid)


@st.composite
def messages(draw: st.DrawFn, provider_ids: list[str]) -> dict[str, Any]:
    provider_id = draw(st.sampled_from([*provider_ids, "UNKNOWN-CALL"]))
    other_types = st.sampled_from(["status-update", "hang"]) | st.text(max_size=10)
    message: dict[str, Any] = {
        "type": draw(mostly(st.just("end-of-call-report"), other_types)),
        "call": draw(
            mostly(st.just({"id": provider_id}), st.builds(lambda j: {"id": j}, oddities) | json_value)
        ),
        "durationSeconds": draw(maybe(mostly(numbers, oddities))),
        "durationMs": draw(
            maybe(mostly(numbers.map(lambda n: n * 1000 if isinstance(n, int) else n), oddities))
        ),
        "startedAt": draw(maybe(mostly(near_times, iso_times | oddities | numbers))),
        "endedAt": draw(maybe(mostly(near_times, iso_times | oddities | numbers))),
        "endedReason": draw(
            maybe(mostly(st.sampled_from([*sorted(NOT_CONNECTED_REASONS), "customer-ended-call"]), oddities))
        ),
        "artifact": draw(
            maybe(
                mostly(
                    st.fixed_dictionaries({"transcript": mostly(st.text(max_size=30), oddities)}), oddities
                )
            )
        ),
        "analysis": draw(
            maybe(
                mostly(
                    st.fixed_dictionaries(
                        {
                            "summary": st.text(max_size=30),
                            "structuredData": st.dictionaries(
                                st.sampled_from(["meeting_time", "meetingTime", "x"]),
                                iso_times | oddities | numbers,
                                max_size=2,
                            ),
                        }
                    ),
                    oddities,
                )
            )
        ),
        "status": draw(maybe(mostly(st.sampled_from(["ringing", "in-progress", "ended"]), oddities))),
    }
    message |= draw(st.dictionaries(st.text(max_size=10), json_value, max_size=3))
    return {k: v for k, v in message.items() if v is not MISSING}


def stated_seconds(message: dict[str, Any]) -> float:
    """The longest duration the message states in any form (the test's own, loose reading)."""
    found = [0.0]
    for key, scale in (("durationSeconds", 1.0), ("durationMs", 0.001)):
        value = message.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            found.append(value * scale)
    try:
        start = datetime.fromisoformat(str(message["startedAt"]).replace("Z", "+00:00"))
        end = datetime.fromisoformat(str(message["endedAt"]).replace("Z", "+00:00"))
        found.append((end - start).total_seconds())
    except (KeyError, ValueError, TypeError):
        pass
    return max(found)


@pytest.fixture
async def template_call(sqlite_world: Any) -> str:
    """A placed call on a well-funded agency; each example copies it into fresh calls."""
    world = sqlite_world
    await world.fund(STARTING)
    async with world.service.db.transaction() as repo:
        call = await repo.create_call(world.agency, world.opportunity_id, to_number="+14155550123")
        await repo.merge_call_metadata(
            world.agency, call.id, {"billing_customer_id": world.customer, "preflight_balance": STARTING}
        )
    return str(call.id)


def fresh_calls(db_file: Path, template: str, count: int) -> dict[str, str]:
    """`count` new queued calls copied from `template`: {provider id: our call id}."""
    made = {}
    with sqlite3.connect(db_file) as conn:
        for _ in range(count):
            call_id, provider_id = uuid.uuid4().hex, f"vapi-{uuid.uuid4()}"
            conn.execute(
                "INSERT INTO calls (id, agency_id, opportunity_id, user_id, provider_call_id, to_number, status,"
                " metadata, created_at, updated_at) SELECT ?, agency_id, opportunity_id, user_id, ?, to_number,"
                " 'queued', metadata, created_at, updated_at FROM calls WHERE id = ?",
                (call_id, provider_id, template),
            )
            made[provider_id] = call_id
    return made


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_generated_reports_never_crash_the_server_nor_bill_wrongly(
    sqlite_world: Any, template_call: str, data: st.DataObject
) -> None:
    calls = fresh_calls(db_path(sqlite_world), template_call, CALLS)
    batch = data.draw(st.lists(messages(list(calls)), min_size=1, max_size=6), label="messages")
    accepted: dict[str, float] = defaultdict(float)
    headers = {"Content-Type": "application/json", "X-Vapi-Secret": sqlite_world.settings.vapi_webhook_secret}
    with httpx.Client(timeout=30) as http:
        for message in batch:
            raw = json.dumps({"message": message}, allow_nan=True).encode()
            answer = http.post(sqlite_world.webhook_url, content=raw, headers=headers)
            assert answer.status_code in (200, 400), (answer.status_code, answer.text, message)
            if answer.status_code == 400:
                assert answer.json()["error"]
            elif message.get("type") == "end-of-call-report" and isinstance(message.get("call"), dict):
                call_ref = str(message["call"].get("id"))
                accepted[call_ref] = max(accepted[call_ref], stated_seconds(message))
    check_ledger(sqlite_world, calls, accepted)


def db_path(world: Any) -> Path:
    return Path(world.settings.database_url.split("///", 1)[1])


def check_ledger(world: Any, calls: dict[str, str], accepted: dict[str, float]) -> None:
    db_file = db_path(world)
    deadline = time.monotonic() + 20
    with sqlite3.connect(db_file) as conn:
        # Until the server has no work left: a redelivery is processed again (while its call is
        # not metered) without a new inbox row, so an empty "received" list is not enough.
        while (
            world.background.pending
            or conn.execute("SELECT count(*) FROM webhook_inbox WHERE status = 'received'").fetchone()[0]
        ):
            assert time.monotonic() < deadline, "webhooks left unprocessed"
            time.sleep(0.05)
        failed = conn.execute("SELECT event_id, error FROM webhook_inbox WHERE status = 'failed'").fetchall()
        assert failed == [], failed
        charges = conn.execute(
            "SELECT idempotency_key, credits FROM credit_ledger_entries WHERE kind = 'charge'"
        ).fetchall()
        balance = conn.execute(
            "SELECT balance, held FROM credit_accounts WHERE customer_id = ?", (world.customer,)
        ).fetchone()
        rows = {
            row[0]: (row[1], row[2], json.loads(row[3]))
            for row in conn.execute("SELECT id, provider_call_id, billing_seconds, metadata FROM calls")
        }
    assert balance[0] >= 0 and balance[0] - balance[1] >= 0
    assert sum(credits for _, credits in charges) + balance[0] == STARTING
    keys = [key for key, _ in charges]
    assert len(keys) == len(set(keys))  # once per call
    by_key = dict(charges)
    for provider_id, call_id in calls.items():
        _, seconds, metadata = rows[call_id]
        charged = by_key.get(f"call:{call_id}", 0)
        assert charged >= 0
        context = (provider_id, charged, accepted.get(provider_id), seconds, metadata)
        assert charged <= math.ceil(accepted.get(provider_id, 0.0) / 60), context
        if seconds is not None:
            assert 0 <= seconds <= 86400
        metering = metadata.get("ai_call_metering")
        if metering:
            assert metering["billed_minutes"] == charged, context
            assert metering["billed_minutes"] <= metering["requested_minutes"], context
        else:
            assert charged == 0, context
