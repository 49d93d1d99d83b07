"""Places (New) emulator over real HTTP, and the synthetic world behind it."""

from __future__ import annotations

import httpx
import phonenumbers

from tools.sandbox import world
from tools.sandbox.server import start_sandbox
from tools.sandbox.synthetic_sites import plan_site
from tools.sandbox.truth import CODES

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
    # As Places: up to 60 results by default, `pageSize` a page, a token while more remain.
    body = {"textQuery": "roofers in Boise", "pageSize": 8}
    pages = [search(sandbox_url, body).json()]
    while "nextPageToken" in pages[-1]:
        pages.append(search(sandbox_url, {**body, "pageToken": pages[-1]["nextPageToken"]}).json())
    ids = [p["id"] for page in pages for p in page["places"]]
    assert len(ids) == len(set(ids)) == 60
    assert [len(page["places"]) for page in pages] == [8] * 7 + [4]
    changed = search(sandbox_url, {"textQuery": "roofers in Denver", "pageToken": pages[0]["nextPageToken"]})
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


def test_sites_are_varied_html_sites_and_some_do_not_answer() -> None:
    the_world = world.World()
    sites = [
        the_world.site(b.own_domain)
        for v in ("plumbers", "dentists", "roofers", "lawyers", "restaurants")
        for c in ("Austin", "Denver", "Boise", "Tampa", "Omaha")
        for b in the_world.search(f"{v} in {c}")
        if b.own_domain
    ]
    assert len(sites) > 100
    assert all(s is not None and 6 <= len(s.pages) <= 20 for s in sites)
    assert sum(s.down for s in sites if s) and sum(s.flaky for s in sites if s)
    assert sum(not s.down and not s.flaky for s in sites if s) / len(sites) > 0.8
    assert {plan_site(s.host).builder for s in sites if s} == {
        "wordpress",
        "wix",
        "squarespace",
        "handwritten",
    }
    paths = {p.path for s in sites if s for p in s.pages.values()}
    for vertical_page in (
        "/new-patients",
        "/insurance",
        "/menu",
        "/reservations",
        "/practice-areas",
        "/service-area",
    ):
        assert any(p.strip("/").removesuffix(".html") == vertical_page.strip("/") for p in paths), (
            vertical_page
        )
    assert any(p.startswith("/attorneys/") for p in paths) and any(p.endswith(".html") for p in paths)
    for site in sites[:40]:
        assert site is not None
        home = site.page("/")
        assert home is not None and home.html.lstrip().lower().startswith("<!doctype html")
        assert "<head>" in home.html and "</html>" in home.html


def test_truth_endpoint_answers_in_finding_codes(sandbox_url: str) -> None:
    places = search(sandbox_url, {"textQuery": "dentists in Denver"}, mask="places.websiteUri").json()[
        "places"
    ]
    social = ("facebook.com", "yelp.com", "instagram.com")
    site = next(
        p["websiteUri"] for p in places if "websiteUri" in p and not any(s in p["websiteUri"] for s in social)
    )
    domain = site.split("://")[1].split("/")[0]
    truth = HTTP.get(f"{sandbox_url}/_sandbox/truth", params={"domain": domain}).json()
    assert HTTP.get(f"{sandbox_url}/_sandbox/truth", params={"domain": "www.yelp.com"}).status_code == 404
    assert truth["url"].rstrip("/").endswith(domain) and truth["current_year"] == world.CURRENT_YEAR
    assert set(truth["codes"]) <= set(CODES) and truth["pages"][0]["url"] == site
    assert HTTP.get(f"{sandbox_url}/_sandbox/truth").status_code == 400


def test_pagination_up_to_sixty_with_stable_tokens(sandbox_config: object) -> None:
    handle = sandbox_config
    handle.configure(places_max_results=60)  # type: ignore[attr-defined]
    url = handle.url  # type: ignore[attr-defined]
    body: dict[str, object] = {"textQuery": "dentists in Austin, TX"}
    pages, token = [], None
    while True:
        page = search(url, {**body, **({"pageToken": token} if token else {})}).json()
        again = search(url, {**body, **({"pageToken": token} if token else {})}).json()
        assert again == page  # the same request answers the same page and the same next token
        pages.append(page)
        token = page.get("nextPageToken")
        if not token:
            break
    assert [len(p["places"]) for p in pages] == [20, 20, 20]
    ids = [place["id"] for p in pages for place in p["places"]]
    assert len(set(ids)) == 60
