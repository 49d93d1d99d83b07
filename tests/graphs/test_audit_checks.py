"""The audit's checks (graphs/audit_checks.py), one or more per finding code, on HTML written the
way real small-business sites write it, traps included: negations, discounts, "free case
review", copyright ranges, widgets in iframes, `tel:` links only in the header."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from graphs.audit_checks import (
    CODES,
    PageFacts,
    ScrapedPage,
    SiteRead,
    check_analytics,
    check_broken_links,
    check_click_to_call,
    check_copyright,
    check_https,
    check_local_business_schema,
    check_meta_description,
    check_online_booking,
    check_pricing,
    check_reviews,
    check_site_down,
    check_social_links,
    check_thin_content,
    check_viewport,
    read_page,
    run_checks,
)

HOME = "https://ridgeviewdental.com/"
YEAR = 2026
WORDS = " ".join(["Gentle family dentistry for every age, close to home."] * 20)


def page(body: str, head: str = "", url: str = HOME) -> PageFacts:
    return read_page(url, f"<!DOCTYPE html><html><head>{head}</head><body>{body}</body></html>")


# -- booking ------------------------------------------------------------------------------------


def test_a_negated_booking_sentence_is_no_booking() -> None:
    found = check_online_booking(
        [page("<main><p>Online booking is not available. Please call us to schedule.</p></main>")]
    )
    assert found is not None and found.code == "NO_ONLINE_BOOKING"
    assert "Online booking is not available" in found.evidence


def test_book_now_that_dials_a_phone_is_no_booking() -> None:
    header = '<header><a class="header-button" href="tel:+15125550123">Book Now</a></header>'
    assert check_online_booking([page(header)]) is not None


def test_booking_widget_inside_an_iframe_counts() -> None:
    iframe = (
        '<div class="widget"><iframe src="https://www.localmed.com/widgets/schedule/ridgeview" '
        'title="Online booking" width="100%" height="720"></iframe></div>'
    )
    assert check_online_booking([page(iframe)]) is None


def test_calendly_inline_widget_and_booking_links_count() -> None:
    calendly = (
        '<div class="calendly-inline-widget" data-url="https://calendly.com/ridgeview/consultation"></div>'
        '<script src="https://assets.calendly.com/assets/external/widget.js" async></script>'
    )
    assert check_online_booking([page(calendly)]) is None
    link = '<a href="https://www.zocdoc.com/practice/ridgeview-dental-12345">Book on Zocdoc</a>'
    assert check_online_booking([page(link)]) is None


def test_a_form_asking_for_a_date_is_booking_and_a_contact_form_is_not() -> None:
    booking = '<form action="/request"><input type="text" name="name"><input type="date" name="day"></form>'
    contact = '<form action="/contact"><input type="text" name="name"><textarea></textarea></form>'
    assert check_online_booking([page(booking)]) is None
    assert check_online_booking([page(contact)]) is not None


# -- pricing ------------------------------------------------------------------------------------


def test_a_discount_is_not_pricing() -> None:
    promo = '<section class="promo"><p>$50 off your first cleaning! Mention this coupon.</p></section>'
    found = check_pricing([page(promo)])
    assert found is not None and "$50 off" in found.evidence


def test_a_verdict_or_a_waived_fee_is_not_pricing() -> None:
    law = (
        "<ul><li>$1.2M verdict for a trucking accident victim</li>"
        "<li>$450,000 settlement in a slip and fall case</li></ul>"
        "<p>We waive the $89 consultation fee for new clients.</p>"
    )
    assert check_pricing([page(law)]) is not None


def test_a_price_in_a_table_cell_counts() -> None:
    table = "<table><tr><td>Teeth whitening</td><td>$299</td></tr></table>"
    assert check_pricing([page(table)]) is None
    assert check_pricing([page("<p>Drain cleaning starting at $129.</p>")]) is None


# -- reviews ------------------------------------------------------------------------------------


def test_free_case_review_is_not_a_review() -> None:
    body = '<p><a href="/contact">Get your free case review</a> today.</p><p><a href="https://g.page/r/x/review">Leave us a review</a></p>'
    found = check_reviews([page(body)])
    assert found is not None and found.code == "NO_REVIEWS_SHOWN"


def test_a_quoted_testimonial_and_a_review_widget_count() -> None:
    quote = '<blockquote class="testimonial"><p>“Best dentist in Austin, painless and kind.”</p><cite>Maria G.</cite></blockquote>'
    assert check_reviews([page(quote)]) is None
    widget = (
        '<aside><div class="widget"><iframe src="https://birdeye.com/widget/render.php?bid=1&amp;wid=2" '
        'title="Customer reviews"></iframe></div></aside>'
    )
    assert check_reviews([page(widget)]) is None
    script = '<script src="https://static.elfsight.com/platform/platform.js" async></script><div class="elfsight-app-1"></div>'
    assert check_reviews([page(script)]) is None


# -- copyright ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "stale"),
    [
        ("© 2019 Ridgeview Dental. All Rights Reserved.", True),
        ("Copyright © 2015–2019 Ridgeview Dental", True),
        ("Copyright © 2009–2026 Ridgeview Dental", False),  # a range counts by its last year
        ("© 2015-2026 Ridgeview Dental", False),
        ("© 2025 Ridgeview Dental", False),  # last year is not stale
        ("Founded in 2012, serving Austin for years.", False),  # not a copyright notice
    ],
)
def test_copyright_years(line: str, stale: bool) -> None:
    found = check_copyright([page(f'<footer><p class="copyright">{line}</p></footer>')], year=YEAR)
    assert (found is not None) is stale
    if found is not None:
        assert found.code == "STALE_COPYRIGHT" and "2019" in found.evidence


# -- phone, social, https, head tags ----------------------------------------------------------


def test_a_tel_link_only_in_the_header_counts_and_a_plain_number_does_not() -> None:
    header = '<header><span class="header-phone">Call <a href="tel:+15125550123">(512) 555-0123</a></span></header>'
    assert check_click_to_call([page(header + f"<main><p>{WORDS}</p></main>")]) is None
    plain = "<footer><p>Phone: (512) 555-0123</p></footer>"
    found = check_click_to_call([page(plain)])
    assert found is not None and found.code == "NO_CLICK_TO_CALL"


def test_share_buttons_are_not_social_profiles() -> None:
    share = '<a href="https://www.facebook.com/sharer/sharer.php?u=https://ridgeviewdental.com/">Share</a>'
    found = check_social_links([page(share)])
    assert found is not None and "share link" in found.evidence
    icons = '<ul class="social-links"><li><a href="https://www.instagram.com/ridgeviewdental/" aria-label="Instagram"></a></li></ul>'
    assert check_social_links([page(icons)]) is None


def test_viewport_and_meta_description_read_the_homepage_head() -> None:
    home = page("<p>Hi</p>", head='<meta name="description" content="  ">')
    assert check_viewport(home) is not None
    found = check_meta_description(home)
    assert found is not None and "empty" in found.evidence
    good = page(
        "<p>Hi</p>",
        head='<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="description" content="Family dentist">',
    )
    assert check_viewport(good) is None and check_meta_description(good) is None


def test_https_finding_needs_https_to_fail() -> None:
    assert check_https("http://ridgeviewdental.com/", http_only=True) is not None
    assert check_https("https://ridgeviewdental.com/", http_only=False) is None


def test_local_business_schema_in_a_graph_counts_and_organization_does_not() -> None:
    yoast = (
        '<script type="application/ld+json">{"@context":"https://schema.org","@graph":[{"@type":"WebSite"},'
        '{"@type":"Organization","name":"Ridgeview"}]}</script>'
    )
    found = check_local_business_schema([page("", head=yoast)])
    assert found is not None and "Organization" in found.evidence
    dentist = (
        '<script type="application/ld+json">{"@context":"https://schema.org","@type":["Dentist"]}</script>'
    )
    assert check_local_business_schema([page("", head=yoast), page("", head=dentist)]) is None
    microdata = '<div itemscope itemtype="https://schema.org/Plumber"><span itemprop="name">A</span></div>'
    assert check_local_business_schema([page(microdata)]) is None


def test_a_commented_out_tag_or_a_privacy_policy_is_not_analytics() -> None:
    commented = '<!-- <script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script> -->'
    policy = "<p>We use Google Analytics (google-analytics.com) to count visits.</p>"
    assert check_analytics([page(policy, head=commented)]) is not None
    gtm = (
        "<script>(function(w,d,s,l,i){j.src='https://www.googletagmanager.com/gtm.js?id='+i;})"
        "(window,document,'script','dataLayer','GTM-ABC123');</script>"
    )
    assert check_analytics([page("", head=gtm)]) is None


def test_thin_content_counts_main_content_words_only() -> None:
    chrome = f"<header><nav>{WORDS}</nav></header><footer>{WORDS}</footer>"
    thin = page(chrome + "<main><p>Welcome to Ridgeview Dental.</p></main>")
    found = check_thin_content(thin)
    assert found is not None and found.evidence == "4 words of main content"
    hidden = page(f'<main><div style="display: none">{WORDS}</div><p>Hello</p></main>')
    assert check_thin_content(hidden) is not None
    assert check_thin_content(page(f"<main><p>{WORDS}</p></main>")) is None
    assert check_thin_content(page(f"<div id='content'><p>{WORDS}</p></div>")) is None  # no <main>


def test_broken_links_are_own_links_that_answer_4xx() -> None:
    nav = '<nav><a href="/specials/">Specials</a><a href="https://facebook.com/x">fb</a></nav>'
    pages = [page(nav)]
    found = check_broken_links(pages, HOME, {"https://ridgeviewdental.com/specials": 404})
    assert found is not None and "404" in found.evidence
    assert check_broken_links(pages, HOME, {"https://ridgeviewdental.com/specials/": 200}) is None
    assert check_broken_links(pages, HOME, {}) is None  # unknown is not broken


def test_site_down_keeps_firecrawls_reason() -> None:
    reason = "Specified URL is failing to load in the browser. Error code: ERR_CONNECTION_REFUSED"
    found = check_site_down("https://oldtownplumbing.net/", reason)
    assert found.code == "SITE_DOWN" and found.evidence == reason


def test_a_complete_site_has_no_findings_and_a_bare_one_has_them_all() -> None:
    head = (
        '<meta name="viewport" content="width=device-width"><meta name="description" content="Dentist">'
        '<script type="application/ld+json">{"@type":"Dentist"}</script>'
        '<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>'
    )
    body = (
        f'<header><a href="tel:+15125550123">Call</a></header><main><p>{WORDS}</p>'
        "<p>Cleaning from $99.</p><blockquote>“Wonderful team, painless visit.”</blockquote>"
        '<a href="https://calendly.com/ridgeview">Book online</a></main>'
        '<footer><a href="https://www.facebook.com/ridgeview">Facebook</a><p>© 2026 Ridgeview</p></footer>'
    )
    html = f"<html><head>{head}</head><body>{body}</body></html>"
    now = datetime(YEAR, 6, 1, tzinfo=UTC)
    assert run_checks(SiteRead([ScrapedPage(HOME, html)]), now=now) == []
    bare = "<html><head></head><body><p>Welcome. © 2017 Ridgeview</p><a href='/gone'>x</a></body></html>"
    found = run_checks(
        SiteRead(
            [ScrapedPage("http://ridgeviewdental.com/", bare)],
            http_only=True,
            link_statuses={"http://ridgeviewdental.com/gone": 404},
        ),
        now=now,
    )
    assert [f.code for f in found] == [c for c in CODES if c != "SITE_DOWN"]
    assert all(f.evidence and f.evidence_url and f.source == "check" for f in found)
