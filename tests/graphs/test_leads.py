"""The seed's filter/score rules, and normalisation under arbitrary input."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from graphs.leads import (
    RawPlace,
    canonical_domain,
    clamp_num_leads,
    dedupe_places,
    detect_signals,
    filter_and_score,
    normalize_phone,
    normalize_website,
    qualification_score,
)


def place(pid: str = "p1", **kw: object) -> RawPlace:
    base: dict[str, object] = {"name": "Acme", "phone": "(512) 555-2368", "website": "https://acme.com"}
    base.update(kw)
    return RawPlace(place_id=pid, **base)  # type: ignore[arg-type]


def test_website_normalisation() -> None:
    assert normalize_website("WWW.Acme.com/Contact?x=1#top") == "https://acme.com/Contact?x=1"
    assert normalize_website("http://acme.com") == "http://acme.com/"
    assert normalize_website("  ") is None
    assert normalize_website("ftp://acme.com") is None
    assert normalize_website(None) is None


def test_canonical_domain_own_vs_social() -> None:
    assert canonical_domain("https://shop.acme.co.uk/x") == "acme.co.uk"
    assert canonical_domain("www.acme.com") == "acme.com"
    assert canonical_domain("https://www.facebook.com/acmeplumbing") is None
    assert canonical_domain("https://m.yelp.com/biz/acme") is None
    assert canonical_domain("https://acme.wixsite.com/home") == "acme.wixsite.com"
    assert canonical_domain("https://acme-dental.example/") == "acme-dental.example"


def test_phone_e164_or_none() -> None:
    assert normalize_phone("(512) 555-2368") == "+15125552368"
    assert normalize_phone("+1 512-555-2368") == "+15125552368"
    assert normalize_phone("123") is None
    assert normalize_phone(None) is None


def test_signals_follow_the_seed_thresholds() -> None:
    assert detect_signals(place(website=None, rating=4.5, reviews_count=50)) == ["MISSING_WEBSITE"]
    assert detect_signals(place(website="facebook.com/acme", rating=4.5, reviews_count=50)) == [
        "WEAK_WEB_PRESENCE"
    ]
    assert detect_signals(place(rating=3.9, reviews_count=5)) == ["LOW_GOOGLE_RATING"]
    assert detect_signals(place(rating=3.9, reviews_count=4)) == ["FEW_GOOGLE_REVIEWS"]
    assert detect_signals(place(rating=4.0, reviews_count=5)) == []
    assert detect_signals(place(rating=None, reviews_count=None)) == ["FEW_GOOGLE_REVIEWS"]


def test_score_is_share_of_criteria() -> None:
    # No criteria set: scored against all four signals (db/signals.py), not 0.
    assert qualification_score(["MISSING_WEBSITE"], []) == 0.25
    assert qualification_score(["MISSING_WEBSITE", "FEW_GOOGLE_REVIEWS", "LOW_GOOGLE_RATING"], []) == 0.75
    assert qualification_score([], []) == 0.0
    assert qualification_score(["MISSING_WEBSITE"], ["MISSING_WEBSITE", "FEW_GOOGLE_REVIEWS"]) == 0.5
    assert qualification_score(["LOW_GOOGLE_RATING"], ["MISSING_WEBSITE"]) == 0.0


def test_filter_drops_phoneless_and_closed_and_ranks() -> None:
    outcome = filter_and_score(
        [
            place("a", name="B biz", rating=4.8, reviews_count=100),
            place("b", name="No phone", phone=None),
            place("c", name="Closed", business_status="CLOSED_PERMANENTLY"),
            place("d", name="A biz", website=None, reviews_count=2),
        ],
        ["MISSING_WEBSITE", "FEW_GOOGLE_REVIEWS"],
    )
    assert [lead.place_id for lead in outcome.kept] == ["d", "a"]
    assert outcome.kept[0].qualification_score == 1.0
    assert outcome.dropped == {"no_phone": 1, "closed_permanently": 1}
    assert not outcome.kept[0].auditable and outcome.kept[1].auditable


def test_an_agency_without_criteria_ranks_by_all_four_signals() -> None:
    outcome = filter_and_score(
        [
            place("strong", name="Strong", rating=4.9, reviews_count=300),
            place("weak", name="Weak", website=None, rating=3.1, reviews_count=40),
            place("few", name="Few", reviews_count=2),
        ],
        [],
    )
    assert [(lead.place_id, lead.qualification_score) for lead in outcome.kept] == [
        ("weak", 0.5),
        ("few", 0.25),
        ("strong", 0.0),
    ]


def test_dedupe_by_place_id_and_own_domain_only() -> None:
    kept = dedupe_places(
        [
            place("a", website="https://acme.com"),
            place("a", website="https://other.com"),
            place("b", website="https://www.acme.com/about"),
            place("c", website="https://facebook.com/x"),
            place("d", website="https://facebook.com/y"),
        ]
    )
    assert [p.place_id for p in kept] == ["a", "c", "d"]


@given(st.integers(min_value=-1000, max_value=1000))
def test_clamp(n: int) -> None:
    assert 1 <= clamp_num_leads(n) <= 20


@given(st.text())
def test_normalisers_never_crash(text: str) -> None:
    url = normalize_website(text)
    assert url is None or url.startswith(("http://", "https://"))
    domain = canonical_domain(text)
    assert domain is None or domain == domain.lower()
    phone = normalize_phone(text)
    assert phone is None or phone.startswith("+")
