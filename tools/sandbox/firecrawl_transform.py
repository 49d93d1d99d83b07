"""What Firecrawl makes of a page's HTML: cleaned `html`, `markdown`, `links` and `metadata`.

Reproduces the behaviour of Firecrawl's own pipeline (apps/api, `transformers/index.ts`, the
`html-transformer` library and `extractMetadata`), read from its source, not its code:

* `html` = the raw HTML with `includeTags` applied first (only the matching elements are kept),
  then `head`, `meta`, `noscript`, `style` and `script` removed, then `excludeTags`, then, with
  `onlyMainContent` (the default), every element matching Firecrawl's non-main selectors
  (`header`, `footer`, `nav`, `aside`, `.header`, `.top`, `.navbar`, `#header`, `.footer`,
  `.bottom`, `#footer`, `.sidebar`, `.side`, `.aside`, `#sidebar`, `.modal`, `.popup`, `#modal`,
  `.overlay`, `.ad`, `.ads`, `.advert`, `#ad`, `.lang-selector`, `.language`, `#language-selector`,
  `.social`, `.social-media`, `.social-links`, `#social`, `.menu`, `.navigation`, `#nav`,
  `.breadcrumbs`, `#breadcrumbs`, `.share`, `#share`, `.widget`, `#widget`, `.cookie`, `#cookie`,
  `.fc-decoration`) unless it contains `#main`; image and link URLs are made absolute.
* `markdown` is converted from that `html` (with `markdownify`); when main-content extraction
  leaves nothing, Firecrawl converts the whole page instead, and so do we.
* `links` are read from that same `html`, so with `onlyMainContent` the header, navigation and
  footer links are not among them (in-page `#` anchors made absolute stay, as Firecrawl's do).
* `metadata` is read from the raw HTML: `title`, `favicon`, `language` (`<html lang>`), the
  OpenGraph fields as `ogTitle`, `ogDescription`, ..., and every `<meta>` with a
  `name`/`property`/`itemprop` under that name (`description`, `viewport`, `generator`,
  `og:title`, ...; repeated names become lists, repeated descriptions are joined with ", ").
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import soupsieve
from bs4 import BeautifulSoup, Tag
from markdownify import MarkdownConverter

EXCLUDE_NON_MAIN = (
    "header", "footer", "nav", "aside", ".header", ".top", ".navbar", "#header", ".footer", ".bottom",
    "#footer", ".sidebar", ".side", ".aside", "#sidebar", ".modal", ".popup", "#modal", ".overlay",
    ".ad", ".ads", ".advert", "#ad", ".lang-selector", ".language", "#language-selector", ".social",
    ".social-media", ".social-links", "#social", ".menu", ".navigation", "#nav", ".breadcrumbs",
    "#breadcrumbs", ".share", "#share", ".widget", "#widget", ".cookie", "#cookie", ".fc-decoration",
)  # fmt: skip
FORCE_INCLUDE_MAIN = (
    "#main", ".swoogo-cols", ".swoogo-text", ".swoogo-table-div", ".swoogo-space", ".swoogo-alert",
    ".swoogo-sponsors", ".swoogo-title", ".swoogo-tabs", ".swoogo-logo", ".swoogo-image",
    ".swoogo-button", ".swoogo-agenda",
)  # fmt: skip
ALWAYS_REMOVED = ("head", "meta", "noscript", "style", "script")
OG_PROPERTIES = (
    ("og:title", "ogTitle"),
    ("og:description", "ogDescription"),
    ("og:url", "ogUrl"),
    ("og:image", "ogImage"),
    ("og:audio", "ogAudio"),
    ("og:determiner", "ogDeterminer"),
    ("og:locale", "ogLocale"),
    ("og:site_name", "ogSiteName"),
    ("og:video", "ogVideo"),
    ("article:published_time", "publishedTime"),
    ("article:modified_time", "modifiedTime"),
)


class BadSelector(ValueError):
    """An includeTags/excludeTags entry that is not a CSS selector."""


def _parse(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def _select(soup: BeautifulSoup | Tag, selector: str, option: str) -> list[Tag]:
    try:
        return list(soup.select(selector))
    except (soupsieve.SelectorSyntaxError, ValueError) as exc:
        raise BadSelector(f"{option} has an invalid CSS selector {selector!r}: {exc}") from exc


def _base_url(soup: BeautifulSoup, url: str) -> str:
    base = soup.find("base", href=True)
    if isinstance(base, Tag):
        href = str(base.get("href") or "").strip()
        if href:
            return urljoin(url, href)
    return url


def _keeps_main(element: Tag) -> bool:
    return any(element.css.match(sel) or element.select_one(sel) is not None for sel in FORCE_INCLUDE_MAIN)


def transform_html(
    raw: str,
    url: str,
    *,
    only_main_content: bool = True,
    include_tags: list[str] | None = None,
    exclude_tags: list[str] | None = None,
) -> str:
    """Firecrawl's `html` format for a page whose raw HTML is `raw`, fetched from `url`."""
    soup = _parse(raw)
    base = _base_url(soup, url)
    include = [t.strip() for t in include_tags or [] if t.strip()]
    exclude = [t.strip() for t in exclude_tags or [] if t.strip()]
    if include:
        kept = _parse("<div></div>")
        root = kept.div
        assert root is not None
        for selector in include:
            for element in _select(soup, selector, "includeTags"):
                root.append(copy.copy(element))
        soup = kept
    for name in ALWAYS_REMOVED:
        for element in soup.find_all(name):
            element.decompose()
    for selector in exclude:
        for element in _select(soup, selector, "excludeTags"):
            if not element.decomposed:
                element.decompose()
    if only_main_content:
        for selector in EXCLUDE_NON_MAIN:
            for element in soup.select(selector):
                if not element.decomposed and not _keeps_main(element):
                    element.decompose()
    for img in soup.find_all("img", src=True):
        img["src"] = urljoin(base, str(img["src"]))
    for anchor in soup.find_all("a", href=True):
        anchor["href"] = urljoin(base, str(anchor["href"]).strip())
    return str(soup)


