"""Contacts found in the pages an audit read: who to write to and where, each with its page.

Read from data already scraped (no provider call, no credit): the page's markdown, its links
and, when the audit kept it, its raw HTML. Kinds (the lead JSON's `contacts`, graphs/views.py):

* `email`: a `mailto:` link or an address written in the text (not an image name like
  `logo@2x.png`, not a placeholder domain);
* `phone`: a `tel:` link, in E.164 (the Places phone is added by `with_places_phone`);
* `form`: a page whose HTML has a `<form>` asking for an email, a phone or a message (a search
  box is not one); without HTML, a page whose markdown shows a form's labels is not guessed at;
* `social`: a profile on a social network (share and intent links are not profiles);
* `person`: "Name Surname, Role" as a heading or list item on an about or team page.

The first page a contact is seen on is its `source_url`; each (kind, value) appears once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit

if TYPE_CHECKING:
    # Parsers load when a page is read: the views use this module's light helpers.
    from bs4 import BeautifulSoup

CONTACT_KINDS = ("email", "phone", "form", "social", "person")
MAX_CONTACTS = 40

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
SHARE_PATHS = frozenset(
    {"sharer", "sharer.php", "share", "sharing", "intent", "dialog", "shareArticle", "plugins"}
)
_EMAIL = re.compile(
    r"(?<![\w.+-])([A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24})\b"
)
_NOT_EMAIL_TLDS = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "avif", "css", "js"})
_PLACEHOLDER_DOMAINS = frozenset({"example.com", "example.org", "domain.com", "email.com", "yourdomain.com"})
# A page about the people of the business.
_PEOPLE_PAGE = re.compile(
    r"(about|team|staff|people|meet|attorneys|lawyers|doctors|dentists|providers|coaches|trainers|stylists|leadership|who-we-are)",
    re.I,
)
_NAME = (
    r"(?:Dr\.\s)?[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?(?:\s[A-Z]\.)?(?:\s[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?){1,2}"
)
_PERSON_LINE = re.compile(
    rf"^\s*(?:#{{1,4}}|[-*+]|\d+\.)\s+\**({_NAME}),\s+([A-Za-z][A-Za-z .&/'-]{{1,60}}?)\**\s*$"
)


@dataclass(frozen=True)
class PageSource:
    """One page as scraped: markdown always, links and raw HTML when the scrape returned them."""

    url: str
    title: str | None
    markdown: str
    links: Sequence[str] = ()
    raw_html: str | None = None


def contact(kind: str, value: str, source_url: str | None) -> dict[str, Any]:
    return {"kind": kind, "value": value, "source_url": source_url}


def _host_matches(url: str, hosts: Iterable[str]) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return any(host == h or host.endswith("." + h) for h in hosts)


def social_profile(url: str) -> str | None:
    """The profile URL (no query or fragment, no trailing slash), or None when `url` is not one."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not _host_matches(url, SOCIAL_HOSTS):
        return None
    segments = [s for s in parts.path.split("/") if s]
    if not segments or segments[0] in SHARE_PATHS:
        return None
    host = (parts.hostname or "").lower()
    return f"https://{host}/{'/'.join(segments)}"


def _email(value: str) -> str | None:
    address = unquote(value).strip().strip(".").lower()
    match = _EMAIL.fullmatch(address)
    if not match:
        return None
    domain = address.rsplit("@", 1)[1]
    if domain.rsplit(".", 1)[-1] in _NOT_EMAIL_TLDS or domain in _PLACEHOLDER_DOMAINS:
        return None
    return address


def _phone(value: str, region: str) -> str | None:
    import phonenumbers

    try:
        number = phonenumbers.parse(unquote(value).strip(), region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True)
class _HtmlRead:
    hrefs: list[str]
    text: str
    form: bool


def _read_html(raw_html: str) -> _HtmlRead:
    """Links, visible text and whether there is a contact form, from the whole page: the
    header and footer too, where addresses and profiles usually sit."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(raw_html, "html.parser")
    hrefs = [str(a["href"]) for a in soup.find_all("a", href=True)]
    form = _has_contact_form(soup)
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    return _HtmlRead(hrefs, soup.get_text(" "), form)


def _has_contact_form(soup: BeautifulSoup) -> bool:
    for form in soup.find_all("form"):
        if form.find("textarea") is not None:
            return True
        for field in form.find_all("input"):
            if str(field.get("type") or "").lower() in ("email", "tel"):
                return True
    return False


def _people(page: PageSource) -> list[str]:
    if not _PEOPLE_PAGE.search(urlsplit(page.url).path) and not _PEOPLE_PAGE.search(page.title or ""):
        return []
    found: list[str] = []
    for line in page.markdown.splitlines():
        match = _PERSON_LINE.match(line)
        if match and len(match.group(2).split()) <= 6:
            found.append(f"{match.group(1)}, {match.group(2).strip()}")
    return found


def find_contacts(pages: Sequence[PageSource], *, region: str = "US") -> list[dict[str, Any]]:
    """Every contact on `pages`, in page order, each (kind, value) once with its first page."""
    seen: set[tuple[str, str]] = set()
    found: list[dict[str, Any]] = []

    def add(kind: str, value: str | None, source: str) -> None:
        if value and (kind, value) not in seen and len(found) < MAX_CONTACTS:
            seen.add((kind, value))
            found.append(contact(kind, value, source))

    for page in pages:
        html = _read_html(page.raw_html) if page.raw_html else None
        links = [*page.links, *(html.hrefs if html else [])]
        for link in links:
            href = urljoin(page.url, link.strip())
            scheme = urlsplit(href).scheme.lower()
            if scheme == "mailto":
                add("email", _email(href.split(":", 1)[1].split("?", 1)[0]), page.url)
            elif scheme == "tel":
                add("phone", _phone(href.split(":", 1)[1], region), page.url)
        for match in _EMAIL.finditer(f"{page.markdown}\n{html.text if html else ''}"):
            add("email", _email(match.group(1)), page.url)
        if html and html.form:
            add("form", page.url, page.url)
        for link in links:
            add("social", social_profile(urljoin(page.url, link.strip())), page.url)
        for person in _people(page):
            add("person", person, page.url)
    return found


def places_source_url(place_id: str | None) -> str | None:
    """Google Maps' documented URL for a place id: where the Places phone came from."""
    return f"https://www.google.com/maps/place/?q=place_id:{place_id}" if place_id else None


def with_places_phone(
    contacts: Sequence[dict[str, Any]], phone: str | None, place_id: str | None
) -> list[dict[str, Any]]:
    """The lead's contacts with its Places phone first (once, however often the site shows it)."""
    rest = [dict(c) for c in contacts if not (c.get("kind") == "phone" and c.get("value") == phone)]
    if not phone:
        return rest
    return [contact("phone", phone, places_source_url(place_id)), *rest]


__all__ = [
    "CONTACT_KINDS",
    "PageSource",
    "contact",
    "find_contacts",
    "places_source_url",
    "social_profile",
    "with_places_phone",
]
