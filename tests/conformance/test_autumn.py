"""Autumn, judged by `autumn-py` (its client and models, API version 1.2.0): check, track, attach,
customers and products on the sandbox parse into its models; our client sends what it sends for
the same operations (plus `overage_behavior`, which Autumn's 1.2.0 OpenAPI spec defines and
autumn-py 3.1.9 does not expose); errors and rate limits come in Autumn's own shapes."""

from __future__ import annotations

import uuid
from typing import Any

import autumn
import httpx
import pytest
import requests
from autumn.error import AutumnHTTPError

from tools.autumn import AutumnClient, AutumnRateLimitedError
from tools.http import RetryPolicy

KEY = "am_sk_test_conformance"


def sdk(url: str, key: str = KEY) -> autumn.Client:
    return autumn.Client(token=key, base_url=url + "/autumn", max_retries=1)


@pytest.fixture
def customer(fresh: Any) -> str:
    customer_id = f"cus_{uuid.uuid4().hex[:10]}"
    sdk(fresh.url).customers.create(id=customer_id, name="Acme")
    return customer_id


def test_autumn_py_reads_every_answer_of_the_sandbox(fresh: Any, customer: str) -> None:
    client = sdk(fresh.url)
    got = client.customers.get(customer)
    assert got.id == customer and got.env.value == "sandbox" and "atlas_credits" in got.features
    check = client.check(customer_id=customer, feature_id="dossier_research", required_balance=1)
    assert check.allowed and check.balance is not None and check.code == "feature_found"
    tracked = client.track(customer_id=customer, feature_id="dossier_research", value=1, idempotency_key="k1")
    assert tracked.id.startswith("evt_") and tracked.customer_id == customer
    attached = client.attach(customer_id=customer, product_id="pro", success_url="https://app.example/done")
    assert attached.checkout_url and attached.product_ids == ["pro"]
    httpx.get(attached.checkout_url).raise_for_status()
    after = client.customers.get(customer)
    assert [(p.id, p.status.value) for p in after.products] == [("pro", "active")]
    products = client.products.list(customer_id=customer).list  # needs created_at and version
    assert {p.id for p in products} == {"starter", "pro", "agency"}
    assert all(p.version >= 1 and p.created_at > 0 for p in products)


def test_a_customer_without_a_grant_is_checked_as_autumn_answers(fresh: Any) -> None:
    fresh.configure(autumn_starting_balance=0)
    client = sdk(fresh.url)
    customer = f"cus_{uuid.uuid4().hex[:10]}"
    client.customers.create(id=customer)
    check = client.check(customer_id=customer, feature_id="lead_discovery")
    assert (check.allowed, check.balance, check.code) == (False, None, "feature_found")
    assert client.customers.get(customer).features == {}


async def test_our_requests_are_autumn_pys(fresh: Any, customer: str, sent: Any) -> None:
    client = sdk(fresh.url)
    client.check(customer_id=customer, feature_id="dossier_research", required_balance=2, with_preview=True)
    client.track(
        customer_id=customer,
        feature_id="dossier_research",
        value=1,
        idempotency_key="a",
        properties={"x": "1"},
    )
    client.attach(customer_id=customer, product_id="pro", success_url="https://app.example/done")
    async with httpx.AsyncClient(timeout=10) as http:
        ours = AutumnClient(http, fresh.url + "/autumn", KEY)
        await ours.check(customer, "dossier_research", 2, with_preview=True)
        await ours.track(
            customer,
            "dossier_research",
            1,
            idempotency_key="b",
            properties={"x": "1"},
            overage_behavior="reject",
        )
        await ours.attach(customer, "pro", success_url="https://app.example/done")
    for path, ours_only in (
        ("/autumn/v1/check", set()),
        ("/autumn/v1/track", {"overage_behavior"}),
        ("/autumn/v1/attach", set()),
    ):
        theirs, mine = sent("autumn", path)[-2:]
        assert theirs["headers"]["x-api-version"] == mine["headers"]["x-api-version"] == "1.2.0"
        assert set(mine["body"]) - ours_only <= set(theirs["body"]), (path, mine["body"], theirs["body"])
        shared = set(mine["body"]) & set(theirs["body"]) - {"idempotency_key", "force_checkout"}
        assert {k: mine["body"][k] for k in shared} == {k: theirs["body"][k] for k in shared}


def test_errors_in_autumns_shape(fresh: Any, customer: str) -> None:
    client = sdk(fresh.url)
    with pytest.raises(AutumnHTTPError) as missing:
        client.check(customer_id="cus_nobody_here", feature_id="lead_discovery")
    assert (missing.value.status_code, missing.value.code) == (404, "customer_not_found")
    client.track(customer_id=customer, feature_id="lead_discovery", value=1, idempotency_key="dup")
    with pytest.raises(AutumnHTTPError) as duplicate:
        client.track(customer_id=customer, feature_id="lead_discovery", value=1, idempotency_key="dup")
    assert (duplicate.value.status_code, duplicate.value.code) == (409, "duplicate_idempotency_key")
    fresh.configure(revoked_keys=["am_sk_test_revoked"])
    with pytest.raises(AutumnHTTPError) as refused:
        sdk(fresh.url, "am_sk_test_revoked").check(customer_id=customer, feature_id="lead_discovery")
    assert (refused.value.status_code, refused.value.code) == (401, "invalid_secret_key")


async def test_a_rate_limit_in_autumns_shape(fresh: Any, customer: str) -> None:
    """hono-rate-limiter's 429: draft-6 RateLimit-* headers and a plain-text body, which autumn-py
    cannot decode (it retries such answers as transport errors), and our client waits out."""
    fresh.configure(fail_rate=1.0, fault_kinds=["429"], retry_after_seconds=0.2)
    with pytest.raises(requests.JSONDecodeError):
        sdk(fresh.url).check(customer_id=customer, feature_id="lead_discovery")
    (limited,) = [r for r in fresh.requests("autumn") if r["status"] == 429][:1]
    assert limited["path"] == "/autumn/v1/check"
    async with httpx.AsyncClient(timeout=10) as http:
        ours = AutumnClient(http, fresh.url + "/autumn", KEY, policy=RetryPolicy(attempts=1))
        with pytest.raises(AutumnRateLimitedError) as caught:
            await ours.check(customer, "lead_discovery")
    assert (
        caught.value.retry_after is not None and caught.value.retry_after >= 1
    )  # Retry-After / RateLimit-Reset
