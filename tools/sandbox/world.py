"""The sandbox's deterministic synthetic world: local businesses and their websites.

Everything here is a pure function of its input text. A Places query is normalised to a
`(vertical, geography)` key and every business is drawn from a random generator seeded with that
key and the business's index, so two servers (or one restarted) give the same answer, and asking
for more results never changes the first ones. A website (synthetic_sites.py) is drawn from its
own domain, so the Firecrawl emulator can answer for a site it has never seen in a search; when
it was seen, the business's own name, phone and address are used on the pages.

A world, synthetic or recorded (recorded_world.py), offers the same four things to the emulators:
`places(query, limit)` (Places API Place objects, best first), `site(host)` (a web.Site, or None
when no such host exists), `truth(host)` and `current_year`.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import phonenumbers

from tools.sandbox.synthetic_sites import Owner, build_site, guess_owner, plan_site
from tools.sandbox.truth import site_truth
from tools.sandbox.web import Site, bare_host

CURRENT_YEAR = datetime.now(UTC).year


def seeded(*parts: object) -> random.Random:
    """A random generator whose stream depends only on `parts` (never on the process)."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def social_or_aggregator(host: str) -> bool:
    return bare_host(host).endswith(SOCIAL_HOSTS)


def slugify(text: str, sep: str = "-") -> str:
    return re.sub(r"[^a-z0-9]+", sep, text.lower()).strip(sep)


# --------------------------------------------------------------------------------------------
# Verticals and places


@dataclass(frozen=True)
class Vertical:
    key: str
    words: tuple[str, ...]  # words in a query that select this vertical
    place_type: str  # Google Places Table-A type
    type_label: str  # primaryTypeDisplayName
    name_cores: tuple[str, ...]  # "Plumbing", "Dental"...
    services: tuple[str, ...]
    roles: tuple[str, ...]


