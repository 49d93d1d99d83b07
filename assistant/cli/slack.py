"""`leadgen slack install|installs`: connect Slack workspaces to agencies (an admin's job)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from assistant.cli.agency import agency_id_or_fail, run_command
from assistant.cli.app import AgencyOption, ExitCode, JsonOption, app, emit_json, fail, out

slack = typer.Typer(help="Connect Slack workspaces to agencies.", no_args_is_help=True)
app.add_typer(slack, name="slack")


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
    from graphs.accounts import SLACK_TEAM_ID  # the service's rule; loaded only by this command

    if not SLACK_TEAM_ID.match(team_id):
        fail(
            f"{team_id!r} is not a Slack team id: expected T or E then capitals and digits, e.g. T0123ABCD",
            ExitCode.BAD_INPUT,
        )
    if bot_token is not None and not bot_token.startswith("xoxb-"):
        fail("--bot-token must be a bot token starting with xoxb-", ExitCode.BAD_INPUT)

    async def work() -> dict[str, str]:
        from graphs.account_service import AccountService
        from leadgen.settings import get_settings

        async with AccountService.open(get_settings()) as accounts:
            row = await accounts.install_slack(agency_id, team_id, bot_token=bot_token)
            return {"team_id": row.team_id, "agency_id": row.agency_id, "source": row.source}

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
        from graphs.account_service import AccountService
        from graphs.views import iso
        from leadgen.settings import get_settings

        async with AccountService.open(get_settings()) as accounts:
            rows = await accounts.slack_installs(agency_id)
        return [
            {"team_id": r.team_id, "source": r.source, "own_bot_token": "yes" if r.bot_token else "no",
             "installed_at": iso(r.installed_at)}
            for r in rows
        ]  # fmt: skip

    rows = run_command(work)
    if json_output:
        emit_json(rows)
        return
    table = Table("team", "connected by", "own bot token", "since")
    for row in rows:
        table.add_row(row["team_id"], row["source"], row["own_bot_token"], row["installed_at"])
    out.print(table if rows else f"No Slack workspace is connected to agency {agency_id}.")
