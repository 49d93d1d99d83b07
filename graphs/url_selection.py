"""Which of a site's URLs to scrape for an audit: the rules behind (and fallback for) AI selection.

The seed's discovery rules: keep the homepage and the pages a prospect's marketing depends on
(services, pricing, about/team, testimonials, contact, booking); skip legal, careers and blog pages.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

DEFAULT_MAX_PAGES = 6

_EXCLUDE = re.compile(
    r"/(privacy|terms|legal|cookie|cookies|disclaimer|accessibility|careers?|jobs|blog|news|posts?|"
    r"tag|category|author|feed|wp-admin|wp-login|login|cart|checkout)(/|$|\.)",
    re.I,
)
_PRIORITY: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"/(services?|solutions|treatments|what-we-do|products?)\b", re.I), 90),
    (re.compile(r"/(pricing|prices|rates|plans|fees)\b", re.I), 85),
    (re.compile(r"/(book|booking|schedule|appointments?)\b", re.I), 80),
    (re.compile(r"/(about|company|our-story|who-we-are)\b", re.I), 75),
    (re.compile(r"/(testimonials|reviews|customers|case-studies)\b", re.I), 70),
    (re.compile(r"/(team|staff|doctors|our-team)\b", re.I), 60),
    (re.compile(r"/(contact|locations?|visit)\b", re.I), 55),
    (re.compile(r"/(faq|security|compliance|resources|docs)\b", re.I), 30),
)


def is_excluded(url: str) -> bool:
    return bool(_EXCLUDE.search(urlsplit(url).path or "/"))


def _score(url: str) -> int:
    path = urlsplit(url).path or "/"
    if path in ("", "/"):
        return 100
    return max((weight for pattern, weight in _PRIORITY if pattern.search(path)), default=10)


def same_site(url: str, home: str) -> bool:
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    return host == (urlsplit(home).hostname or "").removeprefix("www.")


def rank_urls(home: str, candidates: Sequence[str], *, limit: int = DEFAULT_MAX_PAGES) -> list[str]:
    """The homepage first, then the most useful same-site pages; never an excluded or foreign URL."""
    ordered: list[str] = []
    seen: set[str] = set()
    for url in [home, *candidates]:
        key = url.rstrip("/").lower()
        if key in seen or not same_site(url, home) or is_excluded(url):
            continue
        seen.add(key)
        ordered.append(url)
    head, rest = ordered[:1], ordered[1:]
    rest.sort(key=lambda u: (-_score(u), len(u), u))
    return (head + rest)[:limit]


def keep_model_choice(
    home: str, candidates: Sequence[str], chosen: Sequence[str], *, limit: int
) -> list[str]:
    """Accept only what the model picked from the list we gave it; fall back to the rules if that
    leaves nothing. The homepage is always scraped."""
    allowed = {c.rstrip("/").lower(): c for c in [home, *candidates]}
    picked = [allowed[k] for k in (c.rstrip("/").lower() for c in chosen) if k in allowed]
    picked = [u for u in picked if not is_excluded(u) and same_site(u, home)]
    if not picked:
        return rank_urls(home, candidates, limit=limit)
    return rank_urls(home, picked, limit=limit)
