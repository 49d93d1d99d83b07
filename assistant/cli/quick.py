"""The quick read path of `leadgen`: read commands answered before Typer and the stack load.

    credits [history]   agency show   status RUN_ID   runs   leads RUN_ID [--csv]
    audits RUN_ID   dossier OPPORTUNITY_ID   pages AUDIT_JOB_ID   calls
    (each with [--agency A] [--json])

`answer(argv)` recognises these command lines, reads the SQLite file through db/sqlite_reads.py
and prints through the very renderers the full commands use (graphs/views.py, run_views.py,
tables.py, output.py), with the same messages and exit codes. It returns None, having printed
nothing, whenever it cannot answer exactly as the full command would; `leadgen` then runs the
full CLI. That covers any option or spelling it does not know (`--help`, `--agency=` twice ...),
settings it is not sure of (leadgen/quick_settings.py), PostgreSQL, a database that does not
exist yet or needs migrating, Autumn balances, the queue executor, and an agency seen for the
first time (the full commands create it, with its starting credits).

Nothing here may import the heavy packages; tests/cli_reads/test_import_weight.py checks it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.cli.output import ExitCode, emit_json, out, print_error
from db.sqlite_reads import QuickReadUnavailable, Record, SqliteReads, sqlite_file
from leadgen.quick_settings import QuickSettings, read_quick_settings

# command -> (positional arguments it takes, extra flags it knows besides --agency and --json)
COMMANDS: dict[tuple[str, ...], tuple[int, frozenset[str]]] = {
    ("credits",): (0, frozenset()),
    ("credits", "history"): (0, frozenset()),
    ("agency", "show"): (0, frozenset()),
    ("status",): (1, frozenset()),
    ("runs",): (0, frozenset()),
    ("leads",): (1, frozenset({"--csv"})),
    ("audits",): (1, frozenset()),
    ("dossier",): (1, frozenset()),
    ("pages",): (1, frozenset()),
    ("calls",): (0, frozenset()),
}


@dataclass
class Invocation:
    command: tuple[str, ...]
    arguments: list[str]
    agency: str | None  # --agency as given (None: not given)
    json_output: bool
    flags: frozenset[str]  # command-specific flags given (--csv)


class _Options:
    """Options of one command level, as Click would read them; `ok` turns False on anything
    this parser is not sure Click reads the same way."""

    def __init__(self) -> None:
        self.agency: str | None = None
        self.json_output = False
        self.flags: set[str] = set()
        self.positionals: list[str] = []
        self.ok = True

    def take(self, tokens: Sequence[str], known_flags: frozenset[str]) -> None:
        i = 0
        while i < len(tokens) and self.ok:
            token = tokens[i]
            if token == "--agency" or token.startswith("--agency="):
                if self.agency is not None:
                    self.ok = False
                elif token == "--agency":
                    if i + 1 >= len(tokens) or tokens[i + 1].startswith("-"):
                        self.ok = False
                    else:
                        self.agency = tokens[i + 1]
                        i += 1
                else:
                    self.agency = token.partition("=")[2]
            elif token == "--json" and not self.json_output:
                self.json_output = True
            elif token in known_flags and token not in self.flags:
                self.flags.add(token)
            elif token.startswith("-"):
                self.ok = False  # --help, -h, --, an unknown option, a repeated flag
            else:
                self.positionals.append(token)
            i += 1


def parse(argv: Sequence[str]) -> Invocation | None:
    """The read command `argv` names, or None when it is not one this path answers."""
    if not argv:
        return None
    head = argv[0]
    command: tuple[str, ...]
    if head == "agency":
        if len(argv) < 2 or argv[1] != "show":
            return None
        command, rest = ("agency", "show"), list(argv[2:])
    elif head == "credits":
        # `credits [--agency A] [--json] [history [--agency A] [--json]]`: the group's options
        # are handed down to `history` (assistant/cli/credits.py).
        group = _Options()
        split = next((i for i, token in enumerate(argv[1:], 1) if token == "history"), None)
        if split is None:
            command, rest = ("credits",), list(argv[1:])
        else:
            group.take(argv[1:split], frozenset())
            if not group.ok or group.positionals:
                return None
            sub = _Options()
            sub.take(argv[split + 1 :], frozenset())
            if not sub.ok or sub.positionals or (group.agency is not None and sub.agency is not None):
                return None
            agency = sub.agency if sub.agency is not None else group.agency
            return Invocation(
                ("credits", "history"), [], agency, group.json_output or sub.json_output, frozenset()
            )
    elif (head,) in COMMANDS:
        command, rest = (head,), list(argv[1:])
    else:
        return None
    arity, known_flags = COMMANDS[command]
    options = _Options()
    options.take(rest, known_flags)
    if not options.ok or len(options.positionals) != arity:
        return None
    return Invocation(
        command, options.positionals, options.agency, options.json_output, frozenset(options.flags)
    )


class _Failed(Exception):
    """An answer that is an error: its message (printed as the full CLI prints errors) and code."""

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.code = code


def _agency_id(value: str) -> str:
    """assistant.cli.agency.agency_id_or_fail's check, with the same message."""
    from assistant.cli.parsing import InvalidInput, parse_agency_id

    try:
        return parse_agency_id(value)
    except InvalidInput as exc:
        raise _Failed(str(exc), ExitCode.BAD_INPUT) from None


