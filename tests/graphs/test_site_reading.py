"""Reading a site for its audit (graphs/site_reading.py) against a stand-in Firecrawl client that
answers as Firecrawl does: a page Firecrawl failed to load has an error and no status; a page the
site answered 404 has its status."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from urllib.parse import urlsplit

from graphs.site_reading import read_site
from tools.firecrawl import ScrapedDocument

FLAKY = "All scraping engines failed! -- Double check the URL to make sure it's not broken."
REFUSED = "Specified URL is failing to load in the browser. Error code: ERR_CONNECTION_REFUSED"


def html(body: str) -> str:
    return f"<html><head><title>t</title></head><body>{body}</body></html>"


class FakeFirecrawl:
    """Pages by URL; `flaky` fails every first load of a page; `http_only` refuses https."""

    def __init__(
        self, pages: dict[str, str], *, flaky: bool = False, http_only: bool = False, down: bool = False
    ) -> None:
        self.pages, self.flaky, self.http_only, self.down = pages, flaky, http_only, down
        self.loads: Counter[str] = Counter()

    def _doc(self, url: str) -> ScrapedDocument:
        self.loads[url] += 1
        scheme = urlsplit(url).scheme
        if self.down or (self.http_only and scheme == "https") or (self.flaky and self.loads[url] % 2 == 1):
            reason = FLAKY if self.flaky and not self.down else REFUSED
            return ScrapedDocument(url, None, None, (), None, error=reason, requested_url=url)
        path = urlsplit(url).path or "/"
        body = self.pages.get(path)
        if body is None:
            return ScrapedDocument(url, "404", "", (), 404, error="Not Found", requested_url=url)
        return ScrapedDocument(url, "t", body, (), 200, raw_html=html(body), requested_url=url)

    async def batch_scrape(self, urls: Iterable[str], **_: object) -> list[ScrapedDocument]:
        return [self._doc(u) for u in urls]

    async def scrape(self, url: str, **_: object) -> ScrapedDocument:
        return self._doc(url)


HOME = "https://acme.com/"
PAGES = {"/": '<a href="/pricing">Pricing</a><a href="/specials">Specials</a>', "/pricing": "<p>$99</p>"}


async def test_a_page_that_fails_once_is_read_on_its_second_try() -> None:
    fc = FakeFirecrawl(PAGES, flaky=True)
    reading = await read_site(fc, HOME, [HOME, HOME + "pricing"], [HOME, HOME + "pricing"], limit=10)  # type: ignore[arg-type]
    assert reading.down is None
    assert [d.url for d in reading.pages] == [HOME, HOME + "pricing"]
    assert fc.loads[HOME] == 2 and fc.loads[HOME + "pricing"] == 2


async def test_a_site_that_never_loads_is_down_with_firecrawls_reason() -> None:
    fc = FakeFirecrawl(PAGES, down=True)
    reading = await read_site(fc, HOME, [HOME], [HOME], limit=10)  # type: ignore[arg-type]
    assert reading.down == REFUSED and not reading.pages
    assert fc.loads[HOME] == 2 and fc.loads["http://acme.com/"] == 2  # https, then http, twice each


async def test_a_site_served_only_over_http_is_read_over_http_and_flagged() -> None:
    fc = FakeFirecrawl(PAGES, http_only=True)
    reading = await read_site(fc, HOME, [HOME, HOME + "pricing"], [HOME, HOME + "pricing"], limit=10)  # type: ignore[arg-type]
    assert reading.down is None and reading.http_only
    assert [d.url for d in reading.pages] == ["http://acme.com/", "http://acme.com/pricing"]


async def test_own_links_the_map_did_not_list_are_checked_and_the_home_links_stand_in_for_a_map() -> None:
    fc = FakeFirecrawl(PAGES)
    reading = await read_site(fc, HOME, [HOME], [HOME], limit=10)  # type: ignore[arg-type]
    assert [d.url for d in reading.pages] == [HOME, HOME + "pricing"]  # found through the homepage
    assert reading.link_statuses == {HOME + "specials": 404}
