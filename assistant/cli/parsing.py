"""Validation of what people type: agency ids, criteria, credit amounts, free-text fields.

Pure functions, no I/O, shared by the CLI, the chat agent's tools and Slack. Each returns the
normalised value or raises `InvalidInput` (a `ValueError`) whose message names the field, says
what was wrong and what is allowed, so a face can show it to the user as it is.
"""

from __future__ import annotations

import re

from db.signals import SIGNALS
from graphs.run_input import BadCampaignInput, check_agency_id, check_campaign_text, check_lead_count

MAX_CREDITS = 1_000_000
MAX_SERVICES = 50

_DIGITS = re.compile(r"[0-9]+")


class InvalidInput(ValueError):
    """Input that cannot be accepted; the message is meant for the user."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


def _shown(value: str, limit: int = 40) -> str:
    """`value` quoted for an error message, cut short so a huge paste does not flood the terminal."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def parse_agency_id(value: str, field: str = "agency") -> str:
    # The rule lives in graphs/run_input.py: LangGraph Server's `lead_gen` graph applies it too.
    try:
        return check_agency_id(value)
    except ValueError as exc:
        raise InvalidInput(field, str(exc)) from None


def parse_text(value: str, field: str) -> str:
    """A short free-text field (vertical, geography, a service): the rule of every face,
    `check_campaign_text` in graphs/run_input.py."""
    try:
        return check_campaign_text(value, field)
    except BadCampaignInput as exc:
        raise InvalidInput(field, exc.problem) from None


def parse_count(value: str, field: str = "number of leads") -> int:
    """How many leads, as typed: the rule of every face (`check_lead_count`); the message is
    the same everywhere, `field` names the option it came from (`-n` in the CLI)."""
    try:
        return check_lead_count(value, typed=True)
    except BadCampaignInput as exc:
        raise InvalidInput(field, str(exc)) from None


def parse_vertical(value: str) -> str:
    return parse_text(value, "vertical")


def parse_geography(value: str) -> str:
    return parse_text(value, "geography")


def parse_criteria(value: str) -> list[str]:
    """A comma-separated list of signals, case-insensitive, spaces or dashes allowed for
    underscores ("missing website" → MISSING_WEBSITE); duplicates dropped, order kept."""
    allowed = ", ".join(SIGNALS)
    items = [item.strip() for item in value.split(",")]
    if not any(items):
        raise InvalidInput("criteria", f"give at least one signal; allowed: {allowed}")
    criteria: list[str] = []
    for item in items:
        if not item:
            continue  # tolerate "A,,B" and a trailing comma
        signal = re.sub(r"[\s-]+", "_", item).upper()
        if signal not in SIGNALS:
            raise InvalidInput("criteria", f"unknown signal {_shown(item)}; allowed: {allowed}")
        if signal not in criteria:
            criteria.append(signal)
    return criteria


def parse_services(value: str) -> list[str]:
    """A comma-separated list of services the agency sells (e.g. "web design, SEO"); duplicates
    (ignoring case) dropped, order kept."""
    services: list[str] = []
    seen: set[str] = set()
    for item in value.split(","):
        if not item.strip():
            continue
        service = parse_text(item, "services")
        if service.casefold() not in seen:
            seen.add(service.casefold())
            services.append(service)
    if not services:
        raise InvalidInput("services", "give at least one service, e.g. 'web design,SEO'")
    if len(services) > MAX_SERVICES:
        raise InvalidInput("services", f"{len(services)} given; at most {MAX_SERVICES} are allowed")
    return services


def parse_credits(value: str, *, allow_zero: bool = False, field: str = "credits") -> int:
    """A whole number of credits written with ASCII digits: 1..1,000,000 (0 too when
    `allow_zero`). Signs, decimals, exponents and digit separators are refused."""
    lowest = 0 if allow_zero else 1
    text = value.strip()
    expected = f"a whole number from {lowest} to {MAX_CREDITS:,}"
    if not _DIGITS.fullmatch(text):
        if text.startswith("-") and _DIGITS.fullmatch(text[1:]):
            raise InvalidInput(field, f"{_shown(value)} is negative; expected {expected}")
        raise InvalidInput(field, f"{_shown(value)} is not {expected}")
    # The length check first: int() of a huge digit string is slow (and refused past 4300 digits).
    if len(text.lstrip("0")) > len(str(MAX_CREDITS)) or not lowest <= int(text) <= MAX_CREDITS:
        raise InvalidInput(field, f"{_shown(value)} is out of range; expected {expected}")
    return int(text)
