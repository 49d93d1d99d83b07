"""`leadgen chat` (the Chainlit web UI) and `leadgen user add` (password logins for it).

`leadgen chat` writes Chainlit's config (`.chainlit/config.toml`, gitignored) into the app root -
the project folder that holds `chainlit.md`, the welcome page - then replaces itself with
`chainlit run assistant/chainlit_app.py --headless`. With no provider keys and no
LEADGEN_SANDBOX_URL the app starts the sandbox in-process and says so in the chat.

Sign-in: set CHAINLIT_AUTH_SECRET (e.g. `openssl rand -hex 32`) for password login with users
made by `leadgen user add`; without it there is no login and everyone is the local user of the
default agency (keep it on localhost).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from assistant.cli.app import AgencyOption, ExitCode, JsonOption, app, emit_json, fail, out, resolve_agency

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


@app.command("chat")
def chat(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
) -> None:
    """Serve the web chat UI (Chainlit)."""
    if not 0 < port < 65536:
        fail(f"port must be 1-65535, got {port}", ExitCode.BAD_INPUT)
    write_chainlit_config(APP_ROOT)
    env = dict(os.environ, CHAINLIT_APP_ROOT=str(APP_ROOT))
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
    out.print(f"Atlas Lead Gen chat on http://{host}:{port}", highlight=False)
    os.chdir(APP_ROOT)
    os.execvpe(command[0], command, env)  # Chainlit takes over this process (signals included)


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Login name (letters, digits, . _ @ -).")],
    agency: AgencyOption = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin (required).")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Add a user who signs in to the web chat with a password and acts for AGENCY."""
    from assistant.cli.agency import agency_id_or_fail
    from assistant.identity import IdentityError, add_user, check_password, check_username
    from db import open_database
    from leadgen.settings import get_settings

    if not password_stdin:
        fail(
            "pass --password-stdin and the password on stdin (never on the command line)", ExitCode.BAD_INPUT
        )
    agency_id = agency_id_or_fail(agency or resolve_agency(None))
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        check_username(username)
        check_password(password)
    except IdentityError as exc:
        fail(str(exc), ExitCode.BAD_INPUT)

    async def work() -> None:
        database = await open_database(get_settings().resolved_database_url)
        try:
            await add_user(database, username, agency_id, password)
        finally:
            await database.close()

    try:
        asyncio.run(work())
    except IdentityError as exc:
        fail(str(exc), ExitCode.BAD_INPUT)
    if json_output:
        emit_json({"username": username.strip(), "agency_id": agency_id})
    else:
        out.print(f"user [bold]{username.strip()}[/] added to agency [bold]{agency_id}[/]", highlight=False)
