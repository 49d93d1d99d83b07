"""The run commands of `leadgen`: start and resume a lead-gen run, and read what it found.

    leadgen run [--vertical V] [--geography G] [-n N] [--refresh] [--agency A] [--json]
    leadgen resume RUN_ID        leadgen status RUN_ID        leadgen runs
    leadgen leads RUN_ID [--json | --csv]        leadgen audits RUN_ID
    leadgen dossier OPPORTUNITY_ID               leadgen pages AUDIT_JOB_ID

`run` and `resume` block until the run completes, pauses for credits or fails, drawing a live
view on stderr when it is a terminal (assistant/cli/live.py). Exit codes (DESIGN.md): 0 done,
1 failed or already running, 2 bad input (nothing is written), 3 paused for credits, 4 not found
(including another agency's ids). JSON goes through graphs/views.py only, so `--json` here is
the same shape the chat and Slack faces use.
"""

from __future__ import annotations

import csv
import sys
import warnings
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.table import Table

from assistant.cli.agency import agency_id_or_fail, run_command
from assistant.cli.app import AgencyOption, ExitCode, JsonOption, app, emit_json, err, fail, out
from assistant.cli.live import (
    RunMonitor,
    RunSnapshot,
    agency_flag,
    leads_table,
    load_snapshot,
    status_view,
    summary_view,
)
from assistant.cli.parsing import InvalidInput, parse_geography, parse_vertical
from graphs.comparison import comparison_sentences
from graphs.leads import MAX_LEADS, MIN_LEADS
from graphs.reports import ReportService
from graphs.run_input import normalise_run_id
from graphs.service import (
    AlreadyRunning,
    BadRunInput,
    Outcome,
    ProviderKeyRejected,
    RunNotFound,
    RunService,
)
from graphs.views import audit_json, leads_json, page_json
from leadgen.settings import MissingProviderKey, ProviderName, get_settings

T = TypeVar("T")

# What a run's paid steps reach; checked before anything is written so a missing key is a clear
# message and not a failed run.
RUN_PROVIDERS: tuple[ProviderName, ...] = ("places", "firecrawl", "openai")

# Lets `-n -3` reach our parser (and its clear message) instead of being read as an option.
_NUMBER_OPTION = {"ignore_unknown_options": True}

OUTCOME_EXIT = {
    "completed": ExitCode.OK,
    "paused_for_upgrade": ExitCode.PAUSED,
    "error": ExitCode.FAILED,
    "cancelled": ExitCode.FAILED,
}

# A LangGraph Server thread id (dashed UUID) names the run that thread started.
RunIdArgument = Annotated[
    str,
    typer.Argument(
        metavar="RUN_ID",
        help="The run's id (or the id of the LangGraph thread that started it).",
        show_default=False,
        callback=normalise_run_id,
    ),
]
VerticalOption = Annotated[
    str | None,
    typer.Option("--vertical", help="Target vertical, e.g. 'dentists' (default: the agency profile's)."),
]
GeographyOption = Annotated[
    str | None,
    typer.Option("--geography", help="Target geography, e.g. 'Austin, TX' (default: the profile's)."),
]
# Taken as text so that `-n abc` and `-n 0` get the same clear message and exit code as the rest.
CountOption = Annotated[
    str, typer.Option("-n", "--num-leads", metavar="N", help=f"Leads to find, {MIN_LEADS}-{MAX_LEADS}.")
]


def parse_count(value: str) -> int:
    """`-n`: a whole number of leads from MIN_LEADS to MAX_LEADS, ASCII digits only."""
    text = value.strip()
    expected = f"a whole number from {MIN_LEADS} to {MAX_LEADS}"
    if not text.isascii() or not text.isdigit():
        raise InvalidInput("-n", f"{value[:40]!r} is not {expected}")
    if len(text.lstrip("0")) > 3 or not MIN_LEADS <= int(text) <= MAX_LEADS:
        raise InvalidInput("-n", f"{value[:40]!r} is out of range; expected {expected}")
    return int(text)


