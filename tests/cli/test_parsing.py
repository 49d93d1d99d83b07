"""Property tests of the input parsers shared by the CLI, chat and Slack.

For every parser: arbitrary text either parses or raises `InvalidInput` (a ValueError) with a
message naming the field; valid input round-trips; known-bad input is refused with a message
that says what is allowed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from assistant.cli.parsing import (
    MAX_CREDITS,
    InvalidInput,
    parse_agency_id,
    parse_credits,
    parse_criteria,
    parse_geography,
    parse_services,
    parse_text,
    parse_vertical,
)
from db.models import SIGNALS

PARSERS: dict[str, Callable[[str], object]] = {
    "agency": parse_agency_id,
    "criteria": parse_criteria,
    "services": parse_services,
    "vertical": parse_vertical,
    "geography": parse_geography,
    "credits": parse_credits,
}

clean_text = st.text(
    alphabet=st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=200
).filter(lambda s: bool(s.strip()))


@pytest.mark.parametrize("field", sorted(PARSERS))
@given(text=st.text(max_size=300))
@example(text="")
@example(text="9" * 10_000)
@example(text="\x00,\n,\u2028")
def test_arbitrary_text_never_crashes(field: str, text: str) -> None:
    try:
        PARSERS[field](text)
    except InvalidInput as exc:
        assert isinstance(exc, ValueError)
        assert str(exc).startswith(f"{field}: ") and len(str(exc)) > len(field) + 10
        assert len(str(exc)) < 400  # a huge input is not echoed back whole


@given(st.from_regex(r"[a-z0-9][a-z0-9_-]{0,63}", fullmatch=True))
def test_valid_agency_ids_round_trip(agency_id: str) -> None:
    assert parse_agency_id(agency_id) == agency_id
    assert parse_agency_id(f"  {agency_id} ") == agency_id


@given(st.text(max_size=80))
def test_agency_ids_match_the_documented_pattern(text: str) -> None:
    try:
        parsed = parse_agency_id(text)
    except InvalidInput as exc:
        assert "lowercase a-z" in str(exc)
    else:
        assert re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", parsed)


@given(
    st.lists(
        st.tuples(st.sampled_from(SIGNALS), st.booleans(), st.sampled_from(["_", " ", "-"]), st.booleans()),
        min_size=1,
        max_size=8,
    )
)
def test_criteria_normalise_and_round_trip(spelled: list[tuple[str, bool, str, bool]]) -> None:
    words = [
        (sig.lower() if lower else sig).replace("_", sep) + (" " if pad else "")
        for sig, lower, sep, pad in spelled
    ]
    parsed = parse_criteria(",".join(words))
    expected = list(dict.fromkeys(sig for sig, *_ in spelled))  # deduped, first-seen order
    assert parsed == expected
    assert parse_criteria(",".join(parsed)) == parsed


@given(st.text(min_size=1, max_size=30).filter(lambda s: "," not in s and s.strip()))
def test_unknown_signals_list_the_allowed_ones(word: str) -> None:
    if re.sub(r"[\s-]+", "_", word.strip()).upper() in SIGNALS:
        return
    with pytest.raises(InvalidInput) as info:
        parse_criteria(f"MISSING_WEBSITE,{word}")
    assert all(signal in str(info.value) for signal in SIGNALS)


@given(st.integers(min_value=1, max_value=MAX_CREDITS))
def test_valid_credits_round_trip(n: int) -> None:
    assert parse_credits(str(n)) == n
    assert parse_credits(f" {n}\n") == n
    assert parse_credits(str(n), allow_zero=True) == n


def test_zero_credits_only_where_allowed() -> None:
    assert parse_credits("0", allow_zero=True) == 0
    with pytest.raises(InvalidInput, match="from 1 to 1,000,000"):
        parse_credits("0")


@given(
    st.one_of(
        st.integers(max_value=-1).map(str),
        st.integers(min_value=MAX_CREDITS + 1).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.integers(min_value=1, max_value=MAX_CREDITS).map(lambda n: f"{n:_}" if n >= 1000 else f"+{n}"),
        st.text(alphabet=st.characters(categories=("Nd",), exclude_characters="0123456789"), min_size=1),
    )
)
def test_invalid_credits_are_refused_helpfully(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_credits(text)
    assert "whole number from 1 to 1,000,000" in str(info.value)


@given(clean_text)
def test_clean_text_round_trips(text: str) -> None:
    assert parse_text(text, "vertical") == text.strip()


@given(clean_text, st.sampled_from(["\x00", "\x07", "\n", "\x1b", "\u2028", "\x7f"]), st.integers(0, 199))
def test_control_characters_are_refused(text: str, control: str, at: int) -> None:
    # Inside the text (between two letters): surrounding whitespace is trimmed, not refused.
    at %= len(text) + 1
    text = text[:at] + "a" + control + "b" + text[at:]
    if len(text.strip()) > 200:
        return
    with pytest.raises(InvalidInput, match="control character"):
        parse_geography(text)


def test_text_length_limit() -> None:
    assert parse_vertical("x" * 200) == "x" * 200
    with pytest.raises(InvalidInput, match="201 characters long; at most 200"):
        parse_vertical("x" * 201)


@given(st.lists(clean_text.filter(lambda s: "," not in s), min_size=1, max_size=10))
def test_services_round_trip(items: list[str]) -> None:
    parsed = parse_services(",".join(items))
    seen: set[str] = set()
    expected = []
    for item in items:
        if item.strip().casefold() not in seen:
            seen.add(item.strip().casefold())
            expected.append(item.strip())
    assert parsed == expected
    assert all(not any(unicodedata.category(c) == "Cc" for c in s) for s in parsed)
