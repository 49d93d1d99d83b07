"""The `leadgen` command line. Each module below registers its commands on `app`."""

from __future__ import annotations

from assistant.cli.app import app

# Command modules register themselves on import; keep one line per module.


def main() -> None:
    app()


__all__ = ["app", "main"]
