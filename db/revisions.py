"""The schema revision this code expects, known without importing Alembic.

`open_database` (and the quick read path) compare the database's `alembic_version` with
`HEAD_REVISION` in one query, and load Alembic only when they differ (then it migrates). Add a
migration, update `HEAD_REVISION`: tests/cli_reads/test_revisions.py fails until they agree.
"""

from __future__ import annotations

from typing import Any

HEAD_REVISION = "0007"
VERSION_TABLE = "alembic_version"
# One row when the schema was ever migrated (a single head); none or no table when it was not.
CURRENT_REVISION_SQL = f"SELECT version_num FROM {VERSION_TABLE}"


def single_revision(rows: list[Any]) -> str | None:
    """The revision the version table's rows name: None when there is none, or several (a
    branched history this code never writes, left for Alembic to sort out)."""
    return str(rows[0][0]) if len(rows) == 1 else None
