"""`leadgen db ...`: database maintenance.

`leadgen db upgrade` migrates the database named by DATABASE_URL (default: the SQLite file in
`.leadgen/`) to the newest schema. Other commands do this on first use anyway (`open_database`);
this one is for operators who migrate before rolling out, and for `--revision` by hand.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from assistant.cli.app import ExitCode, app, err, fail

db_app = typer.Typer(help="Database maintenance (schema migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade(
    revision: Annotated[str, typer.Option("--revision", help="Target revision.")] = "head",
) -> None:
    """Migrate the database to the newest schema (or to --revision)."""
    from alembic.util.exc import CommandError

    from db import migrate
    from db.engine import display_url
    from leadgen.settings import get_settings

    url = get_settings().resolved_database_url
    shown = display_url(url)

    async def run() -> None:
        before = await migrate.current(url)
        await migrate.upgrade(url, revision)
        after = await migrate.current(url)
        err.print(f"database {shown}: {before or 'empty'} -> {after}", highlight=False)

    try:
        asyncio.run(run())
    except CommandError as exc:
        fail(f"cannot migrate {shown}: {exc}", ExitCode.BAD_INPUT)
    except OSError as exc:
        fail(f"cannot reach the database {shown}: {exc}", ExitCode.FAILED)
