"""The Typer app every `leadgen` command hangs on, and what all commands share:
exit codes, stdout/stderr discipline and JSON output (README, "Using it from the command line")."""

from __future__ import annotations

from typing import Annotated, Literal, NoReturn

import typer

from assistant.cli.output import ExitCode, emit_json, err, out, print_error

app = typer.Typer(
    name="leadgen",
    help="Atlas Lead Gen: find and research local-business leads.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

__all__ = ["ExitCode", "app", "emit_json", "err", "fail", "out"]


def fail(message: str, code: ExitCode) -> NoReturn:
    print_error(message)
    raise typer.Exit(int(code))


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
