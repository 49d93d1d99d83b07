"""A world recorded in files (`leadgen sandbox --world DIR`), validated whole before it is served.

Format::

    DIR/places.json    {"queries": {"dentists in austin, tx": ["place-id", ...]},
                        "places": {"place-id": {a Places API (New) Place object}}}
    DIR/sites/HOST/    the site's pages as HTML: "/" is index.html, "/about" is about.html or
                       about/index.html (served at "/about/"); PAGE.status holds an HTTP status for
                       that page (404, 500); a file _down makes the whole site unreachable; a file
                       _http_only makes it answer only over plain HTTP
    DIR/truth.json     optional: {"current_year": 2026, "sites": {HOST: {"codes": [...]}}}, the
                       expected finding codes per site (bench/research.py grades against it)

Query keys are the lower-cased text query with single spaces; a query the world does not list
finds nothing. Other files under a site (stylesheets, images) are ignored. `load_world` reads and
checks everything first and raises `WorldError` listing every problem, each naming its file, so a
malformed world is refused at start and never half-served.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.sandbox.places import KNOWN_PLACE_FIELDS
from tools.sandbox.truth import CODES, site_truth
from tools.sandbox.web import Page, Site, bare_host, page_key
from tools.sandbox.world import social_or_aggregator

HOST_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$")
BUSINESS_STATUSES = ("OPERATIONAL", "CLOSED_TEMPORARILY", "CLOSED_PERMANENTLY", "FUTURE_OPENING")
MAX_PROBLEMS = 20


class WorldError(Exception):
    """The world cannot be served; `problems` each name a file and what is wrong with it."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def normalise_query(text: str) -> str:
    return " ".join(text.lower().split())


@dataclass
class RecordedWorld:
    root: Path
    queries: dict[str, list[str]]
    place_objects: dict[str, dict[str, Any]]
    sites: dict[str, Site]  # bare host -> site
    current_year: int
    expected: dict[str, list[str]] = field(default_factory=dict)  # truth.json, bare host -> codes
    _truth: dict[str, dict[str, Any]] = field(default_factory=dict)

    kind = "recorded"

    def places(self, text_query: str, limit: int) -> list[dict[str, Any]]:
        ids = self.queries.get(normalise_query(text_query), [])
        return [dict(self.place_objects[i]) for i in ids][: max(limit, 0)]

    def site(self, host: str) -> Site | None:
        return self.sites.get(bare_host(host))

    def truth(self, host: str) -> dict[str, Any] | None:
        site = self.site(host)
        if site is None:
            return None
        if site.domain not in self._truth:
            self._truth[site.domain] = site_truth(site, self.current_year).as_dict(self.current_year)
        return self._truth[site.domain]


class _Checker:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[str] = []

    def name(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root.parent))
        except ValueError:
            return str(path)

    def problem(self, path: Path, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"{self.name(path)}: {message}")

    def read_json(self, path: Path) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return _MISSING
        except UnicodeDecodeError:
            self.problem(path, "is not UTF-8 text")
        except json.JSONDecodeError as exc:
            self.problem(path, f"is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})")
        except OSError as exc:
            self.problem(path, f"cannot be read ({exc.strerror})")
        return _INVALID


_MISSING = object()
_INVALID = object()


def load_world(directory: str | Path) -> RecordedWorld:
    """Read and check the world in `directory` (WorldError lists everything that is wrong)."""
    root = Path(directory)
    check = _Checker(root)
    if not root.is_dir():
        raise WorldError(
            [f"{root}: no such folder (a recorded world is a folder with places.json and sites/)"]
        )
    places_path = root / "places.json"
    data = check.read_json(places_path)
    queries: dict[str, list[str]] = {}
    place_objects: dict[str, dict[str, Any]] = {}
    if data is _MISSING:
        check.problem(
            places_path, 'is missing (a recorded world needs places.json: {"queries": ..., "places": ...})'
        )
    elif data is not _INVALID:
        queries, place_objects = _check_places(check, places_path, data)
    sites = _load_sites(check, root / "sites")
    for place_id, place in place_objects.items():
        website = place.get("websiteUri")
        if isinstance(website, str) and "://" in website:
            host = website.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0].lower()
            if not social_or_aggregator(host) and bare_host(host) not in sites:
                check.problem(
                    places_path,
                    f"place {place_id!r} has websiteUri {website!r} but there is no folder sites/{host}/ "
                    "(add the site, or a folder with a _down file for a site that does not answer)",
                )
    current_year = datetime.now(UTC).year
    expected: dict[str, list[str]] = {}
    truth_path = root / "truth.json"
    truth = check.read_json(truth_path)
    if truth is not _MISSING and truth is not _INVALID:
        current_year, expected = _check_truth(check, truth_path, truth, sites, current_year)
    if check.problems:
        raise WorldError(check.problems)
    return RecordedWorld(root, queries, place_objects, sites, current_year, expected)


