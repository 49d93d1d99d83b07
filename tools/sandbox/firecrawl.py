"""Firecrawl v2 at the sandbox root: `/v2/scrape`, `/v2/map`, `/v2/batch/scrape`, `/v2/crawl`.

Pages come from the synthetic world (world.py). Batch and crawl jobs are finished "in the
background" by time alone: a job reports `scraping` until its simulated duration (scaled by
`latency_scale`) has passed, then `completed`, so with latency 0 the SDK's first poll sees the
result. Status pages hold at most `STATUS_PAGE_SIZE` documents and point to the next with `next`.

Sites the world marks `down` (or listed in `down_domains`) fail to load; `flaky` sites fail every
other scrape of a page; social and aggregator pages are refused like Firecrawl refuses them.
"""

from __future__ import annotations

import asyncio
import html
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tools.sandbox.faults import SLOW_PAGE_EXTRA_MS, unit_draw
from tools.sandbox.planted_text import with_planted_text
from tools.sandbox.world import SOCIAL_HOSTS, Site

STATUS_PAGE_SIZE = 10
SITE_DOWN_ERROR = "Specified URL is failing to load in the browser. Error code: ERR_CONNECTION_REFUSED"
FLAKY_ERROR = "All scraping engines failed! -- Double check the URL to make sure it's not broken."
UNSUPPORTED_ERROR = (
    "We apologize for the inconvenience but we do not support this site. If you are part of an "
    "enterprise and want to have a further discussion about this, please contact help@firecrawl.com."
)
DOC_SECONDS = (0.6, 2.5)  # simulated seconds per page in a job, before latency_scale


