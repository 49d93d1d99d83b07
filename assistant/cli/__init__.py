"""The `leadgen` command line. Each module below registers its commands on `app`.

`main` (the console script) first offers the command line to the quick read path
(assistant/cli/quick.py), which answers read commands without loading Typer and the stack; every
other command, and any read it cannot answer exactly, runs the full Typer app. `app` itself is
loaded on first use, so importing this package stays cheap.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typer import Typer

    app: Typer


def load_app() -> Typer:
    """The Typer app with every command registered."""
    # Command modules register themselves on import; keep one line per module.
    from assistant.cli import (  # noqa: F401
        agency,
        calls,
        chat,
        credits,
        database,
        runs,
        sandbox,
        slack,
        worker,
    )
    from assistant.cli.app import app

    return app


def __getattr__(name: str) -> Any:
    if name == "app":
        return load_app()
    raise AttributeError(f"module 'assistant.cli' has no attribute {name!r}")


def full_main() -> None:
    """The full CLI, with no quick path (tests compare the two)."""
    load_app()()


def main() -> None:
    from assistant.cli.quick import answer

    code = answer(sys.argv[1:])
    if code is not None:
        raise SystemExit(code)
    full_main()


__all__ = ["app", "full_main", "load_app", "main"]
