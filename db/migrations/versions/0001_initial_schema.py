"""Initial schema: every table of db/models.py with its indexes (partial unique ones included).

Types are spelled out here rather than imported from db.base, so this revision keeps
describing the schema as it was even when the models move on.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 02:01:51.537301
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSON on SQLite, JSONB on PostgreSQL (db.base.JSONType); timestamps carry their zone (db.base.UTCDateTime).
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agencies",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("billing_customer_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agencies")),
        sa.UniqueConstraint("billing_customer_id", name=op.f("uq_agencies_billing_customer_id")),
    )
    op.create_table(
        "credit_accounts",
        sa.Column("customer_id", sa.String(length=128), nullable=False),
        sa.Column("balance", sa.Integer(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_credit_accounts")),
    )
    op.create_table(
        "credit_holds",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("hold_key", sa.String(length=300), nullable=False),
        sa.Column("customer_id", sa.String(length=128), nullable=False),
        sa.Column("feature_id", sa.String(length=64), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("closed_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_holds")),
        sa.UniqueConstraint("hold_key", name=op.f("uq_credit_holds_hold_key")),
    )
    op.create_index(
        "ix_credit_holds_open_by_customer", "credit_holds", ["customer_id", "status"], unique=False
    )

    op.create_table(
        "credit_ledger_entries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("feature_id", sa.String(length=64), nullable=True),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=300), nullable=False),
        sa.Column("balance_after", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_ledger_entries")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_credit_ledger_entries_idempotency_key")),
    )
    op.create_index(
        "ix_credit_ledger_entries_by_customer",
        "credit_ledger_entries",
        ["customer_id", "created_at"],
        unique=False,
    )

    op.create_table(
        "webhook_inbox",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=300), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=True),
        sa.Column("payload", JSON_TYPE, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column("processed_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_inbox")),
        sa.UniqueConstraint("provider", "event_id", name="uq_webhook_inbox_provider_event"),
    )
    op.create_index("ix_webhook_inbox_by_status", "webhook_inbox", ["status", "received_at"], unique=False)

    op.create_table(
        "agency_profiles",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("target_vertical", sa.String(length=200), nullable=True),
        sa.Column("target_geography", sa.String(length=200), nullable=True),
        sa.Column("criteria", JSON_TYPE, nullable=False),
        sa.Column("services_offered", JSON_TYPE, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_agency_profiles_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_profiles")),
        sa.UniqueConstraint("agency_id", name=op.f("uq_agency_profiles_agency_id")),
    )
    op.create_table(
        "agency_users",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=300), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_agency_users_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_users")),
        sa.UniqueConstraint("username", name=op.f("uq_agency_users_username")),
    )
    op.create_index(op.f("ix_agency_users_agency_id"), "agency_users", ["agency_id"], unique=False)

    op.create_table(
        "lead_gen_flows",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=True),
        sa.Column("agency_profile_id", sa.String(length=32), nullable=True),
        sa.Column("billing_customer_id", sa.String(length=128), nullable=False),
        sa.Column("num_leads_requested", sa.Integer(), nullable=False),
        sa.Column("num_leads_fetched", sa.Integer(), nullable=False),
        sa.Column("target_vertical", sa.String(length=200), nullable=False),
        sa.Column("target_geography", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("phases", JSON_TYPE, nullable=False),
        sa.Column("last_event", JSON_TYPE, nullable=True),
        sa.Column("places_snapshot", JSON_TYPE, nullable=True),
        sa.Column("billing_block", JSON_TYPE, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("completed_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_lead_gen_flows_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_gen_flows")),
    )
    op.create_index(
        "ix_lead_gen_flows_by_agency_id", "lead_gen_flows", ["agency_id", "created_at"], unique=False
    )
    op.create_index("ix_lead_gen_flows_by_status", "lead_gen_flows", ["status"], unique=False)
    op.create_index("ix_lead_gen_flows_by_user_id", "lead_gen_flows", ["user_id"], unique=False)

    op.create_table(
        "client_opportunities",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("lead_gen_flow_id", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=True),
        sa.Column("website", sa.String(length=2048), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("place_id", sa.String(length=300), nullable=True),
        sa.Column("address", sa.String(length=500), nullable=True),
        sa.Column("rating", sa.Float(), nullable=True),
        sa.Column("reviews_count", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("target_vertical", sa.String(length=200), nullable=True),
        sa.Column("target_geography", sa.String(length=200), nullable=True),
        sa.Column("qualification_score", sa.Float(), nullable=False),
        sa.Column("signals", JSON_TYPE, nullable=False),
        sa.Column("fit_reason", sa.Text(), nullable=True),
        sa.Column("meeting_time", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_client_opportunities_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["lead_gen_flow_id"],
            ["lead_gen_flows.id"],
            name=op.f("fk_client_opportunities_lead_gen_flow_id_lead_gen_flows"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_opportunities")),
    )
    op.create_index("ix_client_opportunities_by_agency", "client_opportunities", ["agency_id"], unique=False)
    op.create_index(
        "ix_client_opportunities_by_agency_and_campaign",
        "client_opportunities",
        ["agency_id", "target_vertical", "target_geography"],
        unique=False,
    )
    op.create_index(
        "ix_client_opportunities_by_lead_gen_flow", "client_opportunities", ["lead_gen_flow_id"], unique=False
    )
    op.create_index(
        "ix_client_opportunities_by_lead_gen_flow_and_domain",
        "client_opportunities",
        ["lead_gen_flow_id", "domain"],
        unique=False,
    )
    op.create_index(
        "uq_client_opportunities_by_agency_and_domain",
        "client_opportunities",
        ["agency_id", "domain"],
        unique=True,
        sqlite_where=sa.text("domain IS NOT NULL"),
        postgresql_where=sa.text("domain IS NOT NULL"),
    )
    op.create_index(
        "uq_client_opportunities_by_place_id",
        "client_opportunities",
        ["agency_id", "place_id"],
        unique=True,
        sqlite_where=sa.text("place_id IS NOT NULL"),
        postgresql_where=sa.text("place_id IS NOT NULL"),
    )

    op.create_table(
        "audit_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("opportunity_id", sa.String(length=32), nullable=False),
        sa.Column("lead_gen_flow_id", sa.String(length=32), nullable=True),
        sa.Column("target_url", sa.String(length=2048), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("phases", JSON_TYPE, nullable=False),
        sa.Column("dossier_id", sa.String(length=32), nullable=True),
        sa.Column("analysis_thread", sa.String(length=200), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("metered", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_audit_jobs_agency_id_agencies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["lead_gen_flow_id"],
            ["lead_gen_flows.id"],
            name=op.f("fk_audit_jobs_lead_gen_flow_id_lead_gen_flows"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["client_opportunities.id"],
            name=op.f("fk_audit_jobs_opportunity_id_client_opportunities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_jobs")),
        sa.UniqueConstraint("lead_gen_flow_id", "opportunity_id", name="uq_audit_jobs_flow_opportunity"),
    )
    op.create_index("ix_audit_jobs_by_agency", "audit_jobs", ["agency_id"], unique=False)
    op.create_index("ix_audit_jobs_by_lead_gen_flow", "audit_jobs", ["lead_gen_flow_id"], unique=False)
    op.create_index("ix_audit_jobs_by_opportunity", "audit_jobs", ["opportunity_id"], unique=False)

    op.create_table(
        "calls",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("opportunity_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=True),
        sa.Column("provider_call_id", sa.String(length=200), nullable=True),
        sa.Column("to_number", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("ended_reason", sa.String(length=200), nullable=True),
        sa.Column("billing_seconds", sa.Float(), nullable=True),
        sa.Column("transcript", sa.Text(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("ended_at", TIMESTAMP, nullable=True),
        sa.Column("metadata", JSON_TYPE, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_calls_agency_id_agencies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["client_opportunities.id"],
            name=op.f("fk_calls_opportunity_id_client_opportunities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint("provider_call_id", name=op.f("uq_calls_provider_call_id")),
    )
    op.create_index("ix_calls_by_agency", "calls", ["agency_id", "created_at"], unique=False)
    op.create_index("ix_calls_by_opportunity", "calls", ["opportunity_id"], unique=False)

    op.create_table(
        "audit_dossiers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("audit_job_id", sa.String(length=32), nullable=False),
        sa.Column("opportunity_id", sa.String(length=32), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("gaps", JSON_TYPE, nullable=False),
        sa.Column("talking_points", JSON_TYPE, nullable=False),
        sa.Column("sources", JSON_TYPE, nullable=False),
        sa.Column("fit_reason", sa.Text(), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_audit_dossiers_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["audit_job_id"],
            ["audit_jobs.id"],
            name=op.f("fk_audit_dossiers_audit_job_id_audit_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["client_opportunities.id"],
            name=op.f("fk_audit_dossiers_opportunity_id_client_opportunities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_dossiers")),
        sa.UniqueConstraint("audit_job_id", name=op.f("uq_audit_dossiers_audit_job_id")),
    )
    op.create_index("ix_audit_dossiers_by_opportunity", "audit_dossiers", ["opportunity_id"], unique=False)

    op.create_table(
        "audit_scraped_pages",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("audit_job_id", sa.String(length=32), nullable=False),
        sa.Column("opportunity_id", sa.String(length=32), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("content_ref", sa.String(length=300), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("content_length", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("scraped_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agencies.id"],
            name=op.f("fk_audit_scraped_pages_agency_id_agencies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["audit_job_id"],
            ["audit_jobs.id"],
            name=op.f("fk_audit_scraped_pages_audit_job_id_audit_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["client_opportunities.id"],
            name=op.f("fk_audit_scraped_pages_opportunity_id_client_opportunities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_scraped_pages")),
        sa.UniqueConstraint("audit_job_id", "url", name="uq_audit_scraped_pages_by_audit_job_id_and_url"),
    )
    op.create_index(
        "ix_audit_scraped_pages_by_audit_job_id", "audit_scraped_pages", ["audit_job_id"], unique=False
    )
    op.create_index(
        "ix_audit_scraped_pages_by_opportunity_id", "audit_scraped_pages", ["opportunity_id"], unique=False
    )


def downgrade() -> None:
    # Dropping a table drops its indexes; children before parents.
    op.drop_table("audit_scraped_pages")
    op.drop_table("audit_dossiers")
    op.drop_table("calls")
    op.drop_table("audit_jobs")
    op.drop_table("client_opportunities")
    op.drop_table("lead_gen_flows")
    op.drop_table("agency_users")
    op.drop_table("agency_profiles")
    op.drop_table("webhook_inbox")
    op.drop_table("credit_ledger_entries")
    op.drop_table("credit_holds")
    op.drop_table("credit_accounts")
    op.drop_table("agencies")
