"""A read command must answer without loading the heavy packages: checked in a real process,
through the installed `leadgen` script, with Python's own import log (`-X importtime`)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import World

LEADGEN = str(Path(sys.executable).with_name("leadgen"))
# Top-level packages a read command must not import (the list, and what pulls them in).
HEAVY = (
    "langgraph",
    "langchain",
    "langchain_core",
    "langchain_openai",
    "openai",
    "chainlit",
    "slack_bolt",
    "slack_sdk",
    "firecrawl",
    "alembic",
    "sqlalchemy",
    "aiosqlite",
    "pydantic",
    "pydantic_settings",
    "typer",
    "httpx",
    "procrastinate",
    "psycopg",
    "asyncpg",
)
READS: list[tuple[str, ...]] = [
    ("credits",),
    ("credits", "history"),
    ("agency", "show"),
    ("status", "runs:completed"),
    ("runs",),
    ("leads", "runs:short", "--csv"),
    ("audits", "runs:completed"),
    ("dossier", "leads:site"),
    ("pages", "audits:site"),
    ("calls",),
    ("status", "no-such-run"),  # errors too
]


def imported(importtime_log: str) -> set[str]:
    """Top-level packages named in a `-X importtime` log."""
    names = set()
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_read_commands_load_none_of_the_heavy_packages(
    world_env: World, args: tuple[str, ...], resolve: Callable[[tuple[str, ...]], list[str]]
) -> None:
    argv = [*resolve(args), "--agency", "acme", "--json"]
    if "--csv" in argv:
        argv.remove("--json")
    done = subprocess.run(
        [sys.executable, "-X", "importtime", LEADGEN, *argv],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=60,
    )
    expected = 4 if "no-such-run" in argv else 0
    log = done.stderr
    assert done.returncode == expected, log[-2000:]
    loaded = imported(log)
    assert "assistant" in loaded and "db" in loaded  # the log is what we think it is
    assert sorted(loaded & set(HEAVY)) == []
    if expected == 0:
        assert done.stdout.strip()


def test_the_full_cli_does_load_them(world_env: World) -> None:
    """The check above can fail: a command the quick path leaves alone loads the stack."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", LEADGEN, "runs", "--agency", "acme", "--agency", "acme"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
    )
    assert {"typer", "sqlalchemy"} <= imported(done.stderr)
