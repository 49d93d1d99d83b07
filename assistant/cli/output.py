"""What every `leadgen` command prints through: the two consoles, exit codes, JSON and errors.

Kept free of Typer and of the rest of the stack, so the quick read path (assistant/cli/quick.py)
prints through exactly the same objects as the full CLI (README, "Using it from the command line": progress and messages
on stderr, `--json` leaves stdout to the JSON alone).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from enum import IntEnum
from typing import Any

from rich.console import Console

# Progress and messages go to stderr so that `--json` leaves stdout to the JSON alone.
err = Console(stderr=True)
out = Console()


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    PAUSED = 3  # paused for credits / insufficient credits
    NOT_FOUND = 4


def print_error(message: str) -> None:
    # Never wrapped: messages carry commands and paths to copy (the terminal wraps long lines).
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=_default, indent=2) + "\n")
    sys.stdout.flush()
