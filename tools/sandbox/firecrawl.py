"""Firecrawl v2 at the sandbox root: `/v2/scrape`, `/v2/map`, `/v2/batch/scrape`, `/v2/crawl`.

Pages come from the world's sites (web.py) as HTML, and are treated as Firecrawl treats real
pages (firecrawl_transform.py): `formats` (`markdown`, `html`, `rawHtml`, `links`, `images`,
`summary`, `json`, `screenshot`: drawn by a real browser, screenshots.py), `onlyMainContent` (default true), `includeTags` / `excludeTags`, and the
metadata read from the page (title, description, language, og tags, every named `<meta>`) plus
`sourceURL` (as requested), `url` (after redirects), `statusCode`, `contentType`, `scrapeId`,
`proxyUsed`, `cacheState`, `creditsUsed`. A page that answers 404 is a successful scrape whose
`metadata.statusCode` is 404 (and `metadata.error` its reason); a host that does not answer is
Firecrawl's error: HTTP 500 with `{"success": false, "code": "SCRAPE_SITE_ERROR" |
"SCRAPE_DNS_RESOLUTION_ERROR", "error": ...}`. A site served only over HTTP cannot be reached over
https (connection refused); `http://` on any other site redirects to `https://`.

Batch and crawl jobs are finished "in the background" by time alone: a job reports `scraping`
until its simulated duration (scaled by `latency_scale`) has passed, then `completed`, so with
latency 0 the SDK's first poll sees the result. Status pages hold at most `STATUS_PAGE_SIZE`
documents and point to the next with `next`.

Flaky sites fail every other scrape of a page; social and aggregator pages are refused like
Firecrawl refuses them; domains in the `down_domains` knob do not answer.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from html import escape
from typing import Any
from urllib.parse import urljoin, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tools.sandbox.faults import SLOW_PAGE_EXTRA_MS, unit_draw
from tools.sandbox.firecrawl_transform import BadSelector, Transformed, extract_metadata, transform
from tools.sandbox.planted_text import planted_for, with_planted_text
from tools.sandbox.screenshots import (
    MEDIA_PATH,
    MediaStore,
    ScreenshotOptions,
    ScreenshotUnavailable,
    render_png,
)
from tools.sandbox.web import Fetched, Site, Unreachable, bare_host, fetch, page_key
from tools.sandbox.world import social_or_aggregator

STATUS_PAGE_SIZE = 10
FLAKY_ERROR = "All scraping engines failed! -- Double check the URL to make sure it's not broken."
UNSUPPORTED_ERROR = (
    "We apologize for the inconvenience but we do not support this site. If you are part of an "
    "enterprise and want to have a further discussion about this, please contact help@firecrawl.com."
)
DOC_SECONDS = (0.6, 2.5)  # simulated seconds per page in a job, before latency_scale
KNOWN_FORMATS = frozenset(
    {
        "markdown",
        "html",
        "rawHtml",
        "links",
        "images",
        "screenshot",
        "summary",
        "json",
        "changeTracking",
        "branding",
    }
)


def site_error(code: str) -> str:
    return f"Specified URL is failing to load in the browser. Error code: {code}"


def dns_error(host: str) -> str:
    return f"DNS resolution failed for hostname: {host}. Please check if the domain is valid and accessible."


class ScrapeFailure(Exception):
    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


@dataclass(frozen=True)
class ScrapeOptions:
    formats: frozenset[str]
    json_schema: dict[str, Any] | None = None
    only_main_content: bool = True
    include_tags: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()
    screenshot: ScreenshotOptions | None = None

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> ScrapeOptions:
        """The scrape options of a request body (ValueError names what is wrong)."""
        raw_formats = body.get("formats")
        if raw_formats is None:
            raw_formats = ["markdown"]
        if not isinstance(raw_formats, list):
            raise ValueError("formats must be an array")
        names: set[str] = set()
        schema: dict[str, Any] | None = None
        screenshot: ScreenshotOptions | None = None
        for item in raw_formats:
            name = item if isinstance(item, str) else item.get("type") if isinstance(item, dict) else None
            if name not in KNOWN_FORMATS:
                raise ValueError(
                    f"formats: unknown format {name!r}; one of {', '.join(sorted(KNOWN_FORMATS))}"
                )
            names.add(str(name))
            if isinstance(item, dict) and isinstance(item.get("schema"), dict):
                schema = item["schema"]
            if name == "screenshot":
                screenshot = ScreenshotOptions.from_format(item)
        tags: dict[str, tuple[str, ...]] = {}
        for option in ("includeTags", "excludeTags"):
            value = body.get(option) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{option} must be an array of CSS selectors")
            tags[option] = tuple(value)
        only_main = body.get("onlyMainContent", True)
        if not isinstance(only_main, bool):
            raise ValueError("onlyMainContent must be a boolean")
        return cls(frozenset(names), schema, only_main, tags["includeTags"], tags["excludeTags"], screenshot)


@dataclass
class Job:
    id: str
    kind: str  # crawl | batch
    documents: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    total: int
    created: float
    ready_at: float
    cancelled: bool = False
    invalid_urls: list[str] = field(default_factory=list)


class FirecrawlStore:
    """Jobs, per-page attempt counts (for flaky sites), converted pages and idempotency keys of
    one sandbox."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.attempts: Counter[str] = Counter()
        self.idempotency_keys: set[str] = set()
        self.media = MediaStore()
        self.converted: dict[tuple[Any, ...], Transformed] = {}
        self.metadata: dict[str, dict[str, Any]] = {}