def _with_service(work: Callable[[RunService], Awaitable[T]], then: Callable[[], str] | None = None) -> T:
    """Open the run service, do `work`, and turn the service's errors into exit codes."""

    async def body() -> T:
        async with RunService.open() as runs:
            return await work(runs)

    try:
        return run_command(body, then=then)
    except ProviderKeyRejected as exc:  # a setting to fix, not bad input: nothing was written
        fail(str(exc), ExitCode.FAILED)
    except BadRunInput as exc:
        fail(str(exc), ExitCode.BAD_INPUT)
    except RunNotFound as exc:
        fail(str(exc), ExitCode.NOT_FOUND)
    except MissingProviderKey as exc:
        fail(str(exc), ExitCode.FAILED)


def _not_found(message: str) -> NoReturn:
    fail(message, ExitCode.NOT_FOUND)


# ---- run / resume -------------------------------------------------------------------------------


def _interrupted(flow_id: str | None, agency_id: str) -> str:
    """What Ctrl-C left behind, and the command that carries on from there."""
    if flow_id is None:
        return f"interrupted before the run started (`leadgen runs{agency_flag(agency_id)}` lists runs)"
    flag = agency_flag(agency_id)
    if get_settings().leadgen_executor == "queue":
        # This process only waited: the run is a queue job, and a worker carries it on.
        return (
            f"stopped waiting; run {flow_id} stays queued for `leadgen worker` processes, "
            f"which carry it on (follow it with `leadgen status {flow_id}{flag}`)"
        )
    # The lease is released on the way out; the checkpoint keeps every finished step.
    return f"interrupted; continue with `leadgen resume {flow_id}{flag}`"


def _carry_on(flow_id_seen: list[str], agency_id: str) -> str:
    """After a lock error: the run (if it exists) keeps every finished step."""
    if not flow_id_seen:
        return "nothing was started"
    return (
        f"`leadgen resume {flow_id_seen[0]}{agency_flag(agency_id)}` carries on from the last finished step"
    )


