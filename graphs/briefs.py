"""A brief for every lead: a fit reason and talking points built from what is known about it.

Leads without a website, with only a social or directory page, temporarily closed, or whose site
could not be loaded (SITE_DOWN) are not researched: their brief comes from Places' facts (name,
rating, review count, category, website, status) and the audit's SITE_DOWN, by templates on those
facts, with no model call and no credit. Audited leads get their talking points from the dossier;
the templates here fill in for the model's points that neither name the business nor cite a fact.

Every sentence names the business; the Places facts (`places_findings`) are findings too
(source `places`), so every face can show why a lead ranks where it does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from graphs.audit_checks import Finding
from graphs.scoring import CLOSED_TEMPORARILY, service_factor

LOW_RATING = 4.0
FEW_REVIEWS = 5


@dataclass(frozen=True)
class LeadFacts:
    """What Places told us about a lead, and the campaign it was found for."""

    name: str
    place_id: str | None = None
    website: str | None = None
    domain: str | None = None  # own domain; None for no website or a social/directory page
    rating: float | None = None
    reviews_count: int | None = None
    signals: Sequence[str] = ()
    business_status: str | None = None
    vertical: str | None = None
    geography: str | None = None

    @classmethod
    def of(cls, opp: Any) -> LeadFacts:
        """From a `ClientOpportunity` row (or anything with its attributes)."""
        return cls(
            name=opp.name,
            place_id=opp.place_id,
            website=opp.website,
            domain=opp.domain,
            rating=opp.rating,
            reviews_count=opp.reviews_count,
            signals=tuple(opp.signals or ()),
            business_status=getattr(opp, "business_status", None),
            vertical=opp.target_vertical,
            geography=opp.target_geography,
        )

    @property
    def closed_temporarily(self) -> bool:
        return self.business_status == CLOSED_TEMPORARILY

    @property
    def maps_url(self) -> str | None:
        return f"https://www.google.com/maps/place/?q=place_id:{self.place_id}" if self.place_id else None

    def rating_text(self) -> str:
        reviews = self.reviews_count or 0
        if self.rating is None or not reviews:
            return "no Google reviews yet" if not reviews else f"{reviews} Google reviews"
        return f"{self.rating:.1f}★ from {reviews} Google review{'s' if reviews != 1 else ''}"


@dataclass(frozen=True)
class Brief:
    fit_reason: str
    talking_points: list[str]


def places_findings(facts: LeadFacts) -> list[Finding]:
    """Places' findings: the signals the lead raises, and a temporary closure, with the numbers."""
    found: list[Finding] = []
    url = facts.maps_url
    signals = set(facts.signals)
    if facts.closed_temporarily:
        found.append(
            Finding(
                CLOSED_TEMPORARILY,
                "Temporarily closed",
                f"Google lists {facts.name} as temporarily closed: not researched, not charged.",
                url,
                "businessStatus: CLOSED_TEMPORARILY",
                "places",
            )
        )
    if "MISSING_WEBSITE" in signals:
        found.append(
            Finding(
                "MISSING_WEBSITE",
                "No website",
                f"Google lists no website for {facts.name}.",
                url,
                "websiteUri: none",
                "places",
            )
        )
    if "WEAK_WEB_PRESENCE" in signals:
        found.append(
            Finding(
                "WEAK_WEB_PRESENCE",
                "Only a social or directory page",
                f"{facts.name}'s only web presence is a page on {_host(facts.website)}.",
                url,
                f"websiteUri: {facts.website}",
                "places",
            )
        )
    if "LOW_GOOGLE_RATING" in signals:
        found.append(
            Finding(
                "LOW_GOOGLE_RATING",
                "Low Google rating",
                f"{facts.name} is rated {facts.rating_text()} (below {LOW_RATING:.1f}).",
                url,
                f"rating {facts.rating}, userRatingCount {facts.reviews_count}",
                "places",
            )
        )
    if "FEW_GOOGLE_REVIEWS" in signals:
        found.append(
            Finding(
                "FEW_GOOGLE_REVIEWS",
                "Few Google reviews",
                f"{facts.name} has {facts.rating_text()} (fewer than {FEW_REVIEWS}).",
                url,
                f"userRatingCount {facts.reviews_count or 0}",
                "places",
            )
        )
    return found


def _host(url: str | None) -> str:
    host = (urlsplit(url or "").hostname or "").lower().removeprefix("www.")
    return host or "another site"


def _service(code: str, services: Sequence[str], default: str) -> str:
    _, service = service_factor(code, services)
    return service or default


def _where(facts: LeadFacts) -> str:
    return f" in {facts.geography}" if facts.geography else ""


def _reviews_point(facts: LeadFacts, services: Sequence[str]) -> str:
    reviews = facts.reviews_count or 0
    service = _service("NO_REVIEWS_SHOWN", services, "a review-request routine")
    if reviews < FEW_REVIEWS:
        return (
            f"{facts.name} has {facts.rating_text()}: {service} would give searchers{_where(facts)} "
            "a reason to pick it."
        )
    if facts.rating is not None and facts.rating < LOW_RATING:
        return (
            f"{facts.name} is rated {facts.rating_text()}; answering reviews and asking happy "
            f"customers for new ones ({service}) lifts that number."
        )
    return (
        f"{facts.name} is rated {facts.rating_text()}: word of mouth it already has, which a "
        "site of its own could turn into bookings."
    )


