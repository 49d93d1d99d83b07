"""`leadgen chat` (the Chainlit web UI) and `leadgen user add|role|link-slack|unlink-slack|list`
(the people who sign in to it, their roles and their Slack identities).

`leadgen chat` writes Chainlit's config (`.chainlit/config.toml`, gitignored) into the app root -
the project folder that holds `chainlit.md`, the welcome page - and the login page's message for
a throttled sign-in, then replaces itself with `chainlit run assistant/chainlit_app.py
--headless`. With no provider keys and no LEADGEN_SANDBOX_URL the app starts the sandbox
in-process and says so in the chat.

Sign-in: set CHAINLIT_AUTH_SECRET (e.g. `openssl rand -hex 32`) for password login with users
made by `leadgen user add` (admin or member, graphs/accounts.py); without it there is no login,
everyone is the local user of the default agency, and the chat may listen on loopback only
(another --host is refused in production, warned about elsewhere: assistant/exposure.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from assistant.cli.app import (
    AgencyOption,
    ExitCode,
    JsonOption,
    app,
    emit_json,
    fail,
    out,
    refuse_open_doors,
    resolve_agency,
)

if TYPE_CHECKING:
    from db import Database
    from db.models import AgencyUser

APP_ROOT = Path(__file__).resolve().parents[2]
APP_FILE = APP_ROOT / "assistant" / "chainlit_app.py"
CONFIG_MARKER = "# written by `leadgen chat`; edits are overwritten"

user_app = typer.Typer(help="People who sign in to the web chat (password login).", no_args_is_help=True)
app.add_typer(user_app, name="user")


def chainlit_config() -> str:
    """Chainlit's default config for this version, with our name and the features we do not use
    turned off (file upload, message editing: the agent keeps its own history)."""
    from chainlit.config import DEFAULT_CONFIG_STR

    text = DEFAULT_CONFIG_STR
    for old, new in (
        ('name = "Assistant"', 'name = "Atlas Lead Gen"'),
        ("edit_message = true", "edit_message = false"),
        (
            "    enabled = true\n    # Define accepted file types",
            "    enabled = false\n    # Define accepted file types",
        ),
        ("confirm_new_chat = true", "confirm_new_chat = false"),
        ('# description = ""', 'description = "Find and research local-business leads"'),
    ):
        text = text.replace(old, new, 1)
    return f"{CONFIG_MARKER}\n{text}"


def write_chainlit_config(root: Path) -> Path:
    """Write `.chainlit/config.toml` under `root` unless someone else wrote one there."""
    path = root / ".chainlit" / "config.toml"
    if path.exists() and not path.read_text().startswith(CONFIG_MARKER):
        return path  # the operator's own config wins
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(chainlit_config())
    return path


# Chainlit's login page shows `auth.login.errors.<HTTP status text>`; a throttled sign-in answers
# 429 "Too Many Requests", which Chainlit's own translations do not name (it would read "Unable
# to sign in").
THROTTLED_TEXT = "Too many failed sign-in attempts. Wait a few minutes, then try again."


def write_login_translation(root: Path) -> Path:
    """Add the throttled sign-in's message to `.chainlit/translations/en-US.json` under `root`
    (a copy of Chainlit's own, as Chainlit would make it), keeping everything already there."""
    from chainlit.config import TRANSLATIONS_DIR

    path = root / ".chainlit" / "translations" / "en-US.json"
    source = path if path.exists() else Path(TRANSLATIONS_DIR) / "en-US.json"
    data = json.loads(source.read_text(encoding="utf-8"))
    errors = data.setdefault("auth", {}).setdefault("login", {}).setdefault("errors", {})
    wanted = {"Too Many Requests": THROTTLED_TEXT, "too many requests": THROTTLED_TEXT}
    if path.exists() and all(errors.get(k) == v for k, v in wanted.items()):
        return path
    errors.update(wanted)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Whole or not at all: another `leadgen chat` starting at the same time may be reading it.
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    scratch.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(scratch, path)
    return path


@app.command("chat")
def chat(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
) -> None:
    """Serve the web chat UI (Chainlit)."""
    if not 0 < port < 65536:
        fail(f"port must be 1-65535, got {port}", ExitCode.BAD_INPUT)
    refuse_open_doors("chat", host)
    from assistant.chat_server import PortInUse, refuse_busy_port

    try:
        refuse_busy_port(host, port)
    except PortInUse as exc:
        fail(str(exc), ExitCode.FAILED)
    apply_log_level()
    out.print("• Migrating the database…", highlight=False)
    _migrate()
    write_chainlit_config(APP_ROOT)
    write_login_translation(APP_ROOT)
    env = dict(os.environ, CHAINLIT_APP_ROOT=str(APP_ROOT), LEADGEN_CHAT_PORT_CHECKED=f"{host}:{port}")
    command = [
        sys.executable,
        "-m",
        "chainlit",
        "run",
        str(APP_FILE),
        "--headless",
        "--host",
        host,
        "--port",
        str(port),
    ]
    out.print("• Starting the chat server…", highlight=False)
    os.chdir(APP_ROOT)
    os.execvpe(command[0], command, env)  # Chainlit takes over this process (signals included)


LIBRARY_LOGGERS = (
    "httpx",
    "httpcore",
    "alembic",
    "uvicorn",
    "chainlit",
    "langgraph",
    "aiosqlite",
    "sqlalchemy",
)


def log_level() -> int:
    """LEADGEN_LOG_LEVEL (debug, info, warning, error), default warning: libraries stay quiet."""
    import logging

    name = os.environ.get("LEADGEN_LOG_LEVEL", "warning").strip().upper() or "WARNING"
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else logging.WARNING


def apply_log_level() -> None:
    import logging

    level = log_level()
    logging.getLogger().setLevel(level)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(level)


def _migrate() -> None:
    from db import migrate
    from leadgen.settings import get_settings

    url = get_settings().resolved_database_url
    try:
        asyncio.run(migrate.upgrade(url, "head"))
    except OSError as exc:
        fail(f"cannot reach the database: {exc}", ExitCode.FAILED)


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Login name (letters, digits, . _ @ -).")],
    agency: AgencyOption = None,
    role: Annotated[
        str,
        typer.Option(
            "--role",
            help="admin (changes the profile, connects Slack, upgrades where allowed) or member "
            "(runs campaigns and calls).",
        ),
    ] = "member",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin (required).")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Add a user who signs in to the web chat with a password and acts for AGENCY as ROLE."""
    from assistant.cli.agency import agency_id_or_fail
    from graphs.accounts import BadAccountInput, check_role
    from graphs.identity import IdentityError, add_user, check_password, check_username

    if not password_stdin:
        fail(
            "pass --password-stdin and the password on stdin (never on the command line)", ExitCode.BAD_INPUT
        )
    agency_id = agency_id_or_fail(agency or resolve_agency(None))
    try:
        checked_role = check_role(role)
    except BadAccountInput as exc:
        fail(f"--role: {exc}", ExitCode.BAD_INPUT)
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        check_username(username)
        check_password(password)
    except IdentityError as exc:
        fail(str(exc), ExitCode.BAD_INPUT)

    async def work() -> None:
        database = await _open()
        try:
            await add_user(database, username, agency_id, password, role=checked_role)
        finally:
            await database.close()

    try:
        asyncio.run(work())
    except IdentityError as exc:
        fail(str(exc), ExitCode.BAD_INPUT)
    if json_output:
        emit_json({"username": username.strip(), "agency_id": agency_id, "role": checked_role})
    else:
        out.print(
            f"user [bold]{username.strip()}[/] added to agency [bold]{agency_id}[/] as {checked_role}",
            highlight=False,
        )


async def _open() -> Database:
    from db import open_database
    from leadgen.settings import get_settings

    return await open_database(get_settings().resolved_database_url)


def _user_json(user: AgencyUser) -> dict[str, Any]:
    return {
        "username": user.username,
        "agency_id": user.agency_id,
        "role": user.role,
        "slack_user": user.slack_user,
    }


def _account_command(change: Callable[[Database], Awaitable[AgencyUser]], json_output: bool) -> None:
    """Run an account change; bad input (unknown user, bad role or id) exits 2, writing nothing."""
    from assistant.cli.agency import run_command
    from graphs.accounts import BadAccountInput

    async def work() -> dict[str, Any]:
        database = await _open()
        try:
            return _user_json(await change(database))
        except BadAccountInput as exc:
            fail(str(exc), ExitCode.BAD_INPUT)
        finally:
            await database.close()

    data = run_command(work)
    if json_output:
        emit_json(data)
    else:
        slack = f", Slack {data['slack_user']}" if data["slack_user"] else ""
        out.print(
            f"user [bold]{data['username']}[/] of agency [bold]{data['agency_id']}[/]: {data['role']}{slack}",
            highlight=False,
        )


@user_app.command("role")
def user_role(
    username: Annotated[str, typer.Argument(help="The user's login name.")],
    role: Annotated[str, typer.Argument(help="admin or member.")],
    json_output: JsonOption = False,
) -> None:
    """Make USERNAME an admin or a member of their agency."""
    from graphs.accounts import set_role

    _account_command(lambda db: set_role(db, username, role), json_output)


@user_app.command("link-slack")
def user_link_slack(
    username: Annotated[str, typer.Argument(help="The user's login name.")],
    team_id: Annotated[str, typer.Argument(help="The Slack workspace's team id, e.g. T0123ABCD.")],
    slack_user_id: Annotated[str, typer.Argument(help="The person's Slack user id, e.g. U0123ABCD.")],
    json_output: JsonOption = False,
) -> None:
    """Link USERNAME to their Slack identity: in a workspace of their agency, their Slack clicks
    carry their role (unlinked Slack users are members)."""
    from graphs.accounts import link_slack_user

    _account_command(lambda db: link_slack_user(db, username, team_id, slack_user_id), json_output)


@user_app.command("unlink-slack")
def user_unlink_slack(
    username: Annotated[str, typer.Argument(help="The user's login name.")],
    json_output: JsonOption = False,
) -> None:
    """Remove USERNAME's Slack link (their Slack identity is a member again)."""
    from graphs.accounts import link_slack_user

    _account_command(lambda db: link_slack_user(db, username, "", None), json_output)


@user_app.command("list")
def user_list(agency: AgencyOption = None, json_output: JsonOption = False) -> None:
    """The agency's users, their roles and Slack links."""
    from assistant.cli.agency import agency_id_or_fail, run_command
    from graphs.accounts import list_users

    agency_id = agency_id_or_fail(agency)

    async def work() -> list[dict[str, Any]]:
        database = await _open()
        try:
            return [_user_json(u) for u in await list_users(database, agency_id)]
        finally:
            await database.close()

    rows = run_command(work)
    if json_output:
        emit_json(rows)
        return
    if not rows:
        out.print(f"Agency {agency_id} has no users.", highlight=False)
        return
    table = Table("user", "role", "Slack")
    for row in rows:
        table.add_row(row["username"], row["role"], row["slack_user"] or "")
    out.print(table)
