"""The dossier's prompt and the checks on the model's answer.

The prompt carries the facts: the business's name, its Places facts (rating, review count,
signals), the coded findings with their evidence (facts the model must not re-decide), then the
pages in order of importance within a budget, each inside `<page>` delimiters as data.

What comes back is checked before anything is saved:
* a gap the model adds must quote words present in a scraped page (and not a planted
  instruction), else it is dropped; one that restates a coded finding is dropped as a duplicate;
* sources are only pages that were scraped (all of them when the model cited none of them);
* sentences that read like instructions planted in a page are dropped from the summary, the
  fit reason and the talking points;
* talking points that neither name the business nor cite a concrete fact are replaced by
  points built from the findings.
The coded findings themselves never pass through the model, so nothing a page says can change
them or the sources.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from graphs.audit_checks import Finding
from graphs.briefs import LeadFacts, finding_points, names_business_or_fact
from graphs.url_selection import rule_score, url_key

MAX_PAGE_CHARS = 6_000
MAX_TOTAL_CHARS = 36_000
MIN_QUOTE_CHARS = 12
MAX_TALKING_POINTS = 5
MODEL_CODE = "OTHER"

# Planted instructions (prompt injection) as they appear in pages: never evidence, never output.
INSTRUCTION = re.compile(
    r"ignore (all |any )?(the )?(previous|prior|above)|disregard (all |any |the )?(previous|prior|above|instructions)|"
    r"system prompt|you are now|new instructions|as an ai\b|assistant:|do not mention",
    re.I,
)
_URL = re.compile(r"https?://[^\s<>\"')\]]+")


@dataclass(frozen=True)
class PageText:
    url: str
    title: str | None
    markdown: str


class DraftGap(Protocol):
    @property
    def gap(self) -> str: ...
    @property
    def quote(self) -> str: ...
    @property
    def page_url(self) -> str: ...


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[*_`#>\[\]]", " ", text).split()).casefold()


def ordered_pages(
    pages: Sequence[PageText], findings: Sequence[Finding], vertical: str = ""
) -> list[PageText]:
    """Homepage first, then pages that are evidence of a finding, then by what they tell an
    audit (url_selection's rules)."""
    if not pages:
        return []
    evidence = {url_key(f.evidence_url) for f in findings if f.evidence_url}
    home, rest = pages[0], list(pages[1:])
    rest.sort(key=lambda p: (url_key(p.url) not in evidence, -rule_score(p.url, vertical), p.url))
    return [home, *rest]


def _page_block(page: PageText, budget: int) -> str:
    body = page.markdown[: min(MAX_PAGE_CHARS, budget)]
    # Escaping the delimiters inside the body means a page cannot close its own tag.
    body = body.replace("</page", "&lt;/page").replace("<page", "&lt;page")
    title = html.escape(page.title or "", quote=True)
    return f'<page url="{html.escape(page.url, quote=True)}" title="{title}">\n{body}\n</page>'


def dossier_prompt(
    *,
    business: str,
    vertical: str,
    geography: str,
    signals: Sequence[str],
    services: Sequence[str],
    findings: Sequence[Finding],
    pages: Sequence[PageText],
    rating: float | None = None,
    reviews_count: int | None = None,
) -> str:
    blocks: list[str] = []
    budget = MAX_TOTAL_CHARS
    for page in ordered_pages(pages, findings, vertical):
        if budget <= 200:
            break
        block = _page_block(page, budget)
        budget -= len(block)
        blocks.append(block)
    rating_text = f"{rating:.1f} stars" if rating is not None else "no rating"
    facts = "\n".join(
        f"- [{f.code}] {f.detail} Evidence: {f.evidence}" + (f" ({f.evidence_url})" if f.evidence_url else "")
        for f in findings
    )
    return (
        f"Business: {business} ({vertical} in {geography})\n"
        f"Google Places: {rating_text}, {reviews_count or 0} reviews; signals: {', '.join(signals) or 'none'}\n"
        f"Agency services: {', '.join(services) or 'web design, local SEO, online booking, reviews'}\n"
        "Checked findings about the site (facts; do not re-decide them):\n"
        f"{facts or '- none'}\n\n" + "\n\n".join(blocks)
    )


def _topic(text: str) -> str | None:
    lowered = text.lower()
    for topic, words in _TOPICS.items():
        if any(w in lowered for w in words):
            return topic
    return None


# Words that say which coded finding a model's gap restates.
_TOPICS: dict[str, tuple[str, ...]] = {
    "NO_PRICING": ("price", "pricing", "cost"),
    "NO_ONLINE_BOOKING": ("book", "schedul", "reserv", "appointment"),
    "NO_REVIEWS_SHOWN": ("review", "testimonial"),
    "STALE_COPYRIGHT": ("copyright",),
    "NO_HTTPS": ("https", "ssl", "plain http"),
    "THIN_CONTENT": ("thin", "little content", "little text"),
    "NOT_MOBILE_FRIENDLY": ("mobile", "viewport"),
    "NO_META_DESCRIPTION": ("meta description",),
    "NO_LOCAL_BUSINESS_SCHEMA": ("schema", "structured data"),
    "NO_ANALYTICS": ("analytics", "tracking", "pixel"),
    "NO_CLICK_TO_CALL": ("click-to-call", "tap to call", "tel:"),
    "NO_SOCIAL_LINKS": ("social",),
    "BROKEN_LINKS": ("broken link", "404"),
}


def quoted_gaps(
    gaps: Sequence[DraftGap], pages: Sequence[PageText], findings: Sequence[Finding]
) -> list[Finding]:
    """The model's added gaps that quote a scraped page, as findings (source `model`)."""
    texts = {url_key(p.url): (p.url, _norm(p.markdown)) for p in pages}
    kept: list[Finding] = []
    seen: set[str] = set()
    for gap in gaps:
        sentence, quote = " ".join(gap.gap.split()), _norm(gap.quote)
        if len(quote) < MIN_QUOTE_CHARS or not sentence:
            continue
        if INSTRUCTION.search(sentence) or INSTRUCTION.search(gap.quote) or _URL.search(sentence):
            continue
        if _topic(sentence) is not None:
            continue  # the checks decide these codes: the model neither adds nor removes them
        named = texts.get(url_key(gap.page_url))
        where = named if named is not None and quote in named[1] else None
        if where is None:
            where = next((t for t in texts.values() if quote in t[1]), None)
        if where is None or _norm(sentence) in seen:
            continue
        seen.add(_norm(sentence))
        kept.append(Finding(MODEL_CODE, "Noted by the model", sentence, where[0], gap.quote.strip(), "model"))
    return kept


def scraped_sources(cited: Sequence[Any], pages: Sequence[PageText]) -> list[dict[str, str]]:
    """The cited sources that are pages we scraped; every page given when none of them is."""
    scraped = {url_key(p.url): p for p in pages}
    sources = [
        {"url": scraped[key].url, "title": scraped[key].title or str(s.title)}
        for s in cited
        if (key := url_key(str(s.url))) in scraped
    ]
    if not sources:
        sources = [{"url": p.url, "title": p.title or p.url} for p in pages]
    return list({s["url"]: s for s in sources}.values())


def clean_text(text: str) -> str:
    """`text` without sentences that carry a planted instruction or a URL."""
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    return " ".join(s for s in sentences if s and not INSTRUCTION.search(s) and not _URL.search(s))


def talking_points(
    model_points: Sequence[str], facts: LeadFacts, findings: Sequence[Finding], services: Sequence[str]
) -> list[str]:
    """The model's points that name the business or cite a fact, then points from the findings."""
    points: list[str] = []
    for point in model_points:
        text = clean_text(point)
        if text and names_business_or_fact(text, facts, findings) and text not in points:
            points.append(text)
    for point in finding_points(facts, findings, services):
        if len(points) >= MAX_TALKING_POINTS:
            break
        if point not in points:
            points.append(point)
    return points[:MAX_TALKING_POINTS]


def fit_reason(model_reason: str, facts: LeadFacts, findings: Sequence[Finding]) -> str:
    text = clean_text(model_reason)
    if text and names_business_or_fact(text, facts, findings):
        return text
    coded = [f.title.lower() for f in findings if f.source == "check"][:3]
    if coded:
        return f"{facts.name}'s website shows {len(findings)} gaps an agency can fix, among them {', '.join(coded)}."
    return f"{facts.name}'s website shows no coded gaps; its fit rests on its Google profile ({facts.rating_text()})."
