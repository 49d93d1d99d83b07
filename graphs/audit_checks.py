"""The audit's deterministic checks: one function per finding code (README, "The audit, the score and the brief").

Each check reads what Firecrawl returned for the pages of one site (the full page's `rawHtml`,
parsed with selectolax's Lexbor HTML5 parser, plus `links`, metadata and the status) and, when
the site shows the gap, returns a `Finding` with its evidence: the page that shows it and a quote,
a tag or a status. The model never decides these codes; it only writes around them.

Markup, not prose, decides wherever markup can: booking is a booking provider's link, iframe or
script, or a form that asks for a date or time, so "Online booking is not available" or a
"Book now" button that dials a phone is not booking; a review is a quoted testimonial
(`<blockquote>`) or a review provider's widget, so "free case review" is not one; a price is a
dollar amount in a text block that does not speak of a discount, a verdict or a waived fee. Pages
are read whole (header, navigation and footer too): copyright lines, phone links and social icons
live there.

Which pages count: the homepage for `NOT_MOBILE_FRIENDLY`, `NO_META_DESCRIPTION` and
`THIN_CONTENT`; every page read for the others. An absence is only as sure as the pages read,
which is why graphs/url_selection.py always considers the booking, pricing and reviews pages.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

CODES: tuple[str, ...] = (
    "SITE_DOWN",
    "NO_HTTPS",
    "NOT_MOBILE_FRIENDLY",
    "NO_META_DESCRIPTION",
    "NO_LOCAL_BUSINESS_SCHEMA",
    "NO_ANALYTICS",
    "NO_ONLINE_BOOKING",
    "NO_PRICING",
    "NO_REVIEWS_SHOWN",
    "STALE_COPYRIGHT",
    "NO_CLICK_TO_CALL",
    "NO_SOCIAL_LINKS",
    "THIN_CONTENT",
    "BROKEN_LINKS",
)
THIN_CONTENT_WORDS = 150
QUOTE_CHARS = 160

# What each code says, as a title and the sentence a dossier's gaps carry.
TITLES: dict[str, str] = {
    "SITE_DOWN": "Website could not be loaded",
    "NO_HTTPS": "No HTTPS",
    "NOT_MOBILE_FRIENDLY": "Not mobile-friendly",
    "NO_META_DESCRIPTION": "No meta description",
    "NO_LOCAL_BUSINESS_SCHEMA": "No LocalBusiness structured data",
    "NO_ANALYTICS": "No analytics or ads tag",
    "NO_ONLINE_BOOKING": "No online booking",
    "NO_PRICING": "No prices shown",
    "NO_REVIEWS_SHOWN": "No reviews or testimonials shown",
    "STALE_COPYRIGHT": "Stale copyright year",
    "NO_CLICK_TO_CALL": "No click-to-call link",
    "NO_SOCIAL_LINKS": "No social profile links",
    "THIN_CONTENT": "Thin homepage content",
    "BROKEN_LINKS": "Broken links",
}

# schema.org's LocalBusiness and its subtypes (https://schema.org/LocalBusiness, "More specific
# Types", followed down), which is what Google's local results read.
LOCAL_BUSINESS_TYPES = frozenset(
    """LocalBusiness AnimalShelter ArchiveOrganization AutomotiveBusiness AutoBodyShop AutoDealer
    AutoPartsStore AutoRental AutoRepair AutoWash GasStation MotorcycleDealer MotorcycleRepair
    ChildCare Dentist DryCleaningOrLaundry EmergencyService FireStation Hospital PoliceStation
    EmploymentAgency EntertainmentBusiness AdultEntertainment AmusementPark ArtGallery Casino
    ComedyClub MovieTheater NightClub FinancialService AccountingService AutomatedTeller
    BankOrCreditUnion InsuranceAgency FoodEstablishment Bakery BarOrPub Brewery CafeOrCoffeeShop
    Distillery FastFoodRestaurant IceCreamShop Restaurant Winery GovernmentOffice PostOffice
    HealthAndBeautyBusiness BeautySalon DaySpa HairSalon HealthClub NailSalon TattooParlor
    HomeAndConstructionBusiness Electrician GeneralContractor HVACBusiness HousePainter Locksmith
    MovingCompany Plumber RoofingContractor InternetCafe LegalService Attorney Notary Library
    LodgingBusiness BedAndBreakfast Campground Hostel Hotel Motel Resort VacationRental
    MedicalBusiness CommunityHealth Dermatology DietNutrition Emergency Geriatric Gynecologic
    MedicalClinic CovidTestingFacility Midwifery Nursing Obstetric Oncologic Optician Optometric
    Otolaryngologic Pediatric Pharmacy Physician IndividualPhysician PhysiciansOffice Physiotherapy
    PlasticSurgery Podiatric PrimaryCare Psychiatric PublicHealth ProfessionalService RadioStation
    RealEstateAgent RecyclingCenter SelfStorage ShoppingCenter SportsActivityLocation BowlingAlley
    ExerciseGym GolfCourse PublicSwimmingPool SkiResort SportsClub StadiumOrArena TennisComplex
    Store BikeStore BookStore ClothingStore ComputerStore ConvenienceStore DepartmentStore
    ElectronicsStore Florist FurnitureStore GardenStore GroceryStore HardwareStore HobbyShop
    HomeGoodsStore JewelryStore LiquorStore MensClothingStore MobilePhoneStore MovieRentalStore
    MusicStore OfficeEquipmentStore OutletStore PawnShop PetStore ShoeStore SportingGoodsStore
    TireShop ToyStore WholesaleStore TelevisionStation TouristInformationCenter
    TravelAgency""".split()  # noqa: SIM905
)
# Analytics and ads tags as their vendors publish them: a script loading from these hosts, or an
# inline snippet calling their loader.
ANALYTICS_HOSTS = (
    "googletagmanager.com",
    "google-analytics.com",
    "connect.facebook.net",
    "static.hotjar.com",
    "clarity.ms",
    "plausible.io",
    "cdn.segment.com",
    "snap.licdn.com",
    "analytics.tiktok.com",
    "bat.bing.com",
    "static.ads-twitter.com",
    "googleadservices.com",
    "matomo.cloud",
    "cdn.usefathom.com",
)
ANALYTICS_SNIPPETS = re.compile(
    r"googletagmanager\.com|google-analytics\.com|connect\.facebook\.net|static\.hotjar\.com|"
    r"clarity\.ms|plausible\.io|\bgtag\(\s*['\"]config|\bfbq\(\s*['\"]init|_gaq\.push|\bttq\.load\(",
    re.I,
)
BOOKING_HOSTS = (
    "calendly.com",
    "acuityscheduling.com",
    "zocdoc.com",
    "opentable.com",
    "resy.com",
    "exploretock.com",
    "squareup.com",
    "square.site",
    "vagaro.com",
    "booksy.com",
    "mindbodyonline.com",
    "mindbody.io",
    "housecallpro.com",
    "getjobber.com",
    "servicetitan.com",
    "nexhealth.com",
    "janeapp.com",
    "vetstoria.com",
    "localmed.com",
    "setmore.com",
    "simplybook.me",
    "schedulicity.com",
    "fresha.com",
    "yelpreservations.com",
    "sevenrooms.com",
    "tablein.com",
)
REVIEW_WIDGET_HOSTS = (
    "birdeye.com",
    "elfsight.com",
    "trustindex.io",
    "embedsocial.com",
    "widget.trustpilot.com",
    "reviews.io",
    "grade.us",
    "podium.com",
    "reviewsonmywebsite.com",
)
SOCIAL_HOSTS = (
    "facebook.com",
    "instagram.com",
    "x.com",
    "twitter.com",
    "linkedin.com",
    "youtube.com",
    "tiktok.com",
    "pinterest.com",
)
# First path segments of share and intent links: a button to share the page, not a profile.
SHARE_PATHS = frozenset({"sharer", "sharer.php", "share", "sharing", "intent", "dialog", "shareArticle"})
# A text block with one of these words speaks of money that is not a price of the business:
# "$50 off", "we recovered $2.1M", "we waive the $89 fee".
NOT_A_PRICE = re.compile(
    r"\b(off|save|saving|savings|discount|coupon|rebate|verdict|settlement|recovered|awarded|"
    r"waive[sd]?|waiving)\b",
    re.I,
)
PRICE = re.compile(r"(?:[$£€]\s?\d[\d,]*(?:\.\d{1,2})?)|(?:\b\d[\d,]*(?:\.\d{2})?\s?(?:USD|EUR|GBP)\b)")
COPYRIGHT = re.compile(r"(?:©|&copy;|\(c\)|copyright)\s*(?:©\s*)?(\d{4})(?:\s*(?:-|–|—|to)\s*(\d{4}))?", re.I)
BLOCK_TAGS = frozenset(
    "p li td th dt dd h1 h2 h3 h4 h5 h6 blockquote figcaption address label button option caption".split()  # noqa: SIM905
)
INVISIBLE_TAGS = frozenset({"script", "style", "noscript", "template", "title", "head"})
CHROME_TAGS = frozenset({"header", "nav", "footer", "aside"})
BOOKING_INPUT_TYPES = frozenset({"date", "datetime-local", "time"})


@dataclass(frozen=True)
class Finding:
    """One coded finding (DESIGN "JSON shapes": `findings[]`)."""

    code: str
    title: str
    detail: str
    evidence_url: str | None
    evidence: str
    source: str = "check"  # check | places | model

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
            "evidence_url": self.evidence_url,
            "evidence": self.evidence,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> Finding:
        return cls(
            code=str(row.get("code") or ""),
            title=str(row.get("title") or ""),
            detail=str(row.get("detail") or ""),
            evidence_url=row.get("evidence_url"),
            evidence=str(row.get("evidence") or ""),
            source=str(row.get("source") or "check"),
        )


def finding(code: str, detail: str, evidence_url: str | None, evidence: str) -> Finding:
    return Finding(code, TITLES[code], detail, evidence_url, _quote(evidence))


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1].rstrip() + "…"


# --------------------------------------------------------------------------------------------
# Reading one page


@dataclass(frozen=True)
class ScrapedPage:
    """One page as Firecrawl returned it (the full page, not only its main content)."""

    url: str  # where it was served, after redirects
    raw_html: str
    status_code: int | None = 200
    title: str | None = None
    markdown: str = ""
    links: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class PageFacts:
    """What one page shows, read from its HTML once and shared by every check."""

    url: str
    metas: dict[str, str] = field(default_factory=dict)
    schema_types: set[str] = field(default_factory=set)
    script_srcs: list[str] = field(default_factory=list)
    inline_scripts: list[str] = field(default_factory=list)
    embeds: list[str] = field(default_factory=list)  # iframe and script src, resolved
    hrefs: list[str] = field(default_factory=list)  # every <a href>, resolved
    raw_hrefs: list[str] = field(default_factory=list)
    date_inputs: list[str] = field(default_factory=list)  # a booking form's date/time inputs, as tags
    quotes: list[str] = field(default_factory=list)  # <blockquote> texts
    blocks: list[str] = field(default_factory=list)  # text grouped by nearest block element
    main_words: int = 0
    has_main: bool = False
    chrome_free_words: int = 0


def _hidden(node: LexborNode) -> bool:
    attrs = node.attributes
    style = str(attrs.get("style") or "").replace(" ", "").lower()
    return (
        "hidden" in attrs
        or str(attrs.get("aria-hidden") or "").lower() == "true"
        or "display:none" in style
        or "visibility:hidden" in style
    )


def _schema_types(value: Any) -> Iterator[str]:
    if isinstance(value, list):
        for item in value:
            yield from _schema_types(item)
    elif isinstance(value, dict):
        kind = value.get("@type")
        for name in kind if isinstance(kind, list) else [kind]:
            if isinstance(name, str):
                yield name.rsplit("/", 1)[-1]
        for key, item in value.items():
            if key != "@type":
                yield from _schema_types(item)


def read_page(url: str, html: str) -> PageFacts:
    """Parse a page's HTML into the facts the checks read."""
    tree = LexborHTMLParser(html or "<html></html>")
    facts = PageFacts(url=url)
    for meta in tree.css("meta[name]"):
        name = str(meta.attributes.get("name") or "").lower()
        facts.metas.setdefault(name, str(meta.attributes.get("content") or ""))
    for script in tree.css("script"):
        src = script.attributes.get("src")
        kind = str(script.attributes.get("type") or "").lower()
        if src:
            facts.script_srcs.append(urljoin(url, str(src)))
        elif kind == "application/ld+json":
            # A broken JSON-LD block gives Google nothing either.
            with contextlib.suppress(ValueError):
                facts.schema_types.update(_schema_types(json.loads(script.text())))
        else:
            facts.inline_scripts.append(script.text())
    for node in tree.css("[itemtype]"):  # microdata: itemtype="https://schema.org/Dentist"
        for itemtype in str(node.attributes.get("itemtype") or "").split():
            facts.schema_types.add(itemtype.rstrip("/").rsplit("/", 1)[-1])
    for node in tree.css("iframe[src], script[src], [data-url], [data-src]"):
        for attr in ("src", "data-url", "data-src"):
            value = node.attributes.get(attr)
            if value:
                facts.embeds.append(urljoin(url, str(value)))
    for anchor in tree.css("a[href]"):
        href = str(anchor.attributes.get("href") or "").strip()
        facts.raw_hrefs.append(href)
        facts.hrefs.append(urljoin(url, href))
    for form in tree.css("form"):
        for field_ in form.css("input"):
            if str(field_.attributes.get("type") or "").lower() in BOOKING_INPUT_TYPES:
                facts.date_inputs.append(_tag(field_))
    for quote in tree.css("blockquote"):
        text = " ".join(quote.text(separator=" ").split())
        if text:
            facts.quotes.append(text)
    body = tree.body
    if body is not None:
        blocks: dict[int, list[str]] = {}
        _walk(body, facts, blocks, block=0, hidden=False, in_main=False, in_chrome=False)
        facts.blocks = [t for parts in blocks.values() if (t := " ".join(" ".join(parts).split()))]
    return facts


