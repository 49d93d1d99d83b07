"""The prospect kit: agency branding, contacts on leads, outreach on dossiers, report share links.

* `agency_profiles.branding` (JSON, `{}` for every existing agency: reports then carry the
  agency's name only);
* `client_opportunities.contacts` (JSON, `[]`: existing leads get contacts at their next audit);
* `audit_dossiers.outreach` and `client_opportunities.outreach` (JSON, null: drafts of existing
  leads are built from their facts when shown, see graphs/outreach.py);
* `report_links`: one row per share link (only the token's SHA-256 is stored).

Plain ALTER TABLE ADD/DROP COLUMN only (no batch copy: on SQLite a copy of client_opportunities
would cascade through its foreign keys).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON_TYPE = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column(
        "agency_profiles", sa.Column("branding", JSON_TYPE, server_default=sa.text("'{}'"), nullable=False)
    )
    op.add_column(
        "client_opportunities",
        sa.Column("contacts", JSON_TYPE, server_default=sa.text("'[]'"), nullable=False),
    )
    op.add_column("client_opportunities", sa.Column("outreach", JSON_TYPE, nullable=True))
    op.add_column("audit_dossiers", sa.Column("outreach", JSON_TYPE, nullable=True))
    op.create_table(
        "report_links",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("opportunity_id", sa.String(length=32), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_report_links_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["client_opportunities.id"],
            name=op.f("fk_report_links_opportunity_id_client_opportunities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_links")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_report_links_token_sha256")),
    )
    op.create_index("ix_report_links_by_opportunity", "report_links", ["opportunity_id", "agency_id"])


def downgrade() -> None:
    op.drop_index("ix_report_links_by_opportunity", table_name="report_links")
    op.drop_table("report_links")
    # DROP COLUMN (SQLite >= 3.35 has it): no table copy, which would cascade as above.
    op.drop_column("audit_dossiers", "outreach")
    op.drop_column("client_opportunities", "outreach")
    op.drop_column("client_opportunities", "contacts")
    op.drop_column("agency_profiles", "branding")
