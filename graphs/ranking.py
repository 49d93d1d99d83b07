"""How a run's leads are ordered: the one place that decides it.

filter_rank orders the leads it keeps with `ranked`; persist_leads stores that order as each
lead's rank in the run (db `lead_gen_flow_leads.rank`); finalize_rank ranks the run's leads again
with what the audits learnt. Every face then reads the stored rank, so changing what a lead is
ranked by (today `qualification_score`; an opportunity score later) happens here only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar


class Rankable(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def qualification_score(self) -> float: ...


R = TypeVar("R", bound=Rankable)


def ranking_score(lead: Rankable) -> float:
    """What a lead is ranked by, highest first."""
    return float(lead.qualification_score or 0.0)


def rank_key(lead: Rankable) -> tuple[float, str]:
    # Ties read alphabetically, whatever the capitalisation.
    return (-ranking_score(lead), (lead.name or "").casefold())


def ranked(leads: Iterable[R]) -> list[R]:
    """The leads best first (a stable sort: equal leads keep the order given)."""
    return sorted(leads, key=rank_key)