def _tag(node: LexborNode) -> str:
    attrs = " ".join(f'{k}="{v}"' if v is not None else k for k, v in node.attributes.items())
    return f"<{node.tag} {attrs}>" if attrs else f"<{node.tag}>"


def _walk(
    node: LexborNode,
    facts: PageFacts,
    blocks: dict[int, list[str]],
    *,
    block: int,
    hidden: bool,
    in_main: bool,
    in_chrome: bool,
) -> None:
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag == "-text":
            text = child.text_content or ""
            blocks.setdefault(block, []).append(text)
            if not hidden:
                words = sum(1 for token in text.split() if any(ch.isalnum() for ch in token))
                if in_main:
                    facts.main_words += words
                if not in_chrome:
                    facts.chrome_free_words += words
            continue
        if tag is None or tag.startswith("-") or tag.startswith("_") or tag in INVISIBLE_TAGS:
            continue
        is_main = tag == "main" or child.attributes.get("role") == "main"
        facts.has_main = facts.has_main or is_main
        _walk(
            child,
            facts,
            blocks,
            block=child.mem_id if tag in BLOCK_TAGS else block,
            hidden=hidden or _hidden(child),
            in_main=in_main or is_main,
            in_chrome=in_chrome or tag in CHROME_TAGS,
        )


