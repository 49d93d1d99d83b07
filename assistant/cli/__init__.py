"""The `leadgen` command line. Each module below registers its commands on `app`.

`main` (the console script) first offers the command line to the quick read path
(assistant/cli/quick.py), which answers read commands without loading Typer and the stack; every
other command, and any read it cannot answer exactly, runs the full Typer app. `app` itself is
loaded on first use, so importing this package stays cheap.
"""

from __future__ import annotations

import os
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typer import Typer

    app: Typer  # see _Package below


def load_app() -> Typer:
    """The Typer app with every command registered."""
    # Command modules register themselves on import; keep one line per module.
    from assistant.cli import (  # noqa: F401
        agency,
        calls,
        chat,
        credits,
        database,
        reports,
        runs,
        sandbox,
        slack,
        worker,
    )
    from assistant.cli.app import app

    return app


class _Package(types.ModuleType):
    """This package, whose `app` is the Typer app (loaded on first use). Python binds each
    imported submodule to a name on its package, so `import assistant.cli.app` would otherwise
    turn `assistant.cli.app` into the submodule and `from assistant.cli import app` with it."""

    @property
    def app(self) -> Typer:
        override = self.__dict__.get("_app")
        return override if override is not None else load_app()

    @app.setter
    def app(self, value: Any) -> None:
        if not isinstance(value, types.ModuleType):  # the submodule stays in sys.modules
            self.__dict__["_app"] = value


sys.modules[__name__].__class__ = _Package


def full_main() -> None:
    """The full CLI, with no quick path (tests compare the two)."""
    from pydantic import ValidationError

    try:
        load_app()()
    except ValidationError as exc:
        if exc.title != "Settings":
            raise
        # A bad environment variable or .env line: say which and what is allowed, not a traceback.
        from assistant.cli.output import ExitCode, print_error
        from leadgen.settings import settings_problems

        print_error(f"bad setting: {settings_problems(exc)}")
        raise SystemExit(ExitCode.BAD_INPUT) from None


def main() -> None:
    from assistant.cli.quick import answer

    code = answer(sys.argv[1:])
    if code is not None:
        raise SystemExit(code)
    if os.environ.get("LEADGEN_RUNNER"):
        from assistant.cli.runner import hand_off

        code = hand_off(sys.argv[1:])
        if code is not None:
            raise SystemExit(code)
    from assistant.cli import preload

    preload.whole_process = True
    full_main()


__all__ = ["app", "full_main", "load_app", "main"]
