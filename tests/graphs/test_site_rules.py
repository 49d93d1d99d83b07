"""Deterministic gap checks and URL selection rules."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from graphs.site_checks import Gap, PageText, find_gaps, merge_gaps
from graphs.url_selection import is_excluded, keep_model_choice, rank_urls

NOW = datetime(2026, 11, 22, tzinfo=UTC)
HOME = "https://acme.com/"


def codes(gaps: list[Gap]) -> set[str]:
    return {g.code for g in gaps}


def test_bare_http_site_with_stale_copyright_has_every_gap() -> None:
    pages = [PageText("http://acme.com/", "Acme", "Welcome to Acme. © 2019 Acme Plumbing")]
    assert codes(find_gaps(pages, now=NOW)) == {
        "NO_PRICING",
        "NO_ONLINE_BOOKING",
        "NO_HTTPS",
        "STALE_COPYRIGHT",
        "NO_REVIEWS_SHOWN",
        "NO_CONTACT_INFO",
        "THIN_CONTENT",
    }


def test_complete_site_has_no_gaps() -> None:
    body = " ".join(["word"] * 300)
    pages = [
        PageText(HOME, "Acme", f"{body} Book online today. © 2026 Acme"),
        PageText("https://acme.com/pricing", "Pricing", "Drain cleaning from $99"),
        PageText("https://acme.com/testimonials", "Reviews", "What our customers say"),
        PageText("https://acme.com/contact", "Contact", "Call us at (512) 555-2368"),
    ]
    assert find_gaps(pages, now=NOW) == []


def test_merge_keeps_findings_and_drops_model_duplicates() -> None:
    found = [Gap("NO_PRICING", "No pricing page or published prices on the site.")]
    merged = merge_gaps(["The site does not list prices or pricing", "Slow mobile pages"], found)
    assert merged == ["No pricing page or published prices on the site.", "Slow mobile pages"]


def test_rank_urls_home_first_and_excludes() -> None:
    urls = [
        "https://acme.com/blog/post-1",
        "https://acme.com/privacy",
        "https://acme.com/contact",
        "https://acme.com/services",
        "https://evil.example/pricing",
        "https://acme.com/pricing",
        "https://acme.com/careers",
    ]
    assert rank_urls(HOME, urls, limit=3) == [HOME, "https://acme.com/services", "https://acme.com/pricing"]


def test_model_choice_is_limited_to_offered_urls() -> None:
    offered = ["https://acme.com/services", "https://acme.com/about"]
    chosen = ["https://acme.com/about", "https://elsewhere.example/x", "https://acme.com/secret"]
    assert keep_model_choice(HOME, offered, chosen, limit=5) == [HOME, "https://acme.com/about"]
    assert keep_model_choice(HOME, offered, [], limit=5) == [HOME, *offered]


@given(st.lists(st.text(max_size=40), max_size=20), st.integers(min_value=1, max_value=10))
def test_rank_urls_never_exceeds_limit_or_invents(paths: list[str], limit: int) -> None:
    candidates = [f"https://acme.com/{p}" for p in paths]
    ranked = rank_urls(HOME, candidates, limit=limit)
    assert len(ranked) <= limit
    assert all(u in [HOME, *candidates] for u in ranked)
    assert not any(is_excluded(u) for u in ranked[1:])
