"""Helpers for the sandbox tests: an independent reader of served HTML, and site finders.

`independent_codes` decides the finding codes (graphs/audit_checks.py) for a site from nothing but what the sandbox
answers over HTTP (Firecrawl `map` for the page list, `scrape` with `rawHtml` for each page and
for every own-site link), parsing the HTML with the standard library's `html.parser`. It shares
no code with tools/sandbox/truth.py, so a truth endpoint that drifted from the HTML it serves
fails the comparison.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

FC = {"Authorization": "Bearer fc-test"}
YEAR_RE = re.compile(r"(?:©|\(c\)|copyright)\s*(?:©\s*)?(\d{4})(?:\s*[-–—]\s*(\d{4}))?", re.I)
MONEY = re.compile(r"\$\s?\d")
NOT_PRICE_WORDS = {
    "off",
    "save",
    "saving",
    "discount",
    "coupon",
    "verdict",
    "settlement",
    "recovered",
    "awarded",
}
LOCAL_TYPES = {
    "LocalBusiness", "Dentist", "MedicalClinic", "MedicalBusiness", "Attorney", "LegalService", "Restaurant",
    "HairSalon", "BeautySalon", "AutoRepair", "AccountingService", "ExerciseGym", "HealthClub", "Plumber",
    "Electrician", "RoofingContractor", "HVACBusiness", "HomeAndConstructionBusiness", "ProfessionalService",
}  # fmt: skip
BOOKING_DOMAINS = (
    "calendly.com", "acuityscheduling.com", "zocdoc.com", "opentable.com", "resy.com", "exploretock.com",
    "squareup.com", "vagaro.com", "booksy.com", "mindbodyonline.com", "housecallpro.com", "getjobber.com",
    "servicetitan.com", "nexhealth.com", "janeapp.com", "vetstoria.com", "localmed.com",
)  # fmt: skip
REVIEW_DOMAINS = ("birdeye.com", "elfsight.com", "trustindex.io", "embedsocial.com")
TAG_MARKERS = (
    "googletagmanager.com",
    "google-analytics.com",
    "connect.facebook.net",
    "hotjar.com",
    "clarity.ms",
)
SOCIAL = (
    "facebook.com",
    "instagram.com",
    "x.com",
    "twitter.com",
    "linkedin.com",
    "youtube.com",
    "tiktok.com",
)
BLOCKS = {"p", "li", "td", "th", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "figcaption"}
BLOCKS |= {"address", "label", "button", "option", "caption"}
VOID = {"meta", "link", "img", "input", "br", "hr", "source", "area", "base", "col", "embed", "wbr", "track"}


def on_host(url: str, domains: tuple[str, ...]) -> bool:
    host = (urlsplit(url if "//" in url else "https://" + url).hostname or "").lower()
    return any(host == d or host.endswith("." + d) for d in domains)


@dataclass
class Reading:
    """What one page shows, gathered by a plain event parser."""

    metas: dict[str, str] = field(default_factory=dict)
    ld_json: list[str] = field(default_factory=list)
    script_text: list[str] = field(default_factory=list)
    hrefs: list[str] = field(default_factory=list)
    embeds: list[str] = field(default_factory=list)
    date_inputs: int = 0
    blockquote_text: list[str] = field(default_factory=list)
    blocks: dict[int, list[str]] = field(default_factory=dict)
    main_words: int = 0
    body_words_outside_chrome: int = 0
    saw_main: bool = False


class PageReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.r = Reading()
        self.stack: list[tuple[str, dict[str, str], int]] = []  # (tag, attrs, block id)
        self.counter = 0
        self.in_form = 0
        self.script_type: str | None = None
        self.script_buffer: list[str] = []
        self.quote_depth = 0
        self.quote_buffer: list[str] = []

    def handle_starttag(self, tag: str, attrs_list: list[tuple[str, str | None]]) -> None:
        attrs = {k.lower(): (v or "") for k, v in attrs_list}
        if tag == "meta" and attrs.get("name"):
            self.r.metas.setdefault(attrs["name"].lower(), attrs.get("content", ""))
        if tag == "a" and "href" in attrs:
            self.r.hrefs.append(attrs["href"].strip())
        if tag in ("iframe", "script") and attrs.get("src"):
            self.r.embeds.append(attrs["src"])
        if tag == "form":
            self.in_form += 1
        if (
            tag == "input"
            and self.in_form
            and attrs.get("type", "").lower() in ("date", "datetime-local", "time")
        ):
            self.r.date_inputs += 1
        if tag == "script":
            self.script_type = attrs.get("type", "").lower()
            self.script_buffer = [attrs.get("src", "")]
        if tag == "blockquote":
            self.quote_depth += 1
        if tag in ("main",) or attrs.get("role") == "main":
            self.r.saw_main = True
        if tag in VOID:
            return
        self.counter += 1
        self.stack.append((tag, attrs, self.counter))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.in_form = max(0, self.in_form - 1)
        if tag == "script":
            text = "".join(self.script_buffer)
            if self.script_type == "application/ld+json":
                self.r.ld_json.append("".join(self.script_buffer[1:]))
            self.r.script_text.append(text)
            self.script_type = None
        if tag == "blockquote" and self.quote_depth:
            self.quote_depth -= 1
            self.r.blockquote_text.append("".join(self.quote_buffer))
            self.quote_buffer = []
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                break

    def handle_data(self, data: str) -> None:
        tags = [t for t, _, _ in self.stack]
        if "script" in tags:
            self.script_buffer.append(data)
            return
        if any(t in ("style", "noscript", "template", "head", "title") for t in tags):
            return
        if self.quote_depth:
            self.quote_buffer.append(data)
        block = next((bid for t, _, bid in reversed(self.stack) if t in BLOCKS), 0)
        self.r.blocks.setdefault(block, []).append(data)
        hidden = any(
            "hidden" in a
            or a.get("aria-hidden", "").lower() == "true"
            or "display:none" in a.get("style", "").replace(" ", "").lower()
            for _, a, _ in self.stack
        )
        if hidden:
            return
        words = sum(1 for w in data.split() if any(c.isalnum() for c in w))
        if any(t == "main" or a.get("role") == "main" for t, a, _ in self.stack):
            self.r.main_words += words
        if not any(t in ("header", "nav", "footer", "aside") for t, _, _ in self.stack):
            self.r.body_words_outside_chrome += words


def read_page(html: str) -> Reading:
    reader = PageReader()
    reader.feed(html)
    reader.close()
    return reader.r


def _types(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= _types(item)
    elif isinstance(value, dict):
        kind = value.get("@type")
        found |= {k for k in (kind if isinstance(kind, list) else [kind]) if isinstance(k, str)}
        for key, item in value.items():
            if key != "@type":
                found |= _types(item)
    return found


class SandboxWeb:
    """Reads the synthetic web over HTTP, through the Firecrawl emulation only."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(timeout=30)

    def scrape(self, page: str, **options: Any) -> httpx.Response:
        for _ in range(4):  # flaky sites fail every other load, as an overloaded host does
            answer = self.http.post(f"{self.url}/v2/scrape", json={"url": page, **options}, headers=FC)
            if answer.status_code != 500 or answer.json().get("code") != "SCRAPE_ALL_ENGINES_FAILED":
                return answer
        return answer

    def raw(self, page: str) -> tuple[int, str, str] | None:
        """(statusCode, final url, raw HTML), or None when nothing answered."""
        answer = self.scrape(page, formats=["rawHtml"])
        if answer.status_code != 200:
            return None
        data = answer.json()["data"]
        return data["metadata"]["statusCode"], data["metadata"]["url"], data["rawHtml"]

    def map(self, site: str) -> list[str]:
        answer = self.http.post(f"{self.url}/v2/map", json={"url": site}, headers=FC)
        return [link["url"] for link in answer.json()["links"]]

    def codes(self, host: str, current_year: int) -> set[str]:
        home = self.raw(f"https://{host}/") or self.raw(f"http://{host}/")
        if home is None or home[0] >= 500:
            return {"SITE_DOWN"}
        codes: set[str] = set()
        if self.raw(f"https://{host}/") is None:
            codes.add("NO_HTTPS")
        pages = {home[1]: home}
        for url in self.map(home[1]):
            if url not in pages:
                got = self.raw(url)
                assert got is not None and got[0] == 200, url
                pages[url] = got
        readings = {url: read_page(html) for url, (_, _, html) in pages.items()}
        first = readings[home[1]]
        if not first.metas.get("viewport", "").strip():
            codes.add("NOT_MOBILE_FRIENDLY")
        if not first.metas.get("description", "").strip():
            codes.add("NO_META_DESCRIPTION")
        words = first.main_words if first.saw_main else first.body_words_outside_chrome
        if words < 150:
            codes.add("THIN_CONTENT")
        every = list(readings.values())
        types: set[str] = set()
        for r in every:
            for text in r.ld_json:
                with contextlib.suppress(ValueError):
                    types |= {t.rsplit("/", 1)[-1] for t in _types(json.loads(text))}
        if not types & LOCAL_TYPES:
            codes.add("NO_LOCAL_BUSINESS_SCHEMA")
        if not any(m in s.lower() for r in every for s in r.script_text for m in TAG_MARKERS):
            codes.add("NO_ANALYTICS")
        resolved = {url: [urljoin(url, h) for h in r.hrefs] for url, r in readings.items()}
        if not any(
            r.date_inputs or any(on_host(u, BOOKING_DOMAINS) for u in resolved[url] + r.embeds)
            for url, r in readings.items()
        ):
            codes.add("NO_ONLINE_BOOKING")

        def is_price(text: str) -> bool:
            words = set(re.findall(r"[a-z]+", text.lower()))
            waived = any(w.startswith("waiv") for w in words)
            return bool(MONEY.search(text)) and not (words & NOT_PRICE_WORDS) and not waived

        blocks = [" ".join(" ".join(parts).split()) for r in every for parts in r.blocks.values()]
        if not any(is_price(b) for b in blocks):
            codes.add("NO_PRICING")
        if not any(
            any(q.strip() for q in r.blockquote_text) or any(on_host(u, REVIEW_DOMAINS) for u in r.embeds)
            for r in every
        ):
            codes.add("NO_REVIEWS_SHOWN")
        years = [int(m.group(2) or m.group(1)) for b in blocks for m in YEAR_RE.finditer(b)]
        if years and max(years) < current_year - 1:
            codes.add("STALE_COPYRIGHT")
        if not any(h.lower().startswith("tel:") for r in every for h in r.hrefs):
            codes.add("NO_CLICK_TO_CALL")
        social = [
            u
            for links in resolved.values()
            for u in links
            if urlsplit(u).scheme in ("http", "https")
            and on_host(u, SOCIAL)
            and [s for s in urlsplit(u).path.split("/") if s][:1]
            not in ([], ["sharer"], ["sharer.php"], ["intent"], ["share"])
        ]
        if not social:
            codes.add("NO_SOCIAL_LINKS")
        bare = host.lower().removeprefix("www.")
        status: dict[str, int] = {}
        for links in resolved.values():
            for link in links:
                parts = urlsplit(link)
                if (
                    parts.scheme not in ("http", "https")
                    or (parts.hostname or "").removeprefix("www.") != bare
                ):
                    continue
                key = parts._replace(fragment="").geturl()
                if key not in status:
                    got = self.raw(key)
                    status[key] = got[0] if got else 0
        if any(code >= 400 for code in status.values()):
            codes.add("BROKEN_LINKS")
        return codes


@pytest.fixture(scope="session")
def sandbox_web(sandbox_url: str) -> SandboxWeb:
    return SandboxWeb(sandbox_url)


@pytest.fixture(scope="session")
def own_sites(sandbox_url: str) -> Callable[[str], list[str]]:
    """The websites (own domains, as Places lists them) that a text query finds."""
    http = httpx.Client(timeout=10)

    def find(query: str) -> list[str]:
        answer = http.post(
            f"{sandbox_url}/places/v1/places:searchText",
            json={"textQuery": query},
            headers={"X-Goog-Api-Key": "AIzaTest", "X-Goog-FieldMask": "places.websiteUri"},
        )
        sites = []
        for place in answer.json().get("places", []):
            site = place.get("websiteUri")
            if site and not on_host(site, ("facebook.com", "yelp.com", "instagram.com")):
                sites.append(site)
        return sites

    return find
