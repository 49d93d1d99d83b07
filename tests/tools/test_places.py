"""PlacesClient against captured fixtures: the exact bodies of Google's Places API (New) reference."""

from __future__ import annotations

import json

import httpx
import pytest

from tools.http import AuthError, BadResponseError, ProviderError
from tools.places import (
    FIELD_MASK,
    Place,
    PlacesAuthError,
    PlacesBadRequestError,
    PlacesBadResponseError,
    PlacesClient,
    PlacesError,
    PlacesRateLimitedError,
)

BASE = "https://places.googleapis.com"
REFERENCE_PAGE = {
    "places": [
        {
            "id": "ChIJifIePKtZwokRVZ-UdRGkZzs",
            "displayName": {"text": "Acme Plumbing", "languageCode": "en"},
            "formattedAddress": "1 Main St, Austin, TX 78701, USA",
            "websiteUri": "https://acme.example/",
            "nationalPhoneNumber": "(512) 555-0100",
            "internationalPhoneNumber": "+1 512-555-0100",
            "rating": 4.6,
            "userRatingCount": 120,
            "businessStatus": "OPERATIONAL",
            "types": ["plumber", "point_of_interest", "establishment"],
        }
    ],
    "nextPageToken": (
        "AeCrKXsZWzNVbPzO-MRWPu52jWO_Xx8aKwOQ69_Je3DxRpfdjClq8Ekwh3UcF2h2Jn75kL6PtWLGV4ecQri-GEUKN_OFpJkdVc-JL4Q"
    ),
}
BAD_KEY = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
            }
        ],
    }
}
EXHAUSTED = {
    "error": {
        "code": 429,
        "message": "Quota exceeded",
        "status": "RESOURCE_EXHAUSTED",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED"}],
    }
}


def page(n: int, start: int, token: str | None) -> dict:
    places = [
        {"id": f"p{start + i}", "displayName": {"text": f"Biz {start + i}", "languageCode": "en"}}
        for i in range(n)
    ]
    body: dict = {"places": places}
    if token:
        body["nextPageToken"] = token
    return body


async def test_reference_response_parses_with_the_right_request(mock_http, jr, fast_policy) -> None:
    http, rec = mock_http(jr(200, REFERENCE_PAGE))
    client = PlacesClient(http, BASE, "AIzaTest", policy=fast_policy)
    places = await client.search_text("plumbers in Austin TX", max_results=1)
    assert places == [
        Place(
            id="ChIJifIePKtZwokRVZ-UdRGkZzs",
            name="Acme Plumbing",
            website="https://acme.example/",
            national_phone="(512) 555-0100",
            international_phone="+1 512-555-0100",
            rating=4.6,
            review_count=120,
            address="1 Main St, Austin, TX 78701, USA",
            business_status="OPERATIONAL",
            types=("plumber", "point_of_interest", "establishment"),
        )
    ]
    request = rec.requests[0]
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/v1/places:searchText"
    assert request.headers["X-Goog-Api-Key"] == "AIzaTest"
    assert request.headers["X-Goog-FieldMask"] == FIELD_MASK
    assert " " not in FIELD_MASK and "nextPageToken" in FIELD_MASK.split(",")
    assert json.loads(request.content) == {
        "textQuery": "plumbers in Austin TX",
        "pageSize": 1,
        "regionCode": "US",
        "languageCode": "en",
    }


async def test_pagination_follows_tokens_with_identical_body(mock_http, jr, fast_policy) -> None:
    http, rec = mock_http(
        jr(200, page(20, 0, "t1")), jr(200, page(20, 20, "t2")), jr(200, page(20, 40, "t3"))
    )
    places = await PlacesClient(http, BASE, "AIzaTest", policy=fast_policy).search_text(
        "dentists", max_results=45
    )
    assert [p.id for p in places] == [f"p{i}" for i in range(45)]
    bodies = rec.bodies()
    assert len(bodies) == 3
    assert "pageToken" not in bodies[0]
    assert bodies[1] == {**bodies[0], "pageToken": "t1"}
    assert bodies[2] == {**bodies[0], "pageToken": "t2"}
    assert bodies[0]["pageSize"] == 20


async def test_pagination_stops_on_last_page(mock_http, jr, fast_policy) -> None:
    http, rec = mock_http(jr(200, page(20, 0, "t1")), jr(200, page(7, 20, None)))
    places = await PlacesClient(http, BASE, "AIzaTest", policy=fast_policy).search_text(
        "dentists", max_results=60
    )
    assert len(places) == 27 and len(rec.requests) == 2