def _check_places(
    check: _Checker, path: Path, data: Any
) -> tuple[dict[str, list[str]], dict[str, dict[str, Any]]]:
    if not isinstance(data, dict):
        check.problem(path, 'must be a JSON object {"queries": {...}, "places": {...}}')
        return {}, {}
    for key in data:
        if key not in ("queries", "places"):
            check.problem(path, f'unknown key {key!r} (allowed: "queries", "places")')
    places = data.get("places")
    queries = data.get("queries")
    if not isinstance(places, dict):
        check.problem(path, '"places" must be an object of place id -> Place object')
        places = {}
    if not isinstance(queries, dict):
        check.problem(path, '"queries" must be an object of lower-cased text query -> list of place ids')
        queries = {}
    good: dict[str, dict[str, Any]] = {}
    for key, place in places.items():
        if _check_place(check, path, key, place):
            good[key] = place
    checked_queries: dict[str, list[str]] = {}
    for text, ids in queries.items():
        where = f"query {text!r}"
        if not isinstance(text, str) or not text.strip() or normalise_query(text) != text:
            check.problem(path, f"{where}: keys must be the lower-cased query with single spaces, e.g. "
                          f"{normalise_query(str(text))!r}")  # fmt: skip
            continue
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            check.problem(path, f"{where}: must list place ids (strings)")
            continue
        if len(set(ids)) != len(ids):
            check.problem(path, f"{where}: lists a place more than once")
        for place_id in ids:
            if place_id not in places:
                check.problem(path, f'{where} names unknown place {place_id!r} (not a key of "places")')
        if len(ids) > 60:
            check.problem(path, f"{where}: lists {len(ids)} places; Places returns at most 60 for a query")
        checked_queries[text] = ids
    return checked_queries, good


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_place(check: _Checker, path: Path, key: Any, place: Any) -> bool:
    where = f"place {key!r}"
    if not isinstance(place, dict):
        check.problem(path, f"{where} must be a Place object")
        return False
    ok = True

    def bad(message: str) -> None:
        nonlocal ok
        ok = False
        check.problem(path, f"{where}: {message}")

    if "id" not in place:
        bad('has no "id" (every Place object carries its id)')
    elif place["id"] != key:
        bad(f'"id" is {place["id"]!r}, not its key {key!r}')
    for field_name in place:
        if field_name not in KNOWN_PLACE_FIELDS:
            bad(f"unknown Place field {field_name!r}")
    name = place.get("displayName")
    if not (isinstance(name, dict) and isinstance(name.get("text"), str) and name["text"].strip()):
        bad('"displayName" must be {"text": "<business name>", "languageCode": "en"}')
    for text_field in ("formattedAddress", "nationalPhoneNumber", "internationalPhoneNumber", "primaryType"):
        if text_field in place and not isinstance(place[text_field], str):
            bad(f'"{text_field}" must be a string')
    website = place.get("websiteUri")
    if website is not None and not (
        isinstance(website, str) and re.match(r"^https?://[^/\s]+\.[^/\s]+(/\S*)?$", website)
    ):
        bad(f'"websiteUri" must be an http(s) URL, got {website!r}')
    rating = place.get("rating")
    if rating is not None and not (_number(rating) and 1 <= rating <= 5):
        bad(f'"rating" must be a number from 1 to 5, got {rating!r}')
    count = place.get("userRatingCount")
    if count is not None and not (isinstance(count, int) and not isinstance(count, bool) and count >= 0):
        bad(f'"userRatingCount" must be a whole number >= 0, got {count!r}')
    status = place.get("businessStatus")
    if status is not None and status not in BUSINESS_STATUSES:
        bad(f'"businessStatus" must be one of {", ".join(BUSINESS_STATUSES)}, got {status!r}')
    types = place.get("types")
    if types is not None and not (isinstance(types, list) and all(isinstance(t, str) for t in types)):
        bad('"types" must be a list of strings')
    return ok


