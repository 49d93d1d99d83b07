"""Chainlit chat history: the tables Chainlit 2.12's SQLAlchemyDataLayer writes with raw SQL.

Chainlit creates no tables itself and runs `INSERT ... ON CONFLICT` with quoted camelCase
columns, so the names here (tables `users`, `threads`, `steps`, `elements`, `feedbacks`, and
every column) must match `chainlit/data/sql_alchemy.py` exactly. Its documented DDL is stale for
2.12: `Step.to_dict()` also writes "autoCollapse" and `Message.to_dict()` "modes"; elements carry
"props", "autoPlay" and "playerConfig" (chainlit/data/sql_alchemy.py in Chainlit 2.12).

Ids are TEXT rather than Postgres UUID: Chainlit binds them as strings, and TEXT accepts them on
both databases without a cast. Times are ISO strings written by Chainlit (TEXT, as in its DDL).
JSON columns are JSONB on PostgreSQL and JSON (text) on SQLite; Chainlit passes them serialised.
`tags` is TEXT[] on PostgreSQL as Chainlit expects; SQLite has no arrays, and Chainlit writes
tags only for chat profiles, which we do not use.

These tables are not in db/models.py (Chainlit owns their shape); alembic's autogenerate
ignores them through db/migrations/env.py's `include_name`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TAGS = sa.Text().with_variant(postgresql.ARRAY(sa.Text()), "postgresql")

CHAINLIT_TABLES = ("users", "threads", "steps", "elements", "feedbacks")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("identifier", sa.Text(), nullable=False),
        sa.Column("metadata", JSON_TYPE, nullable=False),
        sa.Column("createdAt", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("identifier", name="uq_users_identifier"),
    )
    op.create_table(
        "threads",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("createdAt", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("userId", sa.Text(), nullable=True),
        sa.Column("userIdentifier", sa.Text(), nullable=True),
        sa.Column("tags", TAGS, nullable=True),
        sa.Column("metadata", JSON_TYPE, nullable=True),
        sa.ForeignKeyConstraint(["userId"], ["users.id"], name="fk_threads_userId_users", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_threads"),
    )
    # The sidebar lists a user's threads: Chainlit filters on "userIdentifier".
    op.create_index("ix_threads_by_user_identifier", "threads", ["userIdentifier"], unique=False)
    op.create_table(
        "steps",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("threadId", sa.Text(), nullable=False),
        sa.Column("parentId", sa.Text(), nullable=True),
        sa.Column("streaming", sa.Boolean(), nullable=False),
        sa.Column("waitForAnswer", sa.Boolean(), nullable=True),
        sa.Column("isError", sa.Boolean(), nullable=True),
        sa.Column("metadata", JSON_TYPE, nullable=True),
        sa.Column("tags", TAGS, nullable=True),
        sa.Column("input", sa.Text(), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("createdAt", sa.Text(), nullable=True),
        sa.Column("command", sa.Text(), nullable=True),
        sa.Column("start", sa.Text(), nullable=True),
        sa.Column("end", sa.Text(), nullable=True),
        sa.Column("generation", JSON_TYPE, nullable=True),
        sa.Column("showInput", sa.Text(), nullable=True),
        sa.Column("language", sa.Text(), nullable=True),
        sa.Column("indent", sa.Integer(), nullable=True),
        sa.Column("defaultOpen", sa.Boolean(), nullable=True),
        sa.Column("autoCollapse", sa.Boolean(), nullable=True),
        sa.Column("modes", JSON_TYPE, nullable=True),
        sa.ForeignKeyConstraint(
            ["threadId"], ["threads.id"], name="fk_steps_threadId_threads", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_steps"),
    )
    op.create_index("ix_steps_by_thread_id", "steps", ["threadId"], unique=False)
    op.create_table(
        "elements",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("threadId", sa.Text(), nullable=True),
        sa.Column("type", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("chainlitKey", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("display", sa.Text(), nullable=True),
        sa.Column("objectKey", sa.Text(), nullable=True),
        sa.Column("size", sa.Text(), nullable=True),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("language", sa.Text(), nullable=True),
        sa.Column("forId", sa.Text(), nullable=True),
        sa.Column("mime", sa.Text(), nullable=True),
        sa.Column("props", JSON_TYPE, nullable=True),
        sa.Column("autoPlay", sa.Boolean(), nullable=True),
        sa.Column("playerConfig", JSON_TYPE, nullable=True),
        sa.ForeignKeyConstraint(
            ["threadId"], ["threads.id"], name="fk_elements_threadId_threads", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_elements"),
    )
    op.create_index("ix_elements_by_thread_id", "elements", ["threadId"], unique=False)
    op.create_table(
        "feedbacks",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("forId", sa.Text(), nullable=False),
        sa.Column("threadId", sa.Text(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["threadId"], ["threads.id"], name="fk_feedbacks_threadId_threads", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_feedbacks"),
    )


def downgrade() -> None:
    # Children before parents; dropping a table drops its indexes.
    for table in reversed(CHAINLIT_TABLES):
        op.drop_table(table)