def _host(url: str) -> str:
    return (urlsplit(url if "//" in url else f"https://{url}").hostname or "").lower()


def host_matches(url: str, hosts: Iterable[str]) -> bool:
    host = _host(url)
    return any(host == h or host.endswith("." + h) for h in hosts)


def bare_host(url: str) -> str:
    return _host(url).removeprefix("www.")


def _url_key(url: str) -> str:
    return bare_host(url) + (urlsplit(url).path.rstrip("/") or "/")


# --------------------------------------------------------------------------------------------
# The checks: each returns a Finding when the site shows the gap, else None


def check_site_down(url: str, reason: str) -> Finding:
    """The homepage could not be loaded: Firecrawl's reason (or the status it answered) is the
    evidence. The audit decides this before any other check (nothing else is known then)."""
    return finding("SITE_DOWN", f"The website at {url} could not be loaded: {reason}", url, reason)


def check_https(home_url: str, http_only: bool) -> Finding | None:
    """`http_only`: the homepage was served over http:// and https:// did not answer."""
    if not http_only:
        return None
    return finding(
        "NO_HTTPS",
        "The site is served only over plain HTTP: browsers mark it \u201cNot secure\u201d.",
        home_url,
        f"served at {home_url}; https:// did not answer",
    )


def check_viewport(home: PageFacts) -> Finding | None:
    if home.metas.get("viewport", "").strip():
        return None
    return finding(
        "NOT_MOBILE_FRIENDLY",
        "The homepage has no viewport meta tag, so phones show it as a shrunken desktop page.",
        home.url,
        'no <meta name="viewport"> in the homepage',
    )


