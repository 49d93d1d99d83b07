"""The `leadgen` command line. Each module below registers its commands on `app`."""

from __future__ import annotations

# Command modules register themselves on import; keep one line per module.
from assistant.cli import (
    agency,  # noqa: F401
    calls,  # noqa: F401
    chat,  # noqa: F401
    credits,  # noqa: F401
    database,  # noqa: F401
    reports,  # noqa: F401
    runs,  # noqa: F401
    sandbox,  # noqa: F401
    slack,  # noqa: F401
    worker,  # noqa: F401
)
from assistant.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