def _model(record: Record) -> Any:
    """A record stands in for its model in graphs/views.py: the views read attributes only."""
    return record


def _run_json(db: SqliteReads, agency_id: str, run_id: str) -> dict[str, Any]:
    """assistant.cli.live.load_snapshot's run: RunNotFound's message when it is not the agency's."""
    from graphs.views import flow_json

    flow = db.flow(agency_id, run_id)
    if flow is None:
        raise _Failed(f"run {run_id!r} not found", ExitCode.NOT_FOUND)
    return flow_json(_model(flow), counts=db.counts(agency_id, run_id), progress=db.progress(flow))


def _require_run(db: SqliteReads, agency_id: str, run_id: str) -> None:
    if db.flow(agency_id, run_id) is None:
        raise _Failed(f"run {run_id!r} not found", ExitCode.NOT_FOUND)


def _known_agency(db: SqliteReads, agency_id: str, settings: QuickSettings) -> Record:
    """The agency, when `open_agency` would find everything in place and write nothing: the
    agency, its profile and (local ledger) its credit account. Otherwise the full path runs,
    which creates what is missing."""
    agency = db.agency(agency_id)
    if agency is None or db.profile(agency_id) is None:
        raise QuickReadUnavailable(f"agency {agency_id} is new")
    if not settings.uses_autumn and not db.has_credit_account(agency.billing_customer_id):
        raise QuickReadUnavailable(f"agency {agency_id} has no credit account yet")
    return agency


# ---- the commands: each reads everything first, then prints (a fallback never follows output) --


def _credits(
    db: SqliteReads, call: Invocation, agency_id: str, settings: QuickSettings
) -> Callable[[], None]:
    from assistant.cli.tables import print_balance

    if settings.uses_autumn:
        raise QuickReadUnavailable("the balance is Autumn's")
    agency = _known_agency(db, agency_id, settings)
    customer = agency.billing_customer_id
    data = {"customer_id": customer, "balance": db.available_credits(customer)}
    return lambda: emit_json(data) if call.json_output else print_balance(agency_id, data)


def _history(
    db: SqliteReads, call: Invocation, agency_id: str, settings: QuickSettings
) -> Callable[[], None]:
    from assistant.cli.tables import print_history

    if settings.uses_autumn:
        raise QuickReadUnavailable("the history is Autumn's")
    agency = _known_agency(db, agency_id, settings)
    rows = [
        {
            "kind": e.kind,
            "feature_id": e.feature_id,
            "credits": e.credits,
            "idempotency_key": e.idempotency_key,
            "created_at": e.created_at,
            "balance_after": e.balance_after,
        }
        for e in db.ledger(agency.billing_customer_id)
    ]
    return lambda: emit_json(rows) if call.json_output else print_history(rows, agency_id)


