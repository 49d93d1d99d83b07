"""FirecrawlClient: the official SDK on our injected httpx client, against captured fixtures
(Firecrawl v2 API), and the discovery rules as pure functions."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.firecrawl import (
    EXCLUDE_WORDS,
    FirecrawlAuthError,
    FirecrawlBadResponseError,
    FirecrawlClient,
    FirecrawlDownError,
    FirecrawlError,
    FirecrawlPaymentRequired,
    FirecrawlRateLimitedError,
    MappedLink,
    include_url,
    page_priority,
)
from tools.http import AuthError, RateLimitedError

BASE = "https://api.firecrawl.dev"
SCRAPE = {
    "success": True,
    "data": {
        "markdown": "# Acme Plumbing\n...",
        "links": ["https://acme.example/contact", "https://acme.example/pricing"],
        "metadata": {
            "title": "Acme Plumbing",
            "description": "...",
            "language": "en",
            "sourceURL": "https://acme.example",
            "url": "https://acme.example/",
            "statusCode": 200,
            "contentType": "text/html; charset=utf-8",
            "scrapeId": "0b6d",
            "proxyUsed": "basic",
            "cacheState": "miss",
            "creditsUsed": 1,
        },
    },
}
MAP = {
    "success": True,
    "links": [
        {"url": "https://acme.example/pricing", "title": "Pricing", "description": "Plans"},
        {"url": "https://acme.example/about"},
    ],
}


def client(http: httpx.AsyncClient, policy, **kw) -> FirecrawlClient:
    return FirecrawlClient(http, BASE, "fc-test", policy=policy, poll_interval=0.001, **kw)


async def test_scrape_sends_the_sdk_body_through_our_client(mock_http, jr, fast_policy) -> None:
    http, rec = mock_http(jr(200, SCRAPE))
    doc = await client(http, fast_policy).scrape("https://acme.example")
    assert doc.url == "https://acme.example/" and doc.title == "Acme Plumbing"
    assert doc.markdown.startswith("# Acme") and doc.status_code == 200 and doc.ok
    assert doc.links == ("https://acme.example/contact", "https://acme.example/pricing")
    request = rec.requests[0]
    assert str(request.url) == f"{BASE}/v2/scrape"
    assert request.headers["Authorization"] == "Bearer fc-test"
    body = rec.bodies()[0]
    assert body["url"] == "https://acme.example" and body["formats"] == ["markdown", "links"]
    assert body["onlyMainContent"] is True and body["timeout"] == 30000
    assert body["origin"].startswith("python-sdk@")


async def test_map_site(mock_http, jr, fast_policy) -> None:
    http, rec = mock_http(jr(200, MAP))
    links = await client(http, fast_policy).map_site("https://acme.example", limit=50, search="pricing")
    assert links == [
        MappedLink("https://acme.example/pricing", "Pricing", "Plans"),
        MappedLink("https://acme.example/about"),
    ]
    body = rec.bodies()[0]
    assert body["limit"] == 50 and body["search"] == "pricing" and body["sitemap"] == "include"
    assert rec.requests[0].url.path == "/v2/map"


async def test_sdk_does_not_retry_429_but_we_do(mock_http, jr, fast_policy, call_log) -> None:
    limited = jr(429, {"success": False, "error": "Rate limit exceeded"}, {"Retry-After": "0.2"})
    http, rec = mock_http(limited, jr(200, MAP))
    await client(http, fast_policy, observer=call_log).map_site("https://acme.example")
    assert call_log.last.statuses == (429, "ok") and len(rec.requests) == 2
    assert call_log.last.waits == (0.2,)  # Firecrawl's Retry-After, waited once


async def test_429_forever(mock_http, jr, fast_policy) -> None:
    http, rec = mock_http(jr(429, {"success": False, "error": "Rate limit exceeded"}, {"Retry-After": "0"}))
    with pytest.raises(FirecrawlRateLimitedError) as caught:
        await client(http, fast_policy).scrape("https://acme.example")
    assert isinstance(caught.value, RateLimitedError) and len(rec.requests) == fast_policy.attempts


async def test_5xx_storm_and_timeouts_recover(mock_http, jr, fast_policy, call_log) -> None:
    http, _ = mock_http(
        jr(500, {"success": False, "error": "boom"}), jr(502, {}), httpx.ReadTimeout("slow"), jr(200, SCRAPE)
    )
    await client(http, fast_policy, observer=call_log).scrape("https://acme.example")
    assert call_log.last.statuses == (500, 502, "ReadTimeout", "ok")


@pytest.mark.parametrize("code", ["SCRAPE_SITE_ERROR", "SCRAPE_DNS_RESOLUTION_ERROR"])
async def test_a_verdict_on_the_site_is_not_retried(mock_http, jr, fast_policy, code: str) -> None:
    # Firecrawl reached the site's server (or its DNS) and says it failed: asking again at once
    # gets the same answer, and a run full of down sites would sleep through every backoff.
    http, rec = mock_http(jr(500, {"success": False, "code": code, "error": "site failed"}))
    with pytest.raises(FirecrawlError) as caught:
        await client(http, fast_policy).scrape("https://down.example")
    assert len(rec.requests) == 1 and "site failed" in str(caught.value)
    # A 500 of Firecrawl's own (all engines failed) is still retried.
    http, rec = mock_http(
        jr(500, {"success": False, "code": "SCRAPE_ALL_ENGINES_FAILED", "error": "x"}), jr(200, SCRAPE)
    )
    await client(http, fast_policy).scrape("https://acme.example")
    assert len(rec.requests) == 2


async def test_outage(mock_http, fast_policy) -> None:
    http, rec = mock_http(httpx.ConnectError("refused"))
    with pytest.raises(FirecrawlDownError):
        await client(http, fast_policy).scrape("https://acme.example")
    assert len(rec.requests) == fast_policy.attempts  # the SDK itself did not retry on top


async def test_auth_and_payment_errors_are_not_retried(mock_http, jr, fast_policy) -> None:
    http, rec = mock_http(jr(401, {"success": False, "error": "Unauthorized: Invalid token"}))
    with pytest.raises(FirecrawlAuthError) as caught:
        await client(http, fast_policy).scrape("https://acme.example")
    assert isinstance(caught.value, AuthError) and len(rec.requests) == 1
    http, rec = mock_http(jr(402, {"success": False, "error": "Insufficient credits"}))
    with pytest.raises(FirecrawlPaymentRequired):
        await client(http, fast_policy).map_site("https://acme.example")
    assert len(rec.requests) == 1


async def test_success_false_is_bad_response(mock_http, jr, fast_policy) -> None:
    http, _ = mock_http(jr(200, {"success": False, "error": "weird"}))
    with pytest.raises(FirecrawlBadResponseError):
        await client(http, fast_policy).map_site("https://acme.example")
    http, _ = mock_http(httpx.Response(200, text="not json"))
    with pytest.raises(FirecrawlBadResponseError):
        await client(http, fast_policy).map_site("https://acme.example")


def test_api_url_must_be_an_origin() -> None:
    with pytest.raises(ValueError, match="scheme://host"):
        FirecrawlClient(httpx.AsyncClient(), "http://127.0.0.1:9/firecrawl", "fc")


async def test_batch_scrape_reports_per_url_failures(mock_http, jr, fast_policy) -> None:
    ok_doc = SCRAPE["data"]
    broken = {
        "markdown": "",
        "metadata": {
            "sourceURL": "https://b.example/",
            "url": "https://b.example/",
            "statusCode": 404,
            "title": "Not found",
        },
    }
    http, rec = mock_http(
        jr(
            200,
            {
                "success": True,
                "id": "job-1",
                "url": f"{BASE}/v2/batch/scrape/job-1",
                "invalidURLs": ["notaurl.example"],
            },
        ),
        jr(200, {"success": True, "status": "scraping", "completed": 0, "total": 3, "data": []}),
        jr(
            200,
            {"success": True, "status": "completed", "completed": 2, "total": 3, "data": [ok_doc, broken]},
        ),
        # A page that failed is not among the documents: the batch's errors say why.
        jr(
            200,
            {
                "errors": [
                    {"id": "e-1", "url": "https://c.example/", "error": "All scraping engines failed!"}
                ],
                "robotsBlocked": [],
            },
        ),
    )
    docs = await client(http, fast_policy).batch_scrape(
        ["https://acme.example", "https://b.example/", "https://c.example/"]
    )
    assert [d.ok for d in docs] == [True, False, False]
    assert docs[0].title == "Acme Plumbing"
    assert docs[1].status_code == 404 and "404" in (docs[1].error or "")
    assert docs[2].error == "All scraping engines failed!"  # Firecrawl's reason, not "no result"
    assert [r.url.path for r in rec.requests] == [
        "/v2/batch/scrape",
        "/v2/batch/scrape/job-1",
        "/v2/batch/scrape/job-1",
        "/v2/batch/scrape/job-1/errors",
    ]
    body = rec.bodies()[0]
    assert body["urls"] == ["https://acme.example", "https://b.example/", "https://c.example/"]
    assert body["formats"] == ["markdown", "links"] and body["ignoreInvalidURLs"] is True


async def test_discover_keeps_auditable_pages_in_priority_order(mock_http, jr, fast_policy) -> None:
    links = [
        "https://acme.example/blog/pipes",
        "https://acme.example/contact",
        "https://acme.example/privacy-policy",
        "https://acme.example/services/drains",
        "https://other.example/services",
        "https://acme.example/about-us",
        "https://acme.example/careers",
        "https://www.acme.example/pricing/",
        "https://acme.example/logo.png",
        "https://acme.example/reviews",
        "https://acme.example/book-now",
        "https://acme.example/random",
    ]
    http, rec = mock_http(jr(200, {"success": True, "links": [{"url": u} for u in links]}))
    found = await client(http, fast_policy).discover("https://acme.example/", limit=6)
    assert [link.url for link in found] == [
        "https://acme.example/",
        "https://acme.example/services/drains",
        "https://www.acme.example/pricing/",
        "https://acme.example/about-us",
        "https://acme.example/reviews",
        "https://acme.example/contact",
    ]
    assert rec.bodies()[0]["limit"] >= 60


@pytest.mark.parametrize(
    ("url", "included"),
    [
        ("https://acme.example", True),
        ("https://acme.example/", True),
        ("https://acme.example/index.html", True),
        ("https://acme.example/services", True),
        ("https://acme.example/our-services/teeth-whitening", True),
        ("https://acme.example/solutions/", True),
        ("https://acme.example/products/widget", True),
        ("https://acme.example/pricing", True),
        ("https://acme.example/plans", True),
        ("https://acme.example/about", True),
        ("https://acme.example/company/team", True),
        ("https://acme.example/testimonials", True),
        ("https://acme.example/customers", True),
        ("https://acme.example/reviews?page=2", True),
        ("https://acme.example/contact-us", True),
        ("https://acme.example/book-appointment", True),
        ("https://acme.example/privacy", False),
        ("https://acme.example/privacy-policy", False),
        ("https://acme.example/legal/terms", False),
        ("https://acme.example/terms-of-service", False),
        ("https://acme.example/careers", False),
        ("https://acme.example/jobs/plumber", False),
        ("https://acme.example/blog/our-services-explained", False),
        ("https://acme.example/services/brochure.pdf", False),
        ("https://acme.example/random-page", False),
        ("mailto:hi@acme.example", False),
        ("/services", False),
    ],
)
def test_include_rules(url: str, included: bool) -> None:
    assert include_url(url) is included


_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)


@given(
    before=st.lists(_word, max_size=3),
    bad=st.sampled_from(sorted(EXCLUDE_WORDS)),
    after=st.lists(_word, max_size=3),
)
def test_an_excluded_word_anywhere_wins(before: list[str], bad: str, after: list[str]) -> None:
    path = "/".join([*before, bad, *after]) + "/services"
    assert not include_url(f"https://acme.example/{path}")


@given(
    host=st.from_regex(r"[a-z]{1,10}\.(com|org|example)", fullmatch=True),
    scheme=st.sampled_from(["http", "https"]),
)
def test_every_homepage_is_included_first(host: str, scheme: str) -> None:
    assert page_priority(f"{scheme}://{host}") == 0
    assert page_priority(f"{scheme}://{host}/") == 0


@given(st.text(max_size=60))
def test_rules_never_crash(url: str) -> None:
    assert include_url(url) in (True, False)
