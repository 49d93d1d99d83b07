"""Deterministic findings about a scraped site, so a dossier's gaps never rest on the model alone.

Each check reads the pages we actually scraped (url, title, markdown) and, when it finds a gap,
names the page that shows it. The dossier merges these with the model's gaps.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit


@dataclass(frozen=True)
class PageText:
    url: str
    title: str | None
    markdown: str


@dataclass(frozen=True)
class Gap:
    code: str
    message: str
    evidence_url: str | None = None


_PRICING_PATH = re.compile(r"/(pricing|prices|price-list|rates|plans|fees|cost)s?\b", re.I)
_PRICE_TEXT = re.compile(r"(\$\s?\d{2,}|\bfrom \$|\bper (hour|visit|month)\b)", re.I)
_BOOKING = re.compile(
    r"(book (an |your )?(appointment|online|now)|schedule (online|an appointment|now)|online booking|"
    r"request an appointment|/book(ing)?\b|/schedule\b|calendly\.com|acuityscheduling)",
    re.I,
)
_TESTIMONIALS = re.compile(
    r"(testimonial|reviews?\b|what our (clients|customers|patients) say|★|5 stars?)", re.I
)
_COPYRIGHT = re.compile(r"(?:©|\(c\)|copyright)\s*(?:\d{4}\s*[-–]\s*)?(\d{4})", re.I)
_CONTACT = re.compile(r"(/contact|contact us|call us|\(\d{3}\)\s*\d{3}-\d{4}|\+1[\s-]?\d{3})", re.I)
THIN_CONTENT_WORDS = 250


def find_gaps(pages: Sequence[PageText], *, now: datetime | None = None) -> list[Gap]:
    if not pages:
        return []
    year = (now or datetime.now(UTC)).year
    home = pages[0].url
    text_all = "\n".join(p.markdown for p in pages)
    urls_all = " ".join(p.url for p in pages)
    gaps: list[Gap] = []

    if not any(_PRICING_PATH.search(urlsplit(p.url).path) for p in pages) and not _PRICE_TEXT.search(
        text_all
    ):
        gaps.append(Gap("NO_PRICING", "No pricing page or published prices on the site.", home))
    if not _BOOKING.search(text_all) and not _BOOKING.search(urls_all):
        gaps.append(Gap("NO_ONLINE_BOOKING", "No way to book or schedule online.", home))
    http_pages = [p.url for p in pages if p.url.lower().startswith("http://")]
    if http_pages:
        gaps.append(Gap("NO_HTTPS", "The site is served over plain HTTP (no HTTPS).", http_pages[0]))
    years = [(int(m.group(1)), p.url) for p in pages for m in _COPYRIGHT.finditer(p.markdown)]
    if years:
        latest, where = max(years)
        if latest < year - 1:
            gaps.append(Gap("STALE_COPYRIGHT", f"Copyright notice last updated {latest}.", where))
    if not _TESTIMONIALS.search(text_all) and not _TESTIMONIALS.search(urls_all):
        gaps.append(Gap("NO_REVIEWS_SHOWN", "No testimonials or reviews shown on the site.", home))
    if not _CONTACT.search(text_all) and not _CONTACT.search(urls_all):
        gaps.append(Gap("NO_CONTACT_INFO", "No contact page or phone number found on the site.", home))
    words = len(text_all.split())
    if words < THIN_CONTENT_WORDS:
        gaps.append(
            Gap("THIN_CONTENT", f"Very little content ({words} words across {len(pages)} pages).", home)
        )
    return gaps


def merge_gaps(model_gaps: Sequence[str], found: Sequence[Gap]) -> list[str]:
    """Deterministic findings first (they are certain), then the model's, without near-duplicates."""
    merged: list[str] = [g.message for g in found]
    seen = {_key(m) for m in merged}
    for gap in model_gaps:
        text = " ".join(str(gap).split())
        if text and _key(text) not in seen:
            merged.append(text)
            seen.add(_key(text))
    return merged


# Words that name the same finding, so "No online booking" and "No way to book or schedule
# online." count as one gap.
_TOPICS: dict[str, str] = {
    "pricing": "pricing", "price": "pricing", "prices": "pricing", "rates": "pricing",
    "booking": "booking", "book": "booking", "schedule": "booking", "scheduling": "booking",
    "appointments": "booking", "https": "https", "http": "https", "ssl": "https",
    "copyright": "copyright", "reviews": "reviews", "testimonials": "reviews",
    "thin": "content", "little": "content", "content": "content", "contact": "contact",
}  # fmt: skip


def _key(text: str) -> str:
    words = re.findall(r"[a-z]+", text.lower())
    topics = sorted({_TOPICS[w] for w in words if w in _TOPICS})
    return "|".join(topics[:1]) if topics else " ".join(words)