def _fc_error(status: int, message: str, code: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"success": False}
    if code:
        body["code"] = code
    body["error"] = message
    return JSONResponse(body, status_code=status)


def _unauthorized(request: Request) -> JSONResponse | None:
    auth = request.headers.get("authorization", "")
    revoked = auth.removeprefix("Bearer ") in request.app.state.sandbox.config.revoked_keys
    if not auth.startswith("Bearer fc-") or revoked:
        return _fc_error(401, "Unauthorized: Invalid token")
    return None


def _store(request: Request) -> FirecrawlStore:
    stores = request.app.state.sandbox.stores
    store: FirecrawlStore = stores.setdefault("firecrawl", FirecrawlStore())
    return store


class Scraper:
    """Turns a URL into a Firecrawl Document (or a ScrapeFailure) from the world's web."""

    def __init__(self, request: Request) -> None:
        self.state = request.app.state.sandbox
        self.store = _store(request)
        self.base_url = str(request.base_url).rstrip("/")
        # Documents that asked for a screenshot, with the HTML the browser is to draw.
        self.to_render: list[tuple[dict[str, Any], str, str, ScreenshotOptions]] = []

    def site_for(self, url: str) -> tuple[Site, str]:
        """The site a URL names (ScrapeFailure for a bad URL, a refused or unknown host)."""
        parts = urlsplit(url if "://" in url else f"https://{url}")
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host or "." not in host:
            raise ScrapeFailure(400, f"Bad Request: invalid URL: {url}", "BAD_REQUEST")
        if social_or_aggregator(host):
            raise ScrapeFailure(403, UNSUPPORTED_ERROR, "WEBSITE_NOT_SUPPORTED")
        site = self.state.world.site(host)
        if site is None:
            raise ScrapeFailure(500, dns_error(host), "SCRAPE_DNS_RESOLUTION_ERROR")
        return site, parts.path or "/"

    def load(self, url: str) -> tuple[Site, Fetched]:
        """Load `url` as a browser would (ScrapeFailure when nothing answers)."""
        site, _ = self.site_for(url)
        down = {bare_host(d) for d in self.state.config.down_domains}
        if site.domain in down:
            raise ScrapeFailure(500, site_error("ERR_CONNECTION_REFUSED"), "SCRAPE_SITE_ERROR")
        try:
            fetched = fetch(site, url if "://" in url else f"https://{url}")
        except Unreachable as exc:
            if exc.code == "ERR_NAME_NOT_RESOLVED":
                raise ScrapeFailure(500, dns_error(exc.host), "SCRAPE_DNS_RESOLUTION_ERROR") from exc
            raise ScrapeFailure(500, site_error(exc.code), "SCRAPE_SITE_ERROR") from exc
        if site.flaky:
            key = urlsplit(fetched.url)._replace(scheme="", query="", fragment="").geturl()
            self.store.attempts[key] += 1
            if self.store.attempts[key] % 2 == 1:
                raise ScrapeFailure(500, FLAKY_ERROR, "SCRAPE_ALL_ENGINES_FAILED")
        planted = planted_for(self.state.config, site.domain)
        if planted:
            fetched = replace(fetched, html=with_planted_text(fetched.html, planted))
        return site, fetched

    def _converted(self, fetched: Fetched, options: ScrapeOptions) -> Transformed:
        key = (
            fetched.url,
            fetched.status,
            hash(fetched.html),  # planted text changes a page without changing its address
            options.only_main_content,
            options.include_tags,
            options.exclude_tags,
        )
        if key not in self.store.converted:
            try:
                self.store.converted[key] = transform(
                    fetched.html,
                    fetched.url,
                    only_main_content=options.only_main_content,
                    include_tags=list(options.include_tags),
                    exclude_tags=list(options.exclude_tags),
                )
            except BadSelector as exc:
                raise ScrapeFailure(400, f"Bad Request: {exc}", "BAD_REQUEST") from exc
        return self.store.converted[key]

    def page_metadata(self, fetched: Fetched) -> dict[str, Any]:
        if fetched.url not in self.store.metadata or fetched.page is None:
            self.store.metadata[fetched.url] = extract_metadata(fetched.html, fetched.url)
        return dict(self.store.metadata[fetched.url])

    def document(self, url: str, options: ScrapeOptions) -> dict[str, Any]:
        _, fetched = self.load(url)
        formats = options.formats
        converted = (
            self._converted(fetched, options)
            if formats & {"markdown", "html", "links", "images", "summary", "json"}
            else Transformed("", "", [])
        )
        doc: dict[str, Any] = {}
        if "markdown" in formats:
            doc["markdown"] = converted.markdown
        if "summary" in formats:
            doc["summary"] = " ".join(re.sub(r"[#*_>\[\]()]", " ", converted.markdown).split())[:300]
        if "html" in formats:
            doc["html"] = converted.html
        if "rawHtml" in formats:
            doc["rawHtml"] = fetched.html
        if "links" in formats:
            doc["links"] = converted.links
        if "images" in formats:
            # Firecrawl lists them as absolute URLs, from the (main-content) HTML it returns.
            found = re.findall(r'<img[^>]+src="([^"]+)"', converted.html)
            doc["images"] = list(dict.fromkeys(urljoin(url, src) for src in found))
        metadata = self.page_metadata(fetched)
        if "json" in formats:
            doc["json"] = _json_extract(options.json_schema, metadata, converted)
        metadata.update(
            {
                "sourceURL": url,
                "url": fetched.url,
                "statusCode": fetched.status,
                "contentType": fetched.content_type,
                "proxyUsed": "basic",
                "cacheState": "miss",
                "scrapeId": str(uuid.uuid4()),
                "creditsUsed": 1,
            }
        )
        if fetched.status >= 400:
            metadata["error"] = fetched.reason
        doc["metadata"] = metadata
        if options.screenshot is not None:
            self.to_render.append((doc, url, _with_base(fetched.html, fetched.url), options.screenshot))
        return doc

    async def render_screenshots(self) -> list[tuple[dict[str, Any], str, str]]:
        """Draw every pending screenshot and put its address in its document; the documents that
        could not be drawn, with their URL and the reason."""
        failed: list[tuple[dict[str, Any], str, str]] = []
        pending, self.to_render = self.to_render, []
        for doc, url, html, options in pending:
            try:
                name = self.store.media.add(await render_png(html, options))
            except ScreenshotUnavailable as exc:
                failed.append((doc, url, f"All scraping engines failed! -- screenshot: {exc}"))
                continue
            doc["screenshot"] = f"{self.base_url}{MEDIA_PATH}/{name}"
        return failed

    def is_slow(self, url: str) -> bool:
        try:
            site, path = self.site_for(url)
        except ScrapeFailure:
            return False
        page = site.page(path)
        return page is not None and page.slow

    def page_seconds(self, url: str) -> float:
        """Simulated time to scrape `url` (before latency_scale), slow pages included."""
        low, high = DOC_SECONDS
        seconds = low + (high - low) * unit_draw("fc-doc", url)
        if self.is_slow(url):
            seconds += SLOW_PAGE_EXTRA_MS[1] / 1000
        return seconds


