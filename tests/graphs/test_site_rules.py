"""Which pages an audit reads (graphs/url_selection.py): the site's own pages, the essential ones
always, the model's choice kept to the candidates, the rules filling up."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from graphs.url_selection import (
    choose_pages,
    essentials,
    is_excluded,
    page_kind,
    rank_urls,
    rule_score,
    site_candidates,
    url_key,
)

HOME = "https://acme.com/"


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
    assert rank_urls(HOME, urls, limit=3) == [HOME, "https://acme.com/pricing", "https://acme.com/contact"]


def test_candidates_are_the_sites_own_pages_once() -> None:
    urls = [
        "https://www.acme.com/about/",
        "https://acme.com/about",
        "http://acme.com/menu#today",
        "https://acme.com/brochure.pdf",
        "mailto:hi@acme.com",
        "https://facebook.com/acme",
        "https://acme.com/",
    ]
    assert site_candidates(HOME, urls) == [HOME, "https://www.acme.com/about/", "http://acme.com/menu"]


def test_the_pages_that_absence_findings_rest_on_are_always_read() -> None:
    # Discovery dropped these on real sites: /book, /testimonials, /menu, /reservations.
    site = [
        "https://acme.com/service-area",
        "https://acme.com/gallery",
        "https://acme.com/book-online",
        "https://acme.com/testimonials",
        "https://acme.com/visit-us",
        "https://acme.com/menu",
        "https://acme.com/reservations",
    ]
    assert [page_kind(u) for u in site] == [None, None, "booking", "reviews", "contact", "pricing", "booking"]
    chosen = choose_pages(HOME, site, ["https://acme.com/gallery"], limit=6)
    assert chosen[0] == HOME
    assert set(essentials(HOME, site)) <= set(chosen)
    assert "https://acme.com/gallery" in chosen  # the model's pick, after the essentials


def test_vertical_pages_rank_above_generic_ones() -> None:
    law = ["https://acme.com/gallery", "https://acme.com/practice-areas", "https://acme.com/attorneys"]
    assert rank_urls(HOME, law, vertical="lawyers", limit=3)[1:] == [
        "https://acme.com/attorneys",
        "https://acme.com/practice-areas",
    ]
    dental = ["https://acme.com/gallery", "https://acme.com/new-patients", "https://acme.com/financing"]
    assert set(rank_urls(HOME, dental, vertical="dentists", limit=3)[1:]) == {
        "https://acme.com/new-patients",
        "https://acme.com/financing",
    }
    assert rule_score("https://acme.com/practice-areas/dui", "lawyers") < rule_score(
        "https://acme.com/practice-areas", "lawyers"
    )


def test_model_choice_is_limited_to_offered_urls() -> None:
    offered = ["https://acme.com/services", "https://acme.com/about"]
    chosen = ["https://acme.com/about", "https://elsewhere.example/x", "https://acme.com/secret"]
    picked = choose_pages(HOME, offered, chosen, limit=2)
    assert picked == [HOME, "https://acme.com/about"]
    assert choose_pages(HOME, offered, [], limit=5) == [HOME, *offered]


@given(st.lists(st.text(max_size=40), max_size=20), st.integers(min_value=1, max_value=10))
def test_rank_urls_never_exceeds_limit_or_invents(paths: list[str], limit: int) -> None:
    candidates = [f"https://acme.com/{p}" for p in paths]
    ranked = rank_urls(HOME, candidates, limit=limit)
    assert len(ranked) <= limit
    assert ranked[0] == HOME
    assert all(not is_excluded(u) for u in ranked[1:])
    offered = {url_key(u) for u in candidates}
    assert all(url_key(u) in offered for u in ranked[1:])