VERTICALS: tuple[Vertical, ...] = (
    Vertical(
        "plumber",
        ("plumber", "plumbers", "plumbing"),
        "plumber",
        "Plumber",
        ("Plumbing", "Plumbing & Drain", "Plumbing Co.", "Rooter", "Pipe Works"),
        (
            "Drain cleaning",
            "Water heater installation",
            "Leak detection",
            "Sewer line repair",
            "Emergency plumbing",
            "Repiping",
            "Fixture installation",
            "Gas line repair",
        ),
        ("Master Plumber", "Service Manager", "Journeyman Plumber", "Office Manager"),
    ),
    Vertical(
        "dentist",
        ("dentist", "dentists", "dental", "orthodontist", "orthodontists"),
        "dentist",
        "Dentist",
        ("Dental", "Family Dentistry", "Smiles", "Dental Care", "Dental Studio"),
        (
            "Cleanings and exams",
            "Teeth whitening",
            "Dental implants",
            "Invisalign",
            "Crowns and bridges",
            "Emergency dentistry",
            "Pediatric dentistry",
            "Root canals",
        ),
        ("DDS", "Hygienist", "Office Manager", "Dental Assistant"),
    ),
    Vertical(
        "roofer",
        ("roofer", "roofers", "roofing"),
        "roofing_contractor",
        "Roofing contractor",
        ("Roofing", "Roofing & Exteriors", "Roof Pros", "Roofing Co."),
        (
            "Roof replacement",
            "Storm damage repair",
            "Roof inspections",
            "Gutter installation",
            "Metal roofing",
            "Shingle repair",
            "Insurance claims help",
        ),
        ("Owner", "Project Manager", "Estimator", "Crew Lead"),
    ),
    Vertical(
        "electrician",
        ("electrician", "electricians", "electrical"),
        "electrician",
        "Electrician",
        ("Electric", "Electrical Services", "Electric Co.", "Wiring"),
        (
            "Panel upgrades",
            "EV charger installation",
            "Lighting installation",
            "Rewiring",
            "Generator installation",
            "Electrical inspections",
        ),
        ("Master Electrician", "Service Manager", "Apprentice", "Dispatcher"),
    ),
    Vertical(
        "hvac",
        ("hvac", "heating", "cooling", "air conditioning", "ac repair", "furnace"),
        "hvac_contractor",
        "HVAC contractor",
        ("Heating & Air", "HVAC", "Comfort Systems", "Air Conditioning"),
        (
            "AC repair",
            "Furnace installation",
            "Heat pumps",
            "Duct cleaning",
            "Maintenance plans",
            "Indoor air quality",
        ),
        ("Owner", "Lead Technician", "Comfort Advisor", "Office Manager"),
    ),
    Vertical(
        "lawyer",
        ("lawyer", "lawyers", "attorney", "attorneys", "law firm", "law firms"),
        "lawyer",
        "Lawyer",
        ("Law Group", "Law Firm", "& Associates", "Legal", "Law Office"),
        (
            "Personal injury",
            "Family law",
            "Estate planning",
            "Criminal defense",
            "Business law",
            "Real estate law",
        ),
        ("Managing Partner", "Attorney", "Paralegal", "Office Manager"),
    ),
    Vertical(
        "chiropractor",
        ("chiropractor", "chiropractors", "chiropractic"),
        "chiropractor",
        "Chiropractor",
        ("Chiropractic", "Spine & Wellness", "Chiropractic Center", "Back Clinic"),
        (
            "Spinal adjustments",
            "Sports injury care",
            "Massage therapy",
            "Posture correction",
            "Auto accident care",
        ),
        ("DC", "Massage Therapist", "Front Desk Lead"),
    ),
    Vertical(
        "landscaper",
        ("landscaper", "landscapers", "landscaping", "lawn care", "lawn"),
        "landscaper",
        "Landscaper",
        ("Landscaping", "Lawn & Garden", "Outdoor Living", "Landscape Co."),
        (
            "Lawn maintenance",
            "Landscape design",
            "Irrigation",
            "Hardscaping",
            "Tree trimming",
            "Seasonal cleanup",
        ),
        ("Owner", "Designer", "Crew Lead", "Office Manager"),
    ),
    Vertical(
        "auto_repair",
        ("auto repair", "mechanic", "mechanics", "auto shop", "car repair", "auto body"),
        "car_repair",
        "Auto repair shop",
        ("Auto Repair", "Automotive", "Auto Care", "Garage"),
        ("Oil changes", "Brake repair", "Engine diagnostics", "Transmission service", "Tire rotation"),
        ("Owner", "ASE Master Technician", "Service Advisor"),
    ),
    Vertical(
        "restaurant",
        ("restaurant", "restaurants", "cafe", "cafes", "diner", "bistro"),
        "restaurant",
        "Restaurant",
        ("Kitchen", "Grill", "Bistro", "Eatery", "Cafe"),
        ("Dine-in", "Takeout", "Catering", "Private events", "Brunch"),
        ("Chef-Owner", "General Manager", "Sous Chef"),
    ),
    Vertical(
        "salon",
        ("salon", "salons", "hair salon", "barber", "barbers", "barbershop"),
        "hair_salon",
        "Hair salon",
        ("Salon", "Hair Studio", "Salon & Spa", "Barber Co."),
        ("Haircuts", "Color", "Balayage", "Blowouts", "Beard trims", "Keratin treatments"),
        ("Owner & Stylist", "Senior Stylist", "Colorist"),
    ),
    Vertical(
        "veterinarian",
        ("vet", "vets", "veterinarian", "veterinarians", "animal hospital", "veterinary"),
        "veterinary_care",
        "Veterinarian",
        ("Animal Hospital", "Veterinary Clinic", "Pet Care", "Vet Center"),
        ("Wellness exams", "Vaccinations", "Dental cleanings", "Surgery", "Urgent care"),
        ("DVM", "Vet Tech", "Practice Manager"),
    ),
    Vertical(
        "accountant",
        ("accountant", "accountants", "cpa", "cpas", "bookkeeper", "bookkeeping", "tax preparer"),
        "accounting",
        "Accountant",
        ("CPA", "Accounting", "Tax & Accounting", "Bookkeeping"),
        ("Tax preparation", "Bookkeeping", "Payroll", "Business advisory", "IRS representation"),
        ("CPA, Partner", "Staff Accountant", "Office Manager"),
    ),
    Vertical(
        "gym",
        ("gym", "gyms", "fitness", "personal trainer", "personal trainers", "crossfit"),
        "gym",
        "Gym",
        ("Fitness", "Strength Club", "Athletic Club", "Gym"),
        ("Personal training", "Group classes", "Open gym", "Nutrition coaching"),
        ("Owner & Head Coach", "Coach", "Membership Director"),
    ),
    Vertical(
        "cleaning",
        ("cleaner", "cleaners", "cleaning", "maid", "maids", "janitorial"),
        "point_of_interest",
        "House cleaning service",
        ("Cleaning Co.", "Maid Service", "Cleaning Services", "Janitorial"),
        ("House cleaning", "Deep cleaning", "Move-out cleaning", "Office cleaning"),
        ("Owner", "Team Lead", "Scheduler"),
    ),
    Vertical(
        "pest_control",
        ("pest control", "exterminator", "exterminators", "pest"),
        "point_of_interest",
        "Pest control service",
        ("Pest Control", "Exterminating", "Pest Solutions"),
        ("Termite treatment", "Rodent control", "Mosquito control", "Bed bug treatment"),
        ("Owner", "Licensed Technician", "Office Manager"),
    ),
)
GENERIC = Vertical(
    "generic",
    (),
    "point_of_interest",
    "Local business",
    ("Co.", "Services", "Group", "& Sons", "Pros"),
    ("Consultations", "Installation", "Repairs", "Maintenance plans", "Free estimates"),
    ("Owner", "Manager", "Specialist"),
)

