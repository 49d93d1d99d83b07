"""Ground truth in the audit's finding codes, read from the pages a site serves.

`site_truth` fetches the site through `web.fetch` (the same path Firecrawl's emulation takes) and
decides each finding code of graphs/audit_checks.py from the HTML it gets back. There is no list of
planted gaps to drift from: change the HTML and the truth changes with it.

Which pages count: codes about the homepage (`NOT_MOBILE_FRIENDLY`, `NO_META_DESCRIPTION`,
`THIN_CONTENT`) read the homepage; every other code reads **all of the site's pages as served**,
i.e. every page it publishes that answers 2xx (its sitemap, what `map` lists), head, header,
navigation and footer included. An audit that reads fewer pages can miss a page that shows a
price or a review: that is a miss of the audit, not of the truth.

The rules, in the order of `CODES`:

* `SITE_DOWN`: the homepage cannot be loaded (no answer, or a 5xx). Nothing else is then known,
  so it is the only code.
* `NO_HTTPS`: the site answers only over plain HTTP.
* `NOT_MOBILE_FRIENDLY`: the homepage has no `<meta name="viewport">` with a non-empty content.
* `NO_META_DESCRIPTION`: the homepage has no `<meta name="description">` with non-blank content.
* `NO_LOCAL_BUSINESS_SCHEMA`: no JSON-LD object (`<script type="application/ld+json">`, `@graph`
  and nesting included) on any page has an `@type` that is LocalBusiness or one of its schema.org
  subtypes (`LOCAL_BUSINESS_TYPES`); Organization, WebSite and WebPage are not.
* `NO_ANALYTICS`: no `<script>` on any page loads or contains a known analytics or ads tag
  (`ANALYTICS_SIGNATURES`: Google tag/Tag Manager/Analytics, Meta Pixel, Hotjar, Clarity,
  Plausible). A commented-out tag or a privacy policy that names Google Analytics is not a tag.
* `NO_ONLINE_BOOKING`: no page has a link, iframe or script of a booking provider
  (`BOOKING_HOSTS`) or a `<form>` asking for a date or time (`<input type=date|datetime-local|time>`).
  "Online booking coming soon", a page called /appointments without either, a "Book now" button
  that dials a phone and a contact or quote form are not booking.
* `NO_PRICING`: no text block on any page shows a dollar amount as a price. A block is the text of
  the nearest enclosing p, li, td, th, dt, dd, h1-h6, blockquote, figcaption, address, label,
  button, option or caption; an amount in a block that speaks of a discount, a verdict or
  settlement, or a waived fee (`NOT_A_PRICE`) is not a price.
* `NO_REVIEWS_SHOWN`: no page has a `<blockquote>` with text (the way sites quote testimonials) or
  an iframe or script of a review widget (`REVIEW_WIDGET_HOSTS`). "Free case review" and "leave us
  a review" links are not reviews.
* `STALE_COPYRIGHT`: the latest year of any copyright notice (©, "(c)" or "Copyright", then a year
  or a range whose last year counts) on any page is older than last year.
* `NO_CLICK_TO_CALL`: no page has an `<a href="tel:...">`.
* `NO_SOCIAL_LINKS`: no page links to a profile on a social network (`SOCIAL_HOSTS`); share and
  intent links (`/sharer`, `/intent/...`) are not profiles.
* `THIN_CONTENT`: the homepage's main content has fewer than 150 words. Main content is the text inside
  `<main>` (or `role="main"`) elements, else the body without header, nav, footer and aside; script,
  style, noscript, template and hidden elements (`hidden`, `aria-hidden="true"`, `display:none`)
  do not count. A word is a whitespace-separated token with a letter or digit in it.
Each page read is listed with its contacts (tools/sandbox/contact_truth.py: emails, phones,
contact forms, social profiles and people, as a visitor finds them).

* `BROKEN_LINKS`: an `<a href>` on any page leads to the site's own host (either spelling, http
  or https) and that URL answers 4xx or 5xx.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import Comment, Doctype, ProcessingInstruction

from tools.sandbox.web import Site, Unreachable, bare_host, fetch

CODES = (
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

LOCAL_BUSINESS_TYPES = frozenset(
    """LocalBusiness AnimalShelter ArchiveOrganization AutomotiveBusiness AutoBodyShop AutoDealer
    AutoPartsStore AutoRental AutoRepair AutoWash GasStation MotorcycleDealer MotorcycleRepair ChildCare
    Dentist DryCleaningOrLaundry EmergencyService FireStation Hospital PoliceStation EmploymentAgency
    EntertainmentBusiness AdultEntertainment AmusementPark ArtGallery Casino ComedyClub MovieTheater
    NightClub FinancialService AccountingService AutomatedTeller BankOrCreditUnion InsuranceAgency
    FoodEstablishment Bakery BarOrPub Brewery CafeOrCoffeeShop Distillery FastFoodRestaurant
    IceCreamShop Restaurant Winery GovernmentOffice PostOffice HealthAndBeautyBusiness BeautySalon
    DaySpa HairSalon HealthClub NailSalon TattooParlor HomeAndConstructionBusiness Electrician
    GeneralContractor HVACBusiness HousePainter Locksmith MovingCompany Plumber RoofingContractor
    InternetCafe LegalService Attorney Notary Library LodgingBusiness BedAndBreakfast Campground Hostel
    Hotel Motel Resort MedicalBusiness CommunityHealth Dermatology DietNutrition Emergency Geriatric
    Gynecologic MedicalClinic Midwifery Nursing Obstetric Oncologic Optician Optometric
    Otolaryngologic Pediatric Pharmacy Physician Physiotherapy PlasticSurgery Podiatric PrimaryCare
    Psychiatric PublicHealth ProfessionalService RadioStation RealEstateAgent RecyclingCenter
    SelfStorage ShoppingCenter SportsActivityLocation BowlingAlley ExerciseGym GolfCourse
    PublicSwimmingPool SkiResort SportsClub StadiumOrArena TennisComplex Store AutoPartsStore BikeStore
    BookStore ClothingStore ComputerStore ConvenienceStore DepartmentStore ElectronicsStore Florist
    FurnitureStore GardenStore GroceryStore HardwareStore HobbyShop HomeGoodsStore JewelryStore
    LiquorStore MensClothingStore MobilePhoneStore MovieRentalStore MusicStore OfficeEquipmentStore
    OutletStore PawnShop PetStore ShoeStore SportingGoodsStore TireShop ToyStore WholesaleStore
    TelevisionStation TouristInformationCenter TravelAgency""".split()  # noqa: SIM905
)
ANALYTICS_SIGNATURES = (
    "googletagmanager.com",
    "google-analytics.com",
    "connect.facebook.net",
    "static.hotjar.com",
    "clarity.ms",
    "plausible.io",
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
    "housecallpro.com",
    "getjobber.com",
    "servicetitan.com",
    "nexhealth.com",
    "janeapp.com",
    "vetstoria.com",
    "localmed.com",
)
REVIEW_WIDGET_HOSTS = ("birdeye.com", "elfsight.com", "trustindex.io", "embedsocial.com")
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
SHARE_PATHS = frozenset({"sharer", "sharer.php", "share", "sharing", "intent", "dialog", "shareArticle"})
NOT_A_PRICE = re.compile(
    r"\b(off|save|saving|discount|coupon|verdict|settlement|recovered|awarded|waive[sd]?|waiving)\b", re.I
)
PRICE = re.compile(r"\$\s?\d[\d,]*(?:\.\d{1,2})?")
COPYRIGHT = re.compile(r"(?:©|\(c\)|copyright)\s*(?:©\s*)?(\d{4})(?:\s*[-–—]\s*(\d{4}))?", re.I)
BLOCK_TAGS = frozenset(
    [
        "p",
        "li",
        "td",
        "th",
        "dt",
        "dd",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "figcaption",
        "address",
        "label",
        "button",
        "option",
        "caption",
    ]
)
INVISIBLE_TAGS = frozenset({"script", "style", "noscript", "template", "title"})
BOOKING_INPUT_TYPES = frozenset({"date", "datetime-local", "time"})


def _host_matches(url: str, hosts: Iterable[str]) -> bool:
    host = (urlsplit(url if "//" in url else f"https://{url}").hostname or "").lower()
    return any(host == h or host.endswith("." + h) for h in hosts)


@dataclass(frozen=True)
class PageFacts:
    """What one served page shows, by the rules above."""

    url: str
    viewport: bool
    description: bool
    local_schema: bool
    analytics: bool
    booking: bool
    price: bool
    review: bool
    copyright_years: tuple[int, ...]
    tel: bool
    social: bool
    main_words: int
    links: tuple[str, ...]  # every <a href>, resolved against the page


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


def _hidden(tag: Tag) -> bool:
    style = str(tag.get("style") or "").replace(" ", "").lower()
    return (
        tag.has_attr("hidden")
        or str(tag.get("aria-hidden") or "").lower() == "true"
        or "display:none" in style
        or "visibility:hidden" in style
    )


@dataclass
class _Walk:
    """Everything one pass over a parsed page collects."""

    metas: dict[str, str]
    scripts: list[Tag]
    hrefs: list[str]
    embeds: list[str]
    booking_form: bool
    quotes: bool
    blocks: dict[int, list[str]]
    main_words: int
    chrome_free_words: int  # words outside header/nav/footer/aside, for pages without <main>
    has_main: bool


def _walk(soup: BeautifulSoup) -> _Walk:
    w = _Walk({}, [], [], [], False, False, {}, 0, 0, False)
    root = soup.body or soup

    def visit(node: Tag, block: int, hidden: bool, in_main: bool, in_chrome: bool, in_form: bool) -> None:
        for child in node.children:
            if isinstance(child, Tag):
                name = child.name
                if name == "meta" and child.get("name"):
                    w.metas[str(child["name"]).lower()] = str(child.get("content") or "")
                elif name == "script":
                    w.scripts.append(child)
                elif name == "a" and child.has_attr("href"):
                    w.hrefs.append(str(child["href"]).strip())
                elif (
                    name == "input"
                    and in_form
                    and str(child.get("type") or "").lower() in BOOKING_INPUT_TYPES
                ):
                    w.booking_form = True
                elif name == "blockquote" and child.get_text().strip():
                    w.quotes = True
                if name in ("iframe", "script") and child.get("src"):
                    w.embeds.append(str(child["src"]))
                if name in INVISIBLE_TAGS:
                    continue
                is_main = name == "main" or child.get("role") == "main"
                w.has_main = w.has_main or is_main
                visit(
                    child,
                    id(child) if name in BLOCK_TAGS else block,
                    hidden or _hidden(child),
                    in_main or is_main,
                    in_chrome or name in ("header", "nav", "footer", "aside"),
                    in_form or name == "form",
                )
            elif isinstance(child, NavigableString) and not isinstance(
                child, Comment | Doctype | ProcessingInstruction
            ):
                w.blocks.setdefault(block, []).append(str(child))
                if not hidden:
                    words = sum(1 for token in child.split() if any(ch.isalnum() for ch in token))
                    if in_main:
                        w.main_words += words
                    if not in_chrome:
                        w.chrome_free_words += words

    head = soup.head
    if head is not None:
        for meta in head.find_all("meta"):
            if meta.get("name"):
                w.metas[str(meta["name"]).lower()] = str(meta.get("content") or "")
        w.scripts.extend(head.find_all("script"))
        w.embeds.extend(str(t["src"]) for t in head.find_all(["script", "iframe"]) if t.get("src"))
    visit(root, 0, False, False, False, False)
    return w


def text_blocks(soup: BeautifulSoup) -> list[str]:
    """The page's text grouped by nearest block element (see the module docstring)."""
    return [" ".join(" ".join(parts).split()) for parts in _walk(soup).blocks.values()]