def check_meta_description(home: PageFacts) -> Finding | None:
    if home.metas.get("description", "").strip():
        return None
    present = "description" in home.metas
    return finding(
        "NO_META_DESCRIPTION",
        "The homepage has no meta description: search results show whatever text Google picks.",
        home.url,
        '<meta name="description" content=""> (empty)' if present else 'no <meta name="description">',
    )


def check_local_business_schema(pages: Sequence[PageFacts]) -> Finding | None:
    if any(p.schema_types & LOCAL_BUSINESS_TYPES for p in pages):
        return None
    other = sorted({t for p in pages for t in p.schema_types})
    evidence = (
        f"structured data found is only {', '.join(other[:4])}"
        if other
        else f"no schema.org data on the {len(pages)} page{'s' if len(pages) != 1 else ''} read"
    )
    return finding(
        "NO_LOCAL_BUSINESS_SCHEMA",
        "No schema.org LocalBusiness data: search engines cannot read the hours, address and "
        "category from the site.",
        pages[0].url if pages else None,
        evidence,
    )


def _analytics_tag(page: PageFacts) -> str | None:
    for src in page.script_srcs:
        if host_matches(src, ANALYTICS_HOSTS):
            return src
    for text in page.inline_scripts:
        if found := ANALYTICS_SNIPPETS.search(text):
            return found.group(0)
    return None