NAME_PREFIXES = (
    "Summit",
    "Bluebonnet",
    "Evergreen",
    "Liberty",
    "Main Street",
    "Heritage",
    "Cornerstone",
    "Pioneer",
    "Riverbend",
    "Keystone",
    "Oak Hill",
    "Northside",
    "Golden Rule",
    "Precision",
    "True North",
    "Lakeside",
    "Patriot",
    "Red Rock",
    "Copper Creek",
    "Harbor",
    "Trinity",
    "Silver Oak",
    "Prairie",
    "Brightway",
    "Capital",
    "Elm Street",
    "Granite",
    "Sunrise",
    "Anchor",
    "Hometown",
)
FIRST_NAMES = (
    "Maria",
    "James",
    "Priya",
    "Daniel",
    "Aisha",
    "Robert",
    "Elena",
    "Marcus",
    "Grace",
    "Luis",
    "Hannah",
    "Omar",
    "Sophie",
    "Tyler",
    "Mei",
    "Carlos",
    "Rachel",
    "Andre",
    "Julia",
    "Kevin",
)
LAST_NAMES = (
    "Garcia",
    "Nguyen",
    "Patel",
    "Johnson",
    "Okafor",
    "Miller",
    "Rossi",
    "Kim",
    "Hernandez",
    "Walker",
    "Schmidt",
    "Brooks",
    "Alvarez",
    "Chen",
    "Foster",
    "Reyes",
)
STREETS = (
    "Main St",
    "Oak Ave",
    "Congress Ave",
    "Elm St",
    "Maple Dr",
    "Commerce Blvd",
    "Lakeview Rd",
    "Park Ave",
    "Industrial Way",
    "Cedar Ln",
    "Market St",
    "Highland Ave",
    "Broadway",
    "Pine St",
    "Washington Ave",
)


@dataclass(frozen=True)
class City:
    name: str
    state: str
    area_codes: tuple[str, ...]
    zip_prefix: str
    lat: float
    lng: float


