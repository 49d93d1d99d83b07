"""Which lead a person means: "Summit Smiles", "the second one", "that lead", or an id.

People name leads the way they see them - by business name, by their place in the list they were
just shown, or by pointing back at the lead being discussed. The model passes that reference as
it was said; this module turns it into one lead of the caller's agency, or says why it cannot:
nothing matches, or several do (then the faces ask, naming the candidates by name and address,
never by an internal id).

    found = await resolve_lead(db, agency_id, "summit smiles", shown=ids_of_the_last_list, last=id)
    found.lead          # the ClientOpportunity, when exactly one matches
    found.candidates    # when ambiguous: the leads it could be, best first
    found.message       # what to tell the person when there is no single lead
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Literal

from db import Database
from db.models import ClientOpportunity

ORDINALS: dict[str, int] = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
    "fifth": 5,
    "5th": 5,
    "sixth": 6,
    "6th": 6,
    "seventh": 7,
    "7th": 7,
    "eighth": 8,
    "8th": 8,
    "ninth": 9,
    "9th": 9,
    "tenth": 10,
    "10th": 10,
    "last": -1,
}
ORDINAL = re.compile(
    r"^(?:the\s+)?(?:(" + "|".join(ORDINALS) + r")|(?:no\.?|number|#)\s*(\d{1,2}))"
    r"(?:\s+(?:one|lead|business|result|row|on the list|in the list))?$"
)
POINTING = re.compile(
    r"^(?:it|them|him|her|the lead|that|this|that one|this one|that lead|this lead|that business|"
    r"this business|the same one|the same lead|same lead)$"
)
# Words that do not tell one business from another.
NOISE = {"the", "a", "an", "and", "of", "llc", "inc", "co", "ltd", "pllc", "pc", "corp", "company"}
SURE = 0.9  # a match this good, clearly ahead of the next, is the lead
CLOSE = 0.72  # below this a name does not match at all
LEAD = 0.12  # how far ahead of the runner-up the best match must be


def normalise(text: str) -> list[str]:
    """Lower-case ASCII words, '&' read as 'and', punctuation and legal suffixes dropped."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    plain = plain.replace("&", " and ").replace("'s", "s").replace("’s", "s")
    return [w for w in re.findall(r"[a-z0-9]+", plain) if w not in NOISE]


def name_score(query: str, name: str) -> float:
    """How well `query` names `name`, 0-1: every word of the query should be (nearly) a word of
    the name; a query that is the whole name scores 1."""
    wanted, words = normalise(query), normalise(name)
    if not wanted or not words:
        return 0.0
    if wanted == words:
        return 1.0
    per_word = [max(SequenceMatcher(None, w, n).ratio() for n in words) for w in wanted]
    coverage = sum(per_word) / len(per_word)
    # A query naming only part of the name ("Summit") matches less than the full name does.
    share = min(1.0, len(wanted) / len(words))
    whole = SequenceMatcher(None, " ".join(wanted), " ".join(words)).ratio()
    return max(0.85 * coverage + 0.1 * share, whole * 0.95) if min(per_word) >= 0.75 else whole * 0.8


@dataclass
class LeadResolution:
    kind: Literal["found", "ambiguous", "not_found", "no_context"]
    reference: str
    lead: ClientOpportunity | None = None
    candidates: list[ClientOpportunity] = field(default_factory=list)

    @property
    def message(self) -> str:
        if self.kind == "found" and self.lead is not None:
            return f"That is {self.lead.name}."
        if self.kind == "ambiguous":
            names = "; ".join(describe(c) for c in self.candidates)
            return f"More than one lead matches {self.reference!r}: {names}. Which one do you mean?"
        if self.kind == "no_context":
            return (
                f"I am not sure which lead {self.reference!r} is: there is no list of leads in this "
                "conversation yet. Which business do you mean (its name)?"
            )
        return (
            f"I found no lead called {self.reference!r} in your agency. Check the name, or ask me "
            "to show the leads."
        )

    def candidates_json(self) -> list[dict[str, str | None]]:
        return [{"id": c.id, "name": c.name, "address": c.address} for c in self.candidates]


def describe(lead: ClientOpportunity) -> str:
    return f"{lead.name} ({lead.address})" if lead.address else lead.name


async def resolve_lead(
    db: Database,
    agency_id: str,
    reference: str,
    *,
    shown: Sequence[str] = (),
    last: str | None = None,
) -> LeadResolution:
    """The one lead of `agency_id` that `reference` names. `shown` is the list of lead ids the
    person saw last (for "the second one"), `last` the lead being discussed ("that lead")."""
    said = " ".join(reference.split()).strip(" .?!,\"'“”")
    lowered = said.lower()
    async with db.reader() as repo:
        if not said:
            return LeadResolution("not_found", said)
        by_id = await repo.get_opportunity(agency_id, said)
        if by_id is not None:
            return LeadResolution("found", said, lead=by_id)
        ordinal = ORDINAL.match(lowered)
        if ordinal:
            if not shown:
                return LeadResolution("no_context", said)
            number = ORDINALS[ordinal[1]] if ordinal[1] else int(ordinal[2])
            index = len(shown) - 1 if number == -1 else number - 1
            if not 0 <= index < len(shown):
                return LeadResolution("not_found", said)
            lead = await repo.get_opportunity(agency_id, shown[index])
            return LeadResolution("found", said, lead=lead) if lead else LeadResolution("not_found", said)
        if POINTING.match(lowered):
            if last is None and len(shown) == 1:
                last = shown[0]
            lead = await repo.get_opportunity(agency_id, last) if last else None
            return LeadResolution("found", said, lead=lead) if lead else LeadResolution("no_context", said)
        leads = await repo.list_agency_opportunities(agency_id)
    return match_name(said, leads, shown=shown)


def match_name(said: str, leads: Sequence[ClientOpportunity], *, shown: Sequence[str] = ()) -> LeadResolution:
    """The lead `said` names among `leads`; ambiguous when two score alike. The same business
    found by several runs is one lead (one id); two businesses sharing a name are two."""
    scored = sorted(
        ((name_score(said, lead.name), lead) for lead in leads), key=lambda pair: pair[0], reverse=True
    )
    matching = [(score, lead) for score, lead in scored if score >= CLOSE]
    if not matching:
        return LeadResolution("not_found", said)
    exact = [lead for score, lead in matching if score == 1.0]
    if len(exact) == 1:
        return LeadResolution("found", said, lead=exact[0])
    if len(exact) > 1:
        # Same name twice: the one in the list just shown, if only one of them is there.
        in_view = [lead for lead in exact if lead.id in shown]
        if len(in_view) == 1:
            return LeadResolution("found", said, lead=in_view[0])
        return LeadResolution("ambiguous", said, candidates=exact[:5])
    best_score, best = matching[0]
    runner_up = matching[1][0] if len(matching) > 1 else 0.0
    if best_score >= SURE and best_score - runner_up >= LEAD:
        return LeadResolution("found", said, lead=best)
    if len(matching) == 1:
        return LeadResolution("found", said, lead=best)
    return LeadResolution("ambiguous", said, candidates=[lead for _, lead in matching[:5]])