def _json_extract(
    schema: dict[str, Any] | None, metadata: dict[str, Any], converted: Transformed
) -> dict[str, Any]:
    """A literal extraction (no model): schema properties filled from what the page states."""
    phones = [link.removeprefix("tel:") for link in converted.links if link.startswith("tel:")]
    emails = [link.removeprefix("mailto:") for link in converted.links if link.startswith("mailto:")]
    found: dict[str, Any] = {
        "name": metadata.get("ogSiteName") or metadata.get("title"),
        "title": metadata.get("title"),
        "description": metadata.get("description"),
        "phone": phones[0] if phones else None,
        "email": emails[0] if emails else None,
    }
    properties = (schema or {}).get("properties")
    if not isinstance(properties, dict):
        return {k: v for k, v in found.items() if v is not None}
    out: dict[str, Any] = {}
    for name in properties:
        lowered = str(name).lower()
        out[name] = next((v for k, v in found.items() if k in lowered), None)
    return out


async def _json_body(request: Request) -> dict[str, Any] | JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        return _fc_error(400, "Bad Request: invalid JSON body")
    if not isinstance(body, dict):
        return _fc_error(400, "Bad Request: expected a JSON object")
    return body


async def scrape(request: Request) -> JSONResponse:
    if denied := _unauthorized(request):
        return denied
    body = await _json_body(request)
    if isinstance(body, JSONResponse):
        return body
    url = body.get("url")
    if not isinstance(url, str) or not url:
        return _fc_error(400, "Bad Request: url is required", "BAD_REQUEST")
    try:
        options = ScrapeOptions.from_body(body)
    except ValueError as exc:
        return _fc_error(400, f"Bad Request: {exc}", "BAD_REQUEST")
    scraper = Scraper(request)
    try:
        doc = scraper.document(url, options)
    except ScrapeFailure as failure:
        return _fc_error(failure.status, failure.message, failure.code)
    if failed := await scraper.render_screenshots():
        return _fc_error(500, failed[0][2], "SCRAPE_ALL_ENGINES_FAILED")
    scale = float(request.scope.get("state", {}).get("latency_scale", 0))
    if scale > 0 and scraper.is_slow(url):
        low, high = SLOW_PAGE_EXTRA_MS
        await asyncio.sleep(scale * (low + (high - low) * unit_draw("slow", url)) / 1000)
    return JSONResponse({"success": True, "data": doc})