KNOWN_CITIES: dict[str, City] = {
    c.name.lower(): c
    for c in (
        City("Austin", "TX", ("512", "737"), "787", 30.2672, -97.7431),
        City("Dallas", "TX", ("214", "469", "972"), "752", 32.7767, -96.797),
        City("Houston", "TX", ("713", "281", "832"), "770", 29.7604, -95.3698),
        City("San Antonio", "TX", ("210",), "782", 29.4241, -98.4936),
        City("Denver", "CO", ("303", "720"), "802", 39.7392, -104.9903),
        City("Boulder", "CO", ("303",), "803", 40.015, -105.2705),
        City("Boise", "ID", ("208",), "837", 43.615, -116.2023),
        City("Phoenix", "AZ", ("602", "480"), "850", 33.4484, -112.074),
        City("Seattle", "WA", ("206",), "981", 47.6062, -122.3321),
        City("Portland", "OR", ("503", "971"), "972", 45.5152, -122.6784),
        City("San Francisco", "CA", ("415",), "941", 37.7749, -122.4194),
        City("Los Angeles", "CA", ("213", "323", "310"), "900", 34.0522, -118.2437),
        City("San Diego", "CA", ("619", "858"), "921", 32.7157, -117.1611),
        City("Las Vegas", "NV", ("702",), "891", 36.1699, -115.1398),
        City("Salt Lake City", "UT", ("801",), "841", 40.7608, -111.891),
        City("Chicago", "IL", ("312", "773"), "606", 41.8781, -87.6298),
        City("Nashville", "TN", ("615",), "372", 36.1627, -86.7816),
        City("Atlanta", "GA", ("404", "678"), "303", 33.749, -84.388),
        City("Miami", "FL", ("305", "786"), "331", 25.7617, -80.1918),
        City("Tampa", "FL", ("813",), "336", 27.9506, -82.4572),
        City("Orlando", "FL", ("407",), "328", 28.5383, -81.3792),
        City("Charlotte", "NC", ("704", "980"), "282", 35.2271, -80.8431),
        City("Raleigh", "NC", ("919",), "276", 35.7796, -78.6382),
        City("New York", "NY", ("212", "646", "718"), "100", 40.7128, -74.006),
        City("Brooklyn", "NY", ("718", "347"), "112", 40.6782, -73.9442),
        City("Boston", "MA", ("617",), "021", 42.3601, -71.0589),
        City("Philadelphia", "PA", ("215", "267"), "191", 39.9526, -75.1652),
        City("Pittsburgh", "PA", ("412",), "152", 40.4406, -79.9959),
        City("Minneapolis", "MN", ("612",), "554", 44.9778, -93.265),
        City("Columbus", "OH", ("614",), "432", 39.9612, -82.9988),
        City("Detroit", "MI", ("313",), "482", 42.3314, -83.0458),
        City("Kansas City", "MO", ("816",), "641", 39.0997, -94.5786),
        City("Omaha", "NE", ("402",), "681", 41.2565, -95.9345),
        City("Washington", "DC", ("202",), "200", 38.9072, -77.0369),
    )
}
STATE_NAMES = {
    "texas": "TX",
    "colorado": "CO",
    "idaho": "ID",
    "arizona": "AZ",
    "washington": "WA",
    "oregon": "OR",
    "california": "CA",
    "nevada": "NV",
    "utah": "UT",
    "illinois": "IL",
    "tennessee": "TN",
    "georgia": "GA",
    "florida": "FL",
    "north carolina": "NC",
    "new york": "NY",
    "massachusetts": "MA",
    "pennsylvania": "PA",
    "minnesota": "MN",
    "ohio": "OH",
    "michigan": "MI",
    "missouri": "MO",
    "nebraska": "NE",
    "montana": "MT",
    "wyoming": "WY",
}
# A real area code for places we know nothing about (Wyoming has a single one).
DEFAULT_AREA_CODE = "307"
DEFAULT_STATE = "WY"


def _find_vertical(text: str) -> Vertical:
    padded = f" {text} "
    best: tuple[int, Vertical] | None = None
    for vertical in VERTICALS:
        for word in vertical.words:
            if f" {word} " in padded and (best is None or len(word) > best[0]):
                best = (len(word), vertical)
    return best[1] if best else GENERIC


