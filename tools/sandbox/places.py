"""Google Places API (New) Text Search: `POST /places/v1/places:searchText`.

Follows the real contract (Google's Places API (New) `places:searchText` reference): API key in `X-Goog-Api-Key` or `?key=`,
a mandatory field mask that the response is projected onto (absent values omitted, never null),
`pageSize` 1–20, `nextPageToken` only when masked, at most 60 results across pages, and a page
token that is refused when the other parameters changed. Tokens are self-contained, so they
survive a restart like the world does.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tools.sandbox.world import social_or_aggregator

MAX_TOTAL_RESULTS = 60
MAX_PAGE_SIZE = 20

FIELD_MASK_MISSING = (
    "FieldMask is a required parameter. See https://cloud.google.com/apis/docs/system-parameters on how "
    "to provide it. As an example, you can set the header 'X-Goog-FieldMask' to value "
    "'places.displayName', 'places.id' to ask for the display name and the place id of a place. You can "
    "also set the value to '*' in manual testing to get all the available response fields."
)

# Place fields the real API knows; masking one the sandbox does not fill is fine (it is just absent).
KNOWN_PLACE_FIELDS = frozenset(
    """attributions id name movedPlace movedPlaceId accessibilityOptions addressComponents
    addressDescriptor adrFormatAddress businessStatus containingPlaces displayName formattedAddress
    googleMapsLinks googleMapsUri iconBackgroundColor iconMaskBaseUri location openingDate photos plusCode
    postalAddress primaryType primaryTypeDisplayName pureServiceAreaBusiness shortFormattedAddress
    subDestinations timeZone types utcOffsetMinutes viewport currentOpeningHours
    currentSecondaryOpeningHours internationalPhoneNumber nationalPhoneNumber priceLevel priceRange rating
    regularOpeningHours regularSecondaryOpeningHours userRatingCount websiteUri reviews reviewSummary
    editorialSummary generativeSummary allowsDogs delivery dineIn takeout reservable servesBreakfast
    servesLunch servesDinner servesBeer servesWine servesVegetarianFood outdoorSeating liveMusic
    goodForChildren goodForGroups restroom paymentOptions parkingOptions evChargeOptions
    fuelOptions""".split()  # noqa: SIM905 (a word list reads better than 70 quoted strings)
)
KNOWN_TOP_FIELDS = frozenset(
    {"places", "nextPageToken", "searchUri", "routingSummaries", "contextualContents"}
)
# Parameters that may change between pages of one search.
PAGING_PARAMS = frozenset({"pageSize", "pageToken", "maxResultCount"})


def google_error(
    code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return JSONResponse({"error": error}, status_code=code)


def _api_key_invalid() -> JSONResponse:
    return google_error(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "places.googleapis.com"},
            },
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": "API key not valid. Please pass a valid API key.",
            },
        ],
    )


def _for_region(place: dict[str, Any], region_code: str | None) -> dict[str, Any]:
    """The place as Google words it for `regionCode`: the country is omitted when it matches."""
    address = place.get("formattedAddress")
    if (region_code or "").upper() == "US" and isinstance(address, str):
        return {**place, "formattedAddress": address.removesuffix(", USA")}
    return place


def parse_mask(mask: str) -> list[list[str]] | str:
    """The mask as paths, or an error message naming the first unknown path."""
    paths = []
    for raw in mask.split(","):
        path = raw.strip()
        if not path:
            continue
        parts = path.split(".")
        if path == "*" or (parts[0] == "places" and parts[1:] in (["*"], [])):
            paths.append(parts)
            continue
        if parts[0] not in KNOWN_TOP_FIELDS or (
            parts[0] == "places" and len(parts) > 1 and parts[1] not in KNOWN_PLACE_FIELDS
        ):
            return f"Error expanding 'fields' parameter. Cannot find matching fields for path '{path}'."
        paths.append(parts)
    return paths


def project(value: Any, paths: list[list[str]]) -> Any:
    """Keep only the masked paths of `value` (lists are projected element by element)."""
    if any(not p or p == ["*"] for p in paths):
        return value
    if isinstance(value, list):
        return [project(item, paths) for item in value]
    if not isinstance(value, dict):
        return value
    result: dict[str, Any] = {}
    for key, item in value.items():
        sub = [p[1:] for p in paths if p[0] == key]
        if sub:
            result[key] = project(item, sub)
    return result


def _params_hash(body: dict[str, Any]) -> str:
    stable = {k: v for k, v in body.items() if k not in PAGING_PARAMS}
    return hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()[:16]


def _make_token(offset: int, params_hash: str) -> str:
    raw = json.dumps({"o": offset, "h": params_hash}).encode()
    return "AeCrKX" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_token(token: str) -> tuple[int, str] | None:
    if not token.startswith("AeCrKX"):
        return None
    encoded = token[6:]
    try:
        data = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        return int(data["o"]), str(data["h"])
    except (ValueError, KeyError, TypeError):
        return None


async def search_text(request: Request) -> JSONResponse:
    key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
    if not key:
        return google_error(
            403,
            "PERMISSION_DENIED",
            "The request is missing a valid API key.",
            [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_MISSING"}],
        )
    if not key.startswith("AIza") or key in request.app.state.sandbox.config.revoked_keys:
        return _api_key_invalid()
    mask_text = (
        request.headers.get("x-goog-fieldmask")
        or request.query_params.get("fields")
        or request.query_params.get("$fields")
    )
    if not mask_text:
        return google_error(400, "INVALID_ARGUMENT", FIELD_MASK_MISSING)
    mask = parse_mask(mask_text)
    if isinstance(mask, str):
        return google_error(400, "INVALID_ARGUMENT", mask)
    try:
        body = await request.json()
    except ValueError:
        return google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
    if not isinstance(body, dict):
        return google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
    text_query = str(body.get("textQuery") or "").strip()
    if not text_query:
        return google_error(400, "INVALID_ARGUMENT", "Empty text_query is not allowed.")
    size = body.get("pageSize", body.get("maxResultCount")) or MAX_PAGE_SIZE
    if not isinstance(size, int) or size < 0:
        return google_error(400, "INVALID_ARGUMENT", "page_size must be a non-negative integer.")
    size = min(size, MAX_PAGE_SIZE)
    offset = 0
    params_hash = _params_hash(body)
    if body.get("pageToken"):
        token = _read_token(str(body["pageToken"]))
        if token is None:
            return google_error(400, "INVALID_ARGUMENT", "Invalid page token.")
        offset, token_hash = token
        if token_hash != params_hash:
            return google_error(
                400,
                "INVALID_ARGUMENT",
                "The request parameters must be identical to those of the request that returned the "
                "page token, except for pageSize and pageToken.",
            )

    state = request.app.state.sandbox
    config = state.config
    world = state.world
    if config.world_profile == "all_auditable":
        # Benchmarks want every lead audited: draw from the full 60 and keep those with a phone
        # and a site of their own that loads.
        found = [p for p in world.places(text_query, MAX_TOTAL_RESULTS) if _auditable(world, p)][
            : max(config.places_max_results, 0)
        ]
    else:
        found = world.places(text_query, max(config.places_max_results, 0))
    found = [p for p in found if _passes_filters(p, body)][:MAX_TOTAL_RESULTS]
    page = found[offset : offset + size]
    response: dict[str, Any] = {
        "places": [_for_region(p, body.get("regionCode")) for p in page],
        "searchUri": "https://www.google.com/maps/search/" + text_query.replace(" ", "+"),
    }
    if offset + size < len(found):
        response["nextPageToken"] = _make_token(offset + size, params_hash)
    projected = project(response, mask)
    if not projected.get("places"):
        projected.pop("places", None)  # an empty result is `{}`, as Google sends it
    return JSONResponse(projected)


def _auditable(world: Any, place: dict[str, Any]) -> bool:
    website = place.get("websiteUri")
    if not place.get("nationalPhoneNumber") or not isinstance(website, str) or "://" not in website:
        return False
    host = website.split("://", 1)[1].split("/", 1)[0]
    if social_or_aggregator(host):
        return False
    site = world.site(host)
    return site is not None and not site.down and not site.flaky


def _passes_filters(place: dict[str, Any], body: dict[str, Any]) -> bool:
    min_rating = body.get("minRating")
    rating = place.get("rating")
    if (
        isinstance(min_rating, int | float)
        and min_rating > 0
        and not (isinstance(rating, int | float) and rating >= min_rating)
    ):
        return False
    strict_type = body.get("includedType") if body.get("strictTypeFiltering") else None
    return not strict_type or strict_type in (place.get("types") or [])


routes = [Route("/places/v1/places:searchText", search_text, methods=["POST"])]