async def map_site(request: Request) -> JSONResponse:
    if denied := _unauthorized(request):
        return denied
    body = await _json_body(request)
    if isinstance(body, JSONResponse):
        return body
    url = body.get("url")
    if not isinstance(url, str) or not url:
        return _fc_error(400, "Bad Request: url is required", "BAD_REQUEST")
    scraper = Scraper(request)
    try:
        site, _ = scraper.site_for(url)
    except ScrapeFailure as failure:
        if failure.status == 500:  # an unknown host maps to nothing rather than an error
            return JSONResponse({"success": True, "links": []})
        return _fc_error(failure.status, failure.message, failure.code)
    down = {bare_host(d) for d in scraper.state.config.down_domains}
    if site.down or site.domain in down:
        return JSONResponse({"success": True, "links": []})
    if body.get("sitemap") == "only" and site.flaky:
        return JSONResponse({"success": True, "links": []})  # an overloaded host serves no sitemap
    links = []
    for page in site.readable_pages():
        fetched = fetch(site, site.url(page.path))
        meta = scraper.page_metadata(fetched)
        link = {"url": fetched.url, "title": str(meta.get("title") or "").strip()}
        if isinstance(meta.get("description"), str) and meta["description"].strip():
            link["description"] = meta["description"]
        links.append(link)
    requested_host = (urlsplit(url if "://" in url else f"https://{url}").hostname or "").lower()
    if not body.get("includeSubdomains", True):
        links = [link for link in links if _same_site(link["url"], requested_host)]
    search = str(body.get("search") or "").lower().split()
    if search:
        # Like Firecrawl, `search` ranks links by relevance and keeps only those that match.
        def score(link: dict[str, str]) -> int:
            text = " ".join(link.values()).lower()
            return sum(text.count(word) for word in search)

        links = sorted((link for link in links if score(link)), key=score, reverse=True)
    limit = body.get("limit")
    if isinstance(limit, int) and limit > 0:
        links = links[:limit]
    return JSONResponse({"success": True, "links": links})


def _same_site(url: str, host: str) -> bool:
    link_host = (urlsplit(url).hostname or "").lower()
    return link_host.removeprefix("www.") == host.removeprefix("www.")


async def _new_job(
    request: Request, kind: str, urls: list[str], options: ScrapeOptions, invalid: list[str] | None = None
) -> Job:
    scraper = Scraper(request)
    documents, errors, seconds = [], [], 0.0
    job_id = str(uuid.uuid4())
    for url in urls:
        seconds += scraper.page_seconds(url)
        try:
            documents.append(scraper.document(url, options))
        except ScrapeFailure as failure:
            errors.append(
                {
                    "id": str(uuid.uuid4()),
                    "timestamp": _iso(time.time()),
                    "url": url,
                    "error": failure.message,
                }
            )
    for doc, url, reason in await scraper.render_screenshots():
        documents.remove(doc)
        errors.append({"id": str(uuid.uuid4()), "timestamp": _iso(time.time()), "url": url, "error": reason})
    scale = float(request.scope.get("state", {}).get("latency_scale", 0))
    # Firecrawl scrapes a job's pages a few at a time.
    duration = scale * seconds / 4
    now = time.time()
    job = Job(job_id, kind, documents, errors, len(urls), now, now + duration, invalid_urls=invalid or [])
    _store(request).jobs[job_id] = job
    return job


