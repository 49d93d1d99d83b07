"""A thin read path over the SQLite file, for the CLI's read commands (assistant/cli/quick.py).

The repositories (db/repositories/) need SQLAlchemy, whose import alone takes longer than a
read command may. `SqliteReads` asks the same questions with the standard library's `sqlite3`
on a read-only connection and hands back plain `Record`s that carry the models' attribute names,
so graphs/views.py renders them exactly as it renders the models.

Each query mirrors a repository method (named beside it) with the same filters, joins and
ORDER BY: the same rows in the same order, scoped to the agency the same way (another agency's
id reads as missing). Columns are read with `SELECT` of every column the table has (bar the ones
the models defer) and decoded by their declared type, so a column added by a migration reaches
the views here without a change in this file. tests/cli_reads runs every read command through
both paths on one database and compares the output.

`QuickReadUnavailable` means "this path cannot answer exactly": a URL that is not a plain SQLite
file, a file that does not exist yet (the full path creates and migrates it), a schema that is
not at `HEAD_REVISION` (the full path migrates it), or any SQLite error. The caller then takes
the full path, which gives the full answer or the full error.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from db.progress import overall_progress
from db.revisions import CURRENT_REVISION_SQL, HEAD_REVISION, single_revision

# Columns the models load on demand only (`deferred=True`): never needed by a read command.
DEFERRED: dict[str, frozenset[str]] = {"lead_gen_flows": frozenset({"places_snapshot"})}
# Columns whose model attribute has another name (`Call.metadata_`: `metadata` is taken on models).
ATTRIBUTE_NAMES: dict[tuple[str, str], str] = {("calls", "metadata"): "metadata_"}
_SQLITE_DRIVERS = frozenset({"sqlite", "sqlite+aiosqlite", "sqlite+pysqlite"})
# SQLite's default cap on bound variables is 32766 since 3.32; stay far below it.
_IN_CHUNK = 500


class QuickReadUnavailable(Exception):
    """The quick path cannot answer exactly; the full path must."""


class Record(SimpleNamespace):
    """A row, with the model's attribute names (`flow.status`, `call.metadata_`)."""


def _utc(value: Any) -> datetime | None:
    # As db.base.UTCDateTime reads SQLite's text: naive ISO text, taken as UTC.
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


# Declared column types (as our migrations create them) and how SQLAlchemy reads each back.
_DECODERS: dict[str, Callable[[Any], Any]] = {
    "JSON": _json,
    "DATETIME": _utc,
    "BOOLEAN": _bool,
    "FLOAT": _float,
}