def parse_geography(text: str) -> City:
    """'Austin, TX' / 'austin tx' / 'Boise' / 'Springfield, IL' -> a City (invented when unknown)."""
    cleaned = re.sub(r"[^a-z0-9 ]+", " ", text.lower())
    cleaned = re.sub(r"\b(usa|us|united states)\b", " ", cleaned)
    cleaned = " ".join(cleaned.split())
    state = ""
    for long_name, abbrev in STATE_NAMES.items():
        if cleaned.endswith(" " + long_name) and cleaned != long_name:
            cleaned, state = cleaned[: -len(long_name)].strip(), abbrev
            break
    tokens = cleaned.split()
    if not state and len(tokens) > 1 and len(tokens[-1]) == 2:
        state, tokens = tokens[-1].upper(), tokens[:-1]
    name = " ".join(tokens)
    known = KNOWN_CITIES.get(name)
    if known and (not state or state == known.state):
        return known
    rng = seeded("city", name, state)
    return City(
        name=name.title() or "Springfield",
        state=state or DEFAULT_STATE,
        area_codes=(DEFAULT_AREA_CODE,),
        zip_prefix=f"{rng.randint(100, 999)}",
        lat=round(rng.uniform(30, 47), 4),
        lng=round(rng.uniform(-120, -75), 4),
    )


@dataclass(frozen=True)
class Query:
    """A normalised Places text query."""

    vertical: Vertical
    city: City
    vertical_text: str
    well_formed: bool  # "<vertical> in <geography>"

    @property
    def key(self) -> str:
        vertical = self.vertical.key if self.vertical is not GENERIC else slugify(self.vertical_text)
        return f"{vertical}|{self.city.name.lower()}|{self.city.state}"


def parse_query(text: str) -> Query:
    normalised = " ".join(text.lower().split())
    match = re.match(r"^(?P<what>.+?)\s+(?:in|near|around|near me in)\s+(?P<where>.+)$", normalised)
    if not match:
        return Query(_find_vertical(normalised), parse_geography(""), normalised, False)
    what = re.sub(r"^(best|top|local|find|the)\s+", "", match["what"])
    return Query(_find_vertical(what), parse_geography(match["where"]), what, True)


@dataclass
class Business:
    """One synthetic Places result (and the key facts its website repeats)."""

    place_id: str
    name: str
    vertical: Vertical
    city: City
    street_address: str
    postal_code: str
    lat: float
    lng: float
    phone_e164: str | None
    website: str | None
    rating: float | None
    review_count: int
    business_status: str

    @property
    def formatted_address(self) -> str:
        return f"{self.street_address}, {self.city.name}, {self.city.state} {self.postal_code}, USA"

    @property
    def national_phone(self) -> str | None:
        if not self.phone_e164:
            return None
        number = phonenumbers.parse(self.phone_e164)
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)

    @property
    def international_phone(self) -> str | None:
        if not self.phone_e164:
            return None
        number = phonenumbers.parse(self.phone_e164)
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)

    @property
    def own_domain(self) -> str | None:
        """The business's own website domain (None for no site or a social page)."""
        if not self.website:
            return None
        host = self.website.split("://", 1)[1].split("/", 1)[0]
        return None if host.endswith(SOCIAL_HOSTS) else host


SOCIAL_HOSTS = ("facebook.com", "yelp.com", "instagram.com")


def _phone(rng: random.Random, city: City) -> str:
    """An E.164 number in the city's area code from the fictional 555-01xx block, checked valid."""
    for _ in range(50):
        area = rng.choice(city.area_codes)
        candidate = f"+1{area}55501{rng.randint(0, 99):02d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(candidate)):
            return candidate
        # Fall back to an ordinary exchange if a future metadata drops the 555-01xx block.
        candidate = f"+1{area}{rng.randint(201, 989)}{rng.randint(1000, 9999)}"
        if phonenumbers.is_valid_number(phonenumbers.parse(candidate)):
            return candidate
    raise RuntimeError(f"no valid phone number for area codes {city.area_codes}")


