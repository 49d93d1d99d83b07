"""Firecrawl v2 through its official async SDK, with our retries and our error classes.

The SDK (`firecrawl.AsyncFirecrawl`) retries only 502 and connection errors and raises its own
exceptions (with `.status_code` and the httpx `.response`). We build it with `max_retries=1` so
it never retries on its own, run every SDK call through `tools.http.RetryingCaller` (429, 5xx,
timeouts) and translate what is left into the tree below.

Firecrawl's 429 carries no `Retry-After`: its body says "...please retry after Ns, resets at
<date>", and its plan limits are per minute, so a wait can approach 60 s. We read the wait from
the body (`retry_after_hint`) and, by default, allow waits that long (`FIRECRAWL_POLICY`).

A batch start is not idempotent by itself: a retry after a timeout or a 5xx could start (and
bill) a second batch. Each start carries an `x-idempotency-key` (a UUID, as Firecrawl requires)
kept across its retries. The async SDK drops `idempotency_key` (only its sync client sends it),
so the start goes through the SDK's own request builder and HTTP client with the header added.
A retry answered 409 "Idempotency key already used" means an earlier attempt got through;
Firecrawl does not say which batch it started, so none is started again and the call fails
with FirecrawlStartUnknown.

Injection (tests, fault injection, shared pools): `AsyncFirecrawl` creates a private
`httpx.AsyncClient` in `sdk._v2_client.async_http_client._client`; we replace it with the
client handed to our constructor, after giving that client the SDK's base URL and bearer header.
So a `MockTransport`, a sandbox URL or a faulty transport plug in exactly as for the other clients.
`api_url` must be scheme://host[:port]: the SDK addresses `/v2/...` from the origin.

Errors (each also subclasses the common kind from `tools.http`)::

    FirecrawlError(ProviderError)
    ├── FirecrawlAuthError(AuthError)                  401
    ├── FirecrawlNotFoundError(NotFoundError)          404 (unknown job id)
    ├── FirecrawlBadRequestError(BadRequestError)      other 4xx
    │   ├── FirecrawlPaymentRequired                   402: out of Firecrawl credits
    │   └── FirecrawlWebsiteNotSupported               403: the site is not scrapable by Firecrawl
    ├── FirecrawlRateLimitedError(RateLimitedError)    429 after retries
    ├── FirecrawlDownError(ProviderDownError)          5xx, timeouts, connection errors after retries
    │   └── FirecrawlStartUnknown                      a retried batch start met its own key (409)
    └── FirecrawlBadResponseError(BadResponseError)    `success: false` or an unreadable body

The discovery rules of the original specification (which pages of a small-business site are worth
auditing) are the pure functions `include_url` and `page_priority`.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from urllib.parse import urlsplit

import firecrawl as sdk
import httpx
from firecrawl.v2.methods.batch import prepare_batch_scrape_request
from firecrawl.v2.types import BatchScrapeResponse, ScrapeOptions
from firecrawl.v2.utils.error_handler import handle_response_error

from leadgen.settings import KEY_VARIABLES
from tools.http import (
    RETRY_STATUSES,
    AuthError,
    BadRequestError,
    BadResponseError,
    ErrorFamily,
    NotFoundError,
    Observer,
    ProviderDownError,
    ProviderError,
    RateLimitedError,
    RetryableStatus,
    RetryingCaller,
    RetryPolicy,
    key_rejected,
)

T = TypeVar("T")


class FirecrawlError(ProviderError):
    provider = "firecrawl"


class FirecrawlAuthError(FirecrawlError, AuthError):
    pass


class FirecrawlNotFoundError(FirecrawlError, NotFoundError):
    pass


class FirecrawlBadRequestError(FirecrawlError, BadRequestError):
    pass


class FirecrawlPaymentRequired(FirecrawlBadRequestError):
    pass


class FirecrawlWebsiteNotSupported(FirecrawlBadRequestError):
    pass


class FirecrawlRateLimitedError(FirecrawlError, RateLimitedError):
    pass


class FirecrawlDownError(FirecrawlError, ProviderDownError):
    pass


class FirecrawlBadResponseError(FirecrawlError, BadResponseError):
    pass


class FirecrawlStartUnknown(FirecrawlDownError):
    """An earlier attempt of this batch start may have started the batch, whose id was lost."""


# Per-minute plan limits: a 429 may ask for most of a minute, and several in a row are normal
# when parallel audits share one plan.
FIRECRAWL_POLICY = RetryPolicy(attempts=6, max_retry_after=65.0, max_total_wait=180.0)
_RETRY_HINT = re.compile(r"retry after (\d+(?:\.\d+)?)\s*s\b", re.IGNORECASE)
_KEY_USED = "idempotency key already used"


def retry_after_hint(text: str) -> float | None:
    """The wait Firecrawl states in a 429's body ("... please retry after 12s, resets at ...")."""
    found = _RETRY_HINT.search(text)
    return float(found.group(1)) if found else None


