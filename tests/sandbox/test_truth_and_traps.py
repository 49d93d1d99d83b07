"""The truth endpoint against an independent reading of the served HTML, and the traps real sites set."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tools.sandbox.world import World

HTTP = httpx.Client(timeout=30)
FC = {"Authorization": "Bearer fc-x"}
QUERIES = ("dentists in Austin, TX", "plumbers in Denver, CO", "lawyers in Chicago, IL")
SEARCH_SPACE = [
    f"{what} in {where}"
    for where in ("Austin, TX", "Denver", "Boise", "Tampa", "Omaha", "Seattle")
    for what in ("lawyers", "dentists", "plumbers", "restaurants", "salons", "roofers", "auto repair")
]
YEAR = World().current_year


def _host(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[0]


@pytest.fixture(scope="module")
def world(sandbox_url: str) -> World:
    """The synthetic world in this process, to pick examples from. The same queries go to the
    sandbox first: a site shows its business's name and phone once a search has found it."""
    for query in SEARCH_SPACE:
        HTTP.post(
            f"{sandbox_url}/places/v1/places:searchText",
            json={"textQuery": query},
            headers={"X-Goog-Api-Key": "AIzaTest", "X-Goog-FieldMask": "places.id"},
        ).raise_for_status()
    return World()


def _sites(world: World) -> Iterator[tuple[str, Any]]:
    """(website, site) for every own-domain site the search space finds (to pick examples)."""
    seen = set()
    for query in SEARCH_SPACE:
        for place in world.places(query, 20):
            url = place.get("websiteUri")
            if not url or any(s in url for s in ("facebook.com", "yelp.com", "instagram.com")):
                continue
            site = world.site(_host(url))
            if site is not None and not site.down and not site.flaky and site.domain not in seen:
                seen.add(site.domain)
                yield url, site


def _example(world: World, wanted: Callable[[Any], bool], what: str) -> tuple[str, Any]:
    for url, site in _sites(world):
        if wanted(site):
            return url, site
    raise AssertionError(f"no site in the synthetic world shows {what}")


def _scrape(sandbox_url: str, url: str, **options: Any) -> dict[str, Any]:
    answer = HTTP.post(f"{sandbox_url}/v2/scrape", json={"url": url, **options}, headers=FC)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def _codes(sandbox: Any, url: str) -> set[str]:
    return set(sandbox.truth(_host(url))["codes"])


def _any_page(site: Any, pattern: str) -> Any:
    return next((p for p in site.readable_pages() if re.search(pattern, p.html, re.I)), None)


@pytest.mark.parametrize("query", QUERIES)
def test_truth_codes_match_an_independent_reading_of_the_served_html(
    query: str, sandbox: Any, sandbox_web: Any, own_sites: Callable[[str], list[str]]
) -> None:
    sites = own_sites(query)
    assert len(sites) >= 8
    for site in sites:
        truth = sandbox.truth(_host(site))
        assert truth["current_year"] == YEAR
        assert set(truth["codes"]) == sandbox_web.codes(_host(site), YEAR), site


def test_every_code_is_true_for_some_sites_and_false_for_others(world: World) -> None:
    counts: Counter[str] = Counter()
    total = 0
    for _url, site in itertools.islice(_sites(world), 90):
        counts.update(world.truth(site.host)["codes"])  # type: ignore[index]
        total += 1
    assert total == 90
    for code in (
        "NO_HTTPS", "NOT_MOBILE_FRIENDLY", "NO_META_DESCRIPTION", "NO_LOCAL_BUSINESS_SCHEMA", "NO_ANALYTICS",
        "NO_ONLINE_BOOKING", "NO_PRICING", "NO_REVIEWS_SHOWN", "STALE_COPYRIGHT", "NO_CLICK_TO_CALL",
        "NO_SOCIAL_LINKS", "THIN_CONTENT", "BROKEN_LINKS",
    ):  # fmt: skip
        assert 0.04 * total <= counts[code] <= 0.85 * total, (code, counts[code], total)