def _place_id(query_key: str, index: int) -> str:
    raw = hashlib.sha256(f"place|{query_key}|{index}".encode()).digest()[:18]
    return "ChIJ" + base64.urlsafe_b64encode(raw).decode().rstrip("=")[:23]


def _business_name(rng: random.Random, vertical: Vertical, city: City, used: set[str]) -> str:
    for _ in range(20):
        style = rng.random()
        core = rng.choice(vertical.name_cores)
        if style < 0.45:
            name = f"{rng.choice(NAME_PREFIXES)} {core}"
        elif style < 0.7:
            name = f"{rng.choice(LAST_NAMES)} {core}"
        elif style < 0.9:
            name = f"{city.name} {core}"
        else:
            name = f"{rng.choice(FIRST_NAMES)}'s {core}"
        if name not in used:
            used.add(name)
            return name
    name = f"{rng.choice(NAME_PREFIXES)} {rng.choice(vertical.name_cores)} {len(used) + 1}"
    used.add(name)
    return name


def search(text_query: str, limit: int = 20) -> list[Business]:
    """The businesses a text query finds, best first (deterministic; prefix-stable in `limit`).

    A well-formed "<vertical> in <geography>" query finds `limit` businesses; an odd query
    (no geography) finds fewer.
    """
    query = parse_query(text_query)
    if not query.vertical_text.strip():
        return []
    count = limit if query.well_formed else min(limit, 6 + seeded("size", query.key).randint(0, 6))
    used: set[str] = set()
    businesses = []
    for index in range(count):
        businesses.append(_business(query, index, used))
    return businesses


def _business(query: Query, index: int, used: set[str]) -> Business:
    rng = seeded("business", query.key, index)
    city, vertical = query.city, query.vertical
    name = _business_name(rng, vertical, city, used)
    has_phone = rng.random() >= 1 / 6
    website_draw = rng.random()
    slug = slugify(name, sep="")
    if website_draw < 0.2:
        website = None
    elif website_draw < 0.3:
        website = rng.choice(
            (
                f"https://www.facebook.com/{slug}",
                f"https://www.yelp.com/biz/{slugify(name)}-{slugify(city.name)}",
                f"https://www.instagram.com/{slug}/",
            )
        )
    else:
        domain = f"{slug}{slugify(city.name, sep='') if rng.random() < 0.4 else ''}.com"
        scheme = "http" if plan_site(domain).http_only else "https"
        website = f"{scheme}://{domain}/" if rng.random() < 0.5 else f"{scheme}://www.{domain}/"
    review_draw = rng.random()
    if review_draw < 0.05:
        rating, reviews = None, 0
    elif review_draw < 0.2:
        reviews = rng.randint(1, 4)
        rating = round(rng.choice((3.0, 4.0, 4.5, 5.0, 5.0)), 1)
    else:
        reviews = int(rng.lognormvariate(3.8, 1.0)) + 5
        rating = round(rng.uniform(2.6, 3.9), 1) if rng.random() < 0.22 else round(rng.uniform(4.0, 5.0), 1)
    status_draw = rng.random()
    status = (
        "OPERATIONAL"
        if status_draw < 0.93
        else ("CLOSED_TEMPORARILY" if status_draw < 0.97 else "CLOSED_PERMANENTLY")
    )
    return Business(
        place_id=_place_id(query.key, index),
        name=name,
        vertical=vertical,
        city=city,
        street_address=f"{rng.randint(100, 9899)} {rng.choice(STREETS)}",
        postal_code=f"{city.zip_prefix}{rng.randint(0, 99):02d}",
        lat=round(city.lat + rng.uniform(-0.08, 0.08), 6),
        lng=round(city.lng + rng.uniform(-0.08, 0.08), 6),
        phone_e164=_phone(rng, city) if has_phone else None,
        website=website,
        rating=rating,
        review_count=reviews,
        business_status=status,
    )


