"""What the read commands print in human mode (the tables and texts besides `--json`).

One function per command, over the JSON shapes (graphs/views.py) or rows with the models'
attribute names, so the full CLI and the quick read path (assistant/cli/quick.py) print the very
same text. Only `rich` and the light `graphs.views` are imported here.
"""

from __future__ import annotations

import sys
from typing import Any

from rich.markup import escape
from rich.table import Table

from assistant.cli.output import out
from graphs.branding import branding_json
from graphs.comparison import comparison_sentences
from graphs.views import billed_text


def print_runs(rows: list[dict[str, Any]], agency_id: str) -> None:
    table = Table(title=f"Runs of {agency_id}", title_justify="left")
    for column in ("created (UTC)", "id", "status", "campaign", "leads", "researched", "progress"):
        table.add_column(column, no_wrap=column in ("created (UTC)", "id"))
    for row in rows:
        campaign = row["campaign"]
        table.add_row(
            (row["created_at"] or "")[:19].replace("T", " "),
            row["id"],
            row["status"],
            f"{campaign['target_vertical']} in {campaign['target_geography']}",
            f"{row['counts']['opportunities']}/{row['num_leads_requested']}",
            str(row["counts"]["ready"]),
            f"{row['progress']:.0%}",
        )
    if not rows:
        table.caption = "no runs yet: start one with `leadgen run`"
    out.print(table)


def print_audits(rows: list[dict[str, Any]], names: dict[str, str], run_id: str) -> None:
    """`names`: lead id -> lead name, for the leads the run found."""
    table = Table(title=f"Audits of run {run_id}", title_justify="left")
    for column in ("id", "lead", "url", "status", "steps", "dossier", "error"):
        table.add_column(column, no_wrap=column == "id", overflow="fold")
    for row in rows:
        table.add_row(
            row["id"],
            names.get(row["opportunity_id"], row["opportunity_id"]),
            row["target_url"],
            row["status"],
            " ".join(f"{p['name']}:{p['status']}" for p in row["phases"]),
            row["dossier_id"] or "—",
            row["error"] or "",
        )
    if not rows:
        table.caption = "no audits (no lead had a website of its own, or the run has not got there)"
    out.print(table)


def print_dossier(data: dict[str, Any], name: str) -> None:
    out.print(f"[bold]Dossier: {name}[/]", highlight=False)
    out.print(data["summary"] or "[dim]no summary[/]", highlight=False)
    out.print("\n[bold]Findings[/]")
    for finding in data["findings"] or [
        {"code": "—", "detail": "none", "evidence": "", "evidence_url": None}
    ]:
        where = f" ({finding['evidence_url']})" if finding.get("evidence_url") else ""
        out.print(
            f"  • [{finding['code']}] {finding['detail']}\n      evidence: {finding['evidence']}{where}",
            highlight=False,
            markup=False,
        )
    for title, items in (("Gaps", data["gaps"]), ("Talking points", data["talking_points"])):
        out.print(f"\n[bold]{title}[/]")
        for item in items or ["—"]:
            out.print(f"  • {item}", highlight=False, markup=False)
    if data["fit_reason"]:
        out.print("\n[bold]Why they fit[/]")
        out.print(f"  {data['fit_reason']}", highlight=False, markup=False)
    out.print("\n[bold]Sources[/]")
    for source in data["sources"] or [{"url": None, "title": None}]:
        if not source["url"]:
            out.print("  —")
            continue
        # A terminal hyperlink where supported; the URL itself is printed too, for copying.
        title = (source["title"] or source["url"]).replace("[", r"\[")
        out.print(f"  • [link={source['url']}]{title}[/link] {source['url']}", highlight=False)
    print_prospect_kit(data, name)


def print_pages(rows: list[dict[str, Any]], audit_job_id: str) -> None:
    table = Table(title=f"Pages of audit {audit_job_id}", title_justify="left")
    for column in ("scraped (UTC)", "title", "url", "id"):
        table.add_column(column, overflow="fold", no_wrap=column == "scraped (UTC)")
    for row in rows:
        table.add_row(
            (row["scraped_at"] or "")[:19].replace("T", " "), row["title"] or "", row["url"], row["id"]
        )
    if not rows:
        table.caption = "no pages scraped"
    out.print(table)


def print_balance(agency_id: str, data: dict[str, Any]) -> None:
    out.print(f"[bold]{agency_id}[/]: {data['balance']} credits available", highlight=False)


