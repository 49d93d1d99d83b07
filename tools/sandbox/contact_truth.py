"""Ground truth for contacts: what a served page offers a visitor who wants to get in touch,
read from its HTML (the truth of `/_sandbox/truth` lists them per page).

* `email`: every `mailto:` link, and every address written in the page's text;
* `phone`: every `tel:` link, in E.164;
* `form`: the page, when it has a `<form>` with a `<textarea>` or an email or phone input;
* `social`: every link to a profile on a social network (share and intent links are not);
* `person`: on a page whose path speaks of the people (about, team, staff, attorneys, ...), a
  list item or heading whose whole text is "Name Surname, Role".
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import phonenumbers
from bs4 import BeautifulSoup

from tools.sandbox.truth import SHARE_PATHS, SOCIAL_HOSTS
from tools.sandbox.truth import _host_matches as host_matches

_EMAIL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}")
_PEOPLE_PATH = re.compile(
    r"about|team|staff|people|meet|attorneys|lawyers|doctors|dentists|providers|coaches|trainers|stylists|leadership",
    re.I,
)
_PERSON = re.compile(
    r"^(?:Dr\. )?[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?(?: [A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?){1,2}, [A-Za-z][A-Za-z .&/'-]{1,60}$"
)


def _profile(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not host_matches(url, SOCIAL_HOSTS):
        return None
    segments = [s for s in parts.path.split("/") if s]
    if not segments or segments[0] in SHARE_PATHS:
        return None
    return f"https://{(parts.hostname or '').lower()}/{'/'.join(segments)}"


def page_contacts(html: str, url: str) -> list[dict[str, Any]]:
    soup = BeautifulSoup(html, "html.parser")
    found: list[dict[str, Any]] = []

    def add(kind: str, value: str | None) -> None:
        if value and {"kind": kind, "value": value} not in found:
            found.append({"kind": kind, "value": value})

    for anchor in soup.find_all("a", href=True):
        href = urljoin(url, str(anchor["href"]).strip())
        scheme = urlsplit(href).scheme.lower()
        if scheme == "mailto":
            add("email", unquote(href.split(":", 1)[1].split("?", 1)[0]).strip().lower())
        elif scheme == "tel":
            try:
                number = phonenumbers.parse(unquote(href.split(":", 1)[1]), "US")
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                add("phone", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    for address in _EMAIL.findall(soup.get_text(" ")):
        add("email", address.lower())
    for form in soup.find_all("form"):
        fields = [str(i.get("type") or "").lower() for i in form.find_all("input")]
        if form.find("textarea") is not None or "email" in fields or "tel" in fields:
            add("form", url)
            break
    for anchor in soup.find_all("a", href=True):
        add("social", _profile(urljoin(url, str(anchor["href"]).strip())))
    if _PEOPLE_PATH.search(urlsplit(url).path):
        for tag in soup.find_all(["li", "h2", "h3", "h4"]):
            text = " ".join(tag.get_text(" ").split())
            if _PERSON.match(text) and len(text.split(", ", 1)[1].split()) <= 6:
                add("person", text)
    return found
