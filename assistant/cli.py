"""The `leadgen` command line."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="leadgen",
    help="Atlas Lead Gen: find and research local-business leads.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Atlas Lead Gen: find and research local-business leads."""


def main() -> None:
    app()
