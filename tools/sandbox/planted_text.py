"""Text planted in the web's pages (knobs `planted_text`, `planted_domains`), as a site owner or an
attacker would put it there: a prompt injection, a claim, anything a test needs a page to say.

It goes at the end of the page's main content, before the footer, so Firecrawl's emulation serves
it in the markdown and HTML like the rest of the page. Off (empty) by default.
"""

from __future__ import annotations

from typing import Any


def with_planted_text(config: Any, domain: str, markdown: str) -> str:
    """`markdown` of a page of `domain`, carrying the planted text when the knobs say so."""
    text = str(config.planted_text or "").strip()
    if not text:
        return markdown
    wanted = {d.lower().removeprefix("www.") for d in config.planted_domains}
    if wanted and domain.lower().removeprefix("www.") not in wanted:
        return markdown
    body, rule, footer = markdown.rpartition("\n---\n")
    if not rule:
        return f"{markdown}\n\n{text}"
    return f"{body}\n\n{text}\n---\n{footer}"
