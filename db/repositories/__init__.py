"""Tenant-scoped data access: the only way the pipeline, CLI and UIs read and write our tables.

One module per kind of record, each a mixin over `base.RepositoryBase` (the session and the
scoped lookups): agencies and profiles, flows, the flow lease, opportunities (leads and run
membership), audits, scraped pages, dossiers, report links, calls, the webhook inbox, Slack
installs. `Repository` composes them all; callers use it and the names exported here.

`Repository(session)` wraps an `AsyncSession`; the caller owns the transaction (commit or roll
back). `Database.transaction()` / `Database.reader()` in `db/__init__.py` hand out one ready-made.

Agency scope. Every method takes `agency_id` first and filters on it, so another agency's row
reads exactly like a missing one:

* `get_*` return None;
* `list_*` return only the agency's rows (a foreign flow id lists nothing);
* everything else that names a row (updates, `set_*`, `create_*` under a parent, leases,
  `flow_progress`, `flow_counts`) raises `NotFound` and writes nothing.

Four methods are unscoped on purpose, each documented at its definition: `sweep_running_flows`
(start-up recovery runs for every agency), `find_call_by_provider_id` and the webhook inbox
(providers call us back knowing only their own ids), and `find_report_link` (a prospect holds
only a share link's token).

Concurrency. Unique constraints are the backstop; inserts that can race use
`INSERT ... ON CONFLICT DO NOTHING/UPDATE` (SQLite and PostgreSQL), the lease is one conditional
UPDATE, and read-modify-write of JSON columns (phases, call metadata) locks the row with
`SELECT ... FOR UPDATE` on PostgreSQL. On SQLite run mutations in `db.engine.write_session`
(`BEGIN IMMEDIATE`): a deferred transaction that read before another writer committed cannot
upgrade to a write lock and fails with "database is locked".

Times inside JSON columns (phase `started_at`, `last_event.timestamp`) are ISO 8601 UTC strings
ending in `Z`, as the JSON output shows them.
"""

from __future__ import annotations

from db.repositories.audits import AuditRecords
from db.repositories.base import NotFound, RepositoryBase, iso
from db.repositories.calls import CallRecords
from db.repositories.flows import FlowRecords
from db.repositories.leases import LeaseRecords, new_lease_owner, parse_lease_owner
from db.repositories.opportunities import LeadInput, LeadRecord, OpportunityRecords, UpsertCounts
from db.repositories.pages import PageInput, PageRecords
from db.repositories.report_links import ReportLinkRecords
from db.repositories.slack_installs import SlackInstallRecords
from db.repositories.webhooks import WEBHOOK_STATUSES, WebhookRecords


# A mixin that uses another kind's methods derives from it (flows and Slack installs from
# agencies, opportunities from dossiers); such a mixin is listed before its base here.
class Repository(
    FlowRecords,
    SlackInstallRecords,
    LeaseRecords,
    OpportunityRecords,
    AuditRecords,
    PageRecords,
    ReportLinkRecords,
    CallRecords,
    WebhookRecords,
):
    """Every kind of record over one session; the caller owns the transaction."""


__all__ = [
    "WEBHOOK_STATUSES",
    "LeadInput",
    "LeadRecord",
    "NotFound",
    "PageInput",
    "Repository",
    "RepositoryBase",
    "UpsertCounts",
    "iso",
    "new_lease_owner",
    "parse_lease_owner",
]