def _page_path(relative: str) -> str:
    """The URL path of a page file: index.html -> /, about.html -> /about, a/index.html -> /a/."""
    stem = relative.removesuffix(".html")
    if stem == "index":
        return "/"
    if stem.endswith("/index"):
        return "/" + stem.removesuffix("index")
    return "/" + stem


def _load_sites(check: _Checker, folder: Path) -> dict[str, Site]:
    sites: dict[str, Site] = {}
    if not folder.exists():
        return sites
    if not folder.is_dir():
        check.problem(folder, "must be a folder of one folder per site host")
        return sites
    for entry in sorted(folder.iterdir()):
        if not entry.is_dir():
            check.problem(entry, "is not a folder (sites/ holds one folder per host, e.g. sites/acme.com/)")
            continue
        host = entry.name
        if not HOST_RE.match(host):
            check.problem(entry, "is not a lower-case host name like acme.com or www.acme.com")
            continue
        if bare_host(host) in sites:
            check.problem(entry, f"the same site as sites/{sites[bare_host(host)].host}/ (keep one spelling)")
            continue
        site = _load_site(check, entry, host)
        if site is not None:
            sites[bare_host(host)] = site
    return sites


def _load_site(check: _Checker, folder: Path, host: str) -> Site | None:
    site = Site(host=host, http_only=(folder / "_http_only").exists(), down=(folder / "_down").exists())
    statuses: dict[str, int] = {}
    pages: dict[str, tuple[Path, str]] = {}
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = file.relative_to(folder).as_posix()
        if relative in ("_down", "_http_only"):
            continue
        if relative.endswith(".status"):
            text = _read_text(check, file)
            if text is None:
                continue
            value = text.strip()
            if not value.isdigit() or not 100 <= int(value) <= 599:
                check.problem(file, f"must hold an HTTP status from 100 to 599, got {value[:20]!r}")
                continue
            statuses[_page_path(relative.removesuffix(".status") + ".html")] = int(value)
        elif relative.endswith(".html"):
            text = _read_text(check, file)
            if text is None:
                continue
            path = _page_path(relative)
            key = page_key(path)
            if key in pages:
                check.problem(file, f"serves the same page {path!r} as {check.name(pages[key][0])}")
                continue
            pages[key] = (file, text)
            site.add(Page(path, text))
    for path, status in statuses.items():
        page = site.page(path)
        if page is not None:
            site.add(Page(page.path, page.html, status=status))
        elif status < 400:
            check.problem(
                folder, f"{path.strip('/') or 'index'}.status gives {status} but there is no page for it"
            )
        else:
            reason = f"<!DOCTYPE html><html><head><title>{status}</title></head><body><h1>{status}</h1></body></html>"
            site.add(Page(path, reason, status=status))
    if not site.down and site.page("/") is None:
        check.problem(
            folder,
            "has no index.html (the homepage); add one, or a _down file for a site that does not answer",
        )
        return None
    not_found = pages.get("/404")
    if not_found is not None:
        site.not_found_html = not_found[1]
        del site.pages["/404"]
    return site


def _read_text(check: _Checker, file: Path) -> str | None:
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        check.problem(file, "is not UTF-8 text")
    except OSError as exc:
        check.problem(file, f"cannot be read ({exc.strerror})")
    return None


def _check_truth(
    check: _Checker, path: Path, data: Any, sites: dict[str, Site], year: int
) -> tuple[int, dict[str, list[str]]]:
    if not isinstance(data, dict) or not isinstance(data.get("sites"), dict):
        check.problem(path, 'must be {"current_year": 2026, "sites": {HOST: {"codes": [...]}}}')
        return year, {}
    current = data.get("current_year", year)
    if not (isinstance(current, int) and not isinstance(current, bool) and 1990 <= current <= 2100):
        check.problem(path, f'"current_year" must be a year like 2026, got {current!r}')
        current = year
    expected: dict[str, list[str]] = {}
    for host, entry in data["sites"].items():
        if bare_host(str(host)) not in sites:
            check.problem(path, f"site {host!r} has no folder under sites/")
            continue
        codes = entry.get("codes") if isinstance(entry, dict) else None
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            check.problem(path, f'site {host!r}: must be {{"codes": [finding codes]}}')
            continue
        unknown = [c for c in codes if c not in CODES]
        if unknown:
            check.problem(path, f"site {host!r}: unknown finding codes {unknown} (known: {', '.join(CODES)})")
            continue
        expected[bare_host(str(host))] = codes
    return current, expected
