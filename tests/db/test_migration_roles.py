"""Migration 0005 on SQLite and PostgreSQL: users that existed before roles become admins (they
could do everything before), users made afterwards are members unless given a role."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.pool import NullPool

from db import migrate, open_database
from db.engine import create_engine, write_session
from db.models import AgencyUser


async def test_existing_users_become_admins_and_new_users_default_to_member(empty_db_url: str) -> None:
    await migrate.upgrade(empty_db_url, "0003")
    engine = create_engine(empty_db_url, poolclass=NullPool)
    try:
        async with write_session(engine) as session:
            conn = await session.connection()
            await conn.execute(
                text(
                    "INSERT INTO agencies (id, name, billing_customer_id, created_at)"
                    " VALUES ('acme', 'Acme', 'acme', '2024-01-01 00:00:00')"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO agency_users (id, agency_id, username, password_hash, created_at)"
                    " VALUES ('u1', 'acme', 'old-timer', 'scrypt$x', '2024-01-01 00:00:00')"
                )
            )
    finally:
        await engine.dispose()

    database = await open_database(empty_db_url)  # migrates to head
    try:
        async with database.transaction() as repo:
            repo.session.add(AgencyUser(agency_id="acme", username="newcomer", password_hash="scrypt$y"))
        async with database.reader() as repo:
            rows = (
                await repo.session.execute(text("SELECT username, role, slack_user FROM agency_users"))
            ).all()
    finally:
        await database.close()
    assert sorted(tuple(r) for r in rows) == [("newcomer", "member", None), ("old-timer", "admin", None)]
