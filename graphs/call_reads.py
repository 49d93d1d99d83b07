"""Reads of an agency's calls for the faces (`leadgen calls`, the agent's call outcome), each in
one read session and scoped to the agency: another agency's calls and leads read as absent.
Placing, following and metering calls is graphs/calls.py."""

from __future__ import annotations

from dataclasses import dataclass

from db import Database
from db.models import Call


@dataclass(frozen=True)
class NamedCalls:
    """Calls, newest first, and the name of each call's lead (by opportunity id)."""

    calls: list[Call]
    lead_names: dict[str, str]


async def list_calls(db: Database, agency_id: str, limit: int = 100) -> list[Call]:
    """The agency's calls, newest first."""
    async with db.reader() as repo:
        return await repo.list_calls(agency_id, limit=limit)


async def recent_calls(
    db: Database, agency_id: str, *, opportunity_id: str | None = None, limit: int = 5
) -> NamedCalls:
    """The latest calls of the agency (to one lead when `opportunity_id` is given), with their
    leads' names ("a lead" when the lead is gone)."""
    names: dict[str, str] = {}
    async with db.reader() as repo:
        if opportunity_id is not None:
            rows = await repo.list_opportunity_calls(agency_id, opportunity_id, limit=limit)
        else:
            rows = await repo.list_calls(agency_id, limit=limit)
        for row in rows:
            if row.opportunity_id not in names:
                opp = await repo.get_opportunity(agency_id, row.opportunity_id)
                names[row.opportunity_id] = opp.name if opp else "a lead"
    return NamedCalls(rows, names)