def _agency_show(
    db: SqliteReads, call: Invocation, agency_id: str, settings: QuickSettings
) -> Callable[[], None]:
    from assistant.cli.tables import print_profile, profile_json

    agency = _known_agency(db, agency_id, settings)
    data = profile_json(agency, db.profile(agency_id))
    return lambda: emit_json(data) if call.json_output else print_profile(data)


def _status(db: SqliteReads, call: Invocation, agency_id: str, settings: QuickSettings) -> Callable[[], None]:
    from assistant.cli.run_views import status_view
    from graphs.run_input import normalise_run_id
    from graphs.run_snapshot import RunSnapshot

    run = _run_json(db, agency_id, normalise_run_id(call.arguments[0]))
    # status_view draws the run alone; the leads of a snapshot are for the run summary.
    return lambda: (
        emit_json(run) if call.json_output else out.print(status_view(RunSnapshot.from_json(run), agency_id))
    )


def _runs(db: SqliteReads, call: Invocation, agency_id: str, settings: QuickSettings) -> Callable[[], None]:
    from assistant.cli.tables import print_runs

    rows = [_run_json(db, agency_id, flow.id) for flow in db.flows(agency_id)]
    return lambda: emit_json(rows) if call.json_output else print_runs(rows, agency_id)


def _leads(db: SqliteReads, call: Invocation, agency_id: str, settings: QuickSettings) -> Callable[[], None]:
    from assistant.cli.run_views import leads_table
    from assistant.cli.tables import write_leads_csv
    from graphs.run_input import normalise_run_id
    from graphs.views import dossier_json, leads_json

    run_id = normalise_run_id(call.arguments[0])
    csv_output = "--csv" in call.flags
    if call.json_output and csv_output:
        raise _Failed("--json and --csv cannot be used together", ExitCode.BAD_INPUT)
    _require_run(db, agency_id, run_id)
    rows = leads_json([_model(lead) for lead in db.run_leads(agency_id, run_id)])
    if call.json_output:
        return lambda: emit_json(rows)
    if csv_output:
        # The CSV carries each lead's dossier too (graphs/lead_export.py), as the full path does.
        dossiers: dict[str, dict[str, Any]] = {}
        for lead in rows:
            ident = lead.get("dossier_id")
            if ident and ident not in dossiers and (found := db.dossier(agency_id, str(ident))) is not None:
                dossiers[str(ident)] = dossier_json(_model(found))
        return lambda: write_leads_csv(rows, dossiers)
    return lambda: out.print(leads_table(rows, title=f"Leads of run {run_id}", full=True))


def _audits(db: SqliteReads, call: Invocation, agency_id: str, settings: QuickSettings) -> Callable[[], None]:
    from assistant.cli.tables import print_audits
    from graphs.run_input import normalise_run_id
    from graphs.views import audit_json

    run_id = normalise_run_id(call.arguments[0])
    _require_run(db, agency_id, run_id)
    rows = [audit_json(_model(job)) for job in db.audit_jobs(agency_id, run_id)]
    names = {lead.opportunity.id: lead.opportunity.name for lead in db.run_leads(agency_id, run_id)}
    return lambda: emit_json(rows) if call.json_output else print_audits(rows, names, run_id)


def _dossier(
    db: SqliteReads, call: Invocation, agency_id: str, settings: QuickSettings
) -> Callable[[], None]:
    from assistant.cli.tables import print_dossier

    opportunity_id = call.arguments[0]
    opportunity = db.opportunity(agency_id, opportunity_id)
    if opportunity is None:
        raise _Failed(f"lead {opportunity_id!r} not found", ExitCode.NOT_FOUND)
    found = db.dossier_for_opportunity(agency_id, opportunity_id)
    if found is None:
        raise _Failed(
            f"lead {opportunity_id!r} ({opportunity.name}) has no dossier yet (status {opportunity.status})",
            ExitCode.NOT_FOUND,
        )
    data = _dossier_view(db, agency_id, _model(opportunity), _model(found))
    return lambda: emit_json(data) if call.json_output else print_dossier(data, opportunity.name)


