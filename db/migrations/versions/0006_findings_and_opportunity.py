"""Research that sells: coded findings on dossiers, the opportunity score and brief of each lead.

* `audit_dossiers.findings`: the audit's coded findings with their evidence (DESIGN "JSON shapes").
* `client_opportunities`: `opportunity_score` (0-100), `score_reasons`, `talking_points`,
  `findings` (what the score was computed from) and Places' `business_status`.
* `lead_gen_flow_leads`: the `opportunity_score` and `score_reasons` each run ranked its leads by.

Existing rows keep their data: dossiers written before have no findings (`[]`), leads score 0 until
a run scores them again, which every run does for the leads it finds.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(JSONB(), "postgresql")
EMPTY_LIST = sa.text("'[]'")


def _list(name: str) -> sa.Column[object]:
    return sa.Column(name, JSON_TYPE, nullable=False, server_default=EMPTY_LIST)


def _score() -> sa.Column[object]:
    return sa.Column("opportunity_score", sa.Float(), nullable=False, server_default=sa.text("0"))


def upgrade() -> None:
    # Plain ALTER TABLEs, never batch copies: SQLite would drop and recreate the tables, and with
    # foreign keys on, that drop cascades to the rows that point at them.
    op.add_column("audit_dossiers", _list("findings"))
    op.add_column("client_opportunities", _score())
    op.add_column("client_opportunities", _list("score_reasons"))
    op.add_column("client_opportunities", _list("talking_points"))
    op.add_column("client_opportunities", _list("findings"))
    op.add_column("client_opportunities", sa.Column("business_status", sa.String(length=32), nullable=True))
    op.add_column("lead_gen_flow_leads", _score())
    op.add_column("lead_gen_flow_leads", _list("score_reasons"))


def downgrade() -> None:
    # DROP COLUMN (SQLite >= 3.35 has it): again no table copy.
    op.drop_column("lead_gen_flow_leads", "score_reasons")
    op.drop_column("lead_gen_flow_leads", "opportunity_score")
    for column in ("business_status", "findings", "talking_points", "score_reasons", "opportunity_score"):
        op.drop_column("client_opportunities", column)
    op.drop_column("audit_dossiers", "findings")
