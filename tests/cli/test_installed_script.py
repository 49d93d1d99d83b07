"""The installed `leadgen` console script, run as a real process (entry point, exit codes,
stdout/stderr split), against a temporary SQLite file.

Kept to three invocations: each process imports the whole product (seconds apiece); the
in-process tests cover the commands in depth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

LEADGEN = Path(sys.executable).parent / "leadgen"

pytestmark = pytest.mark.slow


def run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LEADGEN_", "AUTUMN_", "DATABASE_"))}
    return subprocess.run(
        [str(LEADGEN), *args],
        env={**base, **env, "COLUMNS": "200"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_leadgen_script_credits_round_trip(cli_env: dict[str, str], tmp_path: Path) -> None:
    # The script is part of this project: `make install` puts it there; missing is a broken install.
    assert LEADGEN.exists(), f"{LEADGEN} is not installed (run `make install`)"
    env = {**cli_env, "LEADGEN_AGENCY": "acme", "LEADGEN_STARTING_CREDITS": "11"}

    first = run(env, tmp_path, "credits", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"customer_id": "acme", "balance": 11}

    granted = run(env, tmp_path, "credits", "grant", "4", "--json")
    assert json.loads(granted.stdout) == {"customer_id": "acme", "balance": 15}

    bad = run(env, tmp_path, "credits", "grant", "-3")
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert "negative" in bad.stderr and "Traceback" not in bad.stderr