def _with_base(html: str, url: str) -> str:
    """The page with its own address as base, so the browser resolves its relative links the way
    it would have on the site (the sandbox's browser reaches no host, see screenshots.py)."""
    base = f'<base href="{escape(url, quote=True)}">'
    head = re.search(r"<head[^>]*>", html, re.IGNORECASE)
    return html[: head.end()] + base + html[head.end() :] if head else base + html


async def media(request: Request) -> Response:
    png = _store(request).media.files.get(request.path_params["name"])
    if png is None:
        return JSONResponse({"statusCode": "404", "error": "not_found", "message": "Object not found"}, 404)
    return Response(png, media_type="image/png")


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(seconds))


def _job_status(request: Request, kind: str) -> JSONResponse:
    if denied := _unauthorized(request):
        return denied
    job = _store(request).jobs.get(request.path_params["job_id"])
    if job is None or job.kind != kind:
        return _fc_error(404, "Job not found")
    now = time.time()
    expires = _iso(job.created + 24 * 3600)
    if job.cancelled:
        status, done = "cancelled", len(job.documents)
    elif now < job.ready_at:
        share = (now - job.created) / max(job.ready_at - job.created, 1e-9)
        body = {
            "success": True,
            "status": "scraping",
            "completed": int(share * job.total),
            "total": job.total,
            "creditsUsed": int(share * job.total),
            "expiresAt": expires,
            "data": [],
        }
        return JSONResponse(body)
    else:
        status, done = "completed", len(job.documents)
    skip = int(request.query_params.get("skip", "0") or 0)
    page = job.documents[skip : skip + STATUS_PAGE_SIZE]
    body = {
        "success": True,
        "status": status,
        "completed": done,
        "total": job.total,
        "creditsUsed": done,
        "expiresAt": expires,
        "data": page,
    }
    if skip + STATUS_PAGE_SIZE < len(job.documents):
        path = "batch/scrape" if kind == "batch" else "crawl"
        body["next"] = (
            f"{str(request.base_url).rstrip('/')}/v2/{path}/{job.id}?skip={skip + STATUS_PAGE_SIZE}"
        )
    return JSONResponse(body)


def _job_errors(request: Request, kind: str) -> JSONResponse:
    if denied := _unauthorized(request):
        return denied
    job = _store(request).jobs.get(request.path_params["job_id"])
    if job is None or job.kind != kind:
        return _fc_error(404, "Job not found")
    return JSONResponse({"errors": job.errors, "robotsBlocked": []})


def _job_cancel(request: Request, kind: str) -> JSONResponse:
    if denied := _unauthorized(request):
        return denied
    job = _store(request).jobs.get(request.path_params["job_id"])
    if job is None or job.kind != kind:
        return _fc_error(404, "Job not found")
    if time.time() >= job.ready_at and not job.cancelled:
        return _fc_error(409, "Job already completed")
    job.cancelled = True
    return JSONResponse({"success": True, "status": "cancelled"})


def _idempotency(request: Request) -> JSONResponse | None:
    """Firecrawl's idempotency middleware (job starts): an `x-idempotency-key` must be a UUID
    never seen before, else 409. The key is claimed before the job is even validated, so a start
    that then fails keeps it claimed, as at Firecrawl."""
    key = request.headers.get("x-idempotency-key")
    if not key:
        return None
    store = _store(request)
    try:
        uuid.UUID(key)
    except ValueError:
        return _fc_error(409, "Idempotency key already used")
    if key in store.idempotency_keys:
        return _fc_error(409, "Idempotency key already used")
    store.idempotency_keys.add(key)
    return None


