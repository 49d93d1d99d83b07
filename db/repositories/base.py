"""What every kind of record shares: the session, the agency-scoped row lookups, the dialect's
INSERT ... ON CONFLICT, the field checks of `update_*`, and `NotFound`."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import Base

M = TypeVar("M", bound=Base)

# Never writable through update_*: they are the row's identity and its tenant.
_IMMUTABLE = frozenset({"id", "agency_id"})


class NotFound(LookupError):
    """The row does not exist, or belongs to another agency (the two are indistinguishable)."""

    def __init__(self, kind: str, ident: str) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"{kind} {ident!r} not found")


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _parse_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class RepositoryBase:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- helpers -------------------------------------------------------------------------

    def _insert(self, model: type[Base]) -> Any:
        """The dialect's INSERT, which knows ON CONFLICT."""
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            return postgresql.insert(model)
        if dialect == "sqlite":
            return sqlite.insert(model)
        raise NotImplementedError(f"unsupported database dialect {dialect!r}")

    async def _one(self, model: type[M], agency_id: str, ident: str, *, lock: bool = False) -> M | None:
        stmt = select(model).where(
            model.id == ident,  # type: ignore[attr-defined]
            model.agency_id == agency_id,  # type: ignore[attr-defined]
        )
        if lock:
            # Re-read under the row lock: the identity map may hold an older copy. NO KEY UPDATE
            # (key_share) on PostgreSQL: a row whose children this transaction (or a parallel
            # audit's) already wrote holds their foreign keys' KEY SHARE locks, which a plain
            # FOR UPDATE waits on - two audits doing so deadlocked. We never change a key.
            stmt = stmt.with_for_update(key_share=True).execution_options(populate_existing=True)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def _require(self, model: type[M], agency_id: str, ident: str, *, lock: bool = False) -> M:
        row = await self._one(model, agency_id, ident, lock=lock)
        if row is None:
            raise NotFound(model.__tablename__, ident)
        return row

    @staticmethod
    def _check_fields(
        model: type[Base], fields: Mapping[str, Any], *, also_forbidden: frozenset[str] = frozenset()
    ) -> None:
        columns = set(model.__mapper__.column_attrs.keys())
        for name in fields:
            if name in _IMMUTABLE or name in also_forbidden:
                raise ValueError(f"{model.__name__}.{name} cannot be changed here")
            if name not in columns:
                raise ValueError(f"{model.__name__} has no field {name!r}")

    @classmethod
    def _apply(
        cls, row: Base, fields: dict[str, Any], *, also_forbidden: frozenset[str] = frozenset()
    ) -> None:
        cls._check_fields(type(row), fields, also_forbidden=also_forbidden)
        for name, value in fields.items():
            setattr(row, name, value)
