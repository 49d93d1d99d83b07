"""What each finding code means to a business owner: its report category, a plain title, why it
matters, and the phrase outreach uses for it. One table, so the report, the outreach drafts and
the comparison speak of a finding the same way.

The codes are graphs/audit_checks.py's site checks and db/signals.py's Places signals.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

CATEGORIES: tuple[tuple[str, str], ...] = (
    ("website", "Website basics"),
    ("local_search", "Local search"),
    ("reputation", "Reputation"),
    ("conversion", "Conversion"),
    ("presence", "Presence"),
)


@dataclass(frozen=True)
class Guide:
    category: str
    title: str  # the problem, as the owner would say it
    why: str  # why it matters, in plain language
    pitch: str  # for outreach: "<business> <pitch>", e.g. "has no way to book online"
    has: str  # what a competitor without this finding has: "take bookings online"
    source: str  # "check" (the site) or "places"


GUIDE: dict[str, Guide] = {
    "SITE_DOWN": Guide("website", "The website does not load", "Anyone who searches for you and clicks through finds nothing, and Google drops sites it cannot reach.", "has a website that does not load", "have a website that loads", "check"),
    "NO_HTTPS": Guide("website", "The site is not secure (no HTTPS)", "Browsers mark plain-HTTP sites \u201cNot secure\u201d, which scares visitors off before they read a word.", "has a site browsers mark \u201cNot secure\u201d", "have a secure (HTTPS) site", "check"),
    "NOT_MOBILE_FRIENDLY": Guide("website", "The site is not set up for phones", "Most local searches happen on a phone; a page that does not fit the screen loses them.", "has a site that is not set up for phones", "have a mobile-friendly site", "check"),
    "BROKEN_LINKS": Guide("website", "Links on the site lead to error pages", "A link that ends on an error page looks neglected and loses the visitor who clicked it.", "has links that lead to error pages", "have no broken links", "check"),
    "STALE_COPYRIGHT": Guide("website", "The site looks out of date", "An old copyright year tells visitors nobody has looked after the site in years.", "shows an old copyright year", "look current", "check"),
    "THIN_CONTENT": Guide("website", "The homepage says very little", "Search engines and visitors both need words to understand what you do and where.", "has very little on its homepage", "explain their services on the homepage", "check"),
    "NO_META_DESCRIPTION": Guide("local_search", "No description for search results", "Without one, Google picks a random snippet to show under your name.", "has no description for search results", "write their own search-result description", "check"),
    "NO_LOCAL_BUSINESS_SCHEMA": Guide("local_search", "Search engines are not told it is a local business", "Structured business data (hours, address, phone) helps you show up in map and local results.", "does not tell search engines its hours and address", "give search engines their hours and address", "check"),
    "LOW_GOOGLE_RATING": Guide("reputation", "A low Google rating", "Most people compare star ratings before they call; a low one sends them to a competitor.", "has a low Google rating", "have a higher Google rating", "places"),
    "FEW_GOOGLE_REVIEWS": Guide("reputation", "Few Google reviews", "A handful of reviews does not convince a stranger; competitors with many reviews look safer.", "has few Google reviews", "have more Google reviews", "places"),
    "NO_REVIEWS_SHOWN": Guide("reputation", "No reviews or testimonials on the site", "Visitors trust what other customers say more than what a business says about itself.", "shows no reviews on its site", "show reviews on their site", "check"),
    "NO_ONLINE_BOOKING": Guide("conversion", "No way to book online", "People who find you at night or on the go book with whoever lets them do it right away.", "has no way to book online", "take bookings online", "check"),
    "NO_PRICING": Guide("conversion", "No prices shown", "Visitors who cannot see even a starting price often leave to find someone who shows one.", "shows no prices", "show prices", "check"),
    "NO_CLICK_TO_CALL": Guide("conversion", "The phone number cannot be tapped to call", "On a phone, a number you cannot tap is a call you do not get.", "has no tap-to-call phone number", "have a tap-to-call phone number", "check"),
    "NO_ANALYTICS": Guide("conversion", "No visitor analytics", "Without analytics nobody knows how many people visit, from where, or what they do.", "measures nothing about its visitors", "measure their visitors", "check"),
    "MISSING_WEBSITE": Guide("presence", "No website", "Most customers look a business up online first; without a site you are missing from that search.", "has no website", "have a website", "places"),
    "WEAK_WEB_PRESENCE": Guide("presence", "Only a social or directory page, no site of its own", "A directory or social page is rented space: no booking, no search ranking of your own.", "has only a social or directory page", "have a website of their own", "places"),
    "CLOSED_TEMPORARILY": Guide("presence", "Listed on Google as temporarily closed", "People who see \u201ctemporarily closed\u201d call someone else; the listing should say when you reopen.", "is listed on Google as temporarily closed", "are listed as open", "places"),
    "NO_SOCIAL_LINKS": Guide("presence", "No links to social profiles", "Linked profiles show you are active and give visitors another way to follow you.", "links to no social profiles", "link their social profiles", "check"),
}  # fmt: skip

# Codes only an audited site can have, or be cleared of.
SITE_CODES = frozenset(code for code, guide in GUIDE.items() if guide.source == "check")


_SINGULAR = {"have": "Has", "take": "Takes", "show": "Shows", "write": "Writes", "explain": "Explains",
             "measure": "Measures", "link": "Links", "give": "Gives", "look": "Looks", "are": "Is"}  # fmt: skip


def in_good_shape(code: str) -> str:
    """What a business that passed the check has: "Has a secure (HTTPS) site"."""
    verb, _, rest = GUIDE[code].has.partition(" ")
    return f"{_SINGULAR.get(verb, verb.capitalize())} {rest}".replace(" their ", " its ")


def guide(code: str) -> Guide | None:
    return GUIDE.get(code)


def coded(findings: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The findings that carry a code we know, once per code, in the order given."""
    seen: set[str] = set()
    kept: list[dict[str, Any]] = []
    for finding in findings:
        code = str(finding.get("code") or "")
        if code in GUIDE and code not in seen:
            seen.add(code)
            kept.append(finding)
    return kept


# Strongest first: what an owner feels most (lost customers), then trust, then polish.
STRENGTH: tuple[str, ...] = (
    "SITE_DOWN",
    "CLOSED_TEMPORARILY",
    "MISSING_WEBSITE",
    "NO_ONLINE_BOOKING",
    "WEAK_WEB_PRESENCE",
    "LOW_GOOGLE_RATING",
    "NOT_MOBILE_FRIENDLY",
    "NO_HTTPS",
    "FEW_GOOGLE_REVIEWS",
    "NO_CLICK_TO_CALL",
    "NO_REVIEWS_SHOWN",
    "NO_PRICING",
    "BROKEN_LINKS",
    "NO_LOCAL_BUSINESS_SCHEMA",
    "NO_META_DESCRIPTION",
    "STALE_COPYRIGHT",
    "THIN_CONTENT",
    "NO_ANALYTICS",
    "NO_SOCIAL_LINKS",
)


def strongest(codes: Sequence[str], limit: int = 2) -> list[str]:
    rank = {code: index for index, code in enumerate(STRENGTH)}
    known = sorted({c for c in codes if c in rank}, key=lambda c: rank[c])
    return known[:limit]
