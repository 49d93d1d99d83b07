"""The one CSV of a run's leads, for every face (`leadgen leads --csv`, the chat's download).

Columns: the lead JSON's keys in its order (graphs/views.py; the outreach drafts as
`outreach.email_subject`, `.email_body`, `.call_opener`; contacts as `kind:value`), then what the dossier adds:
its summary, its findings ("CODE: title <evidence url>") and its sources. RFC 4180 with CRLF
line ends; lists of words joined with ';', lists of objects as JSON, null as an empty field.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from graphs.views import dossier_json, leads_json

if TYPE_CHECKING:
    from graphs.service import RunService

DOSSIER_COLUMNS = ("dossier_summary", "dossier_findings", "dossier_sources")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        if all(isinstance(item, str) for item in value):
            return ";".join(value)
        if all(isinstance(item, Mapping) and "code" in item for item in value):
            return ";".join(str(item["code"]) for item in value)  # a lead's findings, by code
        if all(isinstance(item, Mapping) and "kind" in item for item in value):
            return ";".join(f"{item['kind']}:{item['value']}" for item in value)  # contacts
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _finding(finding: Mapping[str, Any]) -> str:
    text = f"{finding.get('code') or 'NOTE'}: {finding.get('title') or finding.get('detail') or ''}".strip()
    return f"{text} <{finding['evidence_url']}>" if finding.get("evidence_url") else text


def dossier_cells(dossier: Mapping[str, Any] | None) -> list[str]:
    if dossier is None:
        return ["", "", ""]
    findings = dossier.get("findings") or []
    if findings:
        found = " | ".join(_finding(f) for f in findings if isinstance(f, Mapping))
    else:  # dossiers written before findings existed name their gaps only
        found = " | ".join(str(gap) for gap in dossier.get("gaps") or [])
    sources = ";".join(str(s.get("url")) for s in dossier.get("sources") or [] if isinstance(s, Mapping))
    return [str(dossier.get("summary") or ""), found, sources]


def flat_lead(lead: Mapping[str, Any]) -> dict[str, Any]:
    """The lead's JSON with an object column spread into `key.field` columns (the outreach
    drafts become three columns a mail merge can use)."""
    flat: dict[str, Any] = {}
    for key, value in lead.items():
        if isinstance(value, Mapping):
            flat.update({f"{key}.{field}": inner for field, inner in value.items()})
        else:
            flat[key] = value
    return flat


def leads_csv(leads: Sequence[Mapping[str, Any]], dossiers: Mapping[str, Mapping[str, Any]]) -> str:
    """`dossiers` maps a dossier id to its JSON (leads without one get empty dossier columns)."""
    if not leads:
        return ""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    columns = list(flat_lead(leads[0]))
    writer.writerow([*columns, *DOSSIER_COLUMNS])
    for lead in leads:
        dossier = dossiers.get(str(lead.get("dossier_id"))) if lead.get("dossier_id") else None
        flat = flat_lead(lead)
        writer.writerow([*(_cell(flat.get(c)) for c in columns), *dossier_cells(dossier)])
    return buffer.getvalue()


async def run_export(
    runs: RunService, agency_id: str, run_id: str
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The run's leads (ranked, as JSON) and their dossiers by id, within the agency."""
    leads = leads_json(await runs.run_leads(agency_id, run_id))
    return leads, await dossiers_of(runs, agency_id, leads)


async def dossiers_of(
    runs: RunService, agency_id: str, leads: Sequence[Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    dossiers: dict[str, dict[str, Any]] = {}
    for lead in leads:
        ident = lead.get("dossier_id")
        if ident and ident not in dossiers:
            found = await runs.dossier(agency_id, str(ident))
            if found is not None:
                dossiers[str(ident)] = dossier_json(found)
    return dossiers