def _execute(
    agency_id: str,
    json_output: bool,
    start: Callable[[RunService], Awaitable[str]],
    go: Callable[[RunService, str, RunMonitor], Awaitable[Outcome]],
) -> None:
    """Shared by `run` and `resume`: get the flow id, execute while showing progress, report."""
    live = not json_output and err.is_terminal
    flow_id_seen: list[str] = []  # for the Ctrl-C message, known once the flow exists

    async def work(runs: RunService) -> tuple[Outcome, RunSnapshot]:
        flow_id = await start(runs)
        flow_id_seen.append(flow_id)
        if not live:
            err.print(f"run {flow_id}: working…", highlight=False)
        async with RunMonitor(runs, agency_id, flow_id, err, live=live) as monitor:
            outcome = await go(runs, flow_id, monitor)
        return outcome, await load_snapshot(runs, agency_id, flow_id)

    try:
        with warnings.catch_warnings():
            # Ctrl-C cancels LangGraph's task set mid-step; its unstarted retries then warn that
            # they were "never awaited", which is noise to the person who pressed Ctrl-C.
            warnings.filterwarnings(
                "ignore", "coroutine .* was never awaited", RuntimeWarning, r"langgraph\."
            )
            outcome, snapshot = _with_service(work, then=lambda: _carry_on(flow_id_seen, agency_id))
    except AlreadyRunning:
        fail(
            f"run {flow_id_seen[0]} is already running (watch it with "
            f"`leadgen status {flow_id_seen[0]}{agency_flag(agency_id)}`)",
            ExitCode.FAILED,
        )
    except KeyboardInterrupt:
        err.print(
            _interrupted(flow_id_seen[0] if flow_id_seen else None, agency_id),
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(130) from None

    if json_output:
        emit_json(snapshot.run)
    else:
        if not outcome.ran and outcome.status == "completed":
            err.print("this run had already completed; nothing to do", highlight=False)
        out.print(summary_view(snapshot, agency_id))
    raise typer.Exit(int(OUTCOME_EXIT.get(outcome.status, ExitCode.FAILED)))


@app.command("run", context_settings=_NUMBER_OPTION)
def run(
    vertical: VerticalOption = None,
    geography: GeographyOption = None,
    num_leads: CountOption = "10",
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh",
            help="Research every lead again, even those with a dossier younger than "
            "LEADGEN_DOSSIER_MAX_AGE_DAYS (charged as usual).",
        ),
    ] = False,
    agency: AgencyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Find, score, audit and research leads; blocks until the run completes, pauses or fails."""
    agency_id = agency_id_or_fail(agency)
    try:
        count = parse_count(num_leads)
        vertical = parse_vertical(vertical) if vertical is not None else None
        geography = parse_geography(geography) if geography is not None else None
    except InvalidInput as exc:
        fail(str(exc), ExitCode.BAD_INPUT)
    settings = get_settings()
    try:
        for provider in RUN_PROVIDERS:
            settings.endpoint(provider)
    except MissingProviderKey as exc:
        fail(str(exc), ExitCode.FAILED)

    async def start(runs: RunService) -> str:
        flow = await runs.start(
            agency_id, num_leads=count, vertical=vertical, geography=geography, refresh=refresh
        )
        return flow.id

    async def go(runs: RunService, flow_id: str, monitor: RunMonitor) -> Outcome:
        return await runs.execute(agency_id, flow_id, on_event=monitor.on_event)

    _execute(agency_id, json_output, start, go)


@app.command("resume")
def resume(run_id: RunIdArgument, agency: AgencyOption = None, json_output: JsonOption = False) -> None:
    """Continue a paused or interrupted run (re-checks credits first; pauses again if still short)."""
    agency_id = agency_id_or_fail(agency)

    async def start(runs: RunService) -> str:
        return (await runs.get(agency_id, run_id)).id

    async def go(runs: RunService, flow_id: str, monitor: RunMonitor) -> Outcome:
        return await runs.resume(agency_id, flow_id, on_event=monitor.on_event)

    _execute(agency_id, json_output, start, go)


# ---- queries --------------------------------------------------------------------------------------


@app.command("status")
def status(run_id: RunIdArgument, agency: AgencyOption = None, json_output: JsonOption = False) -> None:
    """A run's status, phases, counts and, when paused, what it needs to continue."""
    agency_id = agency_id_or_fail(agency)
    snapshot = _with_service(lambda runs: load_snapshot(runs, agency_id, run_id))
    if json_output:
        emit_json(snapshot.run)
    else:
        out.print(status_view(snapshot, agency_id))


@app.command("runs")
def list_runs(agency: AgencyOption = None, json_output: JsonOption = False) -> None:
    """The agency's runs, newest first."""
    agency_id = agency_id_or_fail(agency)

    async def work(runs: RunService) -> list[dict[str, Any]]:
        flows = await runs.list_runs(agency_id)
        return [(await load_snapshot(runs, agency_id, flow.id)).run for flow in flows]

    rows = _with_service(work)
    if json_output:
        emit_json(rows)
        return
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


def csv_cell(value: Any) -> Any:
    """One CSV field: lists joined with ';' (findings by their codes, contacts as `kind:value`),
    empty for null."""
    if isinstance(value, list):
        return ";".join(_list_item(v) for v in value)
    return "" if value is None else value


def _list_item(value: Any) -> str:
    if isinstance(value, dict) and "code" in value:
        return str(value["code"])
    if isinstance(value, dict) and "kind" in value:
        return f"{value['kind']}:{value['value']}"
    return str(value)


def flat_lead(lead: dict[str, Any]) -> dict[str, Any]:
    """The lead's JSON with an object column spread into `key.field` columns (the outreach
    drafts become three columns a mail merge can use)."""
    flat: dict[str, Any] = {}
    for key, value in lead.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{field}": inner for field, inner in value.items()})
        else:
            flat[key] = value
    return flat