def page_facts(html: str, url: str) -> PageFacts:
    soup = BeautifulSoup(html, "html.parser")
    w = _walk(soup)
    types: set[str] = set()
    for script in w.scripts:
        if str(script.get("type") or "").lower() == "application/ld+json":
            try:
                types.update(_schema_types(json.loads(script.get_text())))
            except ValueError:
                continue
    analytics = any(
        any(sig in (str(s.get("src") or "") + s.get_text()).lower() for sig in ANALYTICS_SIGNATURES)
        for s in w.scripts
    )
    resolved = tuple(urljoin(url, h) for h in w.hrefs)
    blocks = [" ".join(" ".join(parts).split()) for parts in w.blocks.values()]
    years: list[int] = []
    for block in blocks:
        for match in COPYRIGHT.finditer(block):
            years.append(int(match.group(2) or match.group(1)))
    return PageFacts(
        url=url,
        viewport=bool(w.metas.get("viewport", "").strip()),
        description=bool(w.metas.get("description", "").strip()),
        local_schema=bool(types & LOCAL_BUSINESS_TYPES),
        analytics=analytics,
        booking=w.booking_form or any(_host_matches(u, BOOKING_HOSTS) for u in [*resolved, *w.embeds]),
        price=any(PRICE.search(b) and not NOT_A_PRICE.search(b) for b in blocks),
        review=w.quotes or any(_host_matches(u, REVIEW_WIDGET_HOSTS) for u in w.embeds),
        copyright_years=tuple(years),
        tel=any(h.lower().startswith("tel:") for h in w.hrefs),
        social=any(_is_social_profile(u) for u in resolved),
        main_words=w.main_words if w.has_main else w.chrome_free_words,
        links=resolved,
    )