def test_negated_booking_is_not_booking(world: World, sandbox: Any, sandbox_url: str) -> None:
    url, site = _example(
        world, lambda s: _any_page(s, r"booking (is )?coming soon"), "online booking coming soon"
    )
    page = _any_page(site, r"booking (is )?coming soon")
    markdown = _scrape(sandbox_url, site.url(page.path), formats=["markdown"])["markdown"]
    assert re.search(r"booking (is )?coming soon", markdown, re.I)
    assert "NO_ONLINE_BOOKING" in _codes(sandbox, url)


def test_book_now_button_that_dials_a_phone_is_not_booking(
    world: World, sandbox: Any, sandbox_url: str
) -> None:
    url, _ = _example(
        world, lambda s: re.search(r'href="tel:[^"]+">Book Now<', s.page("/").html), "Book Now -> tel:"
    )
    raw = _scrape(sandbox_url, url, formats=["rawHtml"])["rawHtml"]
    assert re.search(r'href="tel:[^"]+">Book Now<', raw)
    assert "NO_ONLINE_BOOKING" in _codes(sandbox, url)


def test_booking_widget_in_an_iframe_is_booking(world: World, sandbox: Any, sandbox_url: str) -> None:
    pattern = r'<iframe src="https://(www\.vagaro|app\.acuityscheduling|www\.localmed|booking\.vetstoria)'
    url, site = _example(world, lambda s: _any_page(s, pattern), "a booking iframe")
    page = _any_page(site, pattern)
    assert re.search(pattern, _scrape(sandbox_url, site.url(page.path), formats=["rawHtml"])["rawHtml"])
    assert "NO_ONLINE_BOOKING" not in _codes(sandbox, url)


def test_discounts_and_verdicts_are_not_pricing(world: World, sandbox: Any, sandbox_url: str) -> None:
    for pattern, what in (
        (r"\$\d+ off ", "a discount"),
        (r"\$[\d,]+ (verdict|settlement)|verdict for", "a verdict"),
    ):

        def only_trap(site: Any, pattern: str = pattern) -> bool:
            return bool(_any_page(site, pattern)) and "NO_PRICING" in world.truth(site.host)["codes"]  # type: ignore[index]

        url, site = _example(world, only_trap, what)
        page = _any_page(site, pattern)
        markdown = _scrape(sandbox_url, site.url(page.path), formats=["markdown"])["markdown"]
        assert "$" in markdown and re.search(pattern, markdown)
        assert "NO_PRICING" in _codes(sandbox, url), what


def test_free_case_review_is_not_a_review(world: World, sandbox: Any, sandbox_url: str) -> None:
    def law_without_reviews(site: Any) -> bool:
        return (
            bool(_any_page(site, "free case review"))
            and "NO_REVIEWS_SHOWN" in world.truth(site.host)["codes"]
        )  # type: ignore[index]

    url, site = _example(world, law_without_reviews, "a free case review without testimonials")
    page = _any_page(site, "free case review")
    assert (
        "free case review"
        in _scrape(sandbox_url, site.url(page.path), formats=["markdown"])["markdown"].lower()
    )
    assert "NO_REVIEWS_SHOWN" in _codes(sandbox, url)


def test_copyright_ranges_count_by_their_last_year(world: World, sandbox: Any, sandbox_url: str) -> None:
    current = rf"Copyright © \d{{4}}–{YEAR}"
    url, _ = _example(world, lambda s: re.search(current, s.page("/").html), "a current copyright range")
    raw = _scrape(sandbox_url, url, formats=["rawHtml"])["rawHtml"]
    assert re.search(current, raw)
    assert "STALE_COPYRIGHT" not in _codes(sandbox, url)
    stale = r"Copyright © (\d{4})-(\d{4})"
    url, _site = _example(world, lambda s: re.search(stale, s.page("/").html), "a stale copyright range")
    match = re.search(stale, _scrape(sandbox_url, url, formats=["rawHtml"])["rawHtml"])
    assert match and int(match.group(2)) < YEAR - 1
    assert "STALE_COPYRIGHT" in _codes(sandbox, url)


