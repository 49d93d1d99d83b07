"""The SQL both billing adapters share over our ledger tables: claiming a hold key, reading a
hold, creating an account row. `LocalLedger` keeps balances here too; `AutumnBilling` keeps only
holds and the history here (Autumn holds the balance)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from db.base import utcnow
from db.models import CreditAccount, CreditHold, CreditLedgerEntry
from tools.billing.port import Hold

ACCOUNTS: Table = CreditAccount.__table__  # type: ignore[assignment]
HOLDS: Table = CreditHold.__table__  # type: ignore[assignment]
LEDGER: Table = CreditLedgerEntry.__table__  # type: ignore[assignment]


def insert_ignoring_conflict(dialect: str, table: Table, column: str) -> Insert:
    """INSERT ... ON CONFLICT (column) DO NOTHING, in the dialect's own syntax."""
    dialect_insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt: Insert = dialect_insert(table).on_conflict_do_nothing(index_elements=[table.c[column]])
    return stmt


async def ensure_account_row(session: AsyncSession, dialect: str, customer_id: str) -> None:
    """The customer's account row, created empty when missing."""
    await session.execute(
        insert_ignoring_conflict(dialect, ACCOUNTS, "customer_id").values(
            customer_id=customer_id, balance=0, held=0, updated_at=utcnow()
        )
    )


async def claim_hold(
    session: AsyncSession,
    dialect: str,
    *,
    key: str,
    customer_id: str,
    feature_id: str,
    units: int,
    credits: int,
) -> bool:
    """Insert an open hold under `key`; False (nothing written) when the key exists already."""
    claimed = await session.execute(
        insert_ignoring_conflict(dialect, HOLDS, "hold_key")
        .values(
            id=uuid.uuid4().hex,
            hold_key=key,
            customer_id=customer_id,
            feature_id=feature_id,
            units=units,
            credits=credits,
            status="open",
            created_at=utcnow(),
        )
        .returning(HOLDS.c.id)
    )
    return claimed.first() is not None


async def get_hold(session: AsyncSession, key: str, *, for_update: bool = False) -> Hold | None:
    query = select(
        HOLDS.c.hold_key,
        HOLDS.c.customer_id,
        HOLDS.c.feature_id,
        HOLDS.c.units,
        HOLDS.c.credits,
        HOLDS.c.status,
    ).where(HOLDS.c.hold_key == key)
    if for_update:
        query = query.with_for_update(key_share=True)  # NO KEY UPDATE: children's FK locks pass
    row = (await session.execute(query)).first()
    return Hold(*row) if row is not None else None
