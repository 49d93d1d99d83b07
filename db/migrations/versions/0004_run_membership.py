"""Run membership: which leads each run found (`lead_gen_flow_leads`), `--refresh` on the run.

Before this revision a lead pointed at one run (`client_opportunities.lead_gen_flow_id`), and a
later run of the same campaign moved it away: the earlier run then listed nothing. The
backfill gives every run back the leads the database can still prove it found:

* the lead's own pointer (the newest run that found it), with the lead's status;
* every audit job: the run that queued it found that lead (status from the job's outcome, and
  the job's dossier);
* the run's `places_snapshot`: a place it read that passed the hard filter (a phone, not closed
  for good) and is a lead of the same agency under that place id. The old filter kept every such
  place of the snapshot, so these are exactly the leads that run saved.

Rank within a run follows the old order (score, then name). The indexes added here are the ones
`bench/queries.py` showed the faces' reads need.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON_TYPE = sa.JSON().with_variant(JSONB(), "postgresql")
BATCH = 1000

# The audit job's outcome, as the lead's status in the run that queued it.
_JOB_STATUS = {"completed": "READY", "error": "DATA_READY", "queued": "AUDITING", "running": "AUDITING"}


def upgrade() -> None:
    # A plain ALTER TABLE, never a batch copy: SQLite would drop and recreate lead_gen_flows, and
    # with foreign keys on that drop sets every lead's and audit's run to NULL.
    op.add_column(
        "lead_gen_flows",
        sa.Column("refresh_dossiers", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.create_table(
        "lead_gen_flow_leads",
        sa.Column("lead_gen_flow_id", sa.String(length=32), nullable=False),
        sa.Column("opportunity_id", sa.String(length=32), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("qualification_score", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("audit_job_id", sa.String(length=32), nullable=True),
        sa.Column("dossier_id", sa.String(length=32), nullable=True),
        sa.Column("dossier_reused", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_lead_gen_flow_leads_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["lead_gen_flow_id"],
            ["lead_gen_flows.id"],
            name=op.f("fk_lead_gen_flow_leads_lead_gen_flow_id_lead_gen_flows"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["client_opportunities.id"],
            name=op.f("fk_lead_gen_flow_leads_opportunity_id_client_opportunities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("lead_gen_flow_id", "opportunity_id", name=op.f("pk_lead_gen_flow_leads")),
    )
    op.create_index(
        "ix_lead_gen_flow_leads_by_flow_and_rank",
        "lead_gen_flow_leads",
        ["lead_gen_flow_id", "agency_id", "rank"],
    )
    op.create_index(
        "ix_lead_gen_flow_leads_by_opportunity", "lead_gen_flow_leads", ["opportunity_id", "agency_id"]
    )
    # A run's audits: without the agency in the index, planners read the agency's every audit.
    op.drop_index("ix_audit_jobs_by_lead_gen_flow", table_name="audit_jobs")
    op.create_index(
        "ix_audit_jobs_by_lead_gen_flow", "audit_jobs", ["lead_gen_flow_id", "agency_id", "created_at"]
    )
    _backfill(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_audit_jobs_by_lead_gen_flow", table_name="audit_jobs")
    op.create_index("ix_audit_jobs_by_lead_gen_flow", "audit_jobs", ["lead_gen_flow_id"])
    op.drop_index("ix_lead_gen_flow_leads_by_opportunity", table_name="lead_gen_flow_leads")
    op.drop_index("ix_lead_gen_flow_leads_by_flow_and_rank", table_name="lead_gen_flow_leads")
    op.drop_table("lead_gen_flow_leads")
    op.drop_column("lead_gen_flows", "refresh_dossiers")  # SQLite >= 3.35 drops in place


# -- the backfill -------------------------------------------------------------------------------
# Tables as they stand at this revision (never the live models, which move on).

_flows = sa.table(
    "lead_gen_flows",
    sa.column("id", sa.String),
    sa.column("agency_id", sa.String),
    sa.column("created_at", TIMESTAMP),
    sa.column("places_snapshot", JSON_TYPE),
)
_opps = sa.table(
    "client_opportunities",
    sa.column("id", sa.String),
    sa.column("agency_id", sa.String),
    sa.column("lead_gen_flow_id", sa.String),
    sa.column("place_id", sa.String),
    sa.column("domain", sa.String),
    sa.column("name", sa.String),
    sa.column("status", sa.String),
    sa.column("qualification_score", sa.Float),
)
_jobs = sa.table(
    "audit_jobs",
    sa.column("id", sa.String),
    sa.column("agency_id", sa.String),
    sa.column("lead_gen_flow_id", sa.String),
    sa.column("opportunity_id", sa.String),
    sa.column("status", sa.String),
    sa.column("dossier_id", sa.String),
    sa.column("created_at", TIMESTAMP),
)
_members = sa.table(
    "lead_gen_flow_leads",
    sa.column("lead_gen_flow_id", sa.String),
    sa.column("opportunity_id", sa.String),
    sa.column("agency_id", sa.String),
    sa.column("rank", sa.Integer),
    sa.column("qualification_score", sa.Float),
    sa.column("status", sa.String),
    sa.column("audit_job_id", sa.String),
    sa.column("dossier_id", sa.String),
    sa.column("dossier_reused", sa.Boolean),
    sa.column("created_at", TIMESTAMP),
    sa.column("updated_at", TIMESTAMP),
)


def _passed_old_filter(place: Any) -> bool:
    return (
        isinstance(place, dict)
        and bool(place.get("id"))
        and bool(place.get("phone"))
        and place.get("business_status") != "CLOSED_PERMANENTLY"
    )


def _member_rows(bind: sa.Connection) -> Iterator[dict[str, Any]]:
    opps = {row.id: row for row in bind.execute(sa.select(_opps))}
    by_place = {(row.agency_id, row.place_id): row.id for row in opps.values() if row.place_id}
    flows = {row.id: row for row in bind.execute(sa.select(_flows))}
    found: dict[tuple[str, str], dict[str, Any]] = {}

    def add(flow_id: str, opp_id: str, status: str, job: Any = None) -> None:
        flow, opp = flows.get(flow_id), opps.get(opp_id)
        if flow is None or opp is None or flow.agency_id != opp.agency_id:
            return
        entry = found.setdefault(
            (flow_id, opp_id), {"status": status, "audit_job_id": None, "dossier_id": None}
        )
        if job is not None:
            entry.update(audit_job_id=job.id, dossier_id=job.dossier_id)

    for opp in opps.values():
        if opp.lead_gen_flow_id:
            add(opp.lead_gen_flow_id, opp.id, opp.status)
    jobs = bind.execute(
        sa.select(_jobs).where(_jobs.c.lead_gen_flow_id.is_not(None)).order_by(_jobs.c.created_at)
    )
    for job in jobs:
        add(job.lead_gen_flow_id, job.opportunity_id, _JOB_STATUS.get(job.status, "AUDITING"), job)
    for flow in flows.values():
        for place in flow.places_snapshot or []:
            opp_id = by_place.get((flow.agency_id, place.get("id"))) if _passed_old_filter(place) else None
            if opp_id is not None and (flow.id, opp_id) not in found:
                add(flow.id, opp_id, "SOURCED" if opps[opp_id].domain else "DATA_READY")

    per_flow: dict[str, list[str]] = {}
    for flow_id, opp_id in found:
        per_flow.setdefault(flow_id, []).append(opp_id)
    now = datetime.now(UTC)
    for flow_id, opp_ids in per_flow.items():
        opp_ids.sort(
            key=lambda i: (-(opps[i].qualification_score or 0.0), (opps[i].name or "").casefold(), i)
        )
        for rank, opp_id in enumerate(opp_ids):
            opp = opps[opp_id]
            yield {
                "lead_gen_flow_id": flow_id,
                "opportunity_id": opp_id,
                "agency_id": opp.agency_id,
                "rank": rank,
                "qualification_score": opp.qualification_score or 0.0,
                **found[(flow_id, opp_id)],
                "dossier_reused": False,
                "created_at": flows[flow_id].created_at,
                "updated_at": now,
            }


def _backfill(bind: sa.Connection) -> None:
    batch: list[dict[str, Any]] = []
    for row in _member_rows(bind):
        batch.append(row)
        if len(batch) >= BATCH:
            bind.execute(_members.insert(), batch)
            batch = []
    if batch:
        bind.execute(_members.insert(), batch)
