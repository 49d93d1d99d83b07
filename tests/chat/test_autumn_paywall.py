"""Billing through Autumn (AUTUMN_SECRET_KEY set) end to end, against the sandbox's Autumn: a run
pauses at the paywall, the paywall's upgrade opens an Autumn checkout, paying it there lets the
resume finish the run, a call is placed and metered; our ledger and Autumn's balance agree
throughout. And when billing cannot be reached, a call is refused with a generic message."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest

from assistant.agent import ChatContext, plan_by_id, resume_flow, upgrade
from graphs import accounts
from graphs.call_tools import place_call
from graphs.calls import CallService
from graphs.service import RunService
from tools.billing.autumn import AutumnBilling

Service = Callable[..., AbstractAsyncContextManager[RunService]]
KEY = "am_sk_test_paywall"
STARTING = 6  # a new Autumn customer's credits here: the search and two dossiers, then a pause


@pytest.fixture
def agency() -> str:
    """A fresh agency (and Autumn customer) per test: the sandbox's Autumn lives all session."""
    return f"autumn-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def autumn(sandbox_config: Any) -> Any:
    sandbox_config.configure(world_profile="all_auditable", autumn_starting_balance=STARTING)
    sandbox_config.clear_requests()
    return sandbox_config


def autumn_balance(sandbox: Any, customer: str) -> int:
    response = httpx.get(
        f"{sandbox.url}/autumn/v1/customers/{customer}",
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=10,
    )
    response.raise_for_status()
    return int(response.json()["features"]["atlas_credits"]["balance"])


def tracked_keys(sandbox: Any) -> list[str]:
    """Idempotency keys Autumn accepted a charge for (each answered 200)."""
    return [
        r["body"]["idempotency_key"]
        for r in sandbox.requests("autumn")
        if r["path"] == "/autumn/v1/track" and r["status"] == 200
    ]


async def charges(runs: RunService, customer: str) -> dict[str, int]:
    return {e.idempotency_key: e.credits for e in await runs.billing.history(customer) if e.kind == "charge"}


async def test_run_paywall_checkout_resume_and_call_on_autumn(
    sqlite_service: Service, autumn: Any, agency: str
) -> None:
    async with sqlite_service(AUTUMN_SECRET_KEY=KEY) as runs:
        assert isinstance(runs.billing, AutumnBilling)
        customer = await runs.ensure_agency(agency)
        calls = CallService(runs.db, runs.billing, runs.providers, runs.settings)
        ctx = ChatContext(agency_id=agency, runs=runs, background=runs.executor, user_id="local", calls=calls)

        flow = await runs.start(agency, num_leads=4, vertical="dentists", geography="Austin, TX")
        paused = await runs.execute(agency, flow.id)

        assert paused.status == "paused_for_upgrade"
        block = paused.flow.billing_block
        assert block is not None and block["phase"] == "generate_dossier"
        assert block["feature_id"] == "dossier_research"
        assert block["credit_info"]["required_balance"] == 2 and block["credit_info"]["balance"] < 2
        before = await charges(runs, customer)
        assert sum(before.values()) == STARTING - autumn_balance(autumn, customer) == 5
        assert sorted(tracked_keys(autumn)) == sorted(before)

        # The paywall's Upgrade button: with Autumn it is a checkout, paid on Autumn's page.
        plan = plan_by_id("starter")
        assert plan is not None
        offer = await upgrade(ctx, plan, accounts.UpgradeOccasion.tool_call("1"))
        assert offer["checkout_url"] and offer["credits_granted"] is None
        still = await resume_flow(ctx, await runs.get(agency, flow.id))
        assert still["status"] == "paused_for_upgrade"  # not paid yet: nothing runs
        paid = httpx.get(offer["checkout_url"], timeout=10)
        assert paid.status_code == 200 and "Payment complete" in paid.text
        granted = autumn_balance(autumn, customer) - (STARTING - 5)
        assert granted > 0

        assert (await resume_flow(ctx, await runs.get(agency, flow.id)))["status"] == "resuming"
        assert await ctx.background.wait(flow.id) == "completed"
        jobs = await runs.audit_jobs(agency, flow.id)
        # Every lead with a site of its own was researched; a temporarily closed one is not.
        opps = await runs.opportunities(agency, flow.id)
        auditable = [o for o in opps if o.domain and o.business_status != "CLOSED_TEMPORARILY"]
        assert len(jobs) == len(auditable) >= 3 and {j.status for j in jobs} == {"completed"}

        lead = (await runs.opportunities(agency, flow.id))[0]
        placed = await place_call(
            calls, agency, lead.id, user_id="ana", variables={"sandbox_call_seconds": 90}
        )
        assert placed["outcome"] == "placed", placed
        call_id = placed["call"]["id"]
        call = await calls.get_call(agency, call_id)
        deadline = time.monotonic() + 60
        while not (call.metadata_ or {}).get("ai_call_metering"):
            assert time.monotonic() < deadline, f"the call was not metered: {call.status}"
            await asyncio.sleep(0.1)
            call = await calls.refresh_call(agency, call_id)

        ledger = await charges(runs, customer)
        available = await runs.billing.balance(customer)

    assert call.metadata_["ai_call_metering"]["billed_minutes"] == 2  # 90 s: two started minutes
    assert ledger == {
        f"flow:{flow.id}:source": 1,
        **{f"audit:{job.id}": 2 for job in jobs},
        f"call:{call_id}": 2,
    }
    # Autumn charged exactly what our ledger holds, each key once, and the balances agree.
    assert sorted(tracked_keys(autumn)) == sorted(ledger)
    assert autumn_balance(autumn, customer) == STARTING + granted - sum(ledger.values()) == available


async def test_a_call_is_refused_generically_when_billing_is_unreachable(
    sqlite_service: Service, autumn: Any, agency: str
) -> None:
    async with sqlite_service(AUTUMN_SECRET_KEY=KEY) as runs:
        await runs.ensure_agency(agency)
        calls = CallService(runs.db, runs.billing, runs.providers, runs.settings)
        flow = await runs.start(agency, num_leads=1, vertical="dentists", geography="Austin, TX")
        assert (await runs.execute(agency, flow.id)).status == "completed"
        [lead] = await runs.opportunities(agency, flow.id)
        autumn.configure(outages=["autumn"])
        autumn.clear_requests()

        refused = await place_call(calls, agency, lead.id, user_id="ana")

        assert await calls.list_calls(agency) == []
    assert refused["outcome"] == "credits_unavailable" and refused["call"] is None
    message = refused["message"]
    assert message == "Could not verify your credits right now, so no call was placed. Try again shortly."
    assert not any(word in message.lower() for word in ("autumn", "503", "am_sk", "unavailable (sandbox"))
    assert autumn.requests("autumn"), "billing was asked"
    assert autumn.requests("vapi") == []  # nothing dialled
