"""AI phone calls to leads: the call rows, their metadata (deep-merged) and the open-call sweep."""

from __future__ import annotations

import copy
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import select

from db.models import Call, ClientOpportunity
from db.repositories.base import RepositoryBase, _deep_merge


class CallRecords(RepositoryBase):
    async def list_opportunity_calls(
        self, agency_id: str, opportunity_id: str, limit: int = 20
    ) -> list[Call]:
        """The lead's calls, newest first."""
        stmt = (
            select(Call)
            .where(Call.agency_id == agency_id, Call.opportunity_id == opportunity_id)
            .order_by(Call.created_at.desc(), Call.id.desc())
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def create_call(
        self,
        agency_id: str,
        opportunity_id: str,
        *,
        to_number: str,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Call:
        await self._require(ClientOpportunity, agency_id, opportunity_id)
        call = Call(
            agency_id=agency_id,
            opportunity_id=opportunity_id,
            to_number=to_number,
            user_id=user_id,
            status="queued",
            metadata_=copy.deepcopy(metadata or {}),
        )
        self.session.add(call)
        await self.session.flush()
        return call

    async def active_call(
        self, agency_id: str, opportunity_id: str, *, statuses: Collection[str], since: datetime
    ) -> Call | None:
        """The lead's newest call in one of `statuses` created after `since`. Locks the lead's row
        first, so two placements for one lead serialise here (SQLite's writer lock does it there)."""
        await self._require(ClientOpportunity, agency_id, opportunity_id, lock=True)
        stmt = (
            select(Call)
            .where(
                Call.agency_id == agency_id,
                Call.opportunity_id == opportunity_id,
                Call.status.in_(tuple(statuses)),
                Call.created_at >= since,
            )
            .order_by(Call.created_at.desc(), Call.id.desc())
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def get_call(self, agency_id: str, call_id: str) -> Call | None:
        return await self._one(Call, agency_id, call_id)

    async def get_call_by_provider_id(self, agency_id: str, provider_call_id: str) -> Call | None:
        stmt = select(Call).where(Call.agency_id == agency_id, Call.provider_call_id == provider_call_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def find_call_by_provider_id(self, provider_call_id: str) -> Call | None:
        """UNSCOPED on purpose: a provider's webhook (Vapi's end-of-call report) names only its
        own call id. The webhook is authenticated before this runs, and the row found tells the
        caller which agency to continue with."""
        stmt = select(Call).where(Call.provider_call_id == provider_call_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def sweep_open_calls(self, statuses: Collection[str], since: datetime) -> list[Call]:
        """Calls of every agency placed at Vapi since `since` whose status is one of `statuses`,
        oldest first. UNSCOPED on purpose: a process calls it at start-up to follow again the
        calls a stopped process was following, before any agency is known; it then works on
        each call through the scoped methods with `call.agency_id`."""
        stmt = (
            select(Call)
            .where(
                Call.status.in_(list(statuses)),
                Call.provider_call_id.is_not(None),
                Call.created_at >= since,
            )
            .order_by(Call.created_at, Call.id)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def list_calls(self, agency_id: str, limit: int = 100) -> list[Call]:
        """Newest first."""
        stmt = (
            select(Call)
            .where(Call.agency_id == agency_id)
            .order_by(Call.created_at.desc(), Call.id.desc())
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def update_call(self, agency_id: str, call_id: str, /, **fields: Any) -> Call:
        """Any column but the metadata, which only `merge_call_metadata` changes."""
        call = await self._require(Call, agency_id, call_id)
        self._apply(call, fields, also_forbidden=frozenset({"metadata_"}))
        await self.session.flush()
        return call

    async def merge_call_metadata(self, agency_id: str, call_id: str, patch: dict[str, Any]) -> Call:
        """Deep-merge `patch` into the call's metadata: keys not in the patch are kept, nested
        objects are merged key by key. The row is locked so concurrent merges all land."""
        call = await self._require(Call, agency_id, call_id, lock=True)
        call.metadata_ = _deep_merge(call.metadata_ or {}, patch)
        await self.session.flush()
        return call
