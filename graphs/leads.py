"""Turning raw places into scored leads: normalisation, dedupe, the hard filter, signals, score.

Pure functions only (no I/O), so the `source` and `filter_rank` nodes stay thin and the rules can be
property-tested. Thresholds and the signal names are the seed's (`constants.ts`, `signals.ts`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import phonenumbers

from graphs.briefs import LeadFacts, places_findings
from graphs.ranking import ranked
from graphs.run_input import MAX_LEADS, MIN_LEADS
from graphs.scoring import opportunity_score

if TYPE_CHECKING:
    import tldextract

LOW_RATING_THRESHOLD = 4.0
MIN_REVIEWS_FOR_LOW_RATING = 5
FEW_REVIEWS_THRESHOLD = 5

# Pages on these hosts belong to a platform, not to the business: never audited, never a dedupe key.
SOCIAL_DOMAINS = frozenset(
    {
        "facebook.com", "fb.com", "fb.me", "instagram.com", "yelp.com", "linkedin.com", "linktr.ee",
        "tiktok.com", "twitter.com", "x.com", "youtube.com", "pinterest.com", "nextdoor.com",
        "yellowpages.com", "angi.com", "angieslist.com", "homeadvisor.com", "thumbtack.com",
        "houzz.com", "bbb.org", "tripadvisor.com", "zocdoc.com", "healthgrades.com",
        "opentable.com", "mapquest.com", "foursquare.com", "google.com", "goo.gl", "g.page",
        "booksy.com", "vagaro.com", "groupon.com", "doordash.com", "ubereats.com", "grubhub.com",
    }
)  # fmt: skip
# Site builders host many businesses on subdomains: the whole host identifies the business.
HOSTED_SITE_DOMAINS = frozenset(
    {
        "wixsite.com", "squarespace.com", "weebly.com", "godaddysites.com", "business.site",
        "square.site", "carrd.co", "webflow.io", "github.io", "wordpress.com", "blogspot.com",
    }
)  # fmt: skip

SIGNALS = ("MISSING_WEBSITE", "WEAK_WEB_PRESENCE", "LOW_GOOGLE_RATING", "FEW_GOOGLE_REVIEWS")


@cache
def _extractor() -> tldextract.TLDExtract:
    # Imported on first use: tldextract brings `requests` with it (~0.2 s), which a run needs
    # only once its leads are sourced (assistant/cli/preload.py loads it meanwhile).
    import tldextract

    # The bundled public-suffix snapshot: no download at run time (this machine has no internet).
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def clamp_num_leads(n: int) -> int:
    return max(MIN_LEADS, min(MAX_LEADS, int(n)))


def build_text_query(vertical: str, geography: str) -> str:
    return f"{' '.join(vertical.split())} in {' '.join(geography.split())}"


def normalize_website(raw: str | None) -> str | None:
    """`Acme.com/Contact` -> `https://acme.com/Contact`: scheme defaulted to https, host lowercased,
    `www.` dropped, fragment dropped. An explicit `http://` is kept: HTTPS absence is a finding."""
    if not raw or not raw.strip():
        return None
    text = raw.strip()
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:  # e.g. a stray "[" or a port out of range
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    if not host or any(ch.isspace() for ch in host):
        return None
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def _registered_domain(host: str) -> str:
    ext = _extractor()(host)
    if ext.suffix and ext.domain:
        return f"{ext.domain}.{ext.suffix}".lower()
    return host.lower()


def is_social_url(website: str | None) -> bool:
    url = normalize_website(website)
    if url is None:
        return False
    host = urlsplit(url).hostname or ""
    return _registered_domain(host) in SOCIAL_DOMAINS


def canonical_domain(website: str | None) -> str | None:
    """The business's own domain (`shop.acme.co.uk` -> `acme.co.uk`), or None for no website or a
    social/aggregator page. Hosts of site builders keep their subdomain (`acme.wixsite.com`)."""
    url = normalize_website(website)
    if url is None:
        return None
    host = urlsplit(url).hostname or ""
    registered = _registered_domain(host)
    if registered in SOCIAL_DOMAINS:
        return None
    if registered in HOSTED_SITE_DOMAINS:
        return host
    return registered


def normalize_phone(raw: str | None, *, region: str = "US") -> str | None:
    """E.164 (`+15125550100`) for a valid number, else None (an unusable phone counts as none)."""
    if not raw or not raw.strip():
        return None
    try:
        number = phonenumbers.parse(raw, None if raw.strip().startswith("+") else region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True)
class RawPlace:
    """A place as sourced (the flow's `places_snapshot` rows)."""

    place_id: str
    name: str
    website: str | None = None
    phone: str | None = None  # national or international format as the provider gave it
    rating: float | None = None
    reviews_count: int | None = None
    address: str | None = None
    business_status: str | None = None

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.place_id,
            "name": self.name,
            "website": self.website,
            "phone": self.phone,
            "rating": self.rating,
            "reviews": self.reviews_count,
            "address": self.address,
            "business_status": self.business_status,
        }

    @classmethod
    def from_snapshot(cls, row: dict[str, Any]) -> RawPlace:
        return cls(
            place_id=str(row["id"]),
            name=str(row.get("name") or ""),
            website=row.get("website"),
            phone=row.get("phone"),
            rating=row.get("rating"),
            reviews_count=row.get("reviews"),
            address=row.get("address"),
            business_status=row.get("business_status"),
        )


