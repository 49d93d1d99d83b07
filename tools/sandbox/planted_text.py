"""Text planted in the web's pages (knobs `planted_text`, `planted_domains`), as a site owner or an
attacker would put it there: a prompt injection, a claim, anything a test needs a page to say.

It goes into the served HTML as a paragraph at the end of the page's main content (before the
footer), so Firecrawl's emulation converts it with the rest of the page: it reaches the markdown,
`html` and `rawHtml` alike. Off (empty) by default.
"""

from __future__ import annotations

import html
from typing import Any


def planted_for(config: Any, domain: str) -> str:
    """The text planted on `domain`'s pages ("" when none)."""
    text = str(config.planted_text or "").strip()
    if not text:
        return ""
    wanted = {d.lower().removeprefix("www.") for d in config.planted_domains}
    if wanted and domain.lower().removeprefix("www.") not in wanted:
        return ""
    return text


def with_planted_text(page_html: str, text: str) -> str:
    """`page_html` carrying `text` (escaped: it is page text, not markup) at the end of its main
    content, else at the end of its body."""
    if not text:
        return page_html
    paragraph = f"<p>{html.escape(text)}</p>"
    lowered = page_html.lower()
    for closing in ("</main>", "</body>"):
        at = lowered.rfind(closing)
        if at >= 0:
            return page_html[:at] + paragraph + page_html[at:]
    return page_html + paragraph