class ScrapeFailure(Exception):
    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


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
    """Jobs, per-page attempt counts (for flaky sites) and idempotency keys of one sandbox."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.attempts: Counter[str] = Counter()
        self.idempotency_keys: set[str] = set()


def _fc_error(status: int, message: str, code: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"success": False, "error": message}
    if code:
        body["code"] = code
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


def _formats(options: dict[str, Any]) -> set[str]:
    formats = options.get("formats") or ["markdown"]
    names = set()
    for item in formats:
        names.add(item if isinstance(item, str) else str(item.get("type", "")))
    return names


def _markdown_to_html(markdown: str) -> str:
    parts = []
    for line in markdown.splitlines():
        text = html.escape(line.lstrip("#- ").strip())
        if not line.strip():
            continue
        if line.startswith("## "):
            parts.append(f"<h2>{text}</h2>")
        elif line.startswith("# "):
            parts.append(f"<h1>{text}</h1>")
        elif line.startswith("- "):
            parts.append(f"<li>{text}</li>")
        elif line.strip() == "---":
            parts.append("<hr>")
        else:
            parts.append(f"<p>{text}</p>")
    return "\n".join(parts)


class Scraper:
    """Turns a URL into a Firecrawl Document (or a ScrapeFailure) from the world."""

    def __init__(self, request: Request) -> None:
        self.state = request.app.state.sandbox
        self.store = _store(request)

    def site_for(self, url: str) -> tuple[Site, str]:
        parts = urlsplit(url if "://" in url else f"https://{url}")
        host = (parts.hostname or "").lower()
        if not host or "." not in host:
            raise ScrapeFailure(400, f"Invalid URL: {url}", "BAD_REQUEST")
        if host.removeprefix("www.").endswith(SOCIAL_HOSTS):
            raise ScrapeFailure(403, UNSUPPORTED_ERROR, "WEBSITE_NOT_SUPPORTED")
        site = self.state.world.site(host)
        down = {d.lower().removeprefix("www.") for d in self.state.config.down_domains}
        if site.profile.status == "down" or site.domain in down:
            raise ScrapeFailure(500, SITE_DOWN_ERROR, "SCRAPE_SITE_ERROR")
        return site, parts.path or "/"

    def document(self, url: str, formats: set[str]) -> dict[str, Any]:
        site, path = self.site_for(url)
        path = path.rstrip("/") or "/"
        if site.profile.status == "flaky":
            self.store.attempts[f"{site.domain}{path}"] += 1
            if self.store.attempts[f"{site.domain}{path}"] % 2 == 1:
                raise ScrapeFailure(500, FLAKY_ERROR, "SCRAPE_ALL_ENGINES_FAILED")
        page = site.pages.get(path)
        final_url = site.url(path)
        status = 200
        if page is None:
            title, markdown, description, status = "Page not found", "# Page not found", "", 404
        else:
            title, markdown, description = page.title, page.markdown, page.description
            markdown = with_planted_text(self.state.config, site.domain, markdown)
        doc: dict[str, Any] = {}
        if "markdown" in formats:
            doc["markdown"] = markdown
        if "summary" in formats:
            doc["summary"] = " ".join(markdown.replace("#", "").split())[:300]
        if "html" in formats or "rawHtml" in formats:
            body = _markdown_to_html(markdown)
            if "html" in formats:
                doc["html"] = body
            if "rawHtml" in formats:
                doc["rawHtml"] = (
                    f"<html><head><title>{html.escape(title)}</title></head><body>{body}</body></html>"
                )
        if "links" in formats:
            doc["links"] = [site.url(p) for p in site.pages if p != path] + (
                [f"https://www.facebook.com/{site.domain.split('.')[0]}"] if status == 200 else []
            )
        if "json" in formats:
            doc["json"] = {k: v for k, v in site.facts.items() if k in ("name", "phone", "email", "services")}
        doc["metadata"] = {
            "title": title,
            "description": description,
            "language": "en",
            "ogTitle": title,
            "sourceURL": url,
            "url": final_url,
            "statusCode": status,
            "contentType": "text/html; charset=utf-8",
            "scrapeId": str(uuid.uuid4()),
            "proxyUsed": "basic",
            "cacheState": "miss",
            "creditsUsed": 1,
        }
        return doc

    def page_seconds(self, url: str) -> float:
        """Simulated time to scrape `url` (before latency_scale), slow pages included."""
        low, high = DOC_SECONDS
        seconds = low + (high - low) * unit_draw("fc-doc", url)
        try:
            site, path = self.site_for(url)
        except ScrapeFailure:
            return seconds
        page = site.pages.get(path.rstrip("/") or "/")
        if page is not None and page.slow:
            seconds += SLOW_PAGE_EXTRA_MS[1] / 1000
        return seconds


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
    scraper = Scraper(request)
    try:
        doc = scraper.document(url, _formats(body))
    except ScrapeFailure as failure:
        return _fc_error(failure.status, failure.message, failure.code)
    site, path = scraper.site_for(url)
    page = site.pages.get(path.rstrip("/") or "/")
    scale = float(request.scope.get("state", {}).get("latency_scale", 0))
    if page is not None and page.slow and scale > 0:
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
        if failure.status == 500:  # an unreachable site maps to nothing rather than an error
            return JSONResponse({"success": True, "links": []})
        return _fc_error(failure.status, failure.message, failure.code)
    if body.get("sitemap") == "only" and site.profile.status != "ok":
        return JSONResponse({"success": True, "links": []})  # unhealthy sites publish no sitemap
    links = [
        {"url": site.url(p.path), "title": p.title, "description": p.description} for p in site.pages.values()
    ]
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


def _new_job(
    request: Request, kind: str, urls: list[str], formats: set[str], invalid: list[str] | None = None
) -> Job:
    scraper = Scraper(request)
    documents, errors, seconds = [], [], 0.0
    job_id = str(uuid.uuid4())
    for url in urls:
        seconds += scraper.page_seconds(url)
        try:
            documents.append(scraper.document(url, formats))
        except ScrapeFailure as failure:
            errors.append(
                {
                    "id": str(uuid.uuid4()),
                    "timestamp": _iso(time.time()),
                    "url": url,
                    "error": failure.message,
                }
            )
    scale = float(request.scope.get("state", {}).get("latency_scale", 0))
    # Firecrawl scrapes a job's pages a few at a time.
    duration = scale * seconds / 4
    now = time.time()
    job = Job(job_id, kind, documents, errors, len(urls), now, now + duration, invalid_urls=invalid or [])
    _store(request).jobs[job_id] = job
    return job


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
    job = _new_job(request, "batch", valid, _formats(body), invalid)
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
    scraper = Scraper(request)
    urls: list[str] = []
    try:
        site, start_path = scraper.site_for(url)
    except ScrapeFailure as failure:
        if failure.status != 500:
            return _fc_error(failure.status, failure.message, failure.code)
    else:
        on_full_url = bool(body.get("regexOnFullURL"))
        start_path = start_path.rstrip("/") or "/"
        for page in site.pages.values():
            target = site.url(page.path) if on_full_url else page.path
            if page.path == start_path:
                urls.insert(0, site.url(page.path))  # the start URL is always crawled
                continue
            if include and not any(p.search(target) for p in include):
                continue
            if any(p.search(target) for p in exclude):
                continue
            if (
                not body.get("crawlEntireDomain")
                and start_path != "/"
                and not page.path.startswith(start_path)
            ):
                continue
            urls.append(site.url(page.path))
    limit = body.get("limit")
    if isinstance(limit, int) and limit > 0:
        urls = urls[:limit]
    options = body.get("scrapeOptions") or {}
    job = _new_job(request, "crawl", urls, _formats(options))
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
]
