"""The run commands of `leadgen`: start and resume a lead-gen run, and read what it found.

    leadgen run [--vertical V] [--geography G] [-n N] [--refresh] [--agency A] [--json]
    leadgen resume RUN_ID        leadgen status RUN_ID        leadgen runs
    leadgen leads RUN_ID [--json | --csv]        leadgen audits RUN_ID
    leadgen dossier OPPORTUNITY_ID               leadgen pages AUDIT_JOB_ID

`run` and `resume` block until the run completes, pauses for credits or fails, drawing a live
view on stderr when it is a terminal (assistant/cli/live.py). Exit codes (README): 0 done,
1 failed or already running, 2 bad input (nothing is written), 3 paused for credits, 4 not found
(including another agency's ids). JSON goes through graphs/views.py only, so `--json` here is
the same shape the chat and Slack faces use.
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from assistant.cli import preload
from assistant.cli.agency import agency_id_or_fail, run_command
from assistant.cli.app import AgencyOption, ExitCode, JsonOption, app, emit_json, err, fail, out
from assistant.cli.live import (
    RunMonitor,
    RunSnapshot,
    StartingView,
    agency_flag,
    leads_table,
    load_snapshot,
    status_view,
    summary_view,
)
from assistant.cli.parsing import InvalidInput, parse_count, parse_geography, parse_vertical
from assistant.cli.preload import Preload
from assistant.cli.tables import print_audits, print_dossier, print_pages, print_runs, write_leads_csv
from graphs.run_input import MAX_LEADS, MIN_LEADS, normalise_run_id
from graphs.views import audit_json, leads_json, page_json

if TYPE_CHECKING:
    # The run service (and with it LangGraph, the model clients, SQLAlchemy) loads when a
    # command needs it: `run` and `resume` draw their first screen while it loads.
    from graphs.service import Outcome, RunService
    from leadgen.settings import ProviderName

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


def _with_service(work: Callable[[RunService], Awaitable[T]], then: Callable[[], str] | None = None) -> T:
    """Open the run service, do `work`, and turn the service's errors into exit codes."""
    from graphs.service import BadRunInput, ProviderKeyRejected, RunNotFound, RunService
    from leadgen.settings import MissingProviderKey

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
    from leadgen.settings import get_settings

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
    starting: str,
) -> None:
    """Shared by `run` and `resume`: get the flow id, execute while showing progress, report.
    On a terminal, `starting` shows at once, while the pipeline loads and the flow is read or
    created; the live view of the run replaces it."""
    live = not json_output and err.is_terminal
    flow_id_seen: list[str] = []  # for the Ctrl-C message, known once the flow exists
    preloads: list[Preload] = []
    if preload.whole_process:
        preload.hold_collector()
    try:
        with StartingView(err, starting, live=live) as first_screen:
            outcome, snapshot = _execute_loaded(
                agency_id, live, start, go, first_screen, flow_id_seen, preloads
            )
    finally:
        # An early exit (not found, already running) leaves no import half done behind it.
        for started in preloads:
            started.wait()
        preload.release_collector()
    if json_output:
        emit_json(snapshot.run)
    else:
        if not outcome.ran and outcome.status == "completed":
            err.print("this run had already completed; nothing to do", highlight=False)
        out.print(summary_view(snapshot, agency_id))
    raise typer.Exit(int(OUTCOME_EXIT.get(outcome.status, ExitCode.FAILED)))


def _execute_loaded(
    agency_id: str,
    live: bool,
    start: Callable[[RunService], Awaitable[str]],
    go: Callable[[RunService, str, RunMonitor], Awaitable[Outcome]],
    first_screen: StartingView,
    flow_id_seen: list[str],
    preloads: list[Preload],
) -> tuple[Outcome, RunSnapshot]:
    from graphs.service import AlreadyRunning  # the pipeline loads here, under the first screen

    async def work(runs: RunService) -> tuple[Outcome, RunSnapshot]:
        # The graph is built: the SDKs its audits need load on a thread while the flow is
        # created and sourced (a queued run executes in a worker, which loads its own).
        if runs.settings.leadgen_executor != "queue":
            preloads.append(preload.preload_sdks())
        else:
            preload.release_collector()
        flow_id = await start(runs)
        flow_id_seen.append(flow_id)
        first_screen.stop()
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
            return _with_service(work, then=lambda: _carry_on(flow_id_seen, agency_id))
    except AlreadyRunning:
        first_screen.stop()
        fail(
            f"run {flow_id_seen[0]} is already running (watch it with "
            f"`leadgen status {flow_id_seen[0]}{agency_flag(agency_id)}`)",
            ExitCode.FAILED,
        )
    except KeyboardInterrupt:
        first_screen.stop()
        err.print(
            _interrupted(flow_id_seen[0] if flow_id_seen else None, agency_id),
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(130) from None


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
        count = parse_count(num_leads, "-n")
        vertical = parse_vertical(vertical) if vertical is not None else None
        geography = parse_geography(geography) if geography is not None else None
    except InvalidInput as exc:
        fail(str(exc), ExitCode.BAD_INPUT)
    from leadgen.settings import MissingProviderKey, get_settings

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

    campaign = f": {vertical or 'profile vertical'} in {geography or 'profile geography'}"
    _execute(agency_id, json_output, start, go, f"Starting a run of {count} leads{campaign}…")


@app.command("resume")
def resume(run_id: RunIdArgument, agency: AgencyOption = None, json_output: JsonOption = False) -> None:
    """Continue a paused or interrupted run (re-checks credits first; pauses again if still short)."""
    agency_id = agency_id_or_fail(agency)

    async def start(runs: RunService) -> str:
        return (await runs.get(agency_id, run_id)).id

    async def go(runs: RunService, flow_id: str, monitor: RunMonitor) -> Outcome:
        # The run service decides (the same entry the chat and Slack ask); this face waits.
        decision = await runs.resume_if_funded(agency_id, flow_id, on_event=monitor.on_event, wait=True)
        if decision.outcome is None:  # another holder (a face, a process) is resuming or running it
            from graphs.service import AlreadyRunning

            raise AlreadyRunning(f"run {flow_id} is already {decision.status}")
        return decision.outcome

    _execute(agency_id, json_output, start, go, f"Resuming run {run_id}…")


# ---- queries --------------------------------------------------------------------------------------


@app.command("status")
def status(run_id: RunIdArgument, agency: AgencyOption = None, json_output: JsonOption = False) -> None:
    """A run's status, phases, counts and, when paused, what it needs to continue."""
    agency_id = agency_id_or_fail(agency)
    snapshot = _with_service(lambda runs: runs.snapshot(agency_id, run_id))
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
        return [(await runs.snapshot(agency_id, flow.id)).run for flow in flows]

    rows = _with_service(work)
    if json_output:
        emit_json(rows)
        return
    print_runs(rows, agency_id)


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

    async def work(runs: RunService) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        if csv_output:
            from graphs.lead_export import run_export

            return await run_export(runs, agency_id, run_id)
        return leads_json(await runs.run_leads(agency_id, run_id)), {}

    rows, dossiers = _with_service(work)
    if json_output:
        emit_json(rows)
    elif csv_output:
        write_leads_csv(rows, dossiers)
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
    print_audits(rows, names, run_id)


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
        from graphs.reports import ReportService

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
    print_dossier(data, name)


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
    print_pages(rows, audit_job_id)
