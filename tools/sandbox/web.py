"""The sandbox's web: sites as sets of served HTML pages, and what fetching a URL from them gives.

Both worlds (the synthetic one and a recorded one) hand their sites over in this shape, and every
reader goes through `fetch`: the Firecrawl emulator, `map`, and the ground truth. So what the
truth says about a site is what a browser would have been served.

A site answers on its canonical host (as Places lists it, with or without `www.`); the other
spelling and plain `http://` redirect there, as hosting does, unless the site is served only over
HTTP, in which case `https://` cannot connect. A path is looked up without its trailing slash and
answered at the page's own spelling (`/about-us` redirects to `/about-us/` on WordPress); an
unknown path gets the site's 404 page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlsplit

CONTENT_TYPE = "text/html; charset=utf-8"
INDEX_FILES = frozenset({"index.html", "index.htm"})


def bare_host(host: str) -> str:
    return host.lower().removeprefix("www.")


def page_key(path: str) -> str:
    """The lookup key of a path: no trailing slash (except the root), no query or fragment."""
    path = path.split("?", 1)[0].split("#", 1)[0] or "/"
    return path.rstrip("/") or "/"


@dataclass(frozen=True)
class Page:
    path: str  # as the site links it: "/", "/about-us/", "/about.html"
    html: str
    status: int = 200
    slow: bool = False  # takes seconds to render (Firecrawl's scrape of it is slow)


@dataclass
class Site:
    host: str  # canonical host as served, may carry www.
    pages: dict[str, Page] = field(default_factory=dict)  # page_key(path) -> page
    not_found_html: str = (
        "<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"
    )
    http_only: bool = False
    down: bool = False  # nothing answers at all
    down_error: str = "ERR_CONNECTION_REFUSED"
    flaky: bool = False  # every other load of a page fails (an overloaded host)

    @property
    def domain(self) -> str:
        return bare_host(self.host)

    @property
    def scheme(self) -> str:
        return "http" if self.http_only else "https"

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://{self.host}{path}"

    def add(self, page: Page) -> None:
        self.pages[page_key(page.path)] = page

    def page(self, path: str) -> Page | None:
        return self.lookup(path)[0]

    def lookup(self, path: str) -> tuple[Page | None, bool]:
        """The page at `path`, and whether it was found under another name of its file: a static
        host serves a folder's index file at its own name, and about.html at /about.html too."""
        key = page_key(path)
        found = self.pages.get(key)
        if found is not None:
            return found, False
        name = key.rsplit("/", 1)[-1]
        if name in INDEX_FILES:
            found = self.pages.get(key.rsplit("/", 1)[0] or "/")
        elif name.endswith(".html"):
            found = self.pages.get(key.removesuffix(".html"))
        return found, found is not None

    def readable_pages(self) -> list[Page]:
        """The pages the site publishes (its sitemap): every page that answers 2xx."""
        return [p for p in self.pages.values() if 200 <= p.status < 300]


class Unreachable(Exception):
    """Nothing answered: a browser shows a network error (`code`, as Chrome names it)."""

    def __init__(self, code: str, host: str) -> None:
        super().__init__(code)
        self.code, self.host = code, host


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    status: int
    html: str
    page: Page | None  # None: the site's 404 page
    content_type: str = CONTENT_TYPE

    @property
    def reason(self) -> str:
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return ""


def fetch(site: Site, url: str) -> Fetched:
    """What a browser gets for `url` from `site`, redirects followed (raises Unreachable)."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if site.down:
        raise Unreachable(site.down_error, parts.hostname or site.host)
    if parts.scheme == "https" and site.http_only:
        raise Unreachable("ERR_CONNECTION_REFUSED", parts.hostname or site.host)
    page, by_file_name = site.lookup(parts.path or "/")
    query = f"?{parts.query}" if parts.query else ""
    if page is None:
        return Fetched(site.url((parts.path or "/") + query), 404, site.not_found_html, None)
    served_at = parts.path if by_file_name else page.path
    return Fetched(site.url(served_at + query), page.status, page.html, page)
