"""The agency's branding on its prospect reports: name, logo URL, colours, contact and a call to
action. Set with `leadgen agency set --brand-* ...` or the chat's `set_branding` tool (admins).

Every value is checked here, whichever face it came from, because it ends up in a page a
prospect opens: colours go into CSS (only `#rgb` / `#rrggbb`), URLs into attributes (only
http(s), and for the call to action also mailto: and tel:), text is escaped when rendered.
An empty value removes the field. Bad input raises `BadBranding` and nothing is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

BRANDING_FIELDS = (
    "name",
    "logo_url",
    "primary_color",
    "accent_color",
    "contact_email",
    "contact_phone",
    "cta_label",
    "cta_url",
)
DEFAULT_PRIMARY = "#1f3a5f"
DEFAULT_ACCENT = "#e07a1f"
DEFAULT_CTA_LABEL = "Book a free consultation"

_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}$")
_PHONE = re.compile(r"^[+0-9 ().-]{5,40}$")
_TEXT_LIMITS = {"name": 100, "cta_label": 60}


class BadBranding(ValueError):
    """A branding value that cannot be used; the message names the field and what is expected."""


def _text(field: str, value: str) -> str:
    text = " ".join(value.split())
    if not text.isprintable() or len(text) > _TEXT_LIMITS[field]:
        raise BadBranding(f"{field}: expected printable text of at most {_TEXT_LIMITS[field]} characters")
    return text


def _url(field: str, value: str, schemes: tuple[str, ...]) -> str:
    url = value.strip()
    parts = urlsplit(url)
    ok = parts.scheme.lower() in schemes and len(url) <= 2048 and not re.search(r"[\s\"'<>`]", url)
    if ok and parts.scheme.lower() in ("http", "https"):
        ok = bool(parts.hostname)
    if ok and parts.scheme.lower() == "mailto":
        ok = bool(_EMAIL.match(parts.path))
    if ok and parts.scheme.lower() == "tel":
        ok = bool(_PHONE.match(parts.path))
    if not ok:
        raise BadBranding(f"{field}: {value[:80]!r} is not a {' or '.join(s + ':' for s in schemes)} URL")
    return url


def _color(field: str, value: str) -> str:
    color = value.strip()
    if not _COLOR.match(color):
        raise BadBranding(f"{field}: {value[:40]!r} is not a colour like #1f3a5f")
    if len(color) == 4:
        color = "#" + "".join(ch * 2 for ch in color[1:])
    return color.lower()


def check_value(field: str, value: str) -> str:
    if field in ("name", "cta_label"):
        return _text(field, value)
    if field == "logo_url":
        return _url(field, value, ("https", "http"))
    if field == "cta_url":
        return _url(field, value, ("https", "http", "mailto", "tel"))
    if field in ("primary_color", "accent_color"):
        return _color(field, value)
    if field == "contact_email":
        if not _EMAIL.match(value.strip()):
            raise BadBranding(f"contact_email: {value[:80]!r} is not an email address")
        return value.strip()
    if field == "contact_phone":
        if not _PHONE.match(value.strip()):
            raise BadBranding(f"contact_phone: {value[:40]!r} is not a phone number")
        return value.strip()
    raise BadBranding(f"unknown branding field {field!r}; fields: {', '.join(BRANDING_FIELDS)}")


def check_branding(values: Mapping[str, str | None]) -> dict[str, str | None]:
    """The given fields checked: a value to store, or None (empty input) to remove the field."""
    checked: dict[str, str | None] = {}
    for field, value in values.items():
        if value is None:
            continue
        checked[field] = check_value(field, value) if value.strip() else None
    return checked


def branding_json(stored: Mapping[str, Any] | None, agency_name: str) -> dict[str, Any]:
    """Every field, with the agency's own name and the default colours where none was set."""
    data = dict(stored or {})
    return {
        "name": data.get("name") or agency_name,
        "logo_url": data.get("logo_url"),
        "primary_color": data.get("primary_color") or DEFAULT_PRIMARY,
        "accent_color": data.get("accent_color") or DEFAULT_ACCENT,
        "contact_email": data.get("contact_email"),
        "contact_phone": data.get("contact_phone"),
        "cta_label": data.get("cta_label") or DEFAULT_CTA_LABEL,
        "cta_url": data.get("cta_url"),
    }


__all__ = ["BRANDING_FIELDS", "BadBranding", "branding_json", "check_branding", "check_value"]
