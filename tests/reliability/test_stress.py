"""The stress of bench/stress.py, shortened to one round: many real processes on one SQLite file.

The chat server's history layer writing, `leadgen serve` taking Vapi webhooks, two `leadgen run`
and a third interrupted with Ctrl-C mid-audits then `leadgen resume`d while the others run, and
`leadgen call`s: no process may say "database is locked", every run completes, the ledger is exact.
The full variant (`bench/stress.py --seconds 60`) repeats the round for a minute and more.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

STRESS = Path(__file__).resolve().parents[2] / "bench" / "stress.py"


@pytest.mark.slow
def test_one_round_of_many_processes_on_one_sqlite_file(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(STRESS), "--seconds", "0", "--leads", "3", "--json", "--keep", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.stdout, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["problems"] == [], report
    assert done.returncode == 0
    assert report["lock_errors"] == 0
    assert report["runs_completed"] == 3  # two runs, and the interrupted one after its resume
    assert report["runs_interrupted_and_resumed"] == 1
    assert report["audits_completed"] >= 1
    assert report["calls"] == 2 and report["call_minutes_billed"] >= 2
    # Each call's status update and report at least (redeliveries collapse into them), all processed.
    assert set(report["webhook_inbox"]) == {"processed"} and report["webhook_inbox"]["processed"] >= 4
    assert report["history_writes"] > 0 and report["history_reads"] > 0