def test_tel_link_only_in_the_header(world: World, sandbox: Any, sandbox_url: str) -> None:
    def header_only(site: Any) -> bool:
        pages = site.readable_pages()
        tel_anywhere = [p for p in pages if 'href="tel:' in p.html]
        return bool(tel_anywhere) and all(
            re.search(r"<header.*?href=\"tel:.*?</header>", p.html, re.S) and p.html.count('href="tel:') == 1
            for p in tel_anywhere
        )

    url, site = _example(world, header_only, "a tel: link only in the header")
    for page in site.readable_pages():
        doc = _scrape(sandbox_url, site.url(page.path), formats=["markdown", "links", "rawHtml"])
        assert not any(link.startswith("tel:") for link in doc["links"])  # main content has none
        assert "](tel:" not in doc["markdown"]
    home = _scrape(sandbox_url, url, formats=["rawHtml"], onlyMainContent=False)
    assert 'href="tel:' in home["rawHtml"]
    assert "NO_CLICK_TO_CALL" not in _codes(sandbox, url)


def test_broken_navigation_link(world: World, sandbox: Any, sandbox_url: str) -> None:
    def broken_in_nav(site: Any) -> bool:
        return "BROKEN_LINKS" in world.truth(site.host)["codes"] and "<nav" in site.page("/").html  # type: ignore[index]

    url, site = _example(world, broken_in_nav, "a broken navigation link")
    links = _scrape(sandbox_url, url, formats=["links"], onlyMainContent=False)["links"]
    own = [
        link
        for link in links
        if link.startswith("http") and _host(link).removeprefix("www.") == site.domain and "#" not in link
    ]
    statuses = {link: _scrape(sandbox_url, link, formats=["links"])["metadata"]["statusCode"] for link in own}
    broken = [link for link, status in statuses.items() if status == 404]
    assert broken, statuses
    assert "BROKEN_LINKS" in _codes(sandbox, url)


def test_hidden_injected_instructions_reach_the_markdown(world: World, sandbox_url: str) -> None:
    pattern = r'<div style="display:none" aria-hidden="true">'
    _url, site = _example(world, lambda s: _any_page(s, pattern), "hidden instructions")
    page = _any_page(site, pattern)
    doc = _scrape(sandbox_url, site.url(page.path), formats=["markdown", "rawHtml"])
    assert re.search(pattern, doc["rawHtml"])
    assert re.search(r"ignore all previous instructions|disregard the user", doc["markdown"], re.I)


def test_review_widget_is_a_review_even_where_main_content_drops_it(
    world: World, sandbox: Any, sandbox_url: str
) -> None:
    pattern = r'<div class="widget reviews-widget">'
    url, site = _example(world, lambda s: _any_page(s, pattern), "a review widget in a .widget block")
    page = _any_page(site, pattern)
    doc = _scrape(sandbox_url, site.url(page.path), formats=["html", "rawHtml"])
    assert re.search(pattern, doc["rawHtml"]) and "reviews-widget" not in doc["html"]
    assert "NO_REVIEWS_SHOWN" not in _codes(sandbox, url)


def test_truth_of_a_site_that_does_not_answer(sandbox: Any) -> None:
    down = next(site for _, site in _sites_all(World()) if site.down)
    assert sandbox.truth(down.host)["codes"] == ["SITE_DOWN"]


def _sites_all(world: World) -> Iterator[tuple[str, Any]]:
    for query in SEARCH_SPACE:
        for place in world.places(query, 20):
            url = place.get("websiteUri")
            if url and not any(s in url for s in ("facebook.com", "yelp.com", "instagram.com")):
                yield url, world.site(_host(url))