def check_analytics(pages: Sequence[PageFacts]) -> Finding | None:
    if any(_analytics_tag(p) for p in pages):
        return None
    return finding(
        "NO_ANALYTICS",
        "No analytics or ads tag (Google tag, Tag Manager, Meta Pixel, ...): the business cannot "
        "see where its visitors come from.",
        pages[0].url if pages else None,
        f"no analytics script on the {len(pages)} page{'s' if len(pages) != 1 else ''} read",
    )


def booking_evidence(page: PageFacts) -> str | None:
    for url in [*page.hrefs, *page.embeds]:
        if host_matches(url, BOOKING_HOSTS):
            return url
    return page.date_inputs[0] if page.date_inputs else None


def check_online_booking(pages: Sequence[PageFacts]) -> Finding | None:
    if any(booking_evidence(p) for p in pages):
        return None
    said = next(
        (
            (p.url, b)
            for p in pages
            for b in p.blocks
            if re.search(r"\b(book|booking|schedul\w*|reserv\w*|appointment)", b, re.I)
        ),
        None,
    )
    return finding(
        "NO_ONLINE_BOOKING",
        "No way to book, reserve or request an appointment online: no booking provider and no "
        "booking form on the pages read.",
        said[0] if said else (pages[0].url if pages else None),
        f"\u201c{said[1]}\u201d, with no booking link or form" if said else "no booking link, widget or form",
    )


def price_evidence(page: PageFacts) -> str | None:
    return next((b for b in page.blocks if PRICE.search(b) and not NOT_A_PRICE.search(b)), None)


def check_pricing(pages: Sequence[PageFacts]) -> Finding | None:
    if any(price_evidence(p) for p in pages):
        return None
    money = next(((p.url, b) for p in pages for b in p.blocks if PRICE.search(b)), None)
    return finding(
        "NO_PRICING",
        "No prices on the site: visitors who compare cost move on to a competitor that shows them.",
        money[0] if money else (pages[0].url if pages else None),
        f"only \u201c{money[1]}\u201d, which is not a price" if money else "no price on the pages read",
    )


def review_evidence(page: PageFacts) -> str | None:
    if page.quotes:
        return page.quotes[0]
    return next((u for u in page.embeds if host_matches(u, REVIEW_WIDGET_HOSTS)), None)


def check_reviews(pages: Sequence[PageFacts]) -> Finding | None:
    if any(review_evidence(p) for p in pages):
        return None
    said = next(((p.url, b) for p in pages for b in p.blocks if re.search(r"\breviews?\b", b, re.I)), None)
    return finding(
        "NO_REVIEWS_SHOWN",
        "No customer reviews or testimonials on the site: its Google reviews do no work for it there.",
        said[0] if said else (pages[0].url if pages else None),
        f"only \u201c{said[1]}\u201d, which is not a review" if said else "no testimonial or review widget",
    )


def copyright_years(page: PageFacts) -> list[tuple[int, str]]:
    """(latest year, the notice) of every copyright notice: a range counts by its last year."""
    found = []
    for block in page.blocks:
        for match in COPYRIGHT.finditer(block):
            found.append((int(match.group(2) or match.group(1)), match.group(0)))
    return found


def check_copyright(pages: Sequence[PageFacts], *, year: int) -> Finding | None:
    notices = [(y, text, p.url) for p in pages for y, text in copyright_years(p)]
    if not notices:
        return None
    latest, text, url = max(notices, key=lambda n: n[0])
    if latest >= year - 1:
        return None
    return finding(
        "STALE_COPYRIGHT",
        f"The newest copyright year on the site is {latest}: it looks unmaintained.",
        url,
        text,
    )


