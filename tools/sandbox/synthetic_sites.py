"""Synthetic small-business websites as full HTML, the way site builders and people write them.

A site is drawn from its domain alone (`plan_site`, cheap) and rendered on demand (`build_site`),
so the same domain always gives the same site. Four builders shape the markup and the URLs:

* `wordpress`: `/about-us/` (trailing slash), masthead header, `#main`, widget sidebar and footer
  widgets, Yoast-style Organization JSON-LD or a LocalBusiness subtype, `generator` meta;
* `wix`: `/about-us`, `#SITE_HEADER` / `#PAGES_CONTAINER` / `#SITE_FOOTER`, deeply nested
  `comp-…` blocks, Wix's own scripts (which are not analytics), often image-heavy thin homepages;
* `squarespace`: `/about`, `#header`, `main#page`, `.sqs-block` content, `#footer-sections`;
* `handwritten`: `about.html` links, `div#header` / `div#menu` / `div#content` / `div#footer`,
  often without viewport or `lang`, sometimes only served over plain HTTP.

Nothing here decides what is true about a site: the ground truth (truth.py) reads the HTML these
functions produce, as served. The draws only make the mix realistic, including the traps real
sites have: "online booking coming soon", "Book now" buttons that dial a phone, "$50 off" coupons
and verdicts that are not pricing, "free case review" that is not a review, copyright ranges,
`tel:` links only in the header, review widgets inside `.widget` blocks that Firecrawl's main
content drops, broken navigation links and instructions hidden from human visitors.
"""

from __future__ import annotations

import hashlib
import html
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tools.sandbox.site_text import (
    BLOG_TOPICS,
    COMMON_WHY,
    DEFAULT_FAMILY,
    FAMILIES,
    FAMILY_OF,
    HOURS,
    INJECTIONS,
    REVIEWER_NAMES,
    SCHEMA_TYPE,
    STAFF_FIRST,
    STAFF_LAST,
    TESTIMONIALS,
    VERDICT_LINES,
    WAIVER_LINES,
    Family,
    fill,
    pick,
)
from tools.sandbox.web import Page, Site, bare_host


def seeded(*parts: object) -> random.Random:
    """A random generator whose stream depends only on `parts` (never on the process)."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def esc(text: str) -> str:
    return html.escape(text, quote=True)


# --------------------------------------------------------------------------------------------
# What a site knows about its business


@dataclass(frozen=True)
class Owner:
    """The business behind a site (from its Places result, or guessed from the domain)."""

    name: str
    vertical: str  # world.Vertical.key
    type_label: str  # "Plumber"
    services: tuple[str, ...]
    roles: tuple[str, ...]
    phone: str | None = None  # national format, "(512) 555-0123"
    phone_e164: str | None = None
    street: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None


# --------------------------------------------------------------------------------------------
# Draws


@dataclass(frozen=True)
class SitePlan:
    """The random choices about a domain's site. Only the renderer reads them."""

    builder: str  # wordpress | wix | squarespace | handwritten
    health: str  # ok | flaky | down
    http_only: bool
    viewport: bool
    description: str  # all | inner_only | empty | none
    schema: str  # local_home | local_all | local_contact | organization | none
    analytics: tuple[str, ...]  # gtag | gtm | pixel | ua | hotjar
    commented_tag: bool  # an analytics tag left commented out in the head
    booking: str  # widget | link | form | coming_soon | phone_only | none
    pricing: str  # page | inline | none
    discount: bool  # a "$50 off" line somewhere
    waiver: bool  # "we waive the $89 fee"
    reviews: str  # quotes | widget | none
    reviews_page: bool  # reviews on a page of their own (else on the homepage)
    review_widget_kind: str  # iframe | script (inside a .widget block)
    copyright: str  # current | last_year | range | stale | stale_range | none
    tel: str  # everywhere | header_only | footer_only | none
    social: str  # icons | main_link | share_only | none
    thin_home: bool
    broken_link: bool
    injection: bool
    slow_page: bool
    sidebar: bool  # a WordPress widget sidebar (aside)
    cookie_banner: bool
    page_target: int