def print_history(rows: list[dict[str, Any]], agency_id: str) -> None:
    table = Table(title=f"Credit history of {agency_id}", title_justify="left")
    table.add_column("when (UTC)", no_wrap=True)
    table.add_column("kind")
    table.add_column("feature")
    table.add_column("credits", justify="right")
    table.add_column("balance", justify="right")  # after the entry
    table.add_column("key", overflow="fold")  # keys are how support finds a charge: never cut them
    for row in rows:
        # Charges take credits away: show them negative so the column adds up to the balance.
        signed = -row["credits"] if row["kind"] == "charge" else row["credits"]
        table.add_row(
            row["created_at"].strftime("%Y-%m-%d %H:%M:%S"),
            row["kind"],
            row["feature_id"] or "",
            f"{signed:+d}",
            "" if row["balance_after"] is None else str(row["balance_after"]),
            row["idempotency_key"],
        )
    if not rows:
        table.caption = "no entries yet"
    out.print(table)


def profile_json(agency: Any, profile: Any | None) -> dict[str, Any]:
    """`agency show --json`, from the agency and its profile (models, or rows with their names)."""
    return {
        "id": agency.id,
        "name": agency.name,
        "billing_customer_id": agency.billing_customer_id,
        "target_vertical": profile.target_vertical if profile else None,
        "target_geography": profile.target_geography if profile else None,
        "criteria": list(profile.criteria) if profile else [],
        "services_offered": list(profile.services_offered) if profile else [],
        "branding": branding_json(profile.branding if profile else None, agency.name),
        "updated_at": profile.updated_at if profile else None,
    }


def print_profile(data: dict[str, Any]) -> None:
    table = Table(title=f"Agency {data['id']}", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("name", data["name"])
    table.add_row("billing customer", data["billing_customer_id"])
    table.add_row("vertical", data["target_vertical"] or "[dim]not set[/]")
    table.add_row("geography", data["target_geography"] or "[dim]not set[/]")
    table.add_row("criteria", ", ".join(data["criteria"]) or "[dim]none[/]")
    table.add_row("services", ", ".join(data["services_offered"]) or "[dim]none[/]")
    for field, value in data["branding"].items():
        table.add_row(f"report {field.replace('_', ' ')}", escape(str(value)) if value else "[dim]not set[/]")
    out.print(table)


def print_calls(rows: list[Any], agency_id: str) -> None:
    """`rows`: `Call`s, or rows with their attribute names, newest first."""
    if not rows:
        out.print(f"no calls yet for {agency_id}", highlight=False)
        return
    table = Table(title=f"Calls of {agency_id}", title_justify="left")
    for column in ("id", "lead", "to", "status", "seconds", "billing"):
        table.add_column(column)
    for row in rows:
        seconds = f"{row.billing_seconds:.0f}" if row.billing_seconds is not None else "-"
        table.add_row(row.id, row.opportunity_id, row.to_number, row.status, seconds, billed_text(row))
    out.print(table)


def write_leads_csv(leads: list[dict[str, Any]], dossiers: dict[str, dict[str, Any]]) -> None:
    """The one CSV of every face (graphs/lead_export.py) on stdout."""
    from graphs.lead_export import leads_csv

    sys.stdout.write(leads_csv(leads, dossiers))
    sys.stdout.flush()


def print_prospect_kit(data: dict[str, Any], name: str | None) -> None:
    """A dossier's outreach drafts and competitor comparison, for the terminal."""
    outreach = data.get("outreach") or {}
    if outreach:
        out.print("\n[bold]Outreach email[/]")
        out.print(f"  Subject: {outreach['email_subject']}", highlight=False, markup=False)
        for line in outreach["email_body"].splitlines():
            out.print(f"  {line}", highlight=False, markup=False)
        out.print("\n[bold]Call opener[/]")
        out.print(f"  {outreach['call_opener']}", highlight=False, markup=False)
    comparison = data.get("comparison") or {}
    if comparison:
        out.print(f"\n[bold]Against {comparison['peers']} competitors in the same run[/]")
        for label, key in (("rating", "rating_percentile"), ("review count", "review_count_percentile")):
            value = comparison.get(key)
            text = f"beats {value}% of them" if value is not None else "not known"
            out.print(f"  • Google {label}: {text}", highlight=False)
        for sentence in comparison_sentences(comparison, name or "this business", None, None):
            out.print(f"  • {sentence}", highlight=False, markup=False)
