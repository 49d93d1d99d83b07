"""Google Places (New), judged by `google-maps-places` (0.9.1): its REST transport searches the
sandbox's Places (`ClientOptions(api_endpoint="http://<sandbox>/places")`: the REST transport
keeps a path prefix and plain http, and speaks the same JSON our client does); its protos parse
the sandbox's answers and our client's request; its api_core errors read the sandbox's errors.

0.9.1 has no `pageSize`/`pageToken`/`nextPageToken` (Google's discovery document does, see
reference §1): those are the only parts of our request it cannot judge."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from google.api_core import exceptions as google_errors
from google.api_core.client_options import ClientOptions
from google.maps import places_v1

from tools.http import RetryPolicy
from tools.places import FIELD_MASK, PlacesClient, PlacesRateLimitedError

KEY = "AIzaConformanceKey"
QUERY = "dentists in Austin, TX"
NOT_IN_THE_SDK = {"pageSize", "pageToken", "nextPageToken"}  # see the module docstring


def sdk(url: str, key: str = KEY) -> places_v1.PlacesClient:
    return places_v1.PlacesClient(
        transport="rest", client_options=ClientOptions(api_key=key, api_endpoint=url + "/places")
    )


def search(client: places_v1.PlacesClient, mask: str = FIELD_MASK, **kw: Any) -> places_v1.SearchTextResponse:
    return client.search_text(
        request=places_v1.SearchTextRequest(text_query=QUERY), metadata=[("x-goog-fieldmask", mask)], **kw
    )


async def test_the_sdk_reads_the_sandbox_as_our_client_does(fresh: Any) -> None:
    answer = search(sdk(fresh.url))
    assert len(answer.places) == 20
    async with httpx.AsyncClient(timeout=10) as http:
        ours = await PlacesClient(http, fresh.url + "/places", KEY).search_text(QUERY, max_results=20)
    assert [p.id for p in answer.places] == [p.id for p in ours]
    for theirs, mine in zip(answer.places, ours, strict=True):
        assert theirs.display_name.text == mine.name
        assert (theirs.website_uri or None) == mine.website
        assert (theirs.national_phone_number or None) == (mine.national_phone or None)
        assert theirs.business_status.name == (mine.business_status or "BUSINESS_STATUS_UNSPECIFIED")
        assert list(theirs.types) == list(mine.types)
        if mine.rating is not None:
            assert (
                theirs.rating == pytest.approx(mine.rating) and theirs.user_rating_count == mine.review_count
            )


def test_the_mask_returns_only_masked_fields(fresh: Any) -> None:
    answer = search(sdk(fresh.url), mask="places.id,places.displayName")
    place = places_v1.Place.to_dict(answer.places[0], use_integers_for_enums=False)
    unset = (None, "", 0, [], {})
    present = {k for k, v in place.items() if v not in unset and not str(v).endswith("_UNSPECIFIED")}
    assert present == {"id", "display_name"}


async def test_our_request_is_a_valid_search_text_request(fresh: Any, sent: Any) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        await PlacesClient(http, fresh.url + "/places", KEY).search_text(QUERY, max_results=20)
    (request,) = sent("places", "/places/v1/places:searchText")
    body = {k: v for k, v in request["body"].items() if k not in NOT_IN_THE_SDK}
    parsed = places_v1.SearchTextRequest.from_json(json.dumps(body))  # unknown fields raise
    assert parsed.text_query == QUERY
    place_fields = {f.json_name for f in places_v1.Place.pb().DESCRIPTOR.fields}
    for path in request["headers"]["x-goog-fieldmask"].split(","):
        if path in NOT_IN_THE_SDK:
            continue
        assert path.startswith("places.") and path.removeprefix("places.") in place_fields, path


def test_errors_and_rate_limits_in_googles_shape(fresh: Any) -> None:
    fresh.configure(revoked_keys=["AIzaRevokedKey"])
    with pytest.raises(google_errors.BadRequest) as refused:
        search(sdk(fresh.url, "AIzaRevokedKey"))
    assert refused.value.reason == "API_KEY_INVALID" and refused.value.domain == "googleapis.com"
    with pytest.raises(google_errors.BadRequest) as no_mask:
        sdk(fresh.url).search_text(request=places_v1.SearchTextRequest(text_query=QUERY))
    assert "FieldMask" in no_mask.value.message
    fresh.configure(fail_rate=1.0, fault_kinds=["429"])
    with pytest.raises(google_errors.TooManyRequests) as limited:
        search(sdk(fresh.url), retry=None)
    assert limited.value.reason == "RATE_LIMIT_EXCEEDED"
    assert "retry-after" not in {k.lower() for k in limited.value.response.headers}  # Google names no wait


async def test_our_client_backs_off_googles_429(fresh: Any) -> None:
    fresh.configure(fail_rate=1.0, fault_kinds=["429"])
    policy = RetryPolicy(attempts=2, base_delay=0.001, max_delay=0.01, jitter=0)
    async with httpx.AsyncClient(timeout=10) as http:
        with pytest.raises(PlacesRateLimitedError) as limited:
            await PlacesClient(http, fresh.url + "/places", KEY, policy=policy).search_text(QUERY)
    assert limited.value.retry_after is None and limited.value.status_code == 429