async def test_empty_result_omits_places(mock_http, jr, fast_policy) -> None:
    http, _ = mock_http(jr(200, {}))
    assert await PlacesClient(http, BASE, "k", policy=fast_policy).search_text("nothing here") == []


@pytest.mark.parametrize("max_results", [0, 61])
async def test_max_results_bounds(mock_http, jr, fast_policy, max_results: int) -> None:
    http, rec = mock_http(jr(200, {}))
    with pytest.raises(ValueError):
        await PlacesClient(http, BASE, "k", policy=fast_policy).search_text("x", max_results=max_results)
    assert rec.requests == []


async def test_missing_fields_are_none(mock_http, jr, fast_policy) -> None:
    http, _ = mock_http(jr(200, {"places": [{"id": "p1", "displayName": {"text": "No Site"}}]}))
    [place] = await PlacesClient(http, BASE, "k", policy=fast_policy).search_text("x")
    assert place == Place(id="p1", name="No Site")


@pytest.mark.parametrize(
    "body",
    [
        {"places": "nope"},
        {"places": [{"displayName": {"text": "no id"}}]},
        {"places": [{"id": "p1", "rating": "five"}]},
        {"places": [{"id": "p1", "types": "plumber"}]},
        {"places": [], "nextPageToken": 7},
        ["not", "an", "object"],
    ],
)
async def test_malformed_bodies_are_bad_responses(mock_http, jr, fast_policy, body) -> None:
    http, _ = mock_http(jr(200, body))
    with pytest.raises(PlacesBadResponseError) as caught:
        await PlacesClient(http, BASE, "k", policy=fast_policy).search_text("x")
    assert isinstance(caught.value, BadResponseError)


async def test_non_json_body_is_bad_response(mock_http, fast_policy) -> None:
    http, _ = mock_http(httpx.Response(200, text="<html>captive portal</html>"))
    with pytest.raises(PlacesBadResponseError):
        await PlacesClient(http, BASE, "k", policy=fast_policy).search_text("x")


async def test_invalid_key_is_auth_error_without_retry(mock_http, jr, fast_policy, call_log) -> None:
    http, rec = mock_http(jr(400, BAD_KEY))
    client = PlacesClient(http, BASE, "AIzaWrong", policy=fast_policy, observer=call_log)
    with pytest.raises(PlacesAuthError) as caught:
        await client.search_text("x")
    assert isinstance(caught.value, AuthError) and isinstance(caught.value, PlacesError)
    assert caught.value.status_code == 400 and caught.value.code == "INVALID_ARGUMENT"
    assert len(rec.requests) == 1 and call_log.last.attempts == 1


async def test_permission_denied_is_auth_error(mock_http, jr, fast_policy) -> None:
    body = {
        "error": {
            "code": 403,
            "status": "PERMISSION_DENIED",
            "message": "Places API (New) has not been used",
            "details": [{"reason": "SERVICE_DISABLED"}],
        }
    }
    http, _ = mock_http(jr(403, body))
    with pytest.raises(PlacesAuthError):
        await PlacesClient(http, BASE, "k", policy=fast_policy).search_text("x")


async def test_missing_field_mask_style_400_is_bad_request(mock_http, jr, fast_policy) -> None:
    body = {
        "error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "FieldMask is a required parameter."}
    }
    http, rec = mock_http(jr(400, body))
    with pytest.raises(PlacesBadRequestError, match="FieldMask"):
        await PlacesClient(http, BASE, "k", policy=fast_policy).search_text("x")
    assert len(rec.requests) == 1


async def test_resource_exhausted_is_rate_limited_after_retries(mock_http, jr, fast_policy, call_log) -> None:
    http, rec = mock_http(jr(429, EXHAUSTED))
    client = PlacesClient(http, BASE, "k", policy=fast_policy, observer=call_log)
    with pytest.raises(PlacesRateLimitedError) as caught:
        await client.search_text("x")
    assert isinstance(caught.value, ProviderError)
    assert len(rec.requests) == fast_policy.attempts


async def test_resource_exhausted_then_success(mock_http, jr, fast_policy, call_log) -> None:
    http, _ = mock_http(jr(429, EXHAUSTED), jr(200, REFERENCE_PAGE))
    client = PlacesClient(http, BASE, "k", policy=fast_policy, observer=call_log)
    assert len(await client.search_text("x", max_results=1)) == 1
    assert call_log.last.statuses == (429, "ok")