FIRECRAWL_ERRORS = ErrorFamily(
    root=FirecrawlError,
    auth=FirecrawlAuthError,
    not_found=FirecrawlNotFoundError,
    bad_request=FirecrawlBadRequestError,
    rate_limited=FirecrawlRateLimitedError,
    down=FirecrawlDownError,
    bad_response=FirecrawlBadResponseError,
    name="Firecrawl",
    key_variable=KEY_VARIABLES["firecrawl"],
)


# --- discovery rules (seed: "include homepage, services, pricing, about, customers, contact...;
#     exclude legal/careers/blog patterns") -------------------------------------------------------

# Words of a path segment (split on - and _) that make a page worth auditing, in audit priority.
INCLUDE_WORDS: tuple[frozenset[str], ...] = (
    frozenset({"services", "service", "solutions", "solution", "products", "product", "treatments"}),
    frozenset({"pricing", "prices", "price", "plans", "plan", "rates"}),
    frozenset({"about", "company", "team", "staff", "who"}),
    frozenset({"customers", "customer", "testimonials", "testimonial", "reviews", "review", "case"}),
    frozenset({"contact", "location", "locations"}),
    frozenset({"book", "booking", "appointment", "appointments", "schedule", "reserve"}),
    frozenset({"security", "compliance", "docs", "developers", "resources"}),
)
EXCLUDE_WORDS = frozenset(
    {
        "legal", "privacy", "terms", "tos", "cookie", "cookies", "gdpr", "disclaimer", "imprint",
        "careers", "career", "jobs", "job", "hiring", "vacancies",
        "blog", "blogs", "news", "posts", "post", "article", "articles", "tag", "tags", "category",
    }
)  # fmt: skip
_SKIP_EXTENSIONS = re.compile(r"\.(pdf|jpe?g|png|gif|svg|webp|zip|mp4|mp3|css|js|xml|txt|ico)$", re.I)
_HOME_PATHS = frozenset({"", "/", "/index.html", "/index.htm", "/index.php", "/home"})
# For Firecrawl's own crawl filters (regexes on the URL path), should a caller crawl instead of map.
CRAWL_EXCLUDE_PATHS = [rf".*\b{word}\b.*" for word in sorted(EXCLUDE_WORDS)]


def _words(path: str) -> list[str]:
    return [w for w in re.split(r"[/\-_.]+", path.lower()) if w]