def dedupe_places(places: Iterable[RawPlace]) -> list[RawPlace]:
    """First occurrence wins, by place id and by own canonical domain (social pages never collide)."""
    seen_ids: set[str] = set()
    seen_domains: set[str] = set()
    kept: list[RawPlace] = []
    for place in places:
        domain = canonical_domain(place.website)
        if place.place_id in seen_ids or (domain is not None and domain in seen_domains):
            continue
        seen_ids.add(place.place_id)
        if domain is not None:
            seen_domains.add(domain)
        kept.append(place)
    return kept


def detect_signals(place: RawPlace) -> list[str]:
    signals: list[str] = []
    website = normalize_website(place.website)
    if website is None:
        signals.append("MISSING_WEBSITE")
    elif is_social_url(website):
        signals.append("WEAK_WEB_PRESENCE")
    reviews = place.reviews_count or 0
    if (
        place.rating is not None
        and place.rating < LOW_RATING_THRESHOLD
        and reviews >= MIN_REVIEWS_FOR_LOW_RATING
    ):
        signals.append("LOW_GOOGLE_RATING")
    if reviews < FEW_REVIEWS_THRESHOLD:
        signals.append("FEW_GOOGLE_REVIEWS")
    return signals


def qualification_score(signals: Sequence[str], criteria: Sequence[str]) -> float:
    """Share of the agency's criteria that the lead matches. An agency that set no criteria is
    scored against all four signals (db/signals.py), so its leads still rank by how weak they are."""
    wanted = set(criteria) or set(SIGNALS)
    return len(wanted.intersection(signals)) / len(wanted)


@dataclass(frozen=True)
class ScoredLead:
    place_id: str
    name: str
    phone: str  # E.164
    website: str | None
    domain: str | None  # own canonical domain; None for no website or a social page
    rating: float | None
    reviews_count: int | None
    address: str | None
    signals: list[str] = field(default_factory=list)
    qualification_score: float = 0.0
    opportunity_score: float = 0.0
    score_reasons: list[str] = field(default_factory=list)
    business_status: str | None = None

    @property
    def auditable(self) -> bool:
        """A site of its own, and open: a temporarily closed business is not researched."""
        return self.domain is not None and self.website is not None and not self.closed_temporarily

    @property
    def closed_temporarily(self) -> bool:
        return self.business_status == "CLOSED_TEMPORARILY"


@dataclass(frozen=True)
class FilterOutcome:
    kept: list[ScoredLead]  # ranked (graphs/ranking.py)
    dropped: dict[str, int]  # reason -> count
    examined: int = 0  # places looked at before `limit` leads were kept (all of them without one)


def drop_reason(place: RawPlace, *, region: str = "US") -> str | None:
    """Why the hard filter drops a place (`closed_permanently`, `no_phone`), None when it passes."""
    if place.business_status == "CLOSED_PERMANENTLY":
        return "closed_permanently"
    if normalize_phone(place.phone, region=region) is None:
        return "no_phone"
    return None


def filter_and_score(
    places: Iterable[RawPlace],
    criteria: Sequence[str],
    *,
    region: str = "US",
    limit: int | None = None,
    services: Sequence[str] = (),
) -> FilterOutcome:
    """The hard filter (a valid phone; not permanently closed), then signals, score and rank.
    With `limit`, the first `limit` places that pass (in the order given, Places' relevance)
    are kept and the rest are not looked at."""
    kept: list[ScoredLead] = []
    dropped: dict[str, int] = {}
    examined = 0
    for place in places:
        if limit is not None and len(kept) >= limit:
            break
        examined += 1
        reason = drop_reason(place, region=region)
        if reason is not None:
            dropped[reason] = dropped.get(reason, 0) + 1
            continue
        phone = normalize_phone(place.phone, region=region)
        assert phone is not None  # drop_reason checked it
        signals = detect_signals(place)
        website = normalize_website(place.website)
        domain = canonical_domain(website)
        facts = LeadFacts(
            name=place.name.strip() or place.place_id,
            place_id=place.place_id,
            website=website,
            domain=domain,
            rating=place.rating,
            reviews_count=place.reviews_count,
            signals=tuple(signals),
            business_status=place.business_status,
        )
        score = opportunity_score(signals, criteria, places_findings(facts), services)
        kept.append(
            ScoredLead(
                place_id=place.place_id,
                name=place.name.strip() or place.place_id,
                phone=phone,
                website=website,
                domain=domain,
                rating=place.rating,
                reviews_count=place.reviews_count,
                address=place.address,
                signals=signals,
                qualification_score=qualification_score(signals, criteria),
                opportunity_score=score.value,
                score_reasons=score.reasons,
                business_status=place.business_status,
            )
        )
    return FilterOutcome(kept=ranked(kept), dropped=dropped, examined=examined)
