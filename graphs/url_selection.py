"""Which of a site's pages an audit reads.

Candidates are the site's own pages (what Firecrawl's `map` lists, and the homepage's links when
the map has nothing), never a fixed word list. The model chooses among them with the business's
vertical in mind (menu and reservations for a restaurant, practice areas and attorneys for a law
firm, new patients and insurance for a dentist); rules choose when it cannot and top up a short
choice. Whatever anyone chose, the pages the audit's absence findings depend on are always
considered: the homepage, and a contact, booking, pricing and reviews page when the site has one
(an absence is only as sure as the pages read: a site whose /book page goes unread would be
reported as having no booking).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

DEFAULT_MAX_PAGES = 10

# Pages no audit learns from (legal, jobs, accounts, feeds, archives, files).
_EXCLUDE_WORDS = frozenset(
    {
        "privacy", "terms", "legal", "cookie", "cookies", "disclaimer", "accessibility", "gdpr",
        "imprint", "careers", "career", "jobs", "job", "hiring", "login", "signin", "register",
        "account", "cart", "checkout", "wp", "admin", "feed", "rss", "tag", "tags", "category",
        "author", "sitemap", "search", "blog", "news", "posts", "post", "article", "articles",
    }
)  # fmt: skip
_FILES = re.compile(r"\.(pdf|jpe?g|png|gif|svg|webp|zip|mp4|mp3|css|js|xml|txt|ico|docx?)$", re.I)
_HOME_PATHS = frozenset({"", "/", "/index.html", "/index.htm", "/index.php", "/home"})

# The pages the absence findings rest on, each a kind the audit always considers.
ESSENTIAL: dict[str, frozenset[str]] = {
    "booking": frozenset(
        {"book", "booking", "bookings", "appointment", "appointments", "schedule", "scheduling",
         "reserve", "reservation", "reservations", "request"}
    ),
    "pricing": frozenset(
        {"pricing", "prices", "price", "rates", "fees", "fee", "cost", "costs", "plans", "membership",
         "memberships", "packages", "menu", "specials"}
    ),
    "reviews": frozenset({"reviews", "review", "testimonials", "testimonial", "kind", "words"}),
    "contact": frozenset({"contact", "visit", "location", "locations", "directions", "find"}),
}  # fmt: skip
# Pages that say what the business sells, by kind of business, then in general.
_VERTICAL_WORDS: dict[str, frozenset[str]] = {
    "food": frozenset({"menu", "menus", "reservations", "catering", "order", "hours"}),
    "legal": frozenset({"practice", "areas", "attorneys", "attorney", "lawyers", "results", "cases"}),
    "dental": frozenset({"new", "patients", "insurance", "financing", "services", "treatments"}),
    "medical": frozenset({"new", "patients", "insurance", "services", "providers", "treatments"}),
    "fitness": frozenset({"classes", "schedule", "membership", "coaches", "trainers"}),
}
_VERTICAL_OF = {
    "restaurant": "food", "restaurants": "food", "cafe": "food", "bar": "food", "bakery": "food",
    "pizza": "food", "lawyer": "legal", "lawyers": "legal", "attorney": "legal",
    "attorneys": "legal", "law": "legal", "dentist": "dental", "dentists": "dental",
    "dental": "dental", "orthodontist": "dental", "clinic": "medical", "doctor": "medical",
    "doctors": "medical", "chiropractor": "medical", "chiropractors": "medical",
    "gym": "fitness", "gyms": "fitness", "yoga": "fitness", "fitness": "fitness",
}  # fmt: skip
_GENERAL: tuple[tuple[frozenset[str], int], ...] = (
    (frozenset({"services", "service", "solutions", "treatments", "products", "what"}), 70),
    (frozenset({"about", "story", "company", "who", "firm"}), 60),
    (frozenset({"team", "staff", "doctors", "meet", "our-team", "coaches"}), 50),
    (frozenset({"faq", "faqs", "financing", "insurance", "new", "patients"}), 45),
)


def _words(path: str) -> set[str]:
    return {w for w in re.split(r"[/\-_.]+", path.lower()) if w and w not in ("html", "htm", "php")}


def url_key(url: str) -> str:
    """Compare URLs loosely: scheme, `www.`, trailing slash, query and fragment do not matter."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().removeprefix("www.")
    return host + (parts.path.rstrip("/") or "/")


