"""Reading one site for its audit through Firecrawl: the pages chosen, whole, and what the checks
need besides them (whether https answers, what the site's own links answer).

* Pages are scraped whole (`onlyMainContent: false`) with `markdown`, `rawHtml` and `links`:
  copyright lines, phone links and social icons live in headers and footers.
* A page that fails once (Firecrawl could not load it) is tried once more: an overloaded host
  that fails every other request still gets read. A page that answers 4xx/5xx is an answer, not
  a failure, and is not tried again.
* A homepage that cannot be loaded over https is tried over http; one that cannot be loaded at
  all makes the site `down`, with Firecrawl's reason. A homepage served over http whose https
  address does not answer makes the site `http_only`.
* Links to the site's own pages that neither the map listed nor the audit read are checked
  (a few, with the cheapest format) so a broken navigation link is found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from graphs.audit_checks import ScrapedPage, own_links, read_page
from graphs.url_selection import rank_urls, site_candidates, url_key
from tools.firecrawl import FirecrawlClient, FirecrawlError, ScrapedDocument

PAGE_FORMATS = ("markdown", "rawHtml", "links")
MAX_LINK_CHECKS = 8


@dataclass
class SiteReading:
    home: str  # the homepage as read (its scheme may have fallen back to http)
    pages: list[ScrapedDocument] = field(default_factory=list)  # read, homepage first
    http_only: bool = False
    down: str | None = None  # Firecrawl's reason when the homepage could not be loaded at all
    link_statuses: dict[str, int | None] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # url -> reason, pages that never loaded

    def scraped_pages(self) -> list[ScrapedPage]:
        return [
            ScrapedPage(
                url=d.url,
                raw_html=d.raw_html or "",
                status_code=d.status_code,
                title=d.title,
                markdown=d.markdown or "",
                links=d.links,
            )
            for d in self.pages
        ]


def _answered(doc: ScrapedDocument) -> bool:
    """The site answered (any status), as opposed to Firecrawl failing to load the page."""
    return doc.status_code is not None


async def scrape_twice(fc: FirecrawlClient, urls: Sequence[str]) -> list[ScrapedDocument]:
    """Batch-scrape `urls` (one result each, in order); the ones Firecrawl failed to load are
    scraped once more."""
    if not urls:
        return []
    docs = await fc.batch_scrape(urls, formats=PAGE_FORMATS, only_main_content=False)
    again = [i for i, d in enumerate(docs) if not _answered(d)]
    if again:
        retried = await fc.batch_scrape(
            [urls[i] for i in again], formats=PAGE_FORMATS, only_main_content=False
        )
        for i, doc in zip(again, retried, strict=True):
            if _answered(doc) or doc.error:
                docs[i] = doc
    return docs


async def _loads(fc: FirecrawlClient, url: str) -> ScrapedDocument | None:
    """One page, tried twice; None when Firecrawl could not load it either time."""
    for _ in range(2):
        try:
            doc = await fc.scrape(url, formats=("links",), only_main_content=False)
        except FirecrawlError:
            continue
        if _answered(doc):
            return doc
    return None


def _with_scheme(url: str, scheme: str) -> str:
    return urlsplit(url)._replace(scheme=scheme).geturl()


async def read_site(
    fc: FirecrawlClient, home: str, selected: Sequence[str], candidates: Sequence[str], *, limit: int
) -> SiteReading:
    """Read the `selected` pages of the site at `home` (`selected[0]` is the homepage);
    `candidates` are the pages the map listed."""
    reading = SiteReading(home=home)
    docs = await scrape_twice(fc, list(selected))
    first = docs[0]
    if not _answered(first) or (first.status_code or 0) >= 500:
        if urlsplit(home).scheme == "https" and not _answered(first):
            plain = [_with_scheme(u, "http") for u in selected]
            docs_http = await scrape_twice(fc, plain)
            if _answered(docs_http[0]) and (docs_http[0].status_code or 0) < 500:
                docs, first, reading.home = docs_http, docs_http[0], plain[0]
        if not _answered(first) or (first.status_code or 0) >= 500:
            reading.down = first.error or f"the site answered HTTP {first.status_code}"
            return reading
    if urlsplit(first.url).scheme == "http":
        reading.http_only = await _loads(fc, _with_scheme(first.url, "https")) is None
    if len(candidates) <= 1:
        # The map listed nothing beyond the homepage: its links are the candidates.
        more = rank_urls(first.url, site_candidates(first.url, first.links), limit=limit)[1:]
        docs += await scrape_twice(fc, more)
    for doc in docs:
        if doc.ok and (doc.markdown or doc.raw_html):
            reading.pages.append(doc)
        elif _answered(doc):
            reading.link_statuses[doc.requested_url or doc.url] = doc.status_code
        else:
            reading.failed[doc.requested_url or doc.url] = doc.error or "not loaded"
    await _check_links(fc, reading, candidates)
    return reading


async def _check_links(fc: FirecrawlClient, reading: SiteReading, candidates: Sequence[str]) -> None:
    known = {url_key(u) for u in candidates} | {url_key(d.url) for d in reading.pages}
    known |= {url_key(d.requested_url) for d in reading.pages if d.requested_url}
    known |= {url_key(u) for u in reading.link_statuses}
    facts = [read_page(d.url, d.raw_html or "") for d in reading.pages]
    unknown = [link for link in own_links(facts, reading.home) if url_key(link) not in known]
    seen: set[str] = set()
    for link in unknown:
        if len(seen) >= MAX_LINK_CHECKS:
            break
        if url_key(link) in seen:
            continue
        seen.add(url_key(link))
        doc = await _loads(fc, link)
        reading.link_statuses[link] = doc.status_code if doc is not None else None
