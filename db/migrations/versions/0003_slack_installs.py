"""Slack installs: which agency each Slack workspace (team) acts for.

`team_id` is unique (one agency per workspace); an agency may have several workspaces. Slack
event redeliveries are deduplicated in `webhook_inbox` (provider "slack"), so no table of their
own is needed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "slack_installs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("bot_token", sa.String(length=300), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("installed_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_slack_installs_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slack_installs")),
        sa.UniqueConstraint("team_id", name=op.f("uq_slack_installs_team_id")),
    )
    op.create_index(op.f("ix_slack_installs_agency_id"), "slack_installs", ["agency_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_slack_installs_agency_id"), table_name="slack_installs")
    op.drop_table("slack_installs")
