"""How a lead stands against its competitors: the other leads of the same run (same vertical and
geography), from data the run already holds. No provider call, no credit.

* `rating_percentile` / `review_count_percentile`: the share of peers with a known value that
  this lead beats (strictly higher), 0-100, rounded; null when the lead has no value or no peer
  has one.
* `peers_without[{code, count, of}]`: for each of the lead's findings, how many peers were
  checked for it (`of`) and do not have it (`count`): "6 of 9 dentists in Portland take bookings
  online". Places findings are known for every peer; a site finding only for peers whose site
  this run audited (a peer without a site has no booking page to compare).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from graphs.finding_guide import GUIDE, SITE_CODES, strongest


@dataclass(frozen=True)
class Peer:
    """One lead of the run as the comparison sees it."""

    id: str
    rating: float | None
    reviews_count: int | None
    codes: frozenset[str]
    audited: bool  # the run holds a dossier of its site: its site codes are known


def _percentile(value: float | None, others: Iterable[float | None]) -> int | None:
    known = [v for v in others if v is not None]
    if value is None or not known:
        return None
    return round(100 * sum(1 for v in known if v < value) / len(known))


def compare(lead: Peer, run: Sequence[Peer]) -> dict[str, Any]:
    """`lead` against the other members of `run` (the lead itself may be in `run`)."""
    peers = [p for p in run if p.id != lead.id]
    rows: list[dict[str, Any]] = []
    for code in strongest(sorted(lead.codes), limit=len(GUIDE)):  # strongest first
        checked = [p for p in peers if p.audited] if code in SITE_CODES else peers
        rows.append(
            {"code": code, "count": sum(1 for p in checked if code not in p.codes), "of": len(checked)}
        )
    return {
        "peers": len(peers),
        "rating_percentile": _percentile(lead.rating, (p.rating for p in peers)),
        "review_count_percentile": _percentile(
            float(lead.reviews_count) if lead.reviews_count is not None else None,
            (float(p.reviews_count) if p.reviews_count is not None else None for p in peers),
        ),
        "peers_without": rows,
    }


def comparison_sentences(
    comparison: dict[str, Any], business: str, vertical: str | None, geography: str | None
) -> list[str]:
    """The comparison in words, strongest finding first: "6 of 9 dentists in Portland, OR take
    bookings online; Acme Dental does not." Rows where no peer does better are left out."""
    who = vertical or "competitors"
    where = f" in {geography}" if geography else ""
    sentences: list[str] = []
    for row in comparison.get("peers_without", []):
        guide = GUIDE.get(row["code"])
        if guide is None or not row["count"]:
            continue
        sentences.append(f"{row['count']} of {row['of']} {who}{where} {guide.has}; {business} does not.")
    return sentences


__all__ = ["Peer", "compare", "comparison_sentences"]