def same_site(url: str, home: str) -> bool:
    host = (urlsplit(url).hostname or "").lower().removeprefix("www.")
    return host == (urlsplit(home).hostname or "").lower().removeprefix("www.")


def is_home(url: str) -> bool:
    return (urlsplit(url).path or "/").rstrip("/") in {p.rstrip("/") for p in _HOME_PATHS}


def is_excluded(url: str) -> bool:
    path = urlsplit(url).path or "/"
    return bool(_FILES.search(path)) or bool(_words(path) & _EXCLUDE_WORDS)


def site_candidates(home: str, urls: Iterable[str]) -> list[str]:
    """The site's own pages worth reading, homepage first, each once, in the order given."""
    seen = {url_key(home)}
    out = [home]
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not same_site(url, home) or is_excluded(url):
            continue
        key = url_key(url)
        if key in seen or is_home(url):
            continue
        seen.add(key)
        out.append(parts._replace(fragment="").geturl())
    return out


def vertical_family(vertical: str | None) -> str | None:
    words = re.findall(r"[a-z]+", (vertical or "").lower())
    return next((_VERTICAL_OF[w] for w in words if w in _VERTICAL_OF), None)


def page_kind(url: str) -> str | None:
    """`booking`, `pricing`, `reviews` or `contact` for a page the absence findings rest on."""
    words = _words(urlsplit(url).path)
    for kind, kind_words in ESSENTIAL.items():
        if words & kind_words:
            return kind
    return None


def rule_score(url: str, vertical: str | None = None) -> int:
    """How much a page is worth reading for an audit (higher first; the homepage first of all)."""
    if is_home(url):
        return 100
    path = urlsplit(url).path
    words = _words(path)
    depth = len([s for s in path.split("/") if s])
    kind = page_kind(url)
    score = {"booking": 95, "pricing": 94, "reviews": 93, "contact": 92}.get(kind or "", 0)
    family = vertical_family(vertical)
    if family and words & _VERTICAL_WORDS[family]:
        score = max(score, 80)
    for general, weight in _GENERAL:
        if words & general:
            score = max(score, weight)
    # A detail page (/services/implants) says less about the site than its section page.
    return max(score - 15 * (depth - 1), 5) if score else max(20 - 5 * depth, 1)


def rank_urls(
    home: str, candidates: Sequence[str], *, vertical: str | None = None, limit: int = DEFAULT_MAX_PAGES
) -> list[str]:
    """The rules alone: the homepage, then the best candidates by `rule_score`."""
    pages = site_candidates(home, candidates)
    head, rest = pages[:1], pages[1:]
    rest.sort(key=lambda u: (-rule_score(u, vertical), len(u), u))
    return (head + rest)[:limit]


def essentials(home: str, candidates: Sequence[str]) -> list[str]:
    """The homepage and the site's best page of each essential kind (shortest path wins)."""
    best: dict[str, str] = {}
    for url in site_candidates(home, candidates)[1:]:
        kind = page_kind(url)
        if kind is None:
            continue
        if kind not in best or (len(urlsplit(url).path), url) < (len(urlsplit(best[kind]).path), best[kind]):
            best[kind] = url
    return [home, *(best[k] for k in ESSENTIAL if k in best)]


def choose_pages(
    home: str,
    candidates: Sequence[str],
    chosen: Sequence[str],
    *,
    vertical: str | None = None,
    limit: int = DEFAULT_MAX_PAGES,
) -> list[str]:
    """The pages to read: the essential ones, then what the model chose from the candidates (a
    URL it made up is ignored), then the rules' best to fill up to `limit`."""
    allowed = {url_key(u): u for u in site_candidates(home, candidates)}
    picked: list[str] = []
    seen: set[str] = set()
    model = [allowed[k] for k in (url_key(c) for c in chosen) if k in allowed]
    for url in [*essentials(home, candidates), *model, *rank_urls(home, candidates, vertical=vertical)]:
        key = url_key(url)
        if key in seen:
            continue
        seen.add(key)
        picked.append(url)
        if len(picked) >= limit:
            break
    return picked


# Kept for callers of the earlier name: the model's choice checked against the candidates.
def keep_model_choice(
    home: str, candidates: Sequence[str], chosen: Sequence[str], *, limit: int
) -> list[str]:
    return choose_pages(home, candidates, chosen, limit=limit)