def sqlite_file(url: str) -> Path | None:
    """The file a `DATABASE_URL` names when it is a plain SQLite file URL (no query, no
    in-memory database, nothing to unquote); None for anything else."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in _SQLITE_DRIVERS or not rest.startswith("/"):
        return None
    path = rest[1:]
    if not path or path == ":memory:" or any(ch in path for ch in "?#%\x00"):
        return None
    return Path(path)


class SqliteReads:
    """Read-only queries on our SQLite file, one connection, closed by `close()`."""

    def __init__(self, path: Path, *, busy_seconds: float) -> None:
        if not path.is_file():
            raise QuickReadUnavailable(f"{path} does not exist yet")
        try:
            self._conn = sqlite3.connect(
                f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=busy_seconds
            )
        except sqlite3.Error as exc:
            raise QuickReadUnavailable(str(exc)) from exc
        self._columns: dict[str, list[tuple[str, Callable[[Any], Any] | None]]] = {}
        try:
            revision = single_revision(self._conn.execute(CURRENT_REVISION_SQL).fetchall())
        except sqlite3.Error as exc:
            self.close()
            raise QuickReadUnavailable(str(exc)) from exc
        if revision != HEAD_REVISION:
            self.close()
            raise QuickReadUnavailable(f"schema at {revision}, not {HEAD_REVISION}")

    def close(self) -> None:
        self._conn.close()

    # ---- rows ------------------------------------------------------------------------------

    def _table(self, table: str) -> list[tuple[str, Callable[[Any], Any] | None]]:
        if table not in self._columns:
            skip = DEFERRED.get(table, frozenset())
            info = self._conn.execute(f"PRAGMA table_info({table})").fetchall()
            if not info:
                raise QuickReadUnavailable(f"no table {table}")
            self._columns[table] = [
                (name, _DECODERS.get(str(decl).upper())) for _cid, name, decl, *_ in info if name not in skip
            ]
        return self._columns[table]

    def _select(self, table: str, alias: str) -> str:
        return ", ".join(f'{alias}."{name}"' for name, _ in self._table(table))

    def _record(self, table: str, values: Sequence[Any]) -> Record:
        return Record(
            **{
                ATTRIBUTE_NAMES.get((table, name), name): decode(value) if decode else value
                for (name, decode), value in zip(self._table(table), values, strict=True)
            }
        )

    def _query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise QuickReadUnavailable(str(exc)) from exc

    def _rows(
        self, table: str, where: str, params: Sequence[Any], order: str = "", limit: int = 0
    ) -> list[Record]:
        sql = f"SELECT {self._select(table, 't')} FROM {table} AS t WHERE {where}"
        sql += f" ORDER BY {order}" if order else ""
        sql += f" LIMIT {int(limit)}" if limit else ""
        return [self._record(table, row) for row in self._query(sql, params)]

    def _one(self, table: str, agency_id: str, ident: str) -> Record | None:
        """Repository._one: the row with this id, when it is the agency's."""
        rows = self._rows(table, "t.id = ? AND t.agency_id = ?", (ident, agency_id))
        return rows[0] if rows else None

    # ---- agencies and credits ---------------------------------------------------------------

    def agency(self, agency_id: str) -> Record | None:
        """Repository.get_agency."""
        rows = self._rows("agencies", "t.id = ?", (agency_id,))
        return rows[0] if rows else None

    def profile(self, agency_id: str) -> Record | None:
        """Repository.get_profile."""
        rows = self._rows("agency_profiles", "t.agency_id = ?", (agency_id,))
        return rows[0] if rows else None

    def has_credit_account(self, customer_id: str) -> bool:
        return bool(self._query("SELECT 1 FROM credit_accounts WHERE customer_id = ?", (customer_id,)))

    def available_credits(self, customer_id: str) -> int:
        """LocalLedger.balance: balance minus open holds, never below zero (0 without an account)."""
        rows = self._query(
            "SELECT coalesce(balance - held, 0) FROM credit_accounts WHERE customer_id = ?", (customer_id,)
        )
        return max(int(rows[0][0] or 0) if rows else 0, 0)

    def ledger(self, customer_id: str) -> list[Record]:
        """LocalLedger.history: the customer's entries, oldest first."""
        return self._rows("credit_ledger_entries", "t.customer_id = ?", (customer_id,), "t.created_at, t.id")

    # ---- runs -------------------------------------------------------------------------------

    def flow(self, agency_id: str, flow_id: str) -> Record | None:
        """Repository.get_flow."""
        return self._one("lead_gen_flows", agency_id, flow_id)

    def flows(self, agency_id: str, limit: int = 50) -> list[Record]:
        """Repository.list_flows: newest first."""
        return self._rows(
            "lead_gen_flows", "t.agency_id = ?", (agency_id,), "t.created_at DESC, t.id DESC", limit
        )

    @staticmethod
    def progress(flow: Record) -> float:
        """Repository.flow_progress, on a flow already read."""
        return overall_progress(flow.status, flow.phases)

    def counts(self, agency_id: str, flow_id: str) -> dict[str, int]:
        """Repository.flow_counts: the run's totals over its own leads (membership rows) and audits."""
        row = self._query(
            """
            SELECT
              count(*),
              count(o.domain),
              coalesce(sum(CASE WHEN m.status = 'READY' THEN 1 ELSE 0 END), 0),
              coalesce(sum(CASE WHEN m.status = 'DATA_READY' THEN 1 ELSE 0 END), 0),
              coalesce(sum(CASE WHEN m.status = 'AUDITING' THEN 1 ELSE 0 END), 0),
              coalesce(sum(CASE WHEN m.dossier_reused = 1 THEN 1 ELSE 0 END), 0)
            FROM lead_gen_flow_leads AS m
            JOIN client_opportunities AS o ON o.id = m.opportunity_id
            WHERE m.lead_gen_flow_id = ? AND m.agency_id = ?
            """,
            (flow_id, agency_id),
        )[0]
        audits = self._query(
            """
            SELECT
              count(*),
              coalesce(sum(CASE WHEN status = 'completed' THEN 1 ELSE 0 END), 0),
              coalesce(sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END), 0)
            FROM audit_jobs WHERE lead_gen_flow_id = ? AND agency_id = ?
            """,
            (flow_id, agency_id),
        )[0]
        names = ("opportunities", "with_website", "ready", "data_ready", "auditing", "reused")
        totals = dict(zip(names, row, strict=True))
        totals.update(zip(("audits_queued", "audits_completed", "audits_failed"), audits, strict=True))
        return {key: int(value) for key, value in totals.items()}

    def run_leads(self, agency_id: str, flow_id: str) -> list[Record]:
        """Repository.list_flow_leads: the run's leads in its ranking, each a `LeadRecord`-shaped
        record: the opportunity, the runs that found it (newest first) and, as attributes, what
        this run made of it (its membership row: status, score, audit, dossier, reuse ...)."""
        opp_columns = self._table("client_opportunities")
        sql = (
            f"SELECT {self._select('client_opportunities', 'o')}, {self._select('lead_gen_flow_leads', 'm')} "
            "FROM client_opportunities AS o "
            "JOIN lead_gen_flow_leads AS m ON m.opportunity_id = o.id "
            "WHERE m.lead_gen_flow_id = ? AND m.agency_id = ? "
            "ORDER BY m.rank, m.opportunity_id"
        )
        rows = self._query(sql, (flow_id, agency_id))
        split = len(opp_columns)
        pairs = [
            (
                self._record("client_opportunities", row[:split]),
                self._record("lead_gen_flow_leads", row[split:]),
            )
            for row in rows
        ]
        runs = self.runs_of(agency_id, [opp.id for opp, _member in pairs])
        return [
            Record(**{**vars(member), "opportunity": opp, "runs": runs.get(opp.id, [])})
            for opp, member in pairs
        ]

    def runs_of(self, agency_id: str, opportunity_ids: Sequence[str]) -> dict[str, list[str]]:
        """Repository.runs_of: each lead's runs, newest first (by when the run was started)."""
        runs: dict[str, list[str]] = {}
        ids = list(dict.fromkeys(opportunity_ids))
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = self._query(
                "SELECT m.opportunity_id, m.lead_gen_flow_id FROM lead_gen_flow_leads AS m "
                "JOIN lead_gen_flows AS f ON f.id = m.lead_gen_flow_id "
                f"WHERE m.agency_id = ? AND m.opportunity_id IN ({marks}) "
                "ORDER BY m.opportunity_id, f.created_at DESC, f.id DESC",
                (agency_id, *chunk),
            )
            for opp_id, flow_id in rows:
                runs.setdefault(opp_id, []).append(flow_id)
        return runs

    def audit_jobs(self, agency_id: str, flow_id: str) -> list[Record]:
        """Repository.list_audit_jobs."""
        return self._rows(
            "audit_jobs",
            "t.agency_id = ? AND t.lead_gen_flow_id = ?",
            (agency_id, flow_id),
            "t.created_at, t.id",
        )

    def audit_job(self, agency_id: str, audit_job_id: str) -> Record | None:
        """Repository.get_audit_job."""
        return self._one("audit_jobs", agency_id, audit_job_id)

    def scraped_pages(self, agency_id: str, audit_job_id: str) -> list[Record]:
        """Repository.list_scraped_pages."""
        return self._rows(
            "audit_scraped_pages",
            "t.agency_id = ? AND t.audit_job_id = ?",
            (agency_id, audit_job_id),
            "t.scraped_at, t.url",
        )

    # ---- leads, dossiers, calls -------------------------------------------------------------

    def opportunity(self, agency_id: str, opportunity_id: str) -> Record | None:
        """Repository.get_opportunity."""
        return self._one("client_opportunities", agency_id, opportunity_id)

    def dossier(self, agency_id: str, dossier_id: str) -> Record | None:
        """Repository.get_dossier."""
        return self._one("audit_dossiers", agency_id, dossier_id)

    def dossier_for_opportunity(self, agency_id: str, opportunity_id: str) -> Record | None:
        """Repository.get_dossier_for_opportunity: the lead's latest dossier."""
        rows = self._rows(
            "audit_dossiers",
            "t.agency_id = ? AND t.opportunity_id = ?",
            (agency_id, opportunity_id),
            "t.created_at DESC, t.id DESC",
            1,
        )
        return rows[0] if rows else None

    def calls(self, agency_id: str, limit: int = 100) -> list[Record]:
        """Repository.list_calls: newest first."""
        return self._rows("calls", "t.agency_id = ?", (agency_id,), "t.created_at DESC, t.id DESC", limit)