def _dossier_view(db: SqliteReads, agency_id: str, opportunity: Any, dossier: Any) -> dict[str, Any]:
    """ReportService.dossier_view: the dossier with its lead's outreach drafts and its comparison
    with the other leads of the lead's newest run."""
    from graphs.lead_facts import lead_codes, lead_comparison, outreach_facts
    from graphs.outreach import outreach_json
    from graphs.views import dossier_json

    runs = db.runs_of(agency_id, [opportunity.id]).get(opportunity.id, [])
    members = [_model(m) for m in db.run_leads(agency_id, runs[0])] if runs else []
    dossiers: dict[str, Any] = {}
    for member in members:
        if member.dossier_id and (row := db.dossier(agency_id, member.dossier_id)) is not None:
            dossiers[member.dossier_id] = _model(row)
    comparison = lead_comparison(opportunity, dossier, runs[0] if runs else None, members, dossiers)
    facts = outreach_facts(opportunity, sorted(lead_codes(opportunity, dossier)))
    return dossier_json(dossier, outreach=outreach_json(dossier.outreach, facts), comparison=comparison)


def _pages(db: SqliteReads, call: Invocation, agency_id: str, settings: QuickSettings) -> Callable[[], None]:
    from assistant.cli.tables import print_pages
    from graphs.views import page_json

    audit_job_id = call.arguments[0]
    if db.audit_job(agency_id, audit_job_id) is None:
        raise _Failed(f"audit job {audit_job_id!r} not found", ExitCode.NOT_FOUND)
    rows = [page_json(_model(page)) for page in db.scraped_pages(agency_id, audit_job_id)]
    return lambda: emit_json(rows) if call.json_output else print_pages(rows, audit_job_id)


def _calls(db: SqliteReads, call: Invocation, agency_id: str, settings: QuickSettings) -> Callable[[], None]:
    from assistant.cli.tables import print_calls
    from graphs.views import call_json

    _known_agency(db, agency_id, settings)
    rows = db.calls(agency_id)
    if call.json_output:
        data = [call_json(_model(row)) for row in rows]
        return lambda: emit_json(data)
    return lambda: print_calls(rows, agency_id)


Handler = Callable[[SqliteReads, Invocation, str, QuickSettings], Callable[[], None]]
HANDLERS: dict[tuple[str, ...], Handler] = {
    ("credits",): _credits,
    ("credits", "history"): _history,
    ("agency", "show"): _agency_show,
    ("status",): _status,
    ("runs",): _runs,
    ("leads",): _leads,
    ("audits",): _audits,
    ("dossier",): _dossier,
    ("pages",): _pages,
    ("calls",): _calls,
}


def answer(argv: Sequence[str]) -> int | None:
    """Answer a read command: its exit code, or None (nothing printed) for the full CLI to run."""
    call = parse(argv)
    if call is None:
        return None
    try:
        # As agency_id_or_fail: an explicit --agency is checked before the settings are read.
        given = _agency_id(call.agency) if call.agency is not None else None
        settings = read_quick_settings()
        if settings is None or settings.executor != "inprocess":
            return None  # the full settings decide (and the queue executor refuses SQLite)
        agency_id = given if given is not None else _agency_id(settings.agency or "default")
        path = sqlite_file(settings.database_url)
        if path is None:
            return None
        db = SqliteReads(path, busy_seconds=settings.busy_seconds)
        try:
            show = HANDLERS[call.command](db, call, agency_id, settings)
        finally:
            db.close()
    except QuickReadUnavailable:
        return None
    except _Failed as failed:
        print_error(str(failed))
        return int(failed.code)
    show()
    return int(ExitCode.OK)
