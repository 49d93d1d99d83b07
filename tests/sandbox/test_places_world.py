"""Places (New) emulator over real HTTP, and the synthetic world behind it."""

from __future__ import annotations

import httpx
import phonenumbers

from tools.sandbox import world
from tools.sandbox.server import start_sandbox

MASK = "places.id,places.displayName,places.websiteUri,places.nationalPhoneNumber,nextPageToken"
KEY = {"X-Goog-Api-Key": "AIzaSandboxKey"}

# One client per module: building a client (and its TLS context) per request is slow.
HTTP = httpx.Client(timeout=10)


def search(url: str, body: dict[str, object], mask: str | None = MASK, **headers: str) -> httpx.Response:
    sent = {**KEY, **headers}
    if mask is not None:
        sent["X-Goog-FieldMask"] = mask
    return HTTP.post(f"{url}/places/v1/places:searchText", json=body, headers=sent)


def test_only_masked_fields_come_back(sandbox_url: str) -> None:
    response = search(sandbox_url, {"textQuery": "plumbers in Austin, TX"}, mask="places.id,places.rating")
    assert response.status_code == 200
    places = response.json()["places"]
    assert len(places) == 20
    assert all(set(p) <= {"id", "rating"} for p in places)
    assert "nextPageToken" not in response.json()  # not in the mask


def test_absent_values_are_omitted_not_null(sandbox_url: str) -> None:
    places = search(sandbox_url, {"textQuery": "dentists in Denver"}, mask="*").json()["places"]
    assert all(None not in p.values() for p in places)
    assert any("websiteUri" not in p for p in places)


def test_missing_mask_and_bad_key_are_real_400s(sandbox_url: str) -> None:
    missing = search(sandbox_url, {"textQuery": "plumbers in Austin"}, mask=None)
    assert missing.status_code == 400
    assert missing.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert missing.json()["error"]["message"].startswith("FieldMask is a required parameter")
    bad = search(sandbox_url, {"textQuery": "plumbers in Austin"}, **{"X-Goog-Api-Key": "nope"})
    assert bad.status_code == 400
    assert bad.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    by_query = HTTP.post(
        f"{sandbox_url}/places/v1/places:searchText?key=AIzaX&fields=places.id", json={"textQuery": "x in y"}
    )
    assert by_query.status_code == 200


def test_page_size_rules(sandbox_url: str) -> None:
    assert len(search(sandbox_url, {"textQuery": "roofers in Boise", "pageSize": 50}).json()["places"]) == 20
    assert len(search(sandbox_url, {"textQuery": "roofers in Boise", "pageSize": 7}).json()["places"]) == 7
    negative = search(sandbox_url, {"textQuery": "roofers in Boise", "pageSize": -1})
    assert negative.status_code == 400 and negative.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_pagination_and_changed_params(sandbox_url: str) -> None:
    body = {"textQuery": "roofers in Boise", "pageSize": 8}
    first = search(sandbox_url, body).json()
    second = search(sandbox_url, {**body, "pageToken": first["nextPageToken"]}).json()
    third = search(sandbox_url, {**body, "pageToken": second["nextPageToken"]}).json()
    ids = [p["id"] for page in (first, second, third) for p in page["places"]]
    assert len(ids) == len(set(ids)) == 20
    assert "nextPageToken" not in third
    changed = search(sandbox_url, {"textQuery": "roofers in Denver", "pageToken": first["nextPageToken"]})
    assert changed.status_code == 400


def test_sixty_result_cap(sandbox_config: object) -> None:
    handle = sandbox_config
    handle.configure(places_max_results=100)  # type: ignore[attr-defined]
    url = handle.url  # type: ignore[attr-defined]
    body: dict[str, object] = {"textQuery": "electricians in Seattle"}
    seen, token = 0, None
    while True:
        page = search(url, {**body, **({"pageToken": token} if token else {})}).json()
        seen += len(page["places"])
        token = page.get("nextPageToken")
        if not token:
            break
    assert seen == 60


def test_same_answer_from_two_servers() -> None:
    with start_sandbox(latency_scale=0) as one, start_sandbox(latency_scale=0) as two:
        a = search(one.url, {"textQuery": "Dentists in Austin, TX"}, mask="*").json()
        b = search(two.url, {"textQuery": "dentists in austin tx"}, mask="*").json()
    assert a["places"] == b["places"]


def test_phones_are_valid_and_local() -> None:
    for business in world.search("plumbers in Austin, TX"):
        if business.phone_e164:
            number = phonenumbers.parse(business.phone_e164)
            assert phonenumbers.is_valid_number(number)
            assert business.national_phone and business.national_phone[1:4] in ("512", "737")
            assert business.international_phone and business.international_phone.startswith("+1 ")


def test_world_statistics_over_many_queries() -> None:
    verticals = ["plumbers", "dentists", "roofers", "electricians", "lawyers", "salons", "gyms", "vets"]
    cities = ["Austin, TX", "Denver", "Boise", "Chicago", "Miami", "Springfield, IL", "Portland"]
    found = [b for v in verticals for c in cities for b in world.search(f"{v} in {c}")]
    n = len(found)
    assert n == len(verticals) * len(cities) * 20
    no_phone = sum(b.phone_e164 is None for b in found) / n
    no_site = sum(b.website is None for b in found) / n
    social = sum(bool(b.website) and b.own_domain is None for b in found) / n
    low = sum(b.rating is not None and b.rating < 4.0 and b.review_count >= 5 for b in found) / n
    few = sum(b.review_count < 5 for b in found) / n
    assert 0.12 <= no_phone <= 0.22
    assert 0.15 <= no_site <= 0.25
    assert 0.05 <= social <= 0.15
    assert 0.1 <= low <= 0.3
    assert 0.1 <= few <= 0.3
    assert {b.business_status for b in found} >= {"OPERATIONAL", "CLOSED_TEMPORARILY"}


def test_sites_have_pages_gaps_and_some_are_down() -> None:
    domains = {
        b.own_domain
        for v in ("plumbers", "dentists", "roofers", "lawyers")
        for c in ("Austin", "Denver", "Boise", "Tampa", "Omaha")
        for b in world.search(f"{v} in {c}")
        if b.own_domain
    }
    sites = [world.build_site(d) for d in domains if d]
    assert all(6 <= len(s.pages) <= 15 for s in sites)
    statuses = [s.profile.status for s in sites]
    assert "down" in statuses or "flaky" in statuses
    assert sum(s == "ok" for s in statuses) / len(statuses) > 0.8
    all_gaps = {g for s in sites for g in s.profile.gaps}
    assert {"no_pricing", "no_online_booking", "http_only", "stale_copyright", "no_reviews_shown"} <= all_gaps
    for site in sites:
        assert ("/pricing" in site.pages) == ("no_pricing" not in site.profile.gaps)


def test_truth_endpoint(sandbox_url: str) -> None:
    places = search(sandbox_url, {"textQuery": "dentists in Denver"}, mask="places.websiteUri").json()[
        "places"
    ]
    site = next(p["websiteUri"] for p in places if "websiteUri" in p and "facebook" not in p["websiteUri"])
    domain = site.split("://")[1].split("/")[0]
    truth = HTTP.get(f"{sandbox_url}/_sandbox/truth", params={"domain": domain}).json()
    assert truth["pages"] and truth["url"].rstrip("/").endswith(domain.removeprefix("www."))
    assert {"gaps", "facts", "status"} <= set(truth)
