"""How a run's leads are ordered: the one place that decides it.

filter_rank orders the leads it keeps with `ranked`; persist_leads stores that order as each
lead's rank in the run (db `lead_gen_flow_leads.rank`); finalize_rank ranks the run's leads again
with what the audits learnt (graphs/lead_scores.py). Every face (CLI, chat, Slack, CSV) then reads
the stored rank. Leads are ranked by `opportunity_score` (graphs/scoring.py): how much the agency
could sell them, from the criteria they match and their findings weighted by its services.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar


class Rankable(Protocol):
    @property
    def opportunity_score(self) -> float: ...


R = TypeVar("R", bound=Rankable)


def _name(lead: object) -> str:
    name = getattr(lead, "name", None)
    if name is None:  # a LeadRecord: the name is its opportunity's
        name = getattr(getattr(lead, "opportunity", None), "name", "")
    return str(name or "")


def ranking_score(lead: Rankable) -> float:
    """What a lead is ranked by, highest first."""
    return float(lead.opportunity_score or 0.0)


def rank_key(lead: Rankable) -> tuple[float, str]:
    # Ties read alphabetically, whatever the capitalisation.
    return (-ranking_score(lead), _name(lead).casefold())


def ranked(leads: Iterable[R]) -> list[R]:
    """The leads best first (a stable sort: equal leads keep the order given)."""
    return sorted(leads, key=rank_key)