def write_leads_csv(leads: list[dict[str, Any]]) -> None:
    """RFC 4180 CSV on stdout: the lead JSON's columns (see `csv_cell`, `flat_lead`)."""
    if not leads:
        return
    writer = csv.writer(sys.stdout, lineterminator="\r\n")
    rows = [flat_lead(lead) for lead in leads]
    columns = list(rows[0])
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row.get(column)) for column in columns])
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


@app.command("leads")
def leads(
    run_id: RunIdArgument,
    agency: AgencyOption = None,
    json_output: JsonOption = False,
    csv_output: Annotated[bool, typer.Option("--csv", help="Print CSV (RFC 4180) on stdout.")] = False,
) -> None:
    """Every lead the run found (also those later runs found again), ranked: best first."""
    agency_id = agency_id_or_fail(agency)
    if json_output and csv_output:
        fail("--json and --csv cannot be used together", ExitCode.BAD_INPUT)

    async def work(runs: RunService) -> list[dict[str, Any]]:
        return leads_json(await runs.run_leads(agency_id, run_id))

    rows = _with_service(work)
    if json_output:
        emit_json(rows)
    elif csv_output:
        write_leads_csv(rows)
    else:
        out.print(leads_table(rows, title=f"Leads of run {run_id}", full=True))


@app.command("audits")
def audits(run_id: RunIdArgument, agency: AgencyOption = None, json_output: JsonOption = False) -> None:
    """A run's website audits: status, steps, dossier."""
    agency_id = agency_id_or_fail(agency)

    async def work(runs: RunService) -> tuple[list[dict[str, Any]], dict[str, str]]:
        jobs = await runs.audit_jobs(agency_id, run_id)
        names = {o.id: o.name for o in await runs.opportunities(agency_id, run_id)}
        return [audit_json(job) for job in jobs], names

    rows, names = _with_service(work)
    if json_output:
        emit_json(rows)
        return
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


@app.command("dossier")
def dossier(
    opportunity_id: Annotated[
        str, typer.Argument(metavar="OPPORTUNITY_ID", help="The lead's id.", show_default=False)
    ],
    agency: AgencyOption = None,
    json_output: JsonOption = False,
) -> None:
    """A lead's research dossier: summary, gaps, talking points and sources."""
    agency_id = agency_id_or_fail(agency)

    async def work(runs: RunService) -> tuple[dict[str, Any] | None, str | None, str | None]:
        opportunity = await runs.opportunity(agency_id, opportunity_id)
        if opportunity is None:
            return None, None, None
        found = await runs.dossier_for_opportunity(agency_id, opportunity_id)
        view = await ReportService(runs.db, runs.settings).dossier_view(agency_id, found) if found else None
        return view, opportunity.name, opportunity.status

    data, name, lead_status = _with_service(work)
    if name is None:
        _not_found(f"lead {opportunity_id!r} not found")
    if data is None:
        _not_found(f"lead {opportunity_id!r} ({name}) has no dossier yet (status {lead_status})")
    if json_output:
        emit_json(data)
        return
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
    print_prospect_kit(data, name)
    out.print("\n[bold]Sources[/]")
    for source in data["sources"] or [{"url": None, "title": None}]:
        if not source["url"]:
            out.print("  —")
            continue
        # A terminal hyperlink where supported; the URL itself is printed too, for copying.
        title = (source["title"] or source["url"]).replace("[", r"\[")
        out.print(f"  • [link={source['url']}]{title}[/link] {source['url']}", highlight=False)


@app.command("pages")
def pages(
    audit_job_id: Annotated[
        str, typer.Argument(metavar="AUDIT_JOB_ID", help="The audit job's id.", show_default=False)
    ],
    agency: AgencyOption = None,
    json_output: JsonOption = False,
) -> None:
    """The pages an audit scraped."""
    agency_id = agency_id_or_fail(agency)

    async def work(runs: RunService) -> list[dict[str, Any]]:
        return [page_json(page) for page in await runs.scraped_pages(agency_id, audit_job_id)]

    rows = _with_service(work)
    if json_output:
        emit_json(rows)
        return
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