def _is_social_profile(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not _host_matches(url, SOCIAL_HOSTS):
        return False
    segments = [s for s in parts.path.split("/") if s]
    return bool(segments) and segments[0] not in SHARE_PATHS


@dataclass(frozen=True)
class SiteTruth:
    domain: str
    url: str
    codes: tuple[str, ...]
    pages: tuple[dict[str, Any], ...]  # {url, title, status} of every page read

    def as_dict(self, current_year: int) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "url": self.url,
            "current_year": current_year,
            "codes": list(self.codes),
            "pages": list(self.pages),
        }


def site_truth(site: Site, current_year: int) -> SiteTruth:
    home_url = site.url("/")
    try:
        home = fetch(site, home_url)
    except Unreachable:
        return SiteTruth(site.domain, home_url, ("SITE_DOWN",), ())
    if home.status >= 500:
        return SiteTruth(site.domain, home_url, ("SITE_DOWN",), ())
    fetched = [home] + [fetch(site, site.url(p.path)) for p in site.readable_pages() if p.path != "/"]
    facts = [page_facts(f.html, f.url) for f in fetched]
    home_facts = facts[0]
    codes: set[str] = set()
    if site.http_only:
        codes.add("NO_HTTPS")
    if not home_facts.viewport:
        codes.add("NOT_MOBILE_FRIENDLY")
    if not home_facts.description:
        codes.add("NO_META_DESCRIPTION")
    if home_facts.main_words < THIN_CONTENT_WORDS:
        codes.add("THIN_CONTENT")
    for code, attribute in (
        ("NO_LOCAL_BUSINESS_SCHEMA", "local_schema"),
        ("NO_ANALYTICS", "analytics"),
        ("NO_ONLINE_BOOKING", "booking"),
        ("NO_PRICING", "price"),
        ("NO_REVIEWS_SHOWN", "review"),
        ("NO_CLICK_TO_CALL", "tel"),
        ("NO_SOCIAL_LINKS", "social"),
    ):
        if not any(getattr(f, attribute) for f in facts):
            codes.add(code)
    years = [y for f in facts for y in f.copyright_years]
    if years and max(years) < current_year - 1:
        codes.add("STALE_COPYRIGHT")
    if _has_broken_link(site, facts):
        codes.add("BROKEN_LINKS")
    from tools.sandbox.contact_truth import page_contacts  # it reads this module's host lists

    pages = tuple(
        {"url": f.url, "title": _title(f.html), "status": f.status, "contacts": page_contacts(f.html, f.url)}
        for f in fetched
    )
    return SiteTruth(site.domain, home_url, tuple(c for c in CODES if c in codes), pages)


def _has_broken_link(site: Site, facts: list[PageFacts]) -> bool:
    checked: dict[str, bool] = {}
    for page in facts:
        for link in page.links:
            parts = urlsplit(link)
            if parts.scheme not in ("http", "https") or bare_host(parts.hostname or "") != site.domain:
                continue
            key = parts._replace(fragment="").geturl()
            if key not in checked:
                try:
                    checked[key] = fetch(site, key).status >= 400
                except Unreachable:
                    checked[key] = False  # nothing answered: not a page that answers 4xx/5xx
            if checked[key]:
                return True
    return False


def _title(html: str) -> str:
    match = re.search(r"<title[^>]*>(.*?)</title>", html, re.I | re.S)
    if not match:
        return ""
    return BeautifulSoup(match.group(1), "html.parser").get_text().strip()
