"""`leadgen report LEAD_ID [--share | --revoke | --pdf FILE | --html FILE] [--json]`: a lead's
report for the prospect (graphs/reports.py; drawn by assistant/report_page.py).

Without an action it prints the report's grades and comparison (the report's data with
`--json`). `--share` prints a new link that `leadgen serve` answers until it expires or is
revoked; `--revoke` ends every open link to the lead. No action charges a credit. Exit 4 when the
lead is not the agency's (another agency's lead reads as not found), 2 for bad input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from assistant.cli.agency import agency_id_or_fail, run_command
from assistant.cli.app import AgencyOption, ExitCode, JsonOption, app, emit_json, err, fail, out


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}", ExitCode.FAILED)


@app.command("report")
def report(
    lead_id: Annotated[str, typer.Argument(metavar="LEAD_ID", help="The lead's id.", show_default=False)],
    share: Annotated[bool, typer.Option("--share", help="Print a new share link to the report.")] = False,
    revoke: Annotated[bool, typer.Option("--revoke", help="End every share link to this report.")] = False,
    pdf: Annotated[
        Path | None, typer.Option("--pdf", metavar="FILE", help="Write the report as PDF.")
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", metavar="FILE", help="Write the report as HTML.")
    ] = None,
    agency: AgencyOption = None,
    json_output: JsonOption = False,
) -> None:
    """A lead's report for the prospect: grades, findings with evidence, competitors; share it or save it."""
    agency_id = agency_id_or_fail(agency)
    actions = [name for name, given in (("--share", share), ("--revoke", revoke)) if given]
    if len(actions) > 1:
        fail("--share and --revoke cannot be used together", ExitCode.BAD_INPUT)
    for path in (pdf, html):
        if path is not None and (path.is_dir() or not path.parent.is_dir()):
            fail(f"cannot write {path}: not a file in an existing folder", ExitCode.BAD_INPUT)
    # The stack loads when the command runs: registering commands stays cheap (issue 19).
    from assistant.report_page import PdfRenderFailed, render_html, render_pdf
    from db import open_database
    from graphs.reports import ReportNotFound, ReportService
    from leadgen.settings import get_settings

    settings = get_settings()

    async def work() -> dict[str, Any]:
        # No agency is created here (unlike commands that spend): an unknown one has no leads.
        database = await open_database(settings.resolved_database_url)
        try:
            reports = ReportService(database, settings)
            data = await reports.report(agency_id, lead_id)
            result: dict[str, Any] = {"report": data}
            if share:
                link = await reports.share(agency_id, lead_id, created_by="cli")
                result["share"] = {"url": link.url, "expires_at": link.expires_at}
            if revoke:
                result["revoked"] = await reports.revoke(agency_id, lead_id)
            return result
        finally:
            await database.close()

    try:
        result = run_command(work)
    except ReportNotFound:
        fail(f"lead {lead_id!r} not found", ExitCode.NOT_FOUND)
    data = result["report"]
    if pdf is not None:
        try:
            _write(pdf, render_pdf(data))
        except PdfRenderFailed as exc:
            fail(str(exc), ExitCode.FAILED)
        err.print(f"PDF written to {pdf}", highlight=False)
    if html is not None:
        _write(html, render_html(data).encode())
        err.print(f"HTML written to {html}", highlight=False)
    if json_output:
        emit_json({key: value for key, value in result.items()})
        return
    if "share" in result:
        out.print(result["share"]["url"], highlight=False, soft_wrap=True)
        expires = result["share"]["expires_at"].isoformat().replace("+00:00", "Z")
        err.print(
            f"Share link to the report on {data['lead']['name']}; answers until {expires} "
            f"(`leadgen report {lead_id} --revoke` ends it). Served by `leadgen serve`.",
            highlight=False,
        )
        return
    if "revoked" in result:
        out.print(
            f"{result['revoked']} share link(s) to the report on {data['lead']['name']} revoked.",
            highlight=False,
        )
        return
    if pdf is not None or html is not None:
        return
    out.print(f"[bold]Report: {data['lead']['name']}[/]", highlight=False)
    for category in data["categories"]:
        out.print(
            f"  {category['grade']:>2}  {category['name']}: {category['failed']} of {category['checked']} checks need work",
            highlight=False,
        )
        for finding in category["findings"]:
            out.print(f"        • {finding['plain_title']}", highlight=False, markup=False)
    for sentence in data["comparison_sentences"]:
        out.print(f"  • {sentence}", highlight=False, markup=False)