def check_click_to_call(pages: Sequence[PageFacts]) -> Finding | None:
    if any(h.lower().startswith("tel:") for p in pages for h in p.raw_hrefs):
        return None
    return finding(
        "NO_CLICK_TO_CALL",
        "No tap-to-call phone link: visitors on phones must copy the number by hand.",
        pages[0].url if pages else None,
        'no <a href="tel:..."> on the pages read',
    )


def social_profile(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not host_matches(url, SOCIAL_HOSTS):
        return False
    segments = [s for s in parts.path.split("/") if s]
    return bool(segments) and segments[0] not in SHARE_PATHS


def check_social_links(pages: Sequence[PageFacts]) -> Finding | None:
    if any(social_profile(h) for p in pages for h in p.hrefs):
        return None
    shares = next((h for p in pages for h in p.hrefs if host_matches(h, SOCIAL_HOSTS)), None)
    return finding(
        "NO_SOCIAL_LINKS",
        "The site links to none of the business's social profiles.",
        pages[0].url if pages else None,
        f"only a share link ({shares})" if shares else "no link to a social profile",
    )


def main_words(page: PageFacts) -> int:
    return page.main_words if page.has_main else page.chrome_free_words


def check_thin_content(home: PageFacts) -> Finding | None:
    words = main_words(home)
    if words >= THIN_CONTENT_WORDS:
        return None
    return finding(
        "THIN_CONTENT",
        f"The homepage has {words} words of main content (fewer than {THIN_CONTENT_WORDS}): too "
        "little for search engines to rank it.",
        home.url,
        f"{words} words of main content",
    )


def own_links(pages: Sequence[PageFacts], home_url: str) -> dict[str, str]:
    """Links to the site's own pages (either spelling of its host), fragment dropped, each with
    the first page that links it."""
    site = bare_host(home_url)
    found: dict[str, str] = {}
    for page in pages:
        for href in page.hrefs:
            parts = urlsplit(href)
            if parts.scheme not in ("http", "https") or bare_host(href) != site:
                continue
            found.setdefault(parts._replace(fragment="").geturl(), page.url)
    return found


def check_broken_links(
    pages: Sequence[PageFacts], home_url: str, statuses: Mapping[str, int | None]
) -> Finding | None:
    """`statuses`: what the site answered for its own linked URLs (None: not known); URLs compare
    without scheme, `www.`, trailing slash or query."""
    known = {_url_key(url): status for url, status in statuses.items()}
    for link, on_page in own_links(pages, home_url).items():
        status = known.get(_url_key(link))
        if status is not None and status >= 400:
            return finding(
                "BROKEN_LINKS",
                f"A link on {on_page} leads to a page that answers HTTP {status}.",
                on_page,
                f"{link} answers HTTP {status}",
            )
    return None


# --------------------------------------------------------------------------------------------
# All of them


@dataclass(frozen=True)
class SiteRead:
    """What an audit read of one site: its pages (homepage first) and what it learnt besides."""

    pages: Sequence[ScrapedPage]
    http_only: bool = False
    link_statuses: Mapping[str, int | None] = field(default_factory=dict)


def run_checks(site: SiteRead, *, now: datetime | None = None) -> list[Finding]:
    """Every finding of the site, in the order of CODES (SITE_DOWN is the audit's own)."""
    if not site.pages:
        return []
    year = (now or datetime.now(UTC)).year
    facts = [read_page(p.url, p.raw_html) for p in site.pages]
    home = facts[0]
    statuses = {**{p.url: p.status_code for p in site.pages}, **site.link_statuses}
    checks: list[Callable[[], Finding | None]] = [
        lambda: check_https(home.url, site.http_only),
        lambda: check_viewport(home),
        lambda: check_meta_description(home),
        lambda: check_local_business_schema(facts),
        lambda: check_analytics(facts),
        lambda: check_online_booking(facts),
        lambda: check_pricing(facts),
        lambda: check_reviews(facts),
        lambda: check_copyright(facts, year=year),
        lambda: check_click_to_call(facts),
        lambda: check_social_links(facts),
        lambda: check_thin_content(home),
        lambda: check_broken_links(facts, home.url, statuses),
    ]
    return [found for check in checks if (found := check()) is not None]


def gap_sentence(found: Finding) -> str:
    """A finding as a dossier's `gaps[]` sentence."""
    return found.detail


__all__ = [
    "CODES",
    "Finding",
    "PageFacts",
    "ScrapedPage",
    "SiteRead",
    "check_site_down",
    "own_links",
    "read_page",
    "run_checks",
]
