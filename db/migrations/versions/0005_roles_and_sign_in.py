"""Roles and sign-in throttling: `agency_users.role` (admin | member) and `.slack_user`, and the
`sign_in_failures` table the password throttle counts.

Users that existed before roles become admins: until now every user could do everything a face
offered (the Upgrade button included), and an agency whose only user lost that would be stuck.
New users are members unless created with `leadgen user add --role admin`.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "agency_users",
        sa.Column("role", sa.String(length=16), nullable=False, server_default="member"),
    )
    op.execute("UPDATE agency_users SET role = 'admin'")
    op.add_column("agency_users", sa.Column("slack_user", sa.String(length=100), nullable=True))
    op.create_index(op.f("ix_agency_users_slack_user"), "agency_users", ["slack_user"], unique=True)
    op.create_table(
        "sign_in_failures",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("username", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("failed_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_failures")),
    )
    op.create_index("ix_sign_in_failures_by_username", "sign_in_failures", ["username", "failed_at"])
    op.create_index("ix_sign_in_failures_by_address", "sign_in_failures", ["address", "failed_at"])
    op.create_index("ix_sign_in_failures_by_time", "sign_in_failures", ["failed_at"])


def downgrade() -> None:
    op.drop_index("ix_sign_in_failures_by_time", table_name="sign_in_failures")
    op.drop_index("ix_sign_in_failures_by_address", table_name="sign_in_failures")
    op.drop_index("ix_sign_in_failures_by_username", table_name="sign_in_failures")
    op.drop_table("sign_in_failures")
    op.drop_index(op.f("ix_agency_users_slack_user"), table_name="agency_users")
    with op.batch_alter_table("agency_users") as batch:
        batch.drop_column("slack_user")
        batch.drop_column("role")
