"""Firecrawl v2, judged by `firecrawl-py`: its response types for every scrape format, map and
batch jobs, parse what the sandbox answers; its error classes read the sandbox's errors; our
batch start (built from the SDK's own request builder) is the SDK's, plus the idempotency key
the async SDK drops."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from firecrawl import Firecrawl
from firecrawl.v2.types import BatchScrapeJob, Document, JsonFormat, MapData
from firecrawl.v2.utils.error_handler import FirecrawlError, RateLimitError, UnauthorizedError

from tools.firecrawl import FirecrawlClient, retry_after_hint
from tools.sandbox.screenshots import chromium_binary

KEY = "fc-conformance"
SITE = "https://acme-dental.example/"
NAME_SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
NEEDS_BROWSER = pytest.mark.skipif(
    chromium_binary() is None,
    reason="the sandbox draws screenshots with Chromium and none is installed (apt-get install chromium)",
)

# Every output format of the v2 scrape the sandbox is held to, with the Document field it fills
# and that field's type in the SDK's model.
FORMATS: list[Any] = [
    pytest.param("markdown", "markdown", str, id="markdown"),
    pytest.param("html", "html", str, id="html"),
    pytest.param("rawHtml", "raw_html", str, id="rawHtml"),
    pytest.param("links", "links", list, id="links"),
    pytest.param("summary", "summary", str, id="summary"),
    pytest.param(JsonFormat(type="json", schema=NAME_SCHEMA), "json", dict, id="json"),
    pytest.param("images", "images", list, id="images"),
    pytest.param("screenshot", "screenshot", str, id="screenshot", marks=NEEDS_BROWSER),
]


def sdk(url: str, key: str = KEY) -> Firecrawl:
    return Firecrawl(api_key=key, api_url=url)


@pytest.mark.parametrize(("fmt", "field", "kind"), FORMATS)
def test_every_format_parses_into_the_sdks_document(fresh: Any, fmt: Any, field: str, kind: type) -> None:
    # A logo sits in the header, which main-content scraping drops: ask for the whole page there.
    doc = sdk(fresh.url).scrape(SITE, formats=[fmt], only_main_content=field != "images")
    assert isinstance(doc, Document)
    found = getattr(doc, field)
    assert isinstance(found, kind) and found, f"{field} missing for format {fmt!r}"
    value: Any = found
    meta = doc.metadata_typed
    assert meta.status_code == 200 and meta.source_url == SITE and meta.title
    if field == "json":
        assert isinstance(value.get("name"), str)  # what the schema asked for
    if field == "links":
        assert all(isinstance(link, str) and link.startswith("http") for link in value)
    if field == "screenshot":  # an address of the PNG Firecrawl stored
        image = httpx.get(value, timeout=10)
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert image.content.startswith(b"\x89PNG\r\n\x1a\n") and len(image.content) > 1000


@NEEDS_BROWSER
def test_a_screenshot_takes_the_viewport_asked_for(fresh: Any) -> None:
    fmt = {"type": "screenshot", "viewport": {"width": 640, "height": 480}}
    doc = sdk(fresh.url).scrape(SITE, formats=[fmt])
    png = httpx.get(doc.screenshot or "", timeout=10).content
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")  # IHDR
    assert (width, height) == (640, 480)


def test_a_bad_screenshot_viewport_is_refused_by_name(fresh: Any) -> None:
    with pytest.raises(FirecrawlError, match="viewport"):
        sdk(fresh.url).scrape(SITE, formats=[{"type": "screenshot", "viewport": {"width": "wide"}}])


def test_map_and_batch_jobs_parse_into_the_sdks_types(fresh: Any) -> None:
    client = sdk(fresh.url)
    mapped = client.map(SITE, limit=20)
    assert isinstance(mapped, MapData) and mapped.links and all(link.url for link in mapped.links)
    urls = [link.url for link in mapped.links[:3]]
    job = client.batch_scrape(urls, formats=["markdown"], poll_interval=1, wait_timeout=30)
    assert isinstance(job, BatchScrapeJob) and job.status == "completed"
    assert job.completed == job.total == len(urls) and all(isinstance(d, Document) for d in job.data)


async def test_our_batch_start_is_the_sdks_with_its_key(fresh: Any, sent: Any) -> None:
    key = str(uuid.uuid4())
    sdk(fresh.url).start_batch_scrape(
        [SITE], formats=["markdown", "links"], idempotency_key=key, ignore_invalid_urls=True
    )
    async with httpx.AsyncClient(timeout=10) as http:
        await FirecrawlClient(http, fresh.url, KEY, poll_interval=0.01).batch_scrape([SITE])
    theirs, ours = sent("firecrawl", "/v2/batch/scrape")
    assert theirs["headers"]["x-idempotency-key"] == key
    assert uuid.UUID(ours["headers"]["x-idempotency-key"]) and ours["headers"]["x-idempotency-key"] != key
    assert ours["body"] == {**theirs["body"], "timeout": ours["body"]["timeout"]}
    # Firecrawl refuses a key seen before, as the SDK's conflict error.
    with pytest.raises(FirecrawlError) as again:
        sdk(fresh.url).start_batch_scrape([SITE], formats=["markdown"], idempotency_key=key)
    assert again.value.status_code == 409


def test_errors_and_the_rate_limit_in_firecrawls_shape(fresh: Any) -> None:
    fresh.configure(revoked_keys=["fc-revoked"])
    with pytest.raises(UnauthorizedError):
        sdk(fresh.url, "fc-revoked").scrape(SITE, formats=["markdown"])
    fresh.configure(firecrawl_rate_limit=1, firecrawl_rate_window_seconds=30.0)
    client = sdk(fresh.url)
    client.scrape(SITE, formats=["markdown"])
    with pytest.raises(RateLimitError) as limited:
        client.scrape(SITE, formats=["markdown"])
    wait = retry_after_hint(str(limited.value))
    assert wait is not None and 1 <= wait <= 30  # stated in the body only...
    response = limited.value.response
    assert "retry-after" not in {k.lower() for k in response.headers}  # ...never in a header
    assert (
        len([r for r in fresh.requests("firecrawl") if r["status"] == 429]) == 1
    )  # the SDK never retries a 429
