"""`leadgen slack install|installs`: connect Slack workspaces to agencies (an admin's job)."""

from __future__ import annotations

import re
from typing import Annotated

import typer
from rich.table import Table

from assistant.cli.agency import agency_id_or_fail, run_command
from assistant.cli.app import AgencyOption, ExitCode, JsonOption, app, emit_json, fail, out

slack = typer.Typer(help="Connect Slack workspaces to agencies.", no_args_is_help=True)
app.add_typer(slack, name="slack")

# Slack team ids: a T (or E for Enterprise Grid) and upper-case letters and digits.
TEAM_ID = re.compile(r"^[TE][A-Z0-9]{2,30}$")


@slack.command("install")
def install(
    team_id: Annotated[str, typer.Argument(help="The workspace's team id, e.g. T0123ABCD.")],
    agency: AgencyOption = None,
    bot_token: Annotated[
        str | None,
        typer.Option("--bot-token", help="The workspace's own bot token (xoxb-...), if it has one."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Connect workspace TEAM_ID to the agency (or move it there): its users act for that agency."""
    agency_id = agency_id_or_fail(agency)
    if not TEAM_ID.match(team_id):
        fail(
            f"{team_id!r} is not a Slack team id: expected T or E then capitals and digits, e.g. T0123ABCD",
            ExitCode.BAD_INPUT,
        )
    if bot_token is not None and not bot_token.startswith("xoxb-"):
        fail("--bot-token must be a bot token starting with xoxb-", ExitCode.BAD_INPUT)

    async def work() -> dict[str, str]:
        from db import open_database
        from leadgen.settings import get_settings

        database = await open_database(get_settings().resolved_database_url)
        try:
            async with database.transaction() as repo:
                row = await repo.install_slack_team(agency_id, team_id, bot_token=bot_token)
                return {"team_id": row.team_id, "agency_id": row.agency_id, "source": row.source}
        finally:
            await database.close()

    result = run_command(work)
    if json_output:
        emit_json(result)
    else:
        out.print(f"Slack workspace {result['team_id']} now acts for agency {result['agency_id']}.")


@slack.command("installs")
def installs(agency: AgencyOption = None, json_output: JsonOption = False) -> None:
    """The Slack workspaces connected to the agency."""
    agency_id = agency_id_or_fail(agency)

    async def work() -> list[dict[str, str | None]]:
        from db import open_database
        from graphs.views import iso
        from leadgen.settings import get_settings

        database = await open_database(get_settings().resolved_database_url)
        try:
            async with database.reader() as repo:
                rows = await repo.list_slack_installs(agency_id)
            return [
                {"team_id": r.team_id, "source": r.source, "own_bot_token": "yes" if r.bot_token else "no",
                 "installed_at": iso(r.installed_at)}
                for r in rows
            ]  # fmt: skip
        finally:
            await database.close()

    rows = run_command(work)
    if json_output:
        emit_json(rows)
        return
    table = Table("team", "connected by", "own bot token", "since")
    for row in rows:
        table.add_row(row["team_id"], row["source"], row["own_bot_token"], row["installed_at"])
    out.print(table if rows else f"No Slack workspace is connected to agency {agency_id}.")
