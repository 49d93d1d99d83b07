"""AutumnClient against captured fixtures (Autumn API version 1.2.0)."""

from __future__ import annotations

import pytest

from tools.autumn import (
    AutumnAuthError,
    AutumnBadRequestError,
    AutumnBadResponseError,
    AutumnClient,
    AutumnDownError,
    AutumnInsufficientBalance,
    AutumnNotFoundError,
    DuplicateIdempotencyKey,
)
from tools.http import BadRequestError, NotFoundError

BASE = "https://api.useautumn.com"
CHECK_V1 = {
    "allowed": True,
    "code": "feature_found",
    "customer_id": "customer_123",
    "feature_id": "api_tokens",
    "required_balance": 5,
    "interval": "month",
    "interval_count": 1,
    "unlimited": False,
    "balance": 350,
    "usage": 150,
    "included_usage": 500,
    "next_reset_at": 1731507600000,
    "overage_allowed": False,
}
PREVIEW = {
    "scenario": "usage_limit",
    "title": "Upgrade to Pro",
    "message": "You have reached the usage limit",
    "feature_id": "messages",
    "feature_name": "Messages",
    "upgrade_product_id": "pro",
    "products": [{"id": "pro", "name": "Pro", "items": []}],
}
DUPLICATE = {
    "message": "Another request with idempotency key job-42-msg-1 has already been received",
    "code": "duplicate_idempotency_key",
    "env": "sandbox",
}
CUSTOMER = {
    "id": "cus_1",
    "created_at": 1767225600000,
    "name": "Acme",
    "email": None,
    "fingerprint": None,
    "stripe_id": None,
    "env": "sandbox",
    "metadata": {},
    "products": [{"id": "free", "name": "Free", "group": None, "status": "active"}],
    "features": {
        "atlas_credits": {
            "id": "atlas_credits",
            "type": "single_use",
            "balance": 10,
            "usage": 0,
            "included_usage": 10,
            "interval": "lifetime",
        }
    },
}


async def test_check_keeps_every_field(mock_http, jr, fast_policy) -> None:
    http, rec = mock_http(jr(200, CHECK_V1))
    check = await AutumnClient(http, BASE, "am_sk_test_x", policy=fast_policy).check(
        "customer_123", "api_tokens", 5
    )
    assert check.allowed and check.balance == 350 and check.usage == 150 and check.included_usage == 500
    assert check.interval == "month" and check.interval_count == 1 and check.next_reset_at == 1731507600000
    assert check.unlimited is False and check.overage_allowed is False and check.code == "feature_found"
    assert not check.fail_open and check.raw == CHECK_V1
    request = rec.requests[0]
    assert str(request.url) == f"{BASE}/v1/check"
    assert request.headers["Authorization"] == "Bearer am_sk_test_x"
    assert request.headers["X-Api-Version"] == "1.2.0"
    assert rec.bodies()[0] == {
        "customer_id": "customer_123",
        "feature_id": "api_tokens",
        "required_balance": 5,
        "send_event": False,
        "with_preview": False,
    }


async def test_check_denied_with_preview(mock_http, jr, fast_policy) -> None:
    body = {**CHECK_V1, "allowed": False, "balance": 0, "preview": PREVIEW}
    http, rec = mock_http(jr(200, body))
    check = await AutumnClient(http, BASE, "k", policy=fast_policy).check("c", "messages", with_preview=True)
    assert check.allowed is False and check.preview == PREVIEW
    assert rec.bodies()[0]["with_preview"] is True


async def test_check_202_is_fail_open(mock_http, jr, fast_policy) -> None:
    http, _ = mock_http(jr(202, {"allowed": True, "customer_id": "c", "feature_id": "f", "balance": None}))
    check = await AutumnClient(http, BASE, "k", policy=fast_policy).check("c", "f")
    assert check.allowed and check.fail_open and check.balance is None


async def test_check_without_allowed_is_bad_response(mock_http, jr, fast_policy) -> None:
    http, _ = mock_http(jr(200, {"balance": 3}))
    with pytest.raises(AutumnBadResponseError):
        await AutumnClient(http, BASE, "k", policy=fast_policy).check("c", "f")


async def test_track_sends_idempotency_key(mock_http, jr, fast_policy) -> None:
    answer = {"id": "evt_2x", "code": "event_received", "customer_id": "cus_1", "feature_id": "messages"}
    http, rec = mock_http(jr(200, answer))
    track = await AutumnClient(http, BASE, "k", policy=fast_policy).track(
        "cus_1", "messages", 3, idempotency_key="job-42-msg-1"
    )
    assert track.id == "evt_2x" and track.code == "event_received"
    assert rec.bodies()[0] == {
        "customer_id": "cus_1",
        "feature_id": "messages",
        "value": 3,
        "idempotency_key": "job-42-msg-1",
    }