# --------------------------------------------------------------------------------------------
# Places resources and the world


def _cid(place_id: str) -> int:
    return int(hashlib.sha256(place_id.encode()).hexdigest()[:15], 16)


def place_resource(business: Business) -> dict[str, Any]:
    """Every field the sandbox knows for a place; absent values are left out, never null."""
    place: dict[str, Any] = {
        "name": f"places/{business.place_id}",
        "id": business.place_id,
        "types": [business.vertical.place_type, "point_of_interest", "establishment"],
        "formattedAddress": business.formatted_address,
        "shortFormattedAddress": f"{business.street_address}, {business.city.name}",
        "location": {"latitude": business.lat, "longitude": business.lng},
        "googleMapsUri": f"https://maps.google.com/?cid={_cid(business.place_id)}",
        "businessStatus": business.business_status,
        "displayName": {"text": business.name, "languageCode": "en"},
        "primaryType": business.vertical.place_type,
        "primaryTypeDisplayName": {"text": business.vertical.type_label, "languageCode": "en-US"},
        "utcOffsetMinutes": -300,
        "pureServiceAreaBusiness": False,
    }
    if business.phone_e164:
        place["nationalPhoneNumber"] = business.national_phone
        place["internationalPhoneNumber"] = business.international_phone
    if business.website:
        place["websiteUri"] = business.website
    if business.review_count and business.rating is not None:
        place["rating"] = business.rating
        place["userRatingCount"] = business.review_count
    return place


def owner_of(business: Business) -> Owner:
    vertical = business.vertical
    return Owner(
        name=business.name,
        vertical=vertical.key,
        type_label=vertical.type_label,
        services=vertical.services,
        roles=vertical.roles,
        phone=business.national_phone,
        phone_e164=business.phone_e164,
        street=business.street_address,
        city=business.city.name,
        state=business.city.state,
        postal_code=business.postal_code,
    )


class World:
    """The synthetic world as one server sees it: sites built on demand and kept per domain.

    Searches register their businesses so that a site later scraped shows the same name, phone
    and address as its Places result; a domain never seen in a search still gets a site (every
    domain exists in the synthetic web), named after its words.
    """

    kind = "synthetic"

    def __init__(self, current_year: int | None = None) -> None:
        self.current_year = current_year or CURRENT_YEAR
        self._businesses: dict[str, Business] = {}
        self._sites: dict[str, Site] = {}
        self._truth: dict[str, dict[str, Any]] = {}

    def search(self, text_query: str, limit: int = 20) -> list[Business]:
        found = search(text_query, limit)
        for business in found:
            domain = business.own_domain
            if domain:
                self._businesses.setdefault(bare_host(domain), business)
        return found

    def places(self, text_query: str, limit: int) -> list[dict[str, Any]]:
        return [place_resource(b) for b in self.search(text_query, limit)]

    def site(self, host: str) -> Site | None:
        """The site served at `host` (with or without www.)."""
        bare = bare_host(host)
        if not bare or "." not in bare or social_or_aggregator(bare):
            return None  # social and aggregator pages are not the business's own site
        if bare not in self._sites:
            business = self._businesses.get(bare)
            if business and business.website:
                served_host = business.website.split("://", 1)[1].split("/", 1)[0]
                owner = owner_of(business)
            else:
                served_host = bare
                vertical = _find_vertical(" ".join(re.findall(r"[a-z]+", bare)))
                owner = guess_owner(
                    bare, vertical.key, vertical.type_label, vertical.services, vertical.roles
                )
            self._sites[bare] = build_site(served_host, owner, self.current_year)
        return self._sites[bare]

    def truth(self, host: str) -> dict[str, Any] | None:
        site = self.site(host)
        if site is None:
            return None
        if site.domain not in self._truth:
            self._truth[site.domain] = site_truth(site, self.current_year).as_dict(self.current_year)
        return self._truth[site.domain]