def _choose(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def plan_site(domain: str) -> SitePlan:
    """The draws for a domain (with or without www.): a pure function of the bare domain."""
    rng = seeded("site-plan", bare_host(domain))
    builder = _choose(rng, {"wordpress": 0.45, "wix": 0.2, "squarespace": 0.15, "handwritten": 0.2})
    health_draw = rng.random()
    health = "down" if health_draw < 0.04 else ("flaky" if health_draw < 0.1 else "ok")
    hosted = builder in ("wix", "squarespace")  # builders that host every site over HTTPS
    http_only = not hosted and rng.random() < (0.35 if builder == "handwritten" else 0.1)
    viewport = hosted or rng.random() < (0.35 if builder == "handwritten" else 0.93)
    description = _choose(rng, {"all": 0.55, "inner_only": 0.1, "empty": 0.08, "none": 0.27})
    if builder == "handwritten":
        schema = "local_home" if rng.random() < 0.1 else "none"
    else:
        schema = _choose(
            rng,
            {
                "local_home": 0.15,
                "local_all": 0.12,
                "local_contact": 0.06,
                "organization": 0.37 if builder == "wordpress" else 0.2,
                "none": 0.3,
            },
        )
    analytics: tuple[str, ...]
    if builder == "handwritten":
        analytics = ("ua",) if rng.random() < 0.3 else ()
    else:
        draw = rng.random()
        analytics = (
            ()
            if draw < 0.33
            else ("gtag",)
            if draw < 0.6
            else ("gtm",)
            if draw < 0.75
            else ("gtag", "pixel")
            if draw < 0.9
            else ("pixel",)
            if draw < 0.95
            else ("hotjar",)
        )
    return SitePlan(
        builder=builder,
        health=health,
        http_only=http_only,
        viewport=viewport,
        description=description,
        schema=schema,
        analytics=analytics,
        commented_tag=rng.random() < 0.08,
        booking=_choose(
            rng,
            {
                "widget": 0.18,
                "link": 0.2,
                "form": 0.1,
                "coming_soon": 0.12,
                "phone_only": 0.12,
                "none": 0.28,
            },
        ),
        pricing="page" if rng.random() < 0.5 else "inline",  # narrowed by the family's odds below
        discount=rng.random() < 0.35,
        waiver=rng.random() < 0.15,
        reviews=_choose(rng, {"quotes": 0.42, "widget": 0.2, "none": 0.38}),
        reviews_page=rng.random() < 0.5,
        review_widget_kind="iframe" if rng.random() < 0.5 else "script",
        copyright=_choose(
            rng,
            {
                "current": 0.33,
                "last_year": 0.1,
                "range": 0.17,
                "stale": 0.2,
                "stale_range": 0.06,
                "none": 0.14,
            },
        ),
        tel=_choose(rng, {"everywhere": 0.45, "header_only": 0.15, "footer_only": 0.1, "none": 0.3}),
        social=_choose(rng, {"icons": 0.5, "main_link": 0.1, "share_only": 0.1, "none": 0.3}),
        thin_home=rng.random()
        < {"wix": 0.35, "squarespace": 0.2, "wordpress": 0.08, "handwritten": 0.25}[builder],
        broken_link=rng.random() < 0.15,
        injection=rng.random() < 0.06,
        slow_page=rng.random() < 0.1,
        sidebar=builder == "wordpress" and rng.random() < 0.35,
        cookie_banner=builder != "handwritten" and rng.random() < 0.3,
        page_target=rng.randint(6, 16),
    )


# --------------------------------------------------------------------------------------------
# Third-party snippets (as their vendors publish them, trimmed)

BOOKING_PROVIDERS: dict[str, tuple[str, str]] = {
    # name -> (link URL template, embed kind)
    "calendly": ("https://calendly.com/{slug}/consultation", "calendly"),
    "acuity": ("https://app.acuityscheduling.com/schedule.php?owner={num}", "iframe"),
    "zocdoc": ("https://www.zocdoc.com/practice/{slug}-{num}", "link"),
    "nexhealth": ("https://app.nexhealth.com/appt/{slug}", "link"),
    "localmed": ("https://www.localmed.com/widgets/schedule/{slug}", "iframe"),
    "jane": ("https://{slug}.janeapp.com/", "link"),
    "vetstoria": ("https://booking.vetstoria.com/{slug}", "iframe"),
    "opentable": ("https://www.opentable.com/restref/client/?rid={num}", "opentable"),
    "resy": ("https://resy.com/cities/local/venues/{slug}", "link"),
    "tock": ("https://www.exploretock.com/{slug}", "link"),
    "vagaro": ("https://www.vagaro.com/{slug}/book-now", "iframe"),
    "booksy": ("https://booksy.com/en-us/{num}_{slug}", "link"),
    "square": ("https://book.squareup.com/appointments/{slug}/services", "link"),
    "mindbody": ("https://clients.mindbodyonline.com/classic/ws?studioid={num}", "link"),
    "housecallpro": ("https://book.housecallpro.com/book/{slug}", "housecallpro"),
    "jobber": ("https://clienthub.getjobber.com/client_hubs/{slug}/public/work_request/new", "link"),
    "servicetitan": ("https://scheduler.servicetitan.com/{slug}", "servicetitan"),
}


def booking_embed(provider: str, url: str, num: int) -> str:
    kind = BOOKING_PROVIDERS[provider][1]
    if kind == "calendly":
        return (
            f'<div class="calendly-inline-widget" data-url="{esc(url)}" style="min-width:320px;height:700px;">'
            "</div>\n"
            '<script type="text/javascript" src="https://assets.calendly.com/assets/external/widget.js" async>'
            "</script>"
        )
    if kind == "opentable":
        return (
            f'<script type="text/javascript" src="//www.opentable.com/widget/reservation/loader?rid={num}'
            '&amp;type=standard&amp;theme=standard&amp;color=1&amp;dark=false&amp;iframe=true"></script>'
        )
    if kind == "housecallpro":
        return (
            f'<script async src="https://online-booking.housecallpro.com/script.js?token={num:x}'
            '&amp;orgName=booking"></script>\n'
            '<button class="hcp-button" onclick="HCPWidget.openModal()">Book online</button>'
        )
    if kind == "servicetitan":
        return (
            '<script async src="https://embed.scheduler.servicetitan.com/scheduler-v1.js" '
            f'data-api-key="{num:x}" id="se-widget-embed"></script>'
        )
    return (
        f'<iframe src="{esc(url)}" title="Online booking" width="100%" height="720" frameborder="0" '
        'loading="lazy"></iframe>'
    )


REVIEW_WIDGETS = {
    "iframe": (
        '<iframe src="https://birdeye.com/widget/render.php?bid={num}&amp;wid=2" title="Customer reviews" '
        'width="100%" height="560" frameborder="0" loading="lazy"></iframe>'
    ),
    "script": (
        '<script src="https://static.elfsight.com/platform/platform.js" async></script>\n'
        '<div class="elfsight-app-{uuid}" data-elfsight-app-lazy></div>'
    ),
}


def analytics_head(kinds: Sequence[str], num: int) -> str:
    parts = []
    for kind in kinds:
        if kind == "gtag":
            tag = f"G-{num % 10**10:010d}"[:12]
            parts.append(
                f'<script async src="https://www.googletagmanager.com/gtag/js?id={tag}"></script>\n'
                "<script>\n  window.dataLayer = window.dataLayer || [];\n"
                "  function gtag(){dataLayer.push(arguments);}\n  gtag('js', new Date());\n"
                f"  gtag('config', '{tag}');\n</script>"
            )
        elif kind == "gtm":
            parts.append(
                "<!-- Google Tag Manager -->\n<script>(function(w,d,s,l,i){w[l]=w[l]||[];w[l].push({'gtm.start':\n"
                "new Date().getTime(),event:'gtm.js'});var f=d.getElementsByTagName(s)[0],\n"
                "j=d.createElement(s),dl=l!='dataLayer'?'&l='+l:'';j.async=true;j.src=\n"
                "'https://www.googletagmanager.com/gtm.js?id='+i+dl;f.parentNode.insertBefore(j,f);\n"
                f"}})(window,document,'script','dataLayer','GTM-{num % 10**7:07X}');</script>\n"
                "<!-- End Google Tag Manager -->"
            )
        elif kind == "pixel":
            parts.append(
                "<!-- Meta Pixel Code -->\n<script>\n!function(f,b,e,v,n,t,s)\n"
                "{if(f.fbq)return;n=f.fbq=function(){n.callMethod?\n"
                "n.callMethod.apply(n,arguments):n.queue.push(arguments)};\n"
                "if(!f._fbq)f._fbq=n;n.push=n;n.loaded=!0;n.version='2.0';\n"
                "n.queue=[];t=b.createElement(e);t.async=!0;\nt.src=v;s=b.getElementsByTagName(e)[0];\n"
                "s.parentNode.insertBefore(t,s)}(window, document,'script',\n"
                "'https://connect.facebook.net/en_US/fbevents.js');\n"
                f"fbq('init', '{num % 10**15:015d}');\nfbq('track', 'PageView');\n</script>\n"
                "<!-- End Meta Pixel Code -->"
            )
        elif kind == "ua":
            parts.append(
                '<script type="text/javascript">\n  var _gaq = _gaq || [];\n'
                f"  _gaq.push(['_setAccount', 'UA-{num % 10**7}-1']);\n  _gaq.push(['_trackPageview']);\n"
                "  (function() {\n    var ga = document.createElement('script'); ga.async = true;\n"
                "    ga.src = 'https://ssl.google-analytics.com/ga.js';\n"
                "    var s = document.getElementsByTagName('script')[0]; s.parentNode.insertBefore(ga, s);\n"
                "  })();\n</script>"
            )
        elif kind == "hotjar":
            parts.append(
                "<script>\n    (function(h,o,t,j,a,r){\n        h.hj=h.hj||function(){(h.hj.q=h.hj.q||[]).push(arguments)};\n"
                f"        h._hjSettings={{hjid:{num % 10**7},hjsv:6}};\n        a=o.getElementsByTagName('head')[0];\n"
                "        r=o.createElement('script');r.async=1;\n"
                "        r.src=t+h._hjSettings.hjid+j+h._hjSettings.hjsv;\n        a.appendChild(r);\n"
                "    })(window,document,'https://static.hotjar.com/c/hotjar-','.js?sv=');\n</script>"
            )
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# Builders: markup and URL style


@dataclass
class Theme:
    builder: str
    rng: random.Random

    def path(self, slug: str) -> str:
        if not slug:
            return "/"
        if self.builder == "wordpress":
            return f"/{slug}/"
        if self.builder == "handwritten":
            return f"/{slug.replace('/', '-')}.html"
        return f"/{slug}"

    def href(self, slug: str) -> str:
        """How the site's own markup links a page (hand-written sites use relative links)."""
        if self.builder == "handwritten":
            return "index.html" if not slug else self.path(slug).lstrip("/")
        return self.path(slug)

    def _comp(self) -> str:
        return f"comp-{self.rng.getrandbits(40):010x}"

    def h(self, level: int, text: str) -> str:
        if self.builder == "wix":
            return (
                f'<div id="{self._comp()}" class="wixui-rich-text" data-testid="richTextElement">'
                f'<h{level} class="font_{level + 1} wixui-rich-text__text">{esc(text)}</h{level}></div>'
            )
        if self.builder == "wordpress":
            return f'<h{level} class="wp-block-heading">{esc(text)}</h{level}>'
        return f"<h{level}>{esc(text)}</h{level}>"

    def p(self, text: str, raw: bool = False) -> str:
        body = text if raw else esc(text)
        if self.builder == "wix":
            return (
                f'<div id="{self._comp()}" class="wixui-rich-text" data-testid="richTextElement">'
                f'<p class="font_8 wixui-rich-text__text">{body}</p></div>'
            )
        return f"<p>{body}</p>"

    def ul(self, items: Sequence[str], raw: bool = False) -> str:
        lis = "".join(f"<li>{item if raw else esc(item)}</li>" for item in items)
        if self.builder == "wix":
            return f'<div id="{self._comp()}" class="wixui-rich-text"><ul class="font_8">{lis}</ul></div>'
        return f"<ul>{lis}</ul>"

    def button(self, href: str, text: str) -> str:
        if self.builder == "wordpress":
            return (
                '<div class="wp-block-buttons"><div class="wp-block-button">'
                f'<a class="wp-block-button__link wp-element-button" href="{esc(href)}">{esc(text)}</a></div></div>'
            )
        if self.builder == "wix":
            return (
                f'<div id="{self._comp()}" class="StylableButton2545352419__root"><a data-testid="linkElement" '
                f'href="{esc(href)}" class="StylableButton2545352419__link"><span class="StylableButton2545352419__label">'
                f"{esc(text)}</span></a></div>"
            )
        if self.builder == "squarespace":
            return (
                f'<div class="sqs-block button-block sqs-block-button"><div class="sqs-block-content">'
                f'<a href="{esc(href)}" class="sqs-block-button-element--medium sqs-button-element--primary '
                f'sqs-block-button-element">{esc(text)}</a></div></div>'
            )
        return f'<p class="button"><a href="{esc(href)}">{esc(text)}</a></p>'

    def section(self, inner: str, name: str = "") -> str:
        if self.builder == "wix":
            return (
                f'<section id="{self._comp()}" class="wixui-section"><div data-testid="columns" '
                f'class="wixui-column-strip"><div id="{self._comp()}" class="wixui-column-strip__column">'
                f"{inner}</div></div></section>"
            )
        if self.builder == "squarespace":
            return (
                f'<section class="page-section layout-engine-section" data-section-id="{self.rng.getrandbits(48):012x}">'
                '<div class="content-wrapper"><div class="content"><div class="sqs-layout sqs-grid-12 columns-12">'
                '<div class="row sqs-row"><div class="col sqs-col-12 span-12">'
                f'<div class="sqs-block html-block sqs-block-html"><div class="sqs-block-content">{inner}</div></div>'
                "</div></div></div></div></div></section>"
            )
        if self.builder == "wordpress":
            css = f" {name}" if name else ""
            return f'<div class="wp-block-group{css}"><div class="wp-block-group__inner-container">{inner}</div></div>'
        return f"<div>{inner}</div>"


# --------------------------------------------------------------------------------------------
# The site


TRADE_WORDS = {
    "plumber": "plumbing",
    "electrician": "electrical",
    "roofer": "roofing",
    "hvac": "heating and air",
    "landscaper": "landscaping",
    "pest_control": "pest control",
    "cleaning": "cleaning",
}


@dataclass
class Facts:
    owner: Owner
    family_key: str
    family: Family
    founded: int
    year: int
    staff: list[tuple[str, str]]
    hours: tuple[tuple[str, str], ...]
    email: str
    services: list[str]
    num: int  # a per-site number for widget ids and tags
    slug: str

    @property
    def years(self) -> int:
        return self.year - self.founded

    def slots(self, service: str = "") -> dict[str, str]:
        owner = self.owner
        trade = TRADE_WORDS.get(owner.vertical, owner.type_label.lower())
        return {
            "name": owner.name,
            "city": owner.city or "the area",
            "street": owner.street or "Main Street",
            "founded": str(self.founded),
            "years": str(self.years),
            "owner": self.staff[0][0].split()[-1],
            "staff": self.staff[-1][0].split()[0],
            "trade": trade,
            "trade_l": trade,
            "crew": str(4 + self.num % 20),
            "customer": self.family.customer,
            "service": service,
            "service_l": service.lower(),
        }


@dataclass
class PageSpec:
    kind: str
    slug: str
    title: str
    in_nav: bool = True


@dataclass
class Draft:
    """A site under construction: its pages' specs and the links they share."""

    plan: SitePlan
    theme: Theme
    facts: Facts
    host: str
    specs: list[PageSpec] = field(default_factory=list)
    booking_provider: str = ""
    booking_url: str = ""
    pricing_slug: str | None = None
    reviews_slug: str | None = None
    booking_slug: str | None = None
    broken_slug: str | None = None
    slow_slug: str | None = None
    injection_slug: str | None = None

    def slug_of(self, kind: str) -> str | None:
        return next((s.slug for s in self.specs if s.kind == kind), None)

    def has(self, slug: str | None) -> bool:
        return slug is not None and any(s.slug == slug for s in self.specs)


def guess_owner(
    domain: str, vertical: str, type_label: str, services: Sequence[str], roles: Sequence[str]
) -> Owner:
    import re

    stem = bare_host(domain).split(".")[0]
    words = re.findall(r"[a-z]+|\d+", stem)
    name = " ".join(w.title() for w in words) if len(words) > 1 else stem.title()
    return Owner(name, vertical, type_label, tuple(services), tuple(roles))


def build_site(host: str, owner: Owner, year: int) -> Site:
    """The site served at `host` for `owner`, as of `year` (deterministic)."""
    host = host.lower()
    bare = bare_host(host)
    plan = plan_site(bare)
    rng = seeded("site-content", bare)
    family_key = FAMILY_OF.get(owner.vertical, DEFAULT_FAMILY)
    family = FAMILIES[family_key]
    staff = [
        (f"{rng.choice(STAFF_FIRST)} {rng.choice(STAFF_LAST)}", role)
        for role in rng.sample(owner.roles, k=min(len(owner.roles), rng.randint(2, 4)))
    ]
    services = rng.sample(owner.services, k=min(len(owner.services), rng.randint(4, 7)))
    facts = Facts(
        owner=owner,
        family_key=family_key,
        family=family,
        founded=rng.randint(1978, year - 3),
        year=year,
        staff=staff,
        hours=rng.choice(HOURS),
        email=rng.choice(("info", "office", "hello", "contact")) + f"@{bare}",
        services=services,
        num=rng.getrandbits(48),
        slug="".join(ch for ch in bare.split(".")[0] if ch.isalnum()),
    )
    theme = Theme(plan.builder, seeded("site-markup", bare))
    draft = Draft(plan, theme, facts, host)
    _plan_pages(draft, rng)
    site = Site(
        host=host,
        http_only=plan.http_only,
        down=plan.health == "down",
        down_error=rng.choice(
            ("ERR_NAME_NOT_RESOLVED", "ERR_CONNECTION_TIMED_OUT", "ERR_CONNECTION_REFUSED")
        ),
        flaky=plan.health == "flaky",
    )
    for spec in draft.specs:
        main = _MAIN[spec.kind](draft, spec)
        site.add(
            Page(
                theme.path(spec.slug),
                _document(draft, spec, main),
                slow=spec.slug == draft.slow_slug,
            )
        )
    not_found = PageSpec("not_found", "__404__", "Page not found", in_nav=False)
    site.not_found_html = _document(draft, not_found, _not_found_main(draft))
    return site


def _plan_pages(d: Draft, rng: random.Random) -> None:
    plan, facts, family = d.plan, d.facts, d.facts.family
    key = facts.family_key
    specs = [PageSpec("home", "", "Home")]
    about_slug = {"food": "our-story", "legal": "about-the-firm"}.get(key, rng.choice(("about-us", "about")))
    specs.append(PageSpec("about", about_slug, "Our Story" if key == "food" else "About Us"))
    services_kind = {"food": "menu", "legal": "practice_areas", "fitness": "classes"}.get(key, "services")
    services_slug = {"food": "menu", "legal": "practice-areas", "fitness": "classes"}.get(key, "services")
    specs.append(
        PageSpec(
            services_kind,
            services_slug,
            {"food": "Menu", "legal": "Practice Areas", "fitness": "Classes"}.get(key, "Services"),
        )
    )
    contact_slug = {"food": "visit-us"}.get(key, rng.choice(("contact", "contact-us")))
    specs.append(PageSpec("contact", contact_slug, "Visit Us" if key == "food" else "Contact Us"))
    optional: list[PageSpec] = []
    if key == "legal":
        for name, _role in facts.staff[:2]:
            slug = "attorneys/" + name.lower().replace(" ", "-")
            optional.append(PageSpec("attorney", slug, name, in_nav=False))
        for service in facts.services[:3]:
            optional.append(
                PageSpec("service_detail", f"practice-areas/{_slug(service)}", service, in_nav=False)
            )
    elif key in ("trades", "dental", "clinic", "auto"):
        for service in facts.services[:3]:
            optional.append(PageSpec("service_detail", f"services/{_slug(service)}", service, in_nav=False))
    team_slug = {"dental": "meet-the-team", "legal": "attorneys", "fitness": "coaches"}.get(key, "our-team")
    optional.append(PageSpec("team", team_slug, "Our Attorneys" if key == "legal" else "Our Team"))
    for kind, slug, title in family.extra_pages:
        if kind == "service_detail" and any(s.slug.endswith("/" + slug) for s in optional):
            continue
        if kind == "menu" and services_kind == "menu":
            continue
        if kind == "classes" and services_kind == "classes":
            continue
        optional.append(PageSpec(kind, slug, title))
    optional += [
        PageSpec("faq", "faq", "FAQ"),
        PageSpec("blog", "blog", "Blog"),
        PageSpec("gallery", "gallery", "Gallery"),
        PageSpec("careers", "careers", "Careers", in_nav=False),
        PageSpec("privacy", "privacy-policy", "Privacy Policy", in_nav=False),
    ]
    rng.shuffle(optional)
    # Pages the draws call for come first, so a small site still has them.
    wanted: list[PageSpec] = []
    publishes_prices = rng.random() < family.pricing_weight
    if publishes_prices and plan.pricing == "page" and services_kind != "menu":
        slug = {"finance": "fees", "fitness": "membership", "beauty": "prices", "legal": "fees"}.get(
            key, "pricing"
        )
        title = {"finance": "Fees", "fitness": "Membership", "beauty": "Prices", "legal": "Fees"}.get(
            key, "Pricing"
        )
        kind = "membership" if key == "fitness" else "pricing"
        optional = [s for s in optional if s.slug != slug]
        wanted.append(PageSpec(kind, slug, title))
        d.pricing_slug = slug
    elif publishes_prices:
        d.pricing_slug = services_slug  # prices shown inline on the services/menu page
    if plan.reviews != "none" and plan.reviews_page:
        slug = rng.choice(("reviews", "testimonials"))
        wanted.append(PageSpec("reviews", slug, "Reviews" if slug == "reviews" else "Testimonials"))
        d.reviews_slug = slug
    provider = rng.choice(family.providers)
    template = BOOKING_PROVIDERS[provider][0]
    d.booking_provider = provider
    d.booking_url = template.replace("{slug}", facts.slug).replace("{num}", str(facts.num % 10**6))
    if plan.booking in ("widget", "form") or (plan.booking == "coming_soon" and rng.random() < 0.5):
        wanted.append(PageSpec("booking", family.booking_slug, family.booking_title))
        d.booking_slug = family.booking_slug
        optional = [s for s in optional if s.slug != family.booking_slug]
    specs += wanted
    for spec in optional:
        if len(specs) >= max(plan.page_target, len(specs)):
            break
        if spec.kind == "attorney" and not any(s.kind == "team" for s in specs):
            specs.append(next(s for s in optional if s.kind == "team"))
        if not any(s.slug == spec.slug for s in specs):
            specs.append(spec)
    if any(s.kind == "blog" for s in specs):
        for title, _ in rng.sample(BLOG_TOPICS, k=rng.randint(1, 2)):
            topic = fill(title, facts.slots(facts.services[0]))
            specs.append(PageSpec("blog_post", f"blog/{_slug(topic)}", topic, in_nav=False))
    d.specs = specs
    if plan.broken_link:
        gone = [
            slug
            for slug in (
                "specials",
                "financing",
                "blog",
                "gallery",
                "reviews",
                "our-team",
                "faq",
                "new-patients",
            )
            if not d.has(slug)
        ]
        d.broken_slug = rng.choice(gone)
    inner = [s.slug for s in specs if s.kind not in ("home",)]
    if plan.slow_page and inner:
        d.slow_slug = rng.choice(inner)
    if plan.injection:
        d.injection_slug = rng.choice(["", *[s.slug for s in specs if s.kind == "blog_post"]])


def _slug(text: str) -> str:
    out = "".join(ch if ch.isalnum() else "-" for ch in text.lower())
    while "--" in out:
        out = out.replace("--", "-")
    return out.strip("-")


# --------------------------------------------------------------------------------------------
# Prose banks for inner pages ({slots} as in Facts.slots)

PROSE: dict[str, tuple[str, ...]] = {
    "about": (
        "{name} started in {founded} with one simple promise: treat every {customer_one} the way we would "
        "want our own family treated. That promise still guides every decision we make, from the people we "
        "hire to the way we answer the phone.",
        "Over {years} years we have grown alongside {city}. Many of the people we serve today are the "
        "children and grandchildren of our first {customer}, and we are proud to be part of so many local "
        "stories.",
        "Our team invests in training every year, because the tools and techniques of our trade keep "
        "changing and our {customer} deserve the best of both experience and modern methods.",
        "We support local schools, youth sports teams and food banks, and you will find our team "
        "volunteering at community events throughout the year.",
        "We are not the biggest business in town and we do not want to be. Staying small lets us know our "
        "{customer} by name and give every job the attention it deserves.",
    ),
    "service_detail": (
        "{service} is one of the most requested services at {name}. Every visit starts with a careful look "
        "at your situation and a clear explanation of what we recommend and why.",
        "We take the time to answer questions, walk you through the options and make sure you are "
        "comfortable before any work begins. There is never any pressure to decide on the spot.",
        "Our team has handled {service_l} for {customer} all over {city} and the surrounding "
        "communities, so we know the common problems and how to solve them quickly and properly.",
        "After the work is done we follow up to make sure everything is exactly as it should be, and we "
        "stand behind the result.",
    ),
    "contact": (
        "Have a question or want to get started? Reach out using the details below or send us a message "
        "with the form and a member of our team will get back to you within one business day.",
    ),
    "team": (
        "The people at {name} are the reason our {customer} keep coming back. Get to know the team you "
        "will meet when you visit.",
    ),
    "faq": (),
    "privacy": (
        "This privacy policy explains how {name} collects, uses and protects information you provide when "
        "you use this website. We may collect your name, phone number, email address and any details you "
        "share in a contact form, and we use that information only to respond to your request and provide "
        "our services.",
        "We do not sell, trade or rent your personal information to others. We may use third-party "
        "services such as Google Analytics to understand how visitors use websites like ours; these "
        "services may set cookies in your browser, which you can disable in your browser settings.",
        "We take reasonable precautions to protect your information, but no method of transmission over "
        "the internet is completely secure. If you have questions about this policy, contact us using "
        "the details on our contact page.",
    ),
    "careers": (
        "{name} is growing and we are always looking for friendly, reliable people who take pride in "
        "their work. We offer competitive pay, paid time off, ongoing training and a team that has your "
        "back.",
        "If you would like to join us, send your resume and a short note about yourself to {email}. We "
        "read every application.",
    ),
    "blog_post": (
        "Every season our team hears the same questions from {customer} across {city}, so we put together "
        "this short guide. None of it replaces a visit from a professional, but it will help you spot "
        "problems early and know what to ask.",
        "First, pay attention to small changes. Most big, expensive problems announce themselves weeks or "
        "months in advance with small signs that are easy to ignore.",
        "Second, keep a simple record of what was done and when. It makes every future visit faster and "
        "helps you plan ahead for bigger projects.",
        "Third, ask questions. A good professional is happy to explain what they are doing and why, and "
        "will never rush you into a decision.",
        "If you are not sure whether something needs attention, give us a call. We are always happy to "
        "talk it through.",
    ),
    "generic": (
        "At {name}, we put {customer} first. That means clear communication, honest recommendations and "
        "work we are proud to put our name on.",
        "Our team serves {city} and the surrounding communities, and we are happy to answer any questions "
        "you have before you decide.",
        "Give us a call or send a message and we will get back to you quickly.",
    ),
}
SERVICE_AREAS = (
    "Downtown",
    "Northside",
    "Eastside",
    "Westlake",
    "Southpark",
    "Riverside",
    "Oak Grove",
    "Cedar Hills",
    "Lakewood",
    "Fairview",
    "Brookside",
    "Meadowbrook",
)
MENU_SECTIONS = (
    (
        "Starters",
        ("Crispy Brussels Sprouts", "Burrata & Tomatoes", "Smoked Chicken Wings", "Soup of the Day"),
    ),
    (
        "Mains",
        ("Grilled Salmon", "Braised Short Rib", "Wild Mushroom Risotto", "House Burger", "Roast Chicken"),
    ),
    ("Desserts", ("Chocolate Pot de Crème", "Seasonal Fruit Crisp", "Vanilla Bean Panna Cotta")),
)


def _prose(d: Draft, kind: str, count: int, service: str = "") -> list[str]:
    bank = PROSE.get(kind) or PROSE["generic"]
    slots = d.facts.slots(service)
    slots["customer_one"] = d.facts.family.customer.rstrip("s")
    slots["email"] = d.facts.email
    chosen = bank if len(bank) <= count else d.theme.rng.sample(bank, k=count)
    return [fill(t, slots) for t in chosen]


# --------------------------------------------------------------------------------------------
# Head, header, footer


def _title(d: Draft, spec: PageSpec) -> str:
    name, builder = d.facts.owner.name, d.plan.builder
    where = (
        f"{d.facts.owner.type_label} in {d.facts.owner.city}"
        if d.facts.owner.city
        else d.facts.owner.type_label
    )
    if spec.kind == "home":
        return {
            "wordpress": f"{name} - {where}",
            "wix": f"Home | {name}",
            "squarespace": name,
            "handwritten": f"{name} - {where}",
        }[builder]
    sep = {"wordpress": " - ", "wix": " | ", "squarespace": " — ", "handwritten": " - "}[builder]
    if builder == "handwritten":
        return f"{name}{sep}{spec.title}"
    return f"{spec.title}{sep}{name}"


def _description(d: Draft, spec: PageSpec) -> str | None:
    mode = d.plan.description
    if mode == "none" or (mode == "inner_only" and spec.kind == "home"):
        return None
    if mode == "empty":
        return ""
    owner = d.facts.owner
    where = f" in {owner.city}, {owner.state}" if owner.city else ""
    if spec.kind == "home":
        return f"{owner.name} offers {', '.join(s.lower() for s in d.facts.services[:3])}{where}. Call today."
    return f"{spec.title} at {owner.name}{where}."


def _schema(d: Draft, spec: PageSpec) -> str:
    import json

    mode, owner = d.plan.schema, d.facts.owner
    url = f"{'http' if d.plan.http_only else 'https'}://{d.host}/"
    local = (
        mode == "local_all"
        or (mode == "local_home" and spec.kind == "home")
        or (mode == "local_contact" and spec.kind == "contact")
    )
    if local:
        data: dict[str, object] = {
            "@context": "https://schema.org",
            "@type": SCHEMA_TYPE.get(owner.vertical, "LocalBusiness"),
            "name": owner.name,
            "url": url,
        }
        if owner.phone_e164:
            data["telephone"] = owner.phone_e164
        if owner.street:
            data["address"] = {
                "@type": "PostalAddress",
                "streetAddress": owner.street,
                "addressLocality": owner.city,
                "addressRegion": owner.state,
                "postalCode": owner.postal_code,
                "addressCountry": "US",
            }
        return f'<script type="application/ld+json">{json.dumps(data)}</script>'
    if mode == "organization" and d.plan.builder == "wordpress":
        graph = {
            "@context": "https://schema.org",
            "@graph": [
                {"@type": "WebPage", "@id": url + "#webpage", "url": url, "name": _title(d, spec)},
                {"@type": "WebSite", "@id": url + "#website", "url": url, "name": owner.name},
                {"@type": "Organization", "@id": url + "#organization", "name": owner.name, "url": url},
            ],
        }
        return f'<script type="application/ld+json" class="yoast-schema-graph">{json.dumps(graph)}</script>'
    if mode == "organization":
        site = {"@context": "http://schema.org", "@type": "WebSite", "url": url, "name": owner.name}
        return f'<script type="application/ld+json">{json.dumps(site)}</script>'
    return ""


def _head(d: Draft, spec: PageSpec) -> str:
    plan, builder, owner = d.plan, d.plan.builder, d.facts.owner
    title = _title(d, spec)
    description = _description(d, spec)
    url = f"{'http' if plan.http_only else 'https'}://{d.host}{d.theme.path(spec.slug) if spec.slug != '__404__' else '/'}"
    lines = []
    if builder == "handwritten":
        lines.append('<meta http-equiv="Content-Type" content="text/html; charset=utf-8">')
    else:
        lines.append('<meta charset="utf-8">')
    if plan.viewport:
        lines.append('<meta name="viewport" content="width=device-width, initial-scale=1">')
    lines.append(f"<title>{esc(title)}</title>")
    if description is not None:
        lines.append(f'<meta name="description" content="{esc(description)}">')
    if builder == "handwritten":
        keywords = ", ".join([owner.type_label.lower(), *(s.lower() for s in d.facts.services[:3])])
        lines.append(f'<meta name="keywords" content="{esc(keywords)}">')
        lines.append('<link href="style.css" rel="stylesheet" type="text/css">')
    else:
        lines.append(f'<link rel="canonical" href="{esc(url)}">')
        lines.append('<meta property="og:type" content="website">')
        lines.append(f'<meta property="og:title" content="{esc(title)}">')
        if description:
            lines.append(f'<meta property="og:description" content="{esc(description)}">')
        lines.append(f'<meta property="og:url" content="{esc(url)}">')
        lines.append(f'<meta property="og:site_name" content="{esc(owner.name)}">')
        lines.append('<meta property="og:locale" content="en_US">')
    if builder == "wordpress":
        lines.append('<meta name="generator" content="WordPress 6.6.2">')
        lines.append(
            '<link rel="stylesheet" id="astra-theme-css-css" href="/wp-content/themes/astra/assets/css/'
            'minified/main.min.css?ver=4.8.3" media="all">'
        )
        lines.append(
            '<link rel="icon" href="/wp-content/uploads/2021/03/cropped-icon-32x32.png" sizes="32x32">'
        )
    elif builder == "wix":
        lines.append('<meta name="generator" content="Wix.com Website Builder">')
        lines.append('<meta name="twitter:card" content="summary_large_image">')
        lines.append(
            '<link rel="icon" sizes="192x192" href="https://static.wixstatic.com/media/'
            f'{d.facts.num % 10**6:06d}_favicon.png">'
        )
        lines.append(
            '<script src="https://static.parastorage.com/services/wix-thunderbolt/dist/main.a1b2c3.bundle.min.js"'
            " async></script>"
        )
    elif builder == "squarespace":
        lines.append(f'<meta itemprop="name" content="{esc(title)}">')
        lines.append(
            '<link rel="shortcut icon" type="image/x-icon" href="https://images.squarespace-cdn.com/'
            'content/v1/favicon.ico">'
        )
        lines.append(
            '<script defer src="https://assets.squarespace.com/universal/scripts-compressed/common-vendors'
            '-stable-1a2b3c-min.en-US.js"></script>'
        )
    schema = _schema(d, spec)
    if schema:
        lines.append(schema)
    tags = analytics_head(plan.analytics, d.facts.num)
    if tags:
        lines.append(tags)
    if plan.commented_tag:
        lines.append(
            "<!-- old tracking, removed during redesign\n"
            f'<script async src="https://www.googletagmanager.com/gtag/js?id=UA-{d.facts.num % 10**7}-2"></script>\n-->'
        )
    return "\n".join(lines)


def _tel(e164: str) -> str:
    return "tel:" + e164


def _phone_html(d: Draft, where: str) -> str:
    """The phone as this part of the page shows it: a tel: link or plain text (or nothing)."""
    owner = d.facts.owner
    if not owner.phone or not owner.phone_e164:
        return ""
    linked = {
        "header": d.plan.tel in ("everywhere", "header_only"),
        "main": d.plan.tel == "everywhere",
        "footer": d.plan.tel in ("everywhere", "footer_only"),
    }[where]
    if linked:
        return f'<a href="{_tel(owner.phone_e164)}">{esc(owner.phone)}</a>'
    return esc(owner.phone)


def _booking_cta(d: Draft) -> str:
    """The header's booking button, if the site has one."""
    plan, family = d.plan, d.facts.family
    if plan.booking == "link":
        return f'<a class="header-button" href="{esc(d.booking_url)}">{esc(family.booking_verb)}</a>'
    if d.booking_slug and plan.booking != "coming_soon":
        return f'<a class="header-button" href="{esc(d.theme.href(d.booking_slug))}">{esc(family.booking_verb)}</a>'
    if plan.booking == "phone_only" and d.facts.owner.phone_e164:
        return f'<a class="header-button" href="{_tel(d.facts.owner.phone_e164)}">Book Now</a>'
    return ""


def _nav_items(d: Draft) -> list[tuple[str, str]]:
    items = [("Home", d.theme.href(""))]
    for spec in d.specs:
        if spec.kind != "home" and spec.in_nav and len(items) < 8:
            items.append((spec.title, d.theme.href(spec.slug)))
    if d.broken_slug and d.plan.broken_link and d.theme.rng.random() < 0.6:
        items.insert(
            min(len(items), 3), (d.broken_slug.replace("-", " ").title(), d.theme.href(d.broken_slug))
        )
        d.broken_slug = None  # placed
    return items


def _header(d: Draft) -> str:
    builder, owner = d.plan.builder, d.facts.owner
    phone = _phone_html(d, "header")
    cta = _booking_cta(d)
    items = _nav_items(d)
    logo_src = {
        "wordpress": "/wp-content/uploads/2021/03/logo.png",
        "wix": "https://static.wixstatic.com/media/logo.png",
        "squarespace": "https://images.squarespace-cdn.com/content/v1/logo.png",
        "handwritten": "images/logo.gif",
    }[builder]
    logo = f'<a href="{esc(d.theme.href(""))}"><img src="{logo_src}" alt="{esc(owner.name)}"></a>'
    call = f'<span class="header-phone">Call {phone}</span>' if phone else ""
    if builder == "wordpress":
        lis = "".join(
            f'<li class="menu-item"><a href="{esc(h)}" class="menu-link">{esc(t)}</a></li>' for t, h in items
        )
        return (
            '<header id="masthead" class="site-header ast-primary-submenu-animation-fade" role="banner">'
            f'<div class="site-branding"><div class="site-logo">{logo}</div>'
            f'<p class="site-title"><a href="/" rel="home">{esc(owner.name)}</a></p></div>'
            f'<div class="header-contact">{call}{cta}</div>'
            '<nav id="site-navigation" class="main-navigation" aria-label="Site Navigation">'
            f'<ul id="primary-menu" class="main-header-menu">{lis}</ul></nav></header>'
        )
    if builder == "wix":
        lis = "".join(f'<li><a data-testid="linkElement" href="{esc(h)}">{esc(t)}</a></li>' for t, h in items)
        return (
            f'<header id="SITE_HEADER" class="wixui-header" tabindex="-1"><div id="{d.theme._comp()}">{logo}</div>'
            f'<div id="{d.theme._comp()}" class="wixui-rich-text"><p class="font_9">{call}</p></div>{cta}'
            f'<nav id="{d.theme._comp()}" aria-label="Site" class="wixui-horizontal-menu"><ul>{lis}</ul></nav></header>'
        )
    if builder == "squarespace":
        lis = "".join(
            f'<div class="header-nav-item"><a href="{esc(h)}" data-animation-role="header-element">{esc(t)}</a></div>'
            for t, h in items
        )
        return (
            '<header data-test="header" id="header" class="header theme-col--primary" data-section-theme="">'
            f'<div class="header-inner"><div class="header-title-logo">{logo}</div>'
            f'<div class="header-nav"><nav class="header-nav-list">{lis}</nav></div>'
            f'<div class="header-actions">{call}{cta}</div></div></header>'
        )
    links = " | ".join(f'<a href="{esc(h)}">{esc(t)}</a>' for t, h in items)
    return (
        f'<div id="header">{logo}<h2 class="tagline">{esc(owner.name)}</h2>{call}{cta}</div>\n'
        f'<div id="menu">{links}</div>'
    )


def _address_html(d: Draft) -> str:
    owner = d.facts.owner
    if not owner.street:
        return ""
    return (
        f"<address>{esc(owner.street)}<br>{esc(owner.city or '')}, {esc(owner.state or '')} "
        f"{esc(owner.postal_code or '')}</address>"
    )


def _hours_html(d: Draft) -> str:
    rows = "".join(f"<li>{esc(days)}: {esc(time)}</li>" for days, time in d.facts.hours)
    return f'<ul class="hours">{rows}</ul>'


def _copyright(d: Draft) -> str:
    plan, year, name = d.plan, d.facts.year, d.facts.owner.name.rstrip(".")
    rng = seeded("copyright", d.host)
    stale = rng.randint(year - 12, year - 3)
    line = {
        "current": f"© {year} {name}. All rights reserved.",
        "last_year": f"© {year - 1} {name}. All rights reserved.",
        "range": f"Copyright © {d.facts.founded if d.facts.founded > 1995 else 2009}–{year} {name}",
        "stale": f"© {stale} {name}. All Rights Reserved.",
        "stale_range": f"Copyright © {stale - 4}-{stale} {name}",
        "none": "",
    }[plan.copyright]
    if not line:
        return ""
    credit = {
        "wordpress": ' | Powered by <a href="https://wpastra.com/">Astra WordPress Theme</a>',
        "wix": ' | Proudly created with <a href="https://www.wix.com">Wix.com</a>',
        "squarespace": "",
        "handwritten": "",
    }[plan.builder]
    return f'<p class="copyright">{esc(line)}{credit}</p>'


SOCIAL_PROFILES = (
    ("Facebook", "https://www.facebook.com/{slug}"),
    ("Instagram", "https://www.instagram.com/{slug}/"),
    ("LinkedIn", "https://www.linkedin.com/company/{slug}"),
    ("YouTube", "https://www.youtube.com/@{slug}"),
    ("X", "https://x.com/{slug}"),
)


def _social_icons(d: Draft) -> str:
    rng = seeded("social", d.host)
    profiles = rng.sample(SOCIAL_PROFILES, k=rng.randint(2, 4))
    items = "".join(
        f'<li><a href="{esc(url.replace("{slug}", d.facts.slug))}" target="_blank" rel="noopener" '
        f'aria-label="{label}"><svg class="icon icon-{label.lower()}" aria-hidden="true"></svg></a></li>'
        for label, url in profiles
    )
    return f'<ul class="social-links">{items}</ul>'


def _footer(d: Draft) -> str:
    plan, owner, builder = d.plan, d.facts.owner, d.plan.builder
    phone = _phone_html(d, "footer")
    parts = [f"<h4>{esc(owner.name)}</h4>", _address_html(d)]
    if phone:
        parts.append(f"<p>Phone: {phone}</p>")
    parts.append(f'<p>Email: <a href="mailto:{esc(d.facts.email)}">{esc(d.facts.email)}</a></p>')
    parts.append("<h4>Hours</h4>" + _hours_html(d))
    links = [(s.title, d.theme.href(s.slug)) for s in d.specs if s.kind in ("privacy", "careers", "faq")]
    if d.broken_slug:
        links.append((d.broken_slug.replace("-", " ").title(), d.theme.href(d.broken_slug)))
    if links:
        parts.append(
            '<ul class="footer-links">'
            + "".join(f'<li><a href="{esc(h)}">{esc(t)}</a></li>' for t, h in links)
            + "</ul>"
        )
    if plan.social == "icons":
        parts.append(_social_icons(d))
    if plan.reviews == "none" and seeded("review-ask", d.host).random() < 0.4:
        parts.append(
            f'<p><a href="https://g.page/r/{d.facts.num % 10**9:x}/review">Leave us a review on Google</a></p>'
        )
    parts.append(_copyright(d))
    inner = "\n".join(p for p in parts if p)
    if builder == "wordpress":
        return (
            '<footer id="colophon" class="site-footer" role="contentinfo"><div class="footer-widget-area">'
            f'<section class="widget widget_text"><div class="textwidget">{inner}</div></section></div></footer>'
        )
    if builder == "wix":
        return f'<footer id="SITE_FOOTER" class="wixui-footer" tabindex="-1"><div id="{d.theme._comp()}">{inner}</div></footer>'
    if builder == "squarespace":
        return (
            '<footer class="sections" id="footer-sections" data-footer-sections>'
            f'<section class="page-section"><div class="content-wrapper"><div class="content">{inner}</div></div>'
            "</section></footer>"
        )
    return f'<div id="footer">{inner}</div>'


def _sidebar(d: Draft) -> str:
    phone = _phone_html(d, "main")
    cta = _booking_cta(d)
    return (
        '<aside id="secondary" class="widget-area secondary" role="complementary">'
        f'<section class="widget widget_text"><h2 class="widget-title">Call Today</h2>'
        f"<p>{phone or esc(d.facts.email)}</p>{cta}</section>"
        '<section class="widget widget_recent_entries"><h2 class="widget-title">Hours</h2>'
        f"{_hours_html(d)}</section></aside>"
    )


def _document(d: Draft, spec: PageSpec, main: str) -> str:
    plan, builder = d.plan, d.plan.builder
    if d.injection_slug == spec.slug and spec.kind in ("home", "blog_post"):
        text = fill(seeded("injection", d.host).choice(INJECTIONS), d.facts.slots())
        main += f'\n<div style="display:none" aria-hidden="true">{esc(text)}</div>'
    head = _head(d, spec)
    header = _header(d)
    footer = _footer(d)
    cookie = (
        '<div id="cookie-notice" class="cookie" role="dialog">We use cookies to improve your experience. '
        '<a href="#" class="cookie-accept">Accept</a></div>'
        if plan.cookie_banner
        else ""
    )
    if builder == "wordpress":
        aside = _sidebar(d) if plan.sidebar and spec.kind not in ("home", "not_found") else ""
        body = (
            f'<body class="page-template-default page wp-custom-logo ast-page-builder-template">\n'
            '<a class="skip-link screen-reader-text" href="#content">Skip to content</a>\n'
            f'<div id="page" class="hfeed site">\n{header}\n'
            f'<div id="content" class="site-content"><div class="ast-container">\n'
            f'<div id="primary" class="content-area primary"><main id="main" class="site-main">\n'
            f'<article class="page type-page status-publish"><div class="entry-content">\n{main}\n</div></article>\n'
            f"</main></div>\n{aside}</div></div>\n{footer}\n</div>\n{cookie}\n</body>"
        )
        lang = "en-US"
    elif builder == "wix":
        body = (
            f'<body>\n<div id="SITE_CONTAINER"><div id="main_MF" class="main_MF">\n{header}\n'
            f'<main id="PAGES_CONTAINER" tabindex="-1"><div id="SITE_PAGES"><div id="{d.theme._comp()}">\n'
            f"{main}\n</div></div></main>\n{footer}\n</div></div>\n{cookie}\n</body>"
        )
        lang = "en"
    elif builder == "squarespace":
        body = (
            '<body id="collection-5f8a" class="header-overlay-alignment-center tweak-social-icons-style-regular">\n'
            f'<div id="siteWrapper" class="clearfix site-wrapper">\n{header}\n'
            f'<main id="page" class="container" role="main">\n<article class="sections" id="sections">\n{main}\n'
            f"</article>\n</main>\n{footer}\n</div>\n{cookie}\n</body>"
        )
        lang = "en-US"
    else:
        body = (
            f'<body>\n<div id="wrapper">\n{header}\n<div id="content" role="main">\n{main}\n</div>\n{footer}\n'
            "</div>\n</body>"
        )
        lang = "en" if plan.viewport else ""
    lang_attr = f' lang="{lang}"' if lang else ""
    doctype = (
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">'
        if builder == "handwritten" and not plan.viewport
        else "<!DOCTYPE html>"
    )
    return f"{doctype}\n<html{lang_attr}>\n<head>\n{head}\n</head>\n{body}\n</html>\n"


# --------------------------------------------------------------------------------------------
# Page bodies


def _h1(d: Draft, text: str) -> str:
    return d.theme.h(1, text)


def _reviews_block(d: Draft, count: int) -> str:
    t = d.theme
    if d.plan.reviews == "widget":
        snippet = REVIEW_WIDGETS[d.plan.review_widget_kind]
        snippet = snippet.replace("{num}", str(d.facts.num % 10**8)).replace(
            "{uuid}", f"{d.facts.num:012x}-{d.facts.num % 9999:04x}"
        )
        # WordPress and Squarespace put third-party embeds in a "widget"/code block.
        wrapper = (
            "widget reviews-widget" if d.plan.builder in ("wordpress", "squarespace") else "reviews-embed"
        )
        return t.section(
            t.h(2, "What Our Customers Say") + f'<div class="{wrapper}">{snippet}</div>', "reviews"
        )
    rng = seeded("testimonials", d.host)
    quotes = []
    for template, reviewer in zip(
        rng.sample(TESTIMONIALS, k=min(count, len(TESTIMONIALS))),
        rng.sample(REVIEWER_NAMES, k=min(count, len(REVIEWER_NAMES))),
        strict=False,
    ):
        text = fill(template, d.facts.slots())
        quotes.append(
            f'<blockquote class="testimonial"><p>“{esc(text)}”</p><cite>{esc(reviewer)}</cite></blockquote>'
        )
    heading = t.h(2, rng.choice(("What Our Customers Say", "Testimonials", "Kind Words", "Reviews")))
    return t.section(heading + "".join(quotes), "testimonials")


def _price_amount(d: Draft, index: int) -> int:
    low, high = d.facts.family.price_range
    rng = seeded("price", d.host, index)
    value = rng.randint(low, high)
    return value - value % 5 + (4 if value > 20 else 0)


def _discount_line(d: Draft) -> str:
    lines = d.facts.family.discount_lines or FAMILIES["trades"].discount_lines
    rng = seeded("discount", d.host)
    return rng.choice(lines).replace("{amount}", str(rng.choice((20, 25, 50, 75, 100))))


def _home(d: Draft, spec: PageSpec) -> str:
    t, facts, plan, family = d.theme, d.facts, d.plan, d.facts.family
    slots = facts.slots(facts.services[0])
    rng = seeded("home", d.host)
    tagline = fill(rng.choice(family.taglines), slots)
    lead = fill(family.intro[0], slots).split(". ")[0] + "."
    hero = _h1(d, facts.owner.name) + t.p(tagline) if rng.random() < 0.5 else _h1(d, tagline) + t.p(lead)
    parts = [t.section(hero, "hero")]
    cta_href = (
        d.booking_url
        if plan.booking == "link"
        else t.href(d.booking_slug)
        if d.booking_slug and plan.booking != "coming_soon"
        else t.href(d.slug_of("contact") or "")
    )
    cta_text = family.booking_verb if plan.booking == "link" or d.booking_slug else "Contact Us"
    if plan.booking == "phone_only" and facts.owner.phone_e164:
        parts.append(t.button(_tel(facts.owner.phone_e164), "Book Now"))
    else:
        parts.append(t.button(cta_href, cta_text))
    if plan.thin_home:
        parts.append(t.p(lead))
        if plan.booking == "coming_soon" and not d.booking_slug:
            parts.append(t.p("Online booking coming soon! Until then, give us a call to schedule."))
        if plan.social == "main_link":
            parts.append(
                t.p(f'<a href="https://www.instagram.com/{facts.slug}/">Follow us on Instagram</a>', raw=True)
            )
        if plan.reviews != "none" and not d.reviews_slug:
            parts.append(_reviews_block(d, 1))
        return "\n".join(parts)
    intro = [fill(p, slots) for p in family.intro]
    parts.append(
        t.section(t.h(2, f"Welcome to {facts.owner.name}") + "".join(t.p(p) for p in intro), "intro")
    )
    cards = []
    for index, service in enumerate(facts.services):
        blurbs = rng.sample(family.service_blurbs, k=min(len(family.service_blurbs), rng.randint(1, 2)))
        blurb = " ".join(fill(b, facts.slots(service)) for b in blurbs)
        price = ""
        if d.pricing_slug == d.slug_of("services") and d.pricing_slug and index < 3:
            price = f" Starting at ${_price_amount(d, index)}."
        cards.append(t.h(3, service) + t.p(blurb + price))
    parts.append(
        t.section(t.h(2, "Our Services" if facts.family_key != "food" else "What We Serve") + "".join(cards))
    )
    why = [fill(w, slots) for w in pick(rng, family.why + COMMON_WHY, rng.randint(4, 6))]
    parts.append(t.section(t.h(2, f"Why {facts.family.customer.title()} Choose Us") + t.ul(why)))
    if plan.reviews != "none" and not d.reviews_slug:
        parts.append(_reviews_block(d, rng.randint(2, 4)))
    if plan.booking == "coming_soon" and not d.booking_slug:
        parts.append(
            t.p(
                "Online booking is coming soon. For now, please call our office during business hours to schedule."
            )
        )
    if plan.discount and not d.has("coupons"):
        parts.append(t.section(t.p(_discount_line(d)), "promo"))
    if plan.waiver and facts.family_key in ("trades", "legal", "auto"):
        parts.append(t.p(WAIVER_LINES[0 if facts.family_key != "legal" else 1].replace("{amount}", "89")))
    if facts.family_key == "legal":
        parts.append(
            t.p(
                "Call today or fill out our form for a free case review. There is no fee unless we win your case."
            )
        )
    if rng.random() < 0.6:
        story = _prose(d, "about", rng.randint(1, 3))
        parts.append(t.section(t.h(2, "Our Story") + "".join(t.p(p) for p in story), "story"))
    if rng.random() < 0.65:
        faqs = rng.sample(family.faq, k=min(rng.randint(2, 3), len(family.faq)))
        parts.append(
            t.section(t.h(2, "Frequently Asked Questions") + "".join(t.h(3, q) + t.p(a) for q, a in faqs))
        )
    area = ", ".join(rng.sample(SERVICE_AREAS, k=5))
    parts.append(
        t.p(
            f"Proudly serving {facts.owner.city or 'our community'} and nearby neighbourhoods including {area}. "
            "Not sure if we cover your area? Just ask."
        )
    )
    if plan.social == "main_link":
        parts.append(
            t.p(
                f'<a href="https://www.facebook.com/{facts.slug}">Follow us on Facebook</a> for news and updates.',
                raw=True,
            )
        )
    if plan.social == "share_only":
        parts.append(_share_links(d, "/"))
    phone = _phone_html(d, "main")
    closing = (
        f"Ready to get started? Call {phone} or send us a message today."
        if phone
        else "Ready to get started? Send us a message today."
    )
    parts.append(t.section(t.p(closing, raw=True), "cta"))
    return "\n".join(parts)


def _share_links(d: Draft, path: str) -> str:
    url = f"https://{d.host}{path}"
    return (
        '<div class="share-buttons"><span>Share:</span> '
        f'<a href="https://www.facebook.com/sharer/sharer.php?u={esc(url)}">Facebook</a> '
        f'<a href="https://twitter.com/intent/tweet?url={esc(url)}">Twitter</a></div>'
    )


def _about(d: Draft, spec: PageSpec) -> str:
    t = d.theme
    paragraphs = _prose(d, "about", 4)
    team = "".join(f"<li>{esc(n)}, {esc(r)}</li>" for n, r in d.facts.staff)
    return _h1(d, spec.title) + t.section(
        "".join(t.p(p) for p in paragraphs) + t.h(2, "Our Team") + f"<ul>{team}</ul>"
    )


def _services(d: Draft, spec: PageSpec) -> str:
    t, facts = d.theme, d.facts
    rng = seeded("services", d.host)
    inline_prices = d.pricing_slug == spec.slug
    parts = [_h1(d, spec.title), t.p(fill(rng.choice(facts.family.intro), facts.slots()))]
    details = {s.title: s.slug for s in d.specs if s.kind == "service_detail"}
    for index, service in enumerate(facts.services):
        blurb = " ".join(fill(b, facts.slots(service)) for b in facts.family.service_blurbs[:2])
        if inline_prices:
            blurb += f" Prices start at ${_price_amount(d, index)}."
        more = f' <a href="{esc(t.href(details[service]))}">Learn more</a>' if service in details else ""
        parts.append(t.h(2, service) + t.p(esc(blurb) + more, raw=True))
    if d.plan.waiver and facts.family_key in ("trades", "auto"):
        parts.append(t.p(WAIVER_LINES[0].replace("{amount}", "89")))
    return "\n".join(parts)


def _practice_areas(d: Draft, spec: PageSpec) -> str:
    return _services(d, spec)


def _service_detail(d: Draft, spec: PageSpec) -> str:
    t = d.theme
    paragraphs = _prose(d, "service_detail", 4, service=spec.title)
    phone = _phone_html(d, "main")
    ask = (
        f"Questions about {spec.title.lower()}? Call {phone}."
        if phone
        else f"Questions about {spec.title.lower()}? Send us a message."
    )
    return _h1(d, spec.title) + t.section("".join(t.p(p) for p in paragraphs) + t.p(ask, raw=True))


def _contact_form(d: Draft, submit: str, *, date: bool = False, heading: str = "Send Us a Message") -> str:
    fields = [
        '<label for="name">Your name</label><input type="text" id="name" name="name" required>',
        '<label for="email">Email</label><input type="email" id="email" name="email" required>',
        '<label for="phone">Phone</label><input type="tel" id="phone" name="phone">',
    ]
    if date:
        fields.append(
            '<label for="preferred-date">Preferred date</label><input type="date" id="preferred-date" name="preferred_date" required>'
        )
        fields.append(
            '<label for="preferred-time">Preferred time</label><select id="preferred-time" name="preferred_time">'
            "<option>Morning</option><option>Afternoon</option><option>Evening</option></select>"
        )
    fields.append(
        '<label for="message">How can we help?</label><textarea id="message" name="message"></textarea>'
    )
    return (
        f"<h2>{esc(heading)}</h2>"
        f'<form class="contact-form" method="post" action="#">{"".join(fields)}'
        f'<button type="submit">{esc(submit)}</button></form>'
    )


def _contact(d: Draft, spec: PageSpec) -> str:
    t = d.theme
    phone = _phone_html(d, "main")
    owner = d.facts.owner
    lines = [t.p(p) for p in _prose(d, "contact", 1)]
    lines.append(_address_html(d))
    if phone:
        lines.append(t.p(f"Phone: {phone}", raw=True))
    lines.append(t.p(f'Email: <a href="mailto:{esc(d.facts.email)}">{esc(d.facts.email)}</a>', raw=True))
    lines.append(t.h(2, "Hours") + _hours_html(d))
    lines.append(_contact_form(d, "Send Message"))
    if owner.street:
        query = f"{owner.street} {owner.city}".replace(" ", "+")
        lines.append(
            f'<iframe src="https://www.google.com/maps/embed/v1/place?q={esc(query)}" title="Map" width="600" '
            'height="450" loading="lazy"></iframe>'
        )
    return _h1(d, spec.title) + t.section("".join(lines))


def _team(d: Draft, spec: PageSpec) -> str:
    t = d.theme
    parts = [_h1(d, spec.title)] + [t.p(p) for p in _prose(d, "team", 1)]
    for name, role in d.facts.staff:
        bio = (
            f"{name.split()[0]} joined {d.facts.owner.name} as {role.lower()} and has become a favourite of our "
            f"{d.facts.family.customer}. Outside of work you will find {name.split()[0]} hiking, cooking or cheering "
            "on the local team."
        )
        link = next((s.slug for s in d.specs if s.kind == "attorney" and s.title == name), None)
        heading = t.h(2, f"{name}, {role}")
        more = f' <a href="{esc(t.href(link))}">Read full bio</a>' if link else ""
        parts.append(heading + t.p(esc(bio) + more, raw=True))
    return "\n".join(parts)


def _attorney(d: Draft, spec: PageSpec) -> str:
    t = d.theme
    first = spec.title.split()[0]
    paragraphs = [
        f"{spec.title} has practiced law in {d.facts.owner.city or 'our state'} for more than fifteen years and "
        f"focuses on {', '.join(s.lower() for s in d.facts.services[:2])}. {first} believes every client deserves "
        "honest advice and a lawyer who returns their calls.",
        f"Before joining {d.facts.owner.name}, {first} served as a law clerk and later as an associate at a regional "
        "litigation firm, trying cases in state and federal courts.",
        f"{first} is a member of the state bar and the local bar association, and regularly speaks at community "
        "events about knowing your rights.",
    ]
    return _h1(d, spec.title) + t.section("".join(t.p(p) for p in paragraphs))


def _booking(d: Draft, spec: PageSpec) -> str:
    t, plan, family = d.theme, d.plan, d.facts.family
    parts = [_h1(d, spec.title)]
    if plan.booking == "widget":
        parts.append(
            t.p(f"Choose a time that works for you. {family.booking_verb} online in under a minute.")
        )
        parts.append(booking_embed(d.booking_provider, d.booking_url, d.facts.num % 10**6))
    elif plan.booking == "form":
        parts.append(
            t.p(
                "Tell us a little about what you need and when you would like to come in. We will confirm by phone or email."
            )
        )
        parts.append(_contact_form(d, family.booking_verb, date=True, heading=family.booking_verb))
    else:  # coming soon: a booking page that cannot book
        phone = _phone_html(d, "main")
        parts.append(
            t.p(
                "Online booking is coming soon! In the meantime, please call "
                + (phone or "our office")
                + " and our team will find a time that works for you.",
                raw=True,
            )
        )
    return "\n".join(parts)


def _pricing(d: Draft, spec: PageSpec) -> str:
    t, facts = d.theme, d.facts
    rows = "".join(
        f"<tr><td>{esc(service)}</td><td>${_price_amount(d, i)}</td></tr>"
        for i, service in enumerate(facts.services)
    )
    intro = "Clear, upfront pricing with no hidden fees. Final prices are confirmed before any work begins."
    return _h1(d, spec.title) + t.section(
        t.p(intro)
        + f'<table class="price-list">{rows}</table>'
        + t.p("Prices may vary with the complexity of the job. Ask us about financing on larger projects.")
    )


def _membership(d: Draft, spec: PageSpec) -> str:
    t = d.theme
    plans = [("Unlimited", 0), ("8 Classes / Month", 1), ("Drop-In", 2)]
    items = [
        f"{name}: ${_price_amount(d, i)} per month"
        if i < 2
        else f"{name}: ${_price_amount(d, i) // 5 + 10} per class"
        for name, i in plans
    ]
    return _h1(d, spec.title) + t.section(t.p("Simple memberships, no long contracts.") + t.ul(items))


def _menu(d: Draft, spec: PageSpec) -> str:
    t = d.theme
    priced = d.pricing_slug == spec.slug
    rng = seeded("menu", d.host)
    parts = [
        _h1(d, spec.title),
        t.p("Our menu changes with the seasons. Please tell your server about any allergies."),
    ]
    for section, dishes in MENU_SECTIONS:
        items = []
        for index, dish in enumerate(rng.sample(dishes, k=min(len(dishes), 4))):
            desc = rng.choice(
                (
                    "house-made, seasonal garnish",
                    "local greens, lemon",
                    "slow cooked, pan sauce",
                    "chef's daily preparation",
                )
            )
            price = f" — ${_price_amount(d, index + len(section))}" if priced else ""
            items.append(f"<strong>{esc(dish)}</strong>{price}<br><em>{esc(desc)}</em>")
        parts.append(t.h(2, section) + t.ul(items, raw=True))
    return "\n".join(parts)


def _reviews(d: Draft, spec: PageSpec) -> str:
    return _h1(d, spec.title) + _reviews_block(d, 5)


def _coupons(d: Draft, spec: PageSpec) -> str:
    t = d.theme
    if d.plan.discount:
        return _h1(d, spec.title) + t.section(
            t.p(_discount_line(d)) + t.p("Offers cannot be combined. Mention the coupon when you call.")
        )
    return _h1(d, spec.title) + t.p("Check back soon for seasonal specials.")


def _results(d: Draft, spec: PageSpec) -> str:
    t = d.theme
    rng = seeded("verdicts", d.host)
    lines = [line.replace("{amount}", str(rng.choice((150, 275, 480, 625, 2)))) for line in VERDICT_LINES]
    return _h1(d, spec.title) + t.section(
        t.p("Every case is different, and past results do not guarantee a similar outcome.") + t.ul(lines)
    )


def _case_review(d: Draft, spec: PageSpec) -> str:
    t = d.theme
    text = (
        "Tell us what happened and an attorney will review your situation at no cost. Your free case review is "
        "confidential, and there is no obligation."
    )
    return (
        _h1(d, spec.title)
        + t.p(text)
        + _contact_form(d, "Get My Free Case Review", heading="Free Case Review")
    )


def _faq(d: Draft, spec: PageSpec) -> str:
    t = d.theme
    faqs = d.facts.family.faq + FAMILIES["trades"].faq[:1]
    return _h1(d, spec.title) + "".join(t.h(2, q) + t.p(a) for q, a in faqs)


def _blog(d: Draft, spec: PageSpec) -> str:
    t = d.theme
    posts = [s for s in d.specs if s.kind == "blog_post"]
    items = [f'<a href="{esc(t.href(s.slug))}">{esc(s.title)}</a>' for s in posts]
    return (
        _h1(d, spec.title)
        + t.p(f"News, tips and updates from the team at {d.facts.owner.name}.")
        + t.ul(items, raw=True)
    )


def _blog_post(d: Draft, spec: PageSpec) -> str:
    t = d.theme
    paragraphs = _prose(d, "blog_post", 5, service=d.facts.services[0])
    share = _share_links(d, t.path(spec.slug)) if d.plan.social == "share_only" else ""
    return _h1(d, spec.title) + t.section("".join(t.p(p) for p in paragraphs)) + share


def _simple(kind: str, count: int) -> Callable[[Draft, PageSpec], str]:
    def render(d: Draft, spec: PageSpec) -> str:
        t = d.theme
        return _h1(d, spec.title) + t.section("".join(t.p(p) for p in _prose(d, kind, count)))

    return render


def _list_page(intro: str, items: tuple[str, ...]) -> Callable[[Draft, PageSpec], str]:
    def render(d: Draft, spec: PageSpec) -> str:
        t = d.theme
        return (
            _h1(d, spec.title)
            + t.section(t.p(fill(intro, d.facts.slots())) + t.ul(items))
            + t.p(_prose(d, "generic", 1)[0])
        )

    return render


def _service_area(d: Draft, spec: PageSpec) -> str:
    t = d.theme
    areas = list(seeded("areas", d.host).sample(SERVICE_AREAS, k=8))
    return _h1(d, spec.title) + t.section(
        t.p(
            f"{d.facts.owner.name} serves homes and businesses throughout {d.facts.owner.city or 'the region'}, including:"
        )
        + t.ul(areas)
        + t.p("Don't see your neighbourhood? Call us anyway: we often travel further for larger projects.")
    )


def _quote(d: Draft, spec: PageSpec) -> str:
    return (
        _h1(d, spec.title)
        + d.theme.p("Tell us about your project and we will send a free, no-obligation estimate.")
        + _contact_form(d, "Request a Quote")
    )


def _gallery(d: Draft, spec: PageSpec) -> str:
    images = "".join(
        f'<figure><img src="/images/project-{i}.jpg" alt="Recent project {i}"><figcaption>Recent project {i}</figcaption></figure>'
        for i in range(1, 7)
    )
    return _h1(d, spec.title) + f'<div class="gallery">{images}</div>'


def _timetable(d: Draft, spec: PageSpec) -> str:
    rows = "".join(
        f"<tr><td>{day}</td><td>5:30 AM Strength</td><td>12:00 PM Conditioning</td><td>6:00 PM Mobility</td></tr>"
        for day in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
    )
    return _h1(d, spec.title) + d.theme.p("Our weekly class timetable.") + f"<table>{rows}</table>"


def _not_found_main(d: Draft) -> str:
    return _h1(d, "Page not found") + d.theme.p(
        "Sorry, the page you are looking for does not exist or has moved. Try the menu above or go back to the homepage."
    )


_MAIN: dict[str, Callable[[Draft, PageSpec], str]] = {
    "home": _home,
    "about": _about,
    "services": _services,
    "practice_areas": _practice_areas,
    "classes": _services,
    "menu": _menu,
    "service_detail": _service_detail,
    "contact": _contact,
    "team": _team,
    "attorney": _attorney,
    "booking": _booking,
    "pricing": _pricing,
    "membership": _membership,
    "reviews": _reviews,
    "coupons": _coupons,
    "results": _results,
    "case_review": _case_review,
    "faq": _faq,
    "blog": _blog,
    "blog_post": _blog_post,
    "privacy": _simple("privacy", 3),
    "careers": _simple("careers", 2),
    "gallery": _gallery,
    "service_area": _service_area,
    "quote": _quote,
    "financing": _list_page(
        "Flexible financing makes it easier to take care of big projects now and pay over time.",
        ("0% APR promotional plans on approved credit", "Quick online application", "Decisions in minutes"),
    ),
    "new_patients": _list_page(
        "Welcome! Here is what to expect at your first visit with {name}.",
        (
            "A comfortable, unhurried first exam",
            "A clear plan and answers to your questions",
            "Help with insurance paperwork",
        ),
    ),
    "insurance": _list_page(
        "We work with most major insurance plans and file claims on your behalf.",
        ("Delta Dental", "Cigna", "Aetna", "MetLife", "Guardian", "United Concordia", "CareCredit financing"),
    ),
    "conditions": _list_page(
        "We help patients with a wide range of conditions, including:",
        (
            "Lower back pain",
            "Neck pain",
            "Headaches and migraines",
            "Sciatica",
            "Sports injuries",
            "Posture problems",
        ),
    ),
    "resources": _simple("generic", 3),
    "catering": _simple("generic", 3),
    "events": _simple("generic", 3),
    "policies": _simple("generic", 2),
    "warranty": _simple("generic", 2),
    "timetable": _timetable,
}
