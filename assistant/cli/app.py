"""The Typer app every `leadgen` command hangs on, and what all commands share:
exit codes, stdout/stderr discipline and JSON output (DESIGN.md, "CLI")."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from enum import IntEnum
from typing import Annotated, Any, Literal, NoReturn

import typer
from rich.console import Console

app = typer.Typer(
    name="leadgen",
    help="Atlas Lead Gen: find and research local-business leads.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Progress and messages go to stderr so that `--json` leaves stdout to the JSON alone.
err = Console(stderr=True)
out = Console()


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    PAUSED = 3  # paused for credits / insufficient credits
    NOT_FOUND = 4


def fail(message: str, code: ExitCode) -> NoReturn:
    # Never wrapped: messages carry commands and paths to copy (the terminal wraps long lines).
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(int(code))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=_default, indent=2) + "\n")
    sys.stdout.flush()


AgencyOption = Annotated[
    str | None,
    typer.Option("--agency", help="Agency id (default: $LEADGEN_AGENCY, else 'default')."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout and nothing else.")]


def refuse_open_doors(face: Literal["chat", "serve"], host: str) -> None:
    """Exit 2 (production) or warn (elsewhere) when `face` would listen beyond this machine
    without the secrets that authenticate its requests (assistant/exposure.py)."""
    from assistant.exposure import ExposureRefused, check_exposure
    from leadgen.settings import get_settings

    try:
        check = check_exposure(face, host, get_settings())
    except ExposureRefused as exc:
        fail(f"{exc} (refused: LEADGEN_ENV=production)", ExitCode.BAD_INPUT)
    if check.open_door:
        err.print(f"[bold yellow]warning:[/] {check.message()}", highlight=False)


def resolve_agency(agency: str | None) -> str:
    from leadgen.settings import get_settings

    return agency or get_settings().leadgen_agency or "default"


@app.callback()
def _root() -> None:
    """Atlas Lead Gen: find and research local-business leads for agencies."""
