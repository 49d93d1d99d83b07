"""Firecrawl v2 emulator driven by the official SDK (AsyncFirecrawl), unchanged."""

from __future__ import annotations

import httpx
import pytest
from firecrawl import AsyncFirecrawl
from firecrawl.v2.types import ScrapeOptions

from tools.sandbox import world

# One client per module: building a client (and its TLS context) per request is slow.
HTTP = httpx.Client(timeout=10)


def _own_sites(status: str = "ok") -> list[str]:
    sites = []
    for city in ("Denver", "Austin", "Boise", "Tampa", "Omaha", "Chicago"):
        for business in world.search(f"dentists in {city}"):
            domain = business.own_domain
            if domain and world.site_profile(domain.removeprefix("www.")).status == status:
                sites.append(str(business.website))
    return sites


@pytest.fixture
def firecrawl(sandbox_url: str) -> AsyncFirecrawl:
    return AsyncFirecrawl(api_key="fc-x", api_url=sandbox_url)


async def test_map_links_are_objects_and_honour_limit_and_search(firecrawl: AsyncFirecrawl) -> None:
    site = _own_sites()[0]
    mapped = await firecrawl.map(site, limit=4)
    assert len(mapped.links) == 4
    assert all(link.url.startswith(("http://", "https://")) and link.title for link in mapped.links)
    about = await firecrawl.map(site, search="about")
    assert about.links and all("about" in (link.url + (link.title or "")).lower() for link in about.links)


async def test_scrape_markdown_links_metadata(firecrawl: AsyncFirecrawl, sandbox: object) -> None:
    site = _own_sites()[0]
    doc = await firecrawl.scrape(site, formats=["markdown", "links"])
    assert doc.markdown and doc.markdown.startswith("# ")
    assert doc.links
    assert doc.metadata is not None and doc.metadata.status_code == 200
    assert doc.metadata.source_url == site and doc.metadata.title
    truth = sandbox.truth(site.split("://")[1].split("/")[0])  # type: ignore[attr-defined]
    assert doc.metadata.title == truth["pages"][0]["title"]


async def test_missing_page_is_a_404_document(firecrawl: AsyncFirecrawl) -> None:
    doc = await firecrawl.scrape(_own_sites()[0].rstrip("/") + "/no-such-page", formats=["markdown"])
    assert doc.metadata is not None and doc.metadata.status_code == 404


async def test_batch_scrape_with_pagination(firecrawl: AsyncFirecrawl) -> None:
    urls = []
    for site in _own_sites()[:3]:
        mapped = await firecrawl.map(site)
        urls += [link.url for link in mapped.links]
    job = await firecrawl.batch_scrape(urls, formats=["markdown"], poll_interval=1)
    assert job.status == "completed"
    assert len(urls) > 10  # more than one status page
    assert len(job.data) == job.total == len(urls)


async def test_crawl_honours_paths_limit_and_links_only(firecrawl: AsyncFirecrawl) -> None:
    site = _own_sites()[1]
    job = await firecrawl.crawl(
        url=site,
        include_paths=["^/(about|contact|services|team)"],
        exclude_paths=["^/team"],
        limit=10,
        scrape_options=ScrapeOptions(formats=["links"]),
        poll_interval=1,
    )
    assert job.status == "completed"
    paths = ["/" + (d.metadata.url or "").split("/", 3)[-1] if d.metadata else "" for d in job.data]
    assert paths[0] in ("/", "/" + site.split("/", 3)[-1])
    assert all(p == paths[0] or p.startswith(("/about", "/contact", "/services")) for p in paths)
    assert all(d.markdown is None and d.links is not None for d in job.data)
    limited = await firecrawl.crawl(url=site, limit=2, poll_interval=1)
    assert len(limited.data) == 2


async def test_down_site_and_social_pages_fail_like_firecrawl(
    firecrawl: AsyncFirecrawl, sandbox_url: str
) -> None:
    down = _own_sites("down")
    assert down, "the world should hold some down sites"
    response = HTTP.post(
        f"{sandbox_url}/v2/scrape", json={"url": down[0]}, headers={"Authorization": "Bearer fc-x"}
    )
    assert response.status_code == 500 and response.json()["success"] is False
    with pytest.raises(Exception, match="failing to load"):
        await firecrawl.scrape(down[0])
    social = HTTP.post(
        f"{sandbox_url}/v2/scrape",
        json={"url": "https://www.facebook.com/acme"},
        headers={"Authorization": "Bearer fc-x"},
    )
    assert social.status_code == 403


async def test_flaky_site_fails_then_succeeds(sandbox_url: str) -> None:
    flaky = _own_sites("flaky")
    assert flaky
    headers = {"Authorization": "Bearer fc-x"}
    url = flaky[0].rstrip("/") + "/about"
    first = HTTP.post(f"{sandbox_url}/v2/scrape", json={"url": url}, headers=headers)
    second = HTTP.post(f"{sandbox_url}/v2/scrape", json={"url": url}, headers=headers)
    assert (first.status_code, second.status_code) == (500, 200)


def test_down_domain_knob_and_auth(sandbox_config: object) -> None:
    url = sandbox_config.url  # type: ignore[attr-defined]
    site = _own_sites()[0]
    domain = site.split("://")[1].split("/")[0].removeprefix("www.")
    sandbox_config.configure(down_domains=[domain])  # type: ignore[attr-defined]
    response = HTTP.post(f"{url}/v2/scrape", json={"url": site}, headers={"Authorization": "Bearer fc-x"})
    assert response.status_code == 500
    unauthorised = HTTP.post(f"{url}/v2/scrape", json={"url": site}, headers={"Authorization": "Bearer x"})
    assert unauthorised.status_code == 401 and unauthorised.json() == {
        "success": False,
        "error": "Unauthorized: Invalid token",
    }