async def batch_start(request: Request) -> JSONResponse:
    if denied := _unauthorized(request):
        return denied
    if used := _idempotency(request):
        return used
    body = await _json_body(request)
    if isinstance(body, JSONResponse):
        return body
    urls = body.get("urls")
    if not isinstance(urls, list) or not urls:
        return _fc_error(400, "Bad Request: urls must be a non-empty array", "BAD_REQUEST")
    valid = [u for u in urls if isinstance(u, str) and re.match(r"^(https?://)?[\w.-]+\.[a-z]{2,}", u)]
    invalid = [str(u) for u in urls if u not in valid]
    if invalid and not body.get("ignoreInvalidURLs"):
        return _fc_error(400, f"Bad Request: invalid URLs: {', '.join(invalid)}", "BAD_REQUEST")
    try:
        options = ScrapeOptions.from_body(body)
    except ValueError as exc:
        return _fc_error(400, f"Bad Request: {exc}", "BAD_REQUEST")
    job = await _new_job(request, "batch", valid, options, invalid)
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        {"success": True, "id": job.id, "url": f"{base}/v2/batch/scrape/{job.id}", "invalidURLs": invalid}
    )


async def crawl_start(request: Request) -> JSONResponse:
    if denied := _unauthorized(request):
        return denied
    if used := _idempotency(request):
        return used
    body = await _json_body(request)
    if isinstance(body, JSONResponse):
        return body
    url = body.get("url")
    if not isinstance(url, str) or not url:
        return _fc_error(400, "Bad Request: url is required", "BAD_REQUEST")
    try:
        include = [re.compile(p) for p in body.get("includePaths") or []]
        exclude = [re.compile(p) for p in body.get("excludePaths") or []]
    except re.error as exc:
        return _fc_error(
            400, f"Bad Request: invalid regex in includePaths/excludePaths: {exc}", "BAD_REQUEST"
        )
    scrape_options = body.get("scrapeOptions") or {}
    try:
        options = ScrapeOptions.from_body(scrape_options if isinstance(scrape_options, dict) else {})
    except ValueError as exc:
        return _fc_error(400, f"Bad Request: scrapeOptions: {exc}", "BAD_REQUEST")
    scraper = Scraper(request)
    urls: list[str] = []
    try:
        site, start_path = scraper.site_for(url)
    except ScrapeFailure as failure:
        if failure.status != 500:
            return _fc_error(failure.status, failure.message, failure.code)
    else:
        on_full_url = bool(body.get("regexOnFullURL"))
        start_key = page_key(start_path)
        if not site.down:
            for page in site.readable_pages():
                target = site.url(page.path) if on_full_url else page.path
                if page_key(page.path) == start_key:
                    urls.insert(0, site.url(page.path))  # the start URL is always crawled
                    continue
                if include and not any(p.search(target) for p in include):
                    continue
                if any(p.search(target) for p in exclude):
                    continue
                if (
                    not body.get("crawlEntireDomain")
                    and start_key != "/"
                    and not page.path.startswith(start_key)
                ):
                    continue
                urls.append(site.url(page.path))
    limit = body.get("limit")
    if isinstance(limit, int) and limit > 0:
        urls = urls[:limit]
    job = await _new_job(request, "crawl", urls, options)
    base = str(request.base_url).rstrip("/")
    return JSONResponse({"success": True, "id": job.id, "url": f"{base}/v2/crawl/{job.id}"})


async def batch_status(request: Request) -> JSONResponse:
    return _job_status(request, "batch")


async def crawl_status(request: Request) -> JSONResponse:
    return _job_status(request, "crawl")


async def batch_errors(request: Request) -> JSONResponse:
    return _job_errors(request, "batch")


async def crawl_errors(request: Request) -> JSONResponse:
    return _job_errors(request, "crawl")


async def batch_cancel(request: Request) -> JSONResponse:
    return _job_cancel(request, "batch")


async def crawl_cancel(request: Request) -> JSONResponse:
    return _job_cancel(request, "crawl")


routes = [
    Route("/v2/scrape", scrape, methods=["POST"]),
    Route("/v2/map", map_site, methods=["POST"]),
    Route("/v2/batch/scrape", batch_start, methods=["POST"]),
    Route("/v2/batch/scrape/{job_id}", batch_status, methods=["GET"]),
    Route("/v2/batch/scrape/{job_id}", batch_cancel, methods=["DELETE"]),
    Route("/v2/batch/scrape/{job_id}/errors", batch_errors, methods=["GET"]),
    Route("/v2/crawl", crawl_start, methods=["POST"]),
    Route("/v2/crawl/{job_id}", crawl_status, methods=["GET"]),
    Route("/v2/crawl/{job_id}", crawl_cancel, methods=["DELETE"]),
    Route("/v2/crawl/{job_id}/errors", crawl_errors, methods=["GET"]),
    Route(MEDIA_PATH + "/{name}", media, methods=["GET"]),
]