def brief_without_audit(
    facts: LeadFacts, services: Sequence[str] = (), *, site_down: Finding | None = None, failed: str = ""
) -> Brief:
    """The brief of a lead that was not researched, from Places' facts (and SITE_DOWN)."""
    name, kind = facts.name, facts.vertical or "local business"
    web = _service("SITE_DOWN", services, "a website")
    points: list[str] = []
    if facts.closed_temporarily:
        fit = (
            f"{name} is listed on Google as temporarily closed: not researched or charged; "
            "worth a call when it reopens."
        )
        points.append(
            f"Ask {name} when it plans to reopen, and offer to have its web presence ready by then."
        )
    elif site_down is not None:
        fit = (
            f"{name}'s website ({facts.website}) could not be loaded: customers who look it up find nothing."
        )
        points.append(
            f"{name}'s website did not load when we checked ({site_down.evidence}): every visitor "
            f"since has left; {web} with monitored hosting fixes that."
        )
    elif "MISSING_WEBSITE" in facts.signals:
        fit = f"{name} has no website on Google{_where(facts)}: a {kind} prospect for {web} from scratch."
        points.append(
            f"{name} has no website listed on Google, so searchers{_where(facts)} land on "
            f"competitors' sites: offer {web}."
        )
    elif "WEAK_WEB_PRESENCE" in facts.signals:
        host = _host(facts.website)
        fit = (
            f"{name}'s only web presence is a page on {host}: it has no site of its own to rank or book from."
        )
        points.append(
            f"{name} sends Google searchers to {host}, where competitors are a click away: "
            f"offer {web} of its own."
        )
    else:
        fit = f"{name}'s website could not be researched this time ({failed or 'no page could be read'})."
        points.append(
            f"{name}'s website ({facts.website}) could not be read by our audit: ask how it performs."
        )
    points.append(_reviews_point(facts, services))
    if facts.vertical:
        points.append(
            f"{name} is a {facts.vertical.rstrip('s') if facts.vertical.endswith('s') else facts.vertical}"
            f"{_where(facts)}: mention what similar businesses nearby gained from online booking "
            "and reviews."
        )
    return Brief(fit_reason=fit, talking_points=points)


# One sentence per code, naming the business and citing the evidence.
_FINDING_POINTS: dict[str, str] = {
    "SITE_DOWN": "{name}'s website did not load ({evidence}); every visitor is lost until it is back.",
    "NO_HTTPS": "{name}'s site is served without HTTPS ({evidence}), so browsers warn visitors it is not secure.",
    "NOT_MOBILE_FRIENDLY": "{name}'s homepage is not set up for phones ({evidence}); most local searches are on a phone.",
    "NO_META_DESCRIPTION": "{name}'s homepage has no meta description ({evidence}), so Google writes its search snippet.",
    "NO_LOCAL_BUSINESS_SCHEMA": "{name}'s site carries no LocalBusiness data ({evidence}); search engines must guess its hours and address.",
    "NO_ANALYTICS": "{name}'s site has no analytics tag ({evidence}): it cannot tell which marketing brings customers.",
    "NO_ONLINE_BOOKING": "{name}'s site takes no bookings online ({evidence}); every appointment needs a phone call.",
    "NO_PRICING": "{name}'s site shows no prices ({evidence}); shoppers who compare cost move on.",
    "NO_REVIEWS_SHOWN": "{name}'s site shows no reviews ({evidence}) even though it has {reviews} on Google.",
    "STALE_COPYRIGHT": "{name}'s footer still says {evidence}: the site looks abandoned.",
    "NO_CLICK_TO_CALL": "{name}'s phone number cannot be tapped to call ({evidence}).",
    "NO_SOCIAL_LINKS": "{name}'s site links to no social profile ({evidence}).",
    "THIN_CONTENT": "{name}'s homepage has {evidence}: too little for Google to rank it.",
    "BROKEN_LINKS": "{name}'s site has a broken link: {evidence}.",
}


def finding_points(facts: LeadFacts, findings: Sequence[Finding], services: Sequence[str] = ()) -> list[str]:
    """Talking points from the site's coded findings, the agency's services first."""
    ranked = sorted(
        (f for f in findings if f.code in _FINDING_POINTS),
        key=lambda f: -service_factor(f.code, services)[0],
    )
    points = []
    for found in ranked:
        text = _FINDING_POINTS[found.code].format(
            name=facts.name, evidence=found.evidence, reviews=facts.rating_text()
        )
        _, service = service_factor(found.code, services)
        points.append(f"{text} Our {service} service fixes this." if service else text)
    return points


def names_business_or_fact(point: str, facts: LeadFacts, findings: Sequence[Finding]) -> bool:
    """Whether a talking point names the business or cites a concrete fact (a number, or a
    finding's evidence)."""
    lowered = point.lower()
    name = facts.name.lower().strip()
    distinctive = [w for w in name.replace("'", " ").split() if len(w) > 3]
    if name and name in lowered:
        return True
    if distinctive and distinctive[0] in lowered:
        return True
    if any(ch.isdigit() for ch in point):
        return True
    return any(f.evidence and len(f.evidence) > 8 and f.evidence.lower()[:40] in lowered for f in findings)
