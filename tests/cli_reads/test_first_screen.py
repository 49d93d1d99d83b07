"""`leadgen run` and `resume` on a terminal draw their first screen before the pipeline loads: the
spinner line reaches the terminal ahead of Python's own log of importing SQLAlchemy, LangGraph and
the OpenAI SDK (`-X importtime` writes that log to the same terminal, in order)."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

LEADGEN = str(Path(sys.executable).with_name("leadgen"))


# Import-log lines of what the pipeline loads (SQLAlchemy with the run service, LangGraph and the
# OpenAI SDK when the graph is built): the first screen must come before each.
HEAVY = [
    re.compile(rb"\| +%s\r" % re.escape(name)) for name in (b"sqlalchemy", b"langgraph.graph", b"openai")
]


def _read_until(fd: int, markers: list[re.Pattern[bytes]], deadline: float) -> bytes:
    seen = b""
    while not all(marker.search(seen) for marker in markers) and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    return seen


@pytest.mark.parametrize(
    ("argv", "first_screen"),
    [
        (
            ["run", "-n", "2", "--vertical", "dentists", "--geography", "Austin, TX"],
            b"Starting a run of 2 leads",
        ),
        (["resume", "0123456789abcdef0123456789abcdef"], b"Resuming run 0123456789abcdef0123456789abcdef"),
    ],
)
def test_run_and_resume_draw_before_langgraph_is_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], first_screen: bytes
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADGEN_", "DATABASE_URL", "AUTUMN_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'l.db'}",
        LEADGEN_DATA_DIR=str(tmp_path),
        LEADGEN_SANDBOX_URL="http://127.0.0.1:9",  # nothing answers: the run never gets far
        TERM="xterm-256color",
        COLUMNS="120",
        LINES="40",
    )
    monkeypatch.chdir(tmp_path)
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", LEADGEN, *argv],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
        cwd=tmp_path,
    )
    os.close(secondary)
    try:
        screen = _read_until(primary, HEAVY, time.monotonic() + 120)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        os.close(primary)
    assert first_screen in screen, screen[-3000:]
    for marker in HEAVY:
        found = marker.search(screen)
        assert found is not None, (marker.pattern, screen[-3000:])
        assert screen.index(first_screen) < found.start(), marker.pattern