async def test_duplicate_key_is_its_own_error_and_not_retried(mock_http, jr, fast_policy, call_log) -> None:
    http, rec = mock_http(jr(409, DUPLICATE))
    with pytest.raises(DuplicateIdempotencyKey) as caught:
        await AutumnClient(http, BASE, "k", policy=fast_policy, observer=call_log).track(
            "cus_1", "messages", idempotency_key="job-42-msg-1"
        )
    assert isinstance(caught.value, BadRequestError) and caught.value.code == "duplicate_idempotency_key"
    assert len(rec.requests) == 1


async def test_track_retried_after_503_then_duplicate(mock_http, jr, fast_policy) -> None:
    """A lost answer: the first track was recorded, the retry learns so from the 409."""
    http, rec = mock_http(
        jr(503, {"message": "busy", "code": "internal_error"}, {"Retry-After": "0"}), jr(409, DUPLICATE)
    )
    with pytest.raises(DuplicateIdempotencyKey):
        await AutumnClient(http, BASE, "k", policy=fast_policy).track("c", "f", idempotency_key="k1")
    assert len(rec.requests) == 2


async def test_insufficient_balance(mock_http, jr, fast_policy) -> None:
    http, _ = mock_http(jr(400, {"message": "Insufficient balance", "code": "insufficient_balance"}))
    with pytest.raises(AutumnInsufficientBalance):
        await AutumnClient(http, BASE, "k", policy=fast_policy).track("c", "f", 100, idempotency_key="x")


async def test_unknown_customer(mock_http, jr, fast_policy) -> None:
    http, _ = mock_http(jr(404, {"message": "Customer nope not found", "code": "customer_not_found"}))
    with pytest.raises(AutumnNotFoundError) as caught:
        await AutumnClient(http, BASE, "k", policy=fast_policy).check("nope", "f")
    assert isinstance(caught.value, NotFoundError)


async def test_bad_key(mock_http, jr, fast_policy) -> None:
    http, rec = mock_http(jr(401, {"message": "Invalid secret key", "code": "invalid_secret_key"}))
    with pytest.raises(AutumnAuthError):
        await AutumnClient(http, BASE, "k", policy=fast_policy).check("c", "f")
    assert len(rec.requests) == 1


async def test_other_400_is_bad_request(mock_http, jr, fast_policy) -> None:
    http, _ = mock_http(jr(400, {"message": "feature_id XOR event_name", "code": "invalid_inputs"}))
    with pytest.raises(AutumnBadRequestError) as caught:
        await AutumnClient(http, BASE, "k", policy=fast_policy).track("c", "f")
    assert type(caught.value) is AutumnBadRequestError


async def test_outage(mock_http, jr, fast_policy) -> None:
    http, rec = mock_http(jr(500, {"message": "boom", "code": "internal_error"}))
    with pytest.raises(AutumnDownError):
        await AutumnClient(http, BASE, "k", policy=fast_policy).check("c", "f")
    assert len(rec.requests) == fast_policy.attempts


async def test_attach_returns_checkout_url(mock_http, jr, fast_policy) -> None:
    answer = {
        "success": True,
        "customer_id": "cus_1",
        "product_ids": ["pro"],
        "code": "checkout_created",
        "message": "Checkout created",
        "checkout_url": "https://checkout.stripe.com/c/pay/cs_test_1",
    }
    http, rec = mock_http(jr(200, answer))
    attach = await AutumnClient(http, BASE, "k", policy=fast_policy).attach(
        "cus_1", "pro", "https://app/done"
    )
    assert (
        attach.checkout_url == "https://checkout.stripe.com/c/pay/cs_test_1"
        and attach.code == "checkout_created"
    )
    assert attach.product_ids == ("pro",)
    assert rec.bodies()[0] == {"customer_id": "cus_1", "product_id": "pro", "success_url": "https://app/done"}


async def test_customers(mock_http, jr, fast_policy) -> None:
    http, rec = mock_http(jr(200, CUSTOMER))
    client = AutumnClient(http, BASE, "k", policy=fast_policy)
    created = await client.create_customer("cus_1", name="Acme")
    fetched = await client.get_customer("cus_1")
    assert created == fetched
    assert created.features["atlas_credits"]["balance"] == 10 and created.products[0]["id"] == "free"
    assert [(r.method, r.url.path) for r in rec.requests] == [
        ("POST", "/v1/customers"),
        ("GET", "/v1/customers/cus_1"),
    ]
    assert rec.bodies()[0] == {"id": "cus_1", "name": "Acme"}


async def test_pre_1_2_feature_list_is_normalised(mock_http, jr, fast_policy) -> None:
    http, _ = mock_http(jr(200, {**CUSTOMER, "features": [{"id": "atlas_credits", "balance": 4}]}))
    customer = await AutumnClient(http, BASE, "k", policy=fast_policy).get_customer("cus_1")
    assert customer.features == {"atlas_credits": {"id": "atlas_credits", "balance": 4}}