class _Markdown(MarkdownConverter):
    """Markdown the way Firecrawl writes it: ATX headings, "-" bullets, no HTML comments."""

    def __init__(self) -> None:
        super().__init__(
            heading_style="ATX", bullets="-", strip=["iframe", "form", "select"], escape_misc=False
        )

    def convert_select(self, el: Any, text: str, parent_tags: Any) -> str:
        return ""


def to_markdown(html: str) -> str:
    text = _Markdown().convert(html)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def extract_links(html: str, url: str) -> list[str]:
    """Firecrawl's `links`: every `<a href>` of the (transformed) HTML, resolved, deduplicated."""
    soup = _parse(html)
    base = _base_url(soup, url)
    links: list[str] = []
    for anchor in soup.find_all("a", href=True):
        href = str(anchor["href"]).strip()
        if href.startswith(("http://", "https://", "mailto:")):
            resolved = href
        elif href.startswith("#"):
            continue
        else:
            resolved = urljoin(base, href)
        if resolved and resolved not in links:
            links.append(resolved)
    return links


def extract_metadata(raw: str, url: str) -> dict[str, Any]:
    """The metadata Firecrawl reads from a page's raw HTML (before its response fields)."""
    soup = _parse(raw)
    out: dict[str, Any] = {}
    title = soup.find("title")
    if isinstance(title, Tag):
        out["title"] = title.get_text()
    icon = soup.find("link", rel=lambda r: r is not None and "icon" in (r if isinstance(r, list) else [r]))
    if isinstance(icon, Tag) and icon.get("href"):
        out["favicon"] = urljoin(url, str(icon["href"]))
    html_tag = soup.find("html")
    if isinstance(html_tag, Tag) and html_tag.get("lang"):
        out["language"] = str(html_tag["lang"])
    for prop, key in OG_PROPERTIES:
        meta = soup.find("meta", attrs={"property": prop})
        if isinstance(meta, Tag) and meta.get("content") is not None:
            out[key] = str(meta["content"])
    for meta in soup.find_all("meta"):
        name = meta.get("name") or meta.get("property") or meta.get("itemprop")
        content = meta.get("content")
        if not name or content is None:
            continue
        name, content = str(name), str(content)
        existing = out.get(name)
        if existing is None:
            out[name] = content
        elif name == "description":
            out[name] = ", ".join([*(existing if isinstance(existing, list) else [existing]), content])
        elif name == "title":
            continue  # the <title> wins
        elif isinstance(existing, list):
            existing.append(content)
        else:
            out[name] = [existing, content]
    return out


@dataclass(frozen=True)
class Transformed:
    html: str
    markdown: str
    links: list[str]


def transform(
    raw: str,
    url: str,
    *,
    only_main_content: bool = True,
    include_tags: list[str] | None = None,
    exclude_tags: list[str] | None = None,
) -> Transformed:
    cleaned = transform_html(
        raw, url, only_main_content=only_main_content, include_tags=include_tags, exclude_tags=exclude_tags
    )
    markdown = to_markdown(cleaned)
    if only_main_content and not markdown.strip():
        # Firecrawl falls back to the whole page when main-content extraction leaves nothing.
        cleaned = transform_html(
            raw, url, only_main_content=False, include_tags=include_tags, exclude_tags=exclude_tags
        )
        markdown = to_markdown(cleaned)
    return Transformed(cleaned, markdown, extract_links(cleaned, url))
