"""Google Places API (New) Text Search over httpx, with the field mask and full pagination.

Why not an SDK: `googlemaps` reaches only the legacy API and `google-maps-places` drops
`nextPageToken` (Google's Places API (New) reference: `nextPageToken` pages a text search), so we speak REST directly.

Errors (each also subclasses the common kind from `tools.http`)::

    PlacesError(ProviderError)
    ├── PlacesAuthError(AuthError)            400 API_KEY_INVALID, 401, 403 PERMISSION_DENIED
    ├── PlacesNotFoundError(NotFoundError)    404
    ├── PlacesBadRequestError(BadRequestError) other 4xx, e.g. INVALID_ARGUMENT
    ├── PlacesRateLimitedError(RateLimitedError) 429 RESOURCE_EXHAUSTED after retries
    ├── PlacesDownError(ProviderDownError)    5xx, timeouts, connection errors after retries
    └── PlacesBadResponseError(BadResponseError) a body that is not a search response
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from leadgen.settings import KEY_VARIABLES
from tools.http import (
    AuthError,
    BadRequestError,
    BadResponseError,
    ErrorFamily,
    NotFoundError,
    Observer,
    ProviderDownError,
    ProviderError,
    RateLimitedError,
    RetryingCaller,
    RetryPolicy,
    json_object,
)
from tools.places_paging import MAX_RESULTS, PAGE_SIZE


class PlacesError(ProviderError):
    provider = "places"


class PlacesAuthError(PlacesError, AuthError):
    pass


class PlacesNotFoundError(PlacesError, NotFoundError):
    pass


class PlacesBadRequestError(PlacesError, BadRequestError):
    pass


class PlacesRateLimitedError(PlacesError, RateLimitedError):
    pass


class PlacesDownError(PlacesError, ProviderDownError):
    pass


class PlacesBadResponseError(PlacesError, BadResponseError):
    pass


PLACES_ERRORS = ErrorFamily(
    root=PlacesError,
    auth=PlacesAuthError,
    not_found=PlacesNotFoundError,
    bad_request=PlacesBadRequestError,
    rate_limited=PlacesRateLimitedError,
    down=PlacesDownError,
    bad_response=PlacesBadResponseError,
    name="Google Places",
    key_variable=KEY_VARIABLES["places"],
)

# Billing is by the priciest masked field (website/phone/rating = Text Search Enterprise), per
# request; `nextPageToken` must be masked or Google never returns it.
FIELD_MASK = ",".join(
    [
        "places.id",
        "places.displayName",
        "places.websiteUri",
        "places.nationalPhoneNumber",
        "places.internationalPhoneNumber",
        "places.rating",
        "places.userRatingCount",
        "places.formattedAddress",
        "places.businessStatus",
        "places.types",
        "nextPageToken",
    ]
)
# Google answers a bad key with 400 INVALID_ARGUMENT; only the ErrorInfo reason says it is auth.
_AUTH_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "SERVICE_DISABLED"})


@dataclass(frozen=True)
class Place:
    """One business as Text Search describes it; absent fields are None (Google omits them)."""

    id: str
    name: str
    website: str | None = None
    national_phone: str | None = None
    international_phone: str | None = None
    rating: float | None = None
    review_count: int | None = None
    address: str | None = None
    business_status: str | None = None
    types: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> Place:
        """Parse one `places[]` item; raises ValueError/TypeError on a malformed one."""
        place_id = raw["id"]
        if not isinstance(place_id, str) or not place_id:
            raise ValueError("place without an id")
        display = raw.get("displayName") or {}
        if not isinstance(display, dict):
            raise TypeError("displayName is not an object")
        rating = raw.get("rating")
        count = raw.get("userRatingCount")
        types = raw.get("types") or []
        if not isinstance(types, list):
            raise TypeError("types is not a list")
        return cls(
            id=place_id,
            name=str(display.get("text") or ""),
            website=_opt_str(raw.get("websiteUri")),
            national_phone=_opt_str(raw.get("nationalPhoneNumber")),
            international_phone=_opt_str(raw.get("internationalPhoneNumber")),
            rating=float(rating) if rating is not None else None,
            review_count=int(count) if count is not None else None,
            address=_opt_str(raw.get("formattedAddress")),
            business_status=_opt_str(raw.get("businessStatus")),
            types=tuple(str(t) for t in types),
        )


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value or None


class PlacesClient:
    """`POST {base_url}/v1/places:searchText` with `X-Goog-Api-Key` and the lead-gen field mask."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        api_key: str,
        *,
        policy: RetryPolicy | None = None,
        concurrency: int = 4,
        observer: Observer | None = None,
    ) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + "/v1/places:searchText"
        self._headers = {"X-Goog-Api-Key": api_key, "X-Goog-FieldMask": FIELD_MASK}
        self.caller = RetryingCaller(
            "places", PLACES_ERRORS, policy=policy, concurrency=concurrency, observer=observer
        )

    async def search_text(
        self,
        text_query: str,
        *,
        max_results: int = 20,
        region_code: str = "US",
        language_code: str = "en",
    ) -> list[Place]:
        """Up to `max_results` (≤ 60) places, following `nextPageToken` with an identical body."""
        places: list[Place] = []
        async for page in self.search_text_pages(
            text_query, max_results=max_results, region_code=region_code, language_code=language_code
        ):
            places.extend(page)
        return places

    async def search_text_pages(
        self,
        text_query: str,
        *,
        max_results: int = MAX_RESULTS,
        region_code: str = "US",
        language_code: str = "en",
    ) -> AsyncIterator[list[Place]]:
        """The search's result pages one by one (20 places each, as Google pages them), up to
        `max_results` (≤ 60) places in all, so a caller can stop reading once it has enough.
        Each page is one request; the next is sent only when the caller asks for it."""
        if not text_query.strip():
            raise ValueError("text_query must not be empty")
        if not 1 <= max_results <= MAX_RESULTS:
            raise ValueError(f"max_results must be between 1 and {MAX_RESULTS}, got {max_results}")
        # Google rejects a follow-up page whose other parameters differ, so only pageToken changes.
        body: dict[str, Any] = {
            "textQuery": text_query,
            "pageSize": min(PAGE_SIZE, max_results),
            "regionCode": region_code,
            "languageCode": language_code,
        }
        read = 0
        seen_tokens: set[str] = set()
        while True:
            page, token = await self._page(body)
            page = page[: max_results - read]
            read += len(page)
            yield page
            if read >= max_results or not token or token in seen_tokens:
                return
            seen_tokens.add(token)
            body = {**body, "pageToken": token}

    async def _page(self, body: dict[str, Any]) -> tuple[list[Place], str | None]:
        response = await self.caller.request(
            self._http, "POST", self._url, operation="searchText", json=body, headers=self._headers
        )
        if response.status_code >= 400:
            raise self._error(response)
        data = json_object(self.caller, response)
        raw_places = data.get("places", [])  # an empty result omits the key altogether
        if not isinstance(raw_places, list):
            raise self.caller.bad_response("`places` is not a list", response)
        try:
            parsed = [Place.from_api(item) for item in raw_places]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self.caller.bad_response(f"malformed place: {exc!r}", response) from exc
        token = data.get("nextPageToken")
        if token is not None and not isinstance(token, str):
            raise self.caller.bad_response("`nextPageToken` is not a string", response)
        return parsed, token or None

    def _error(self, response: httpx.Response) -> ProviderError:
        reasons: set[str] = set()
        message = ""
        try:
            error = response.json()["error"]
            message = str(error.get("message") or "")
            reasons = {str(d.get("reason")) for d in error.get("details") or [] if isinstance(d, dict)}
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
        if reasons & _AUTH_REASONS or message.startswith("API key not valid"):
            return self.caller.error_for(response, cls=PlacesAuthError)
        return self.caller.error_for(response)
