"""VapiClient against captured fixtures (Vapi's API reference)."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.http import AuthError
from tools.vapi import (
    VapiAuthError,
    VapiBadRequestError,
    VapiBadResponseError,
    VapiClient,
    VapiDownError,
    VapiNotFoundError,
    validate_e164,
)

BASE = "https://api.vapi.ai"
CREATED = {
    "id": "c0ffee00-0000-4000-8000-000000000001",
    "orgId": "org-1",
    "createdAt": "2026-01-01T00:00:00.000Z",
    "updatedAt": "2026-01-01T00:00:00.000Z",
    "type": "outboundPhoneCall",
    "status": "queued",
    "assistantId": "asst-1",
    "phoneNumberId": "pn-1",
    "customer": {"number": "+14155550123"},
    "phoneCallProvider": "twilio",
    "phoneCallTransport": "pstn",
    "monitor": {"listenUrl": "wss://x", "controlUrl": "https://x"},
}
ENDED = {
    **CREATED,
    "status": "ended",
    "startedAt": "2026-01-01T00:00:05.000Z",
    "endedAt": "2026-01-01T00:01:05.500Z",
    "endedReason": "customer-ended-call",
    "cost": 0.123,
    "artifact": {"transcript": "AI: Hi, is this Acme Plumbing?\nUser: Yes", "messages": []},
    "analysis": {"summary": "Interested in a new website."},
}


async def test_create_call_body_and_answer(mock_http, jr, fast_policy) -> None:
    http, rec = mock_http(jr(201, CREATED))
    call = await VapiClient(http, BASE, "vapi-key", policy=fast_policy).create_call(
        assistant_id="asst-1",
        phone_number_id="pn-1",
        customer_number="+14155550123",
        customer_name="Acme Plumbing",
        variable_values={"business": "Acme"},
    )
    assert call.id == CREATED["id"] and call.status == "queued" and call.duration_seconds is None
    request = rec.requests[0]
    assert request.method == "POST" and str(request.url) == f"{BASE}/call"
    assert request.headers["Authorization"] == "Bearer vapi-key"
    assert rec.bodies()[0] == {
        "assistantId": "asst-1",
        "phoneNumberId": "pn-1",
        "customer": {"number": "+14155550123", "name": "Acme Plumbing"},
        "assistantOverrides": {"variableValues": {"business": "Acme"}},
    }


async def test_server_url_and_headers_travel_in_overrides(mock_http, jr, fast_policy) -> None:
    http, rec = mock_http(jr(201, CREATED))
    await VapiClient(http, BASE, "k", policy=fast_policy).create_call(
        assistant_id="a",
        phone_number_id="p",
        customer_number="+14155550123",
        server_url="https://leadgen.example/webhooks/vapi",
        server_headers={"X-Vapi-Secret": "s3"},
    )
    assert rec.bodies()[0]["assistantOverrides"] == {
        "server": {"url": "https://leadgen.example/webhooks/vapi", "headers": {"X-Vapi-Secret": "s3"}}
    }


async def test_get_call_computes_duration(mock_http, jr, fast_policy) -> None:
    http, rec = mock_http(jr(200, ENDED))
    call = await VapiClient(http, BASE, "k", policy=fast_policy).get_call(CREATED["id"])
    assert call.status == "ended" and call.ended_reason == "customer-ended-call"
    assert call.duration_seconds == 60.5
    assert call.transcript.startswith("AI: Hi") and call.summary == "Interested in a new website."
    assert rec.requests[0].url.path == f"/call/{CREATED['id']}"


@pytest.mark.parametrize(
    "number", ["4155550123", "+1 415 555 0123", "+0123456789", "+1415", "tel:+14155550123", ""]
)
async def test_bad_numbers_never_reach_vapi(mock_http, jr, fast_policy, number: str) -> None:
    http, rec = mock_http(jr(201, CREATED))
    with pytest.raises(ValueError):
        await VapiClient(http, BASE, "k", policy=fast_policy).create_call(
            assistant_id="a", phone_number_id="p", customer_number=number
        )
    assert rec.requests == []


@given(st.text(max_size=20))
def test_e164_validator_never_accepts_non_e164(text: str) -> None:
    try:
        validate_e164(text)
    except ValueError:
        return
    assert text.startswith("+") and text[1:].isdigit() and text[1] != "0"


async def test_nestjs_errors(mock_http, jr, fast_policy) -> None:
    bad = {
        "message": ["customer.number must be a valid phone number"],
        "error": "Bad Request",
        "statusCode": 400,
    }
    http, rec = mock_http(jr(400, bad))
    with pytest.raises(VapiBadRequestError, match=r"customer\.number must be"):
        await VapiClient(http, BASE, "k", policy=fast_policy).create_call(
            assistant_id="a", phone_number_id="p", customer_number="+14155550123"
        )
    assert len(rec.requests) == 1
    http, _ = mock_http(
        jr(
            401,
            {
                "message": "Invalid Key. Hot tip, you may be using the private key instead of "
                "the public key, or vice versa.",
                "error": "Unauthorized",
                "statusCode": 401,
            },
        )
    )
    with pytest.raises(VapiAuthError) as caught:
        await VapiClient(http, BASE, "k", policy=fast_policy).get_call("c1")
    assert isinstance(caught.value, AuthError)
    http, _ = mock_http(jr(404, {"message": "Not Found", "statusCode": 404}))
    with pytest.raises(VapiNotFoundError):
        await VapiClient(http, BASE, "k", policy=fast_policy).get_call("c1")


async def test_create_call_is_not_repeated_after_a_500_or_timeout(mock_http, jr, fast_policy) -> None:
    for failure in (
        jr(500, {"message": "Internal server error", "statusCode": 500}),
        httpx.ReadTimeout("slow"),
    ):
        http, rec = mock_http(failure)
        with pytest.raises(VapiDownError):
            await VapiClient(http, BASE, "k", policy=fast_policy).create_call(
                assistant_id="a", phone_number_id="p", customer_number="+14155550123"
            )
        assert len(rec.requests) == 1


async def test_create_call_retried_after_429(mock_http, jr, fast_policy) -> None:
    http, rec = mock_http(jr(429, {"message": "Too Many Requests"}, {"Retry-After": "0"}), jr(201, CREATED))
    await VapiClient(http, BASE, "k", policy=fast_policy).create_call(
        assistant_id="a", phone_number_id="p", customer_number="+14155550123"
    )
    assert len(rec.requests) == 2


async def test_get_call_retries_5xx(mock_http, jr, fast_policy) -> None:
    http, rec = mock_http(jr(502, {}), jr(200, ENDED))
    await VapiClient(http, BASE, "k", policy=fast_policy).get_call("c1")
    assert len(rec.requests) == 2


async def test_call_without_id_is_bad_response(mock_http, jr, fast_policy) -> None:
    http, _ = mock_http(jr(200, {"status": "queued"}))
    with pytest.raises(VapiBadResponseError):
        await VapiClient(http, BASE, "k", policy=fast_policy).get_call("c1")
