"""The flow lease: one execution per flow (compare-and-set on the flow row, expiry renewed while
running), and the start-up sweep of flows left running."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update

from db.base import utcnow
from db.models import LeadGenFlow
from db.repositories.base import RepositoryBase


def new_lease_owner() -> str:
    """A lease owner id, `host:pid:uuid`: unique per holder, and tells a caller on the same host
    which process to check for liveness."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"


def parse_lease_owner(owner: str) -> tuple[str, int] | None:
    """(host, pid) of a `new_lease_owner()` id, None when it is not of that shape."""
    host, sep, rest = owner.rpartition(":")
    host, sep2, pid = host.rpartition(":")
    if not (sep and sep2 and pid.isdigit() and rest):
        return None
    return host, int(pid)


class LeaseRecords(RepositoryBase):
    async def _lease_update(
        self, agency_id: str, flow_id: str, condition: Any, values: dict[str, Any]
    ) -> bool:
        result = await self.session.execute(
            update(LeadGenFlow)
            .where(LeadGenFlow.id == flow_id, LeadGenFlow.agency_id == agency_id, condition)
            .values(**values)
            .execution_options(synchronize_session="fetch")
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            return True
        await self._require(LeadGenFlow, agency_id, flow_id)
        return False

    async def acquire_lease(
        self,
        agency_id: str,
        flow_id: str,
        owner: str,
        ttl_seconds: float,
        *,
        take_over_from: str | None = None,
    ) -> bool:
        """Compare-and-set: take the flow's lease when nobody holds it, `owner` already does, or
        it expired. `take_over_from` also lets it be taken from that exact holder before expiry
        (the caller found that holder's process dead); still one conditional UPDATE, so of many
        contenders exactly one wins. Times are this host's clock."""
        now = utcnow()
        free = or_(
            LeadGenFlow.lease_owner.is_(None),
            LeadGenFlow.lease_owner == owner,
            LeadGenFlow.lease_expires_at.is_(None),
            LeadGenFlow.lease_expires_at < now,
        )
        if take_over_from is not None:
            free = or_(free, LeadGenFlow.lease_owner == take_over_from)
        return await self._lease_update(
            agency_id,
            flow_id,
            free,
            {"lease_owner": owner, "lease_expires_at": now + timedelta(seconds=ttl_seconds)},
        )

    async def renew_lease(self, agency_id: str, flow_id: str, owner: str, ttl_seconds: float) -> bool:
        """Extend the lease `owner` holds; False when it lost it (someone took it over)."""
        return await self._lease_update(
            agency_id,
            flow_id,
            LeadGenFlow.lease_owner == owner,
            {"lease_expires_at": utcnow() + timedelta(seconds=ttl_seconds)},
        )

    async def release_lease(self, agency_id: str, flow_id: str, owner: str) -> bool:
        """Give the lease up; False (and nothing changed) when `owner` did not hold it."""
        return await self._lease_update(
            agency_id,
            flow_id,
            LeadGenFlow.lease_owner == owner,
            {"lease_owner": None, "lease_expires_at": None},
        )

    async def sweep_running_flows(self) -> list[LeadGenFlow]:
        """Every flow left `running`, of every agency. UNSCOPED on purpose: the runner calls it
        at start-up to find runs whose holder died and resume them, before any agency is known.
        Its callers then work on each flow through the scoped methods with `flow.agency_id`."""
        stmt = select(LeadGenFlow).where(LeadGenFlow.status == "running").order_by(LeadGenFlow.created_at)
        return list((await self.session.execute(stmt)).scalars())