def page_priority(url: str) -> int | None:
    """0 for the homepage, 1.. for the include groups in order, None for a page not to audit."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    path = parts.path or "/"
    if path.rstrip("/") in {p.rstrip("/") for p in _HOME_PATHS}:
        return 0
    if _SKIP_EXTENSIONS.search(path):
        return None
    words = set(_words(path))
    if words & EXCLUDE_WORDS:
        return None
    for rank, group in enumerate(INCLUDE_WORDS, start=1):
        if words & group:
            return rank
    return None


def include_url(url: str) -> bool:
    """Whether the page is one the audit reads: homepage, services, pricing, about, reviews,
    contact, booking...; never legal, careers or blog pages (exclusion wins over inclusion)."""
    return page_priority(url) is not None


def _host(url: str) -> str:
    host = urlsplit(url).netloc.lower()
    return host.removeprefix("www.")


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MappedLink:
    url: str
    title: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class ScrapedDocument:
    url: str
    title: str | None
    markdown: str | None
    links: tuple[str, ...]
    status_code: int | None
    error: str | None = None  # set for a batch entry that failed; the other entries are unaffected
    raw_html: str | None = None  # with the `rawHtml` format: the page as served, head to footer
    requested_url: str | None = None  # as asked for (`sourceURL`); `url` is after redirects

    @property
    def ok(self) -> bool:
        return self.error is None and (self.status_code is None or self.status_code < 400)


def _document(requested_url: str, doc: Any) -> ScrapedDocument:
    meta = doc.metadata_typed
    status = meta.status_code
    error = getattr(meta, "error", None)
    if error is None and status is not None and status >= 400:
        error = f"the site answered HTTP {status}"
    return ScrapedDocument(
        url=meta.url or meta.source_url or requested_url,
        title=meta.title,
        markdown=doc.markdown,
        links=tuple(doc.links or ()),
        status_code=status,
        error=error,
        raw_html=doc.raw_html,
        requested_url=meta.source_url or requested_url,
    )


class FirecrawlClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        api_key: str,
        *,
        policy: RetryPolicy | None = None,
        concurrency: int = 4,
        observer: Observer | None = None,
        request_timeout: float | None = None,
        poll_interval: float = 1.0,
        batch_wait_timeout: float = 300.0,
    ) -> None:
        origin = urlsplit(base_url)
        if origin.path.strip("/"):
            raise ValueError(f"Firecrawl api_url must be scheme://host[:port], got {base_url!r}")
        api_url = f"{origin.scheme}://{origin.netloc}"
        # The SDK passes its own `timeout` on every request; None there would disable httpx's.
        timeout = request_timeout if request_timeout is not None else (http.timeout.read or 60.0)
        self.sdk = sdk.AsyncFirecrawl(api_key=api_key, api_url=api_url, timeout=timeout, max_retries=1)
        http.base_url = httpx.URL(api_url)
        http.headers["Authorization"] = f"Bearer {api_key}"
        self.sdk._v2_client.async_http_client._client = http
        self.caller = RetryingCaller(
            "firecrawl",
            FIRECRAWL_ERRORS,
            policy=policy or FIRECRAWL_POLICY,
            concurrency=concurrency,
            observer=observer,
        )
        self._poll_interval = poll_interval
        self._batch_wait_timeout = batch_wait_timeout

    async def _run(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        async def attempt() -> T:
            try:
                return await call()
            except sdk.FirecrawlError as exc:
                status = exc.status_code
                if status in RETRY_STATUSES and not _is_site_verdict(exc):
                    response = exc.response
                    headers = response.headers if isinstance(response, httpx.Response) else {}
                    hint = retry_after_hint(_answer_text(exc)) if status == 429 else None
                    raise RetryableStatus(status, headers, str(exc), retry_after=hint) from exc
                raise

        try:
            return await self.caller.run(operation, attempt)
        except sdk.FirecrawlError as exc:
            raise self._translate(exc) from exc
        except (ValueError, KeyError, TypeError) as exc:  # SDK parsing a body it did not expect
            raise self.caller.bad_response(f"{operation}: {exc}") from exc

    def _translate(self, exc: sdk.FirecrawlError) -> FirecrawlError:
        status = exc.status_code
        cls: type[FirecrawlError]
        if status is None:  # the SDK saw `success: false` in a 200 body
            cls = FirecrawlBadResponseError
        elif status == 402:
            cls = FirecrawlPaymentRequired
        elif status == 403:
            cls = FirecrawlWebsiteNotSupported
        else:
            found = FIRECRAWL_ERRORS.for_status(status)
            assert issubclass(found, FirecrawlError)
            cls = found
        if cls is FirecrawlAuthError:
            return cls(
                key_rejected(FIRECRAWL_ERRORS, status, _answer_text(exc)), status_code=status, code=exc.code
            )
        return cls(str(exc), status_code=status, code=exc.code)

    async def map_site(self, url: str, *, limit: int = 100, search: str | None = None) -> list[MappedLink]:
        """`POST /v2/map`: the site's URLs (from its sitemap and links), with titles when known."""
        _check_url(url)
        result = await self._run("map", lambda: self.sdk.map(url, limit=limit, search=search))
        return [MappedLink(link.url, link.title, link.description) for link in result.links if link.url]

    async def scrape(
        self,
        url: str,
        *,
        formats: Sequence[str] = ("markdown", "links"),
        only_main_content: bool = True,
        timeout_ms: int = 30000,
    ) -> ScrapedDocument:
        """`POST /v2/scrape`: one page as markdown plus its links."""
        _check_url(url)
        doc = await self._run(
            "scrape",
            lambda: self.sdk.scrape(
                url, formats=list(formats), only_main_content=only_main_content, timeout=timeout_ms
            ),
        )
        return _document(url, doc)

    async def batch_scrape(
        self,
        urls: Iterable[str],
        *,
        formats: Sequence[str] = ("markdown", "links"),
        only_main_content: bool = True,
        timeout_ms: int = 30000,
    ) -> list[ScrapedDocument]:
        """One entry per requested URL, in order; a page that failed carries `error` instead of
        failing the batch. Starts `POST /v2/batch/scrape`, then polls `GET /v2/batch/scrape/{id}`."""
        wanted = list(dict.fromkeys(urls))
        if not wanted:
            return []
        for url in wanted:
            _check_url(url)
        options = ScrapeOptions(
            formats=list(formats), only_main_content=only_main_content, timeout=timeout_ms
        )
        # One key per logical start, kept across its retries. Not derived from the audit: a run
        # re-executed after a crash must be able to start its batch again (Firecrawl keeps keys).
        key = str(uuid.uuid4())
        try:
            started = await self._run("batch_scrape", lambda: self._start_batch(wanted, options, key))
        except FirecrawlBadRequestError as exc:
            if exc.status_code == 409 and _KEY_USED in str(exc).lower():
                raise FirecrawlStartUnknown(
                    "Firecrawl had already received this batch start (409 to its idempotency key): an "
                    "earlier attempt may have started the batch, whose id was lost; none is started again",
                    status_code=409,
                ) from exc
            raise
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._batch_wait_timeout
        while True:
            job = await self._run("batch_status", lambda: self.sdk.get_batch_scrape_status(started.id))
            if job.status in ("completed", "failed", "cancelled"):
                break
            if loop.time() > deadline:
                raise FirecrawlDownError(
                    f"batch scrape {started.id} not finished after {self._batch_wait_timeout}s"
                )
            await asyncio.sleep(self._poll_interval)
        results = self._match_batch(wanted, job.data, set(started.invalid_urls or ()), job.status)
        if any(r.error and r.error.startswith("no result") for r in results):
            # A page that failed is not among the batch's documents: Firecrawl says why in the
            # batch's errors, which the caller keeps (a failed audit stores the provider's reason).
            reasons = await self._batch_errors(started.id)
            results = [
                replace(r, error=reasons.get(_key(r.url), r.error))
                if r.error and r.error.startswith("no result")
                else r
                for r in results
            ]
        return results

    async def _batch_errors(self, job_id: str) -> dict[str, str]:
        """`GET /v2/batch/scrape/{id}/errors`: url -> Firecrawl's error sentence. Read through the
        SDK's HTTP client: its `get_batch_scrape_errors` wants a `success` field this answer
        (`{errors, robotsBlocked}`) does not carry. Best effort: without it the caller keeps
        "no result"."""

        async def read() -> dict[str, Any]:
            response = await self.sdk._v2_client.async_http_client.get(f"/v2/batch/scrape/{job_id}/errors")
            if response.status_code >= 400:
                handle_response_error(response, "get batch scrape errors")
            body = response.json()
            return body if isinstance(body, dict) else {}

        try:
            body = await self._run("batch_errors", read)
        except FirecrawlError:
            return {}
        reasons: dict[str, str] = {}
        for entry in body.get("errors") or []:
            if isinstance(entry, dict) and isinstance(entry.get("url"), str) and entry.get("error"):
                reasons.setdefault(_key(entry["url"]), str(entry["error"]))
        return reasons

    async def _start_batch(self, urls: list[str], options: ScrapeOptions, key: str) -> BatchScrapeResponse:
        """`POST /v2/batch/scrape` as the SDK builds it, plus the `x-idempotency-key` header."""
        payload = prepare_batch_scrape_request(urls, options=options, ignore_invalid_urls=True)
        client = self.sdk._v2_client.async_http_client
        response = await client.post("/v2/batch/scrape", payload, headers={"x-idempotency-key": key})
        if response.status_code >= 400:
            handle_response_error(response, "start batch scrape")
        body = response.json()
        if not body.get("success"):
            raise sdk.FirecrawlError(body.get("error", "Unknown error occurred"))
        return BatchScrapeResponse(
            id=body.get("id"), url=body.get("url"), invalid_urls=body.get("invalidURLs")
        )

    @staticmethod
    def _match_batch(
        wanted: list[str], docs: list[Any], invalid: set[str], status: str
    ) -> list[ScrapedDocument]:
        by_url: dict[str, ScrapedDocument] = {}
        for doc in docs:
            meta = doc.metadata_typed
            source = meta.source_url or meta.url
            if source:
                by_url[_key(source)] = _document(source, doc)
        results = []
        for url in wanted:
            found = by_url.get(_key(url))
            if found is not None:
                results.append(found)
            elif url in invalid:
                results.append(ScrapedDocument(url, None, None, (), None, error="Firecrawl rejected the URL"))
            else:
                results.append(
                    ScrapedDocument(url, None, None, (), None, error=f"no result (batch {status})")
                )
        return results

    async def discover(self, url: str, *, limit: int = 10) -> list[MappedLink]:
        """Discovery only (no page content): map the site and keep the pages worth auditing,
        homepage first, then services, pricing, about, reviews, contact, booking."""
        _check_url(url)
        links = await self.map_site(url, limit=max(100, limit * 10))
        home = _host(url)
        ranked: dict[str, tuple[int, int, MappedLink]] = {}
        ranked[_key(url)] = (0, -1, MappedLink(url))
        for position, link in enumerate(links):
            priority = page_priority(link.url)
            if priority is None or _host(link.url) != home:
                continue
            key = _key(link.url)
            if key not in ranked or priority < ranked[key][0]:
                ranked[key] = (priority, position, link)
        ordered = sorted(ranked.values(), key=lambda entry: (entry[0], entry[1]))
        return [link for _, _, link in ordered[:limit]]


# Firecrawl's 500s that are a verdict on the target site (it refused the connection, its name does
# not resolve), not a failure of Firecrawl: asking again at once gets the same answer, so the
# client does not retry them (the audit tries a failed page once more itself, graphs/site_reading).
SITE_VERDICT_CODES = frozenset({"SCRAPE_SITE_ERROR", "SCRAPE_DNS_RESOLUTION_ERROR"})


def _is_site_verdict(exc: sdk.FirecrawlError) -> bool:
    response = exc.response
    if exc.status_code != 500 or not isinstance(response, httpx.Response):
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("code") in SITE_VERDICT_CODES


def _answer_text(exc: sdk.FirecrawlError) -> str:
    """Firecrawl's own `error` sentence from the failed answer, else the SDK's message."""
    response = exc.response
    if isinstance(response, httpx.Response):
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return str(body["error"])
    return str(exc)


def _key(url: str) -> str:
    """Compare URLs loosely: scheme, `www.`, trailing slash, query and fragment do not matter."""
    parts = urlsplit(url)
    return _host(url) + (parts.path.rstrip("/") or "")


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {url!r}")
