"""Firecrawl v2 emulator driven by the official SDK (AsyncFirecrawl), unchanged, over HTML sites."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from firecrawl import AsyncFirecrawl
from firecrawl.v2.types import ScrapeOptions

from tools.sandbox.synthetic_sites import plan_site

HTTP = httpx.Client(timeout=10)
FC = {"Authorization": "Bearer fc-x"}
CITIES = ("Denver", "Austin", "Boise", "Tampa", "Omaha", "Chicago")


@pytest.fixture(scope="module")
def dentists(own_sites: Callable[[str], list[str]]) -> list[str]:
    return [site for city in CITIES for site in own_sites(f"dentists in {city}")]


def _with(sites: list[str], **draws: object) -> list[str]:
    """Sites whose draws match (only to find examples; assertions read what is served)."""
    return [s for s in sites if all(getattr(plan_site(_host(s)), k) == v for k, v in draws.items())]


def _host(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[0]


@pytest.fixture
def firecrawl(sandbox_url: str) -> AsyncFirecrawl:
    return AsyncFirecrawl(api_key="fc-x", api_url=sandbox_url)


async def test_map_lists_pages_with_titles_and_honours_limit_and_search(
    firecrawl: AsyncFirecrawl, dentists: list[str]
) -> None:
    site = _with(dentists, health="ok")[0]
    mapped = await firecrawl.map(site, limit=4)
    assert len(mapped.links) == 4
    assert all(link.url.startswith(("http://", "https://")) and link.title for link in mapped.links)
    every = await firecrawl.map(site)
    assert len(every.links) >= 6 and mapped.links[0].url == site
    about = await firecrawl.map(site, search="about")
    assert about.links and all("about" in (link.url + (link.title or "")).lower() for link in about.links)


async def test_sdk_reads_every_format_and_the_metadata(
    firecrawl: AsyncFirecrawl, dentists: list[str]
) -> None:
    site = _with(dentists, health="ok", builder="wordpress", description="all")[0]
    doc = await firecrawl.scrape(site, formats=["markdown", "html", "rawHtml", "links", "summary", "images"])
    assert doc.markdown and doc.markdown.lstrip().startswith(("[Skip to content]", "#"))
    assert doc.html and "<main" in doc.html and "<script" not in doc.html and "<head" not in doc.html
    assert doc.raw_html and doc.raw_html.startswith("<!DOCTYPE html>") and "<head>" in doc.raw_html
    assert doc.links and all(link.startswith(("http", "mailto:", "tel:")) for link in doc.links)
    assert doc.summary
    meta = doc.metadata
    assert meta is not None
    assert meta.title and meta.title in doc.raw_html
    assert meta.description and meta.language == "en-US"
    assert meta.og_title == meta.title and meta.og_site_name
    assert meta.source_url == site and meta.url == site
    assert meta.status_code == 200 and meta.content_type == "text/html; charset=utf-8"
    assert meta.scrape_id and meta.credits_used == 1 and meta.proxy_used == "basic"
    extra = meta.model_dump()
    assert extra["viewport"] == "width=device-width, initial-scale=1"
    assert extra["generator"].startswith("WordPress")


async def test_only_main_content_strips_header_nav_and_footer_raw_html_keeps_them(
    firecrawl: AsyncFirecrawl, dentists: list[str]
) -> None:
    site = next(s for s in _with(dentists, health="ok") if plan_site(_host(s)).copyright != "none")
    main = await firecrawl.scrape(site, formats=["markdown", "links", "rawHtml"])
    whole = await firecrawl.scrape(site, formats=["markdown", "links"], only_main_content=False)
    assert main.raw_html and ("©" in main.raw_html or "Copyright" in main.raw_html)
    assert main.markdown and "©" not in main.markdown  # the footer's copyright line is gone
    assert whole.markdown and "©" in whole.markdown
    footer_links = set(whole.links or []) - set(main.links or [])
    assert footer_links, "navigation and footer links come back only without onlyMainContent"
    assert len(whole.markdown) > len(main.markdown)


async def test_include_and_exclude_tags(
    firecrawl: AsyncFirecrawl, dentists: list[str], sandbox_url: str
) -> None:
    site = _with(dentists, health="ok")[0]
    footer_only = await firecrawl.scrape(site, formats=["markdown"], include_tags=["footer", "#footer"])
    assert footer_only.markdown and "Hours" in footer_only.markdown
    assert "Our Services" not in footer_only.markdown
    no_headings = await firecrawl.scrape(site, formats=["markdown"], exclude_tags=["h1", "h2", "h3"])
    assert no_headings.markdown and "\n#" not in "\n" + no_headings.markdown
    bad = HTTP.post(f"{sandbox_url}/v2/scrape", json={"url": site, "excludeTags": ["a[["]}, headers=FC)
    assert bad.status_code == 400 and bad.json()["success"] is False and "excludeTags" in bad.json()["error"]
    unknown = HTTP.post(f"{sandbox_url}/v2/scrape", json={"url": site, "formats": ["pdf"]}, headers=FC)
    assert unknown.status_code == 400 and "pdf" in unknown.json()["error"]


async def test_missing_page_is_a_404_document(firecrawl: AsyncFirecrawl, dentists: list[str]) -> None:
    doc = await firecrawl.scrape(
        _with(dentists, health="ok")[0].rstrip("/") + "/no-such-page", formats=["markdown"]
    )
    assert doc.metadata is not None and doc.metadata.status_code == 404
    assert doc.metadata.model_dump()["error"] == "Not Found"
    assert doc.markdown and "not found" in doc.markdown.lower()


async def test_http_redirects_to_https_and_http_only_sites_fail_over_https(
    firecrawl: AsyncFirecrawl, dentists: list[str], sandbox_url: str
) -> None:
    secure = _with(dentists, health="ok", http_only=False)[0]
    doc = await firecrawl.scrape(secure.replace("https://", "http://"), formats=["links"])
    assert doc.metadata is not None and doc.metadata.url == secure
    assert doc.metadata.source_url == secure.replace("https://", "http://")
    plain = _with(dentists, health="ok", http_only=True)[0]
    assert plain.startswith("http://")
    assert (await firecrawl.scrape(plain, formats=["markdown"])).metadata.status_code == 200  # type: ignore[union-attr]
    refused = HTTP.post(
        f"{sandbox_url}/v2/scrape", json={"url": plain.replace("http://", "https://")}, headers=FC
    )
    assert refused.status_code == 500
    assert refused.json() == {
        "success": False,
        "code": "SCRAPE_SITE_ERROR",
        "error": "Specified URL is failing to load in the browser. Error code: ERR_CONNECTION_REFUSED",
    }


async def test_unreachable_site_is_firecrawls_error(
    firecrawl: AsyncFirecrawl, dentists: list[str], sandbox_url: str
) -> None:
    down = _with(dentists, health="down")
    assert down, "the world should hold some sites that do not answer"
    response = HTTP.post(f"{sandbox_url}/v2/scrape", json={"url": down[0]}, headers=FC)
    body = response.json()
    assert response.status_code == 500 and body["success"] is False
    assert body["code"] in ("SCRAPE_SITE_ERROR", "SCRAPE_DNS_RESOLUTION_ERROR")
    assert body["error"].startswith(
        ("Specified URL is failing to load", "DNS resolution failed for hostname")
    )
    with pytest.raises(Exception, match=r"failing to load|DNS resolution failed"):
        await firecrawl.scrape(down[0])
    assert (await firecrawl.map(down[0])).links == []
    social = HTTP.post(f"{sandbox_url}/v2/scrape", json={"url": "https://www.facebook.com/acme"}, headers=FC)
    assert social.status_code == 403 and social.json()["code"] == "WEBSITE_NOT_SUPPORTED"


async def test_batch_scrape_with_pagination(firecrawl: AsyncFirecrawl, dentists: list[str]) -> None:
    urls = []
    for site in _with(dentists, health="ok")[:3]:
        mapped = await firecrawl.map(site)
        urls += [link.url for link in mapped.links]
    job = await firecrawl.batch_scrape(urls, formats=["markdown"], poll_interval=1)
    assert job.status == "completed"
    assert len(urls) > 10  # more than one status page
    assert len(job.data) == job.total == len(urls)
    assert {d.metadata.source_url for d in job.data if d.metadata} == set(urls)


async def test_crawl_honours_paths_limit_and_links_only(
    firecrawl: AsyncFirecrawl, dentists: list[str]
) -> None:
    site = _with(dentists, health="ok", builder="squarespace")[0]
    job = await firecrawl.crawl(
        url=site,
        include_paths=["^/(about|contact|services|meet)"],
        exclude_paths=["^/meet"],
        limit=10,
        scrape_options=ScrapeOptions(formats=["links"]),
        poll_interval=1,
    )
    assert job.status == "completed"
    paths = ["/" + (d.metadata.url or "").split("/", 3)[-1] if d.metadata else "" for d in job.data]
    assert paths[0] == "/"
    assert len(paths) > 1 and all(p.startswith(("/about", "/contact", "/services")) for p in paths[1:])
    assert all(d.markdown is None and d.links is not None for d in job.data)
    limited = await firecrawl.crawl(url=site, limit=2, poll_interval=1)
    assert len(limited.data) == 2


async def test_flaky_site_fails_then_succeeds(sandbox_url: str, dentists: list[str]) -> None:
    flaky = _with(dentists, health="flaky")
    assert flaky
    url = flaky[0].rstrip("/") + "/no-such-page-either"
    first = HTTP.post(f"{sandbox_url}/v2/scrape", json={"url": url}, headers=FC)
    second = HTTP.post(f"{sandbox_url}/v2/scrape", json={"url": url}, headers=FC)
    assert (first.status_code, second.status_code) == (500, 200)
    assert first.json()["code"] == "SCRAPE_ALL_ENGINES_FAILED"


def test_down_domain_knob_and_auth(sandbox_config: object, dentists: list[str]) -> None:
    url = sandbox_config.url  # type: ignore[attr-defined]
    site = _with(dentists, health="ok")[0]
    sandbox_config.configure(down_domains=[_host(site).removeprefix("www.")])  # type: ignore[attr-defined]
    response = HTTP.post(f"{url}/v2/scrape", json={"url": site}, headers=FC)
    assert response.status_code == 500 and response.json()["code"] == "SCRAPE_SITE_ERROR"
    unauthorised = HTTP.post(f"{url}/v2/scrape", json={"url": site}, headers={"Authorization": "Bearer x"})
    assert unauthorised.status_code == 401 and unauthorised.json() == {
        "success": False,
        "error": "Unauthorized: Invalid token",
    }
