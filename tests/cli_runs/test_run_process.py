"""How `leadgen run` loads its stack (assistant/cli/preload.py): the graph compiles without the
provider SDKs, a thread imports them while the run starts, and a run executed by the installed
script as a whole process ends exactly as one run in process: same status, same ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tools.sandbox.server import SandboxHandle

LEADGEN = str(Path(sys.executable).with_name("leadgen"))
# What the run's steps import on first use (graphs/pipeline.py DEFERRED_MODULES), as packages.
SDKS = ("tldextract", "firecrawl", "openai", "langchain_openai", "bs4")


def _python(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_run_graph_compiles_without_the_provider_sdks() -> None:
    done = _python(
        f"""
        import sys
        from langgraph.checkpoint.memory import InMemorySaver
        from graphs.pipeline import compile_graph
        import graphs.service

        compile_graph(InMemorySaver())
        print(sorted(m for m in {SDKS!r} if m in sys.modules))
        from graphs.pipeline import DEFERRED_MODULES
        for name in DEFERRED_MODULES:
            __import__(name)
        print(sorted(m for m in {SDKS!r} if m in sys.modules))
        """
    )
    assert done.returncode == 0, done.stderr[-3000:]
    before, after = done.stdout.splitlines()
    assert before == "[]"
    # The check above can fail: the deferred modules are the ones that bring the SDKs.
    assert after == repr(sorted(SDKS))


def test_preload_imports_the_sdks_on_its_thread_then_freezes_the_collector() -> None:
    """A spy on the import system records which thread first asks for each SDK package."""
    done = _python(
        f"""
        import gc, sys, threading

        first_import = {{}}

        class Spy:
            def find_spec(self, name, path=None, target=None):
                if name in {SDKS!r}:
                    first_import.setdefault(name, threading.current_thread().name)
                return None  # the real finders load it

        sys.meta_path.insert(0, Spy())
        from langgraph.checkpoint.memory import InMemorySaver
        from graphs.pipeline import compile_graph
        from assistant.cli import preload

        preload.hold_collector()
        assert not gc.isenabled()
        compile_graph(InMemorySaver())
        started = preload.preload_sdks()
        assert started.wait(120)
        from graphs.pipeline import DEFERRED_MODULES

        assert started.imported == list(DEFERRED_MODULES), started.failed
        assert gc.isenabled()
        print(gc.get_freeze_count())
        print(sorted(first_import.items()))
        """
    )
    assert done.returncode == 0, done.stderr[-3000:]
    frozen, threads = done.stdout.splitlines()
    assert int(frozen) > 100_000  # the loaded stack, out of the collector's way
    assert threads == repr(sorted((name, "leadgen-preload") for name in SDKS))


def test_a_collector_held_for_nothing_is_released_untouched() -> None:
    done = _python(
        """
        import gc
        from assistant.cli import preload

        gc.disable()
        preload.hold_collector()  # not ours to hold: someone else turned it off
        preload.release_collector()
        print(gc.isenabled(), gc.get_freeze_count())
        """
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["False", "0"]


@pytest.mark.slow
def test_the_installed_script_runs_a_campaign_to_the_same_ledger(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADGEN_", "DATABASE_URL", "AUTUMN_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'l.db'}",
        LEADGEN_DATA_DIR=str(tmp_path),
        LEADGEN_SANDBOX_URL=sandbox.url,
        LEADGEN_AGENCY="whole",
        LEADGEN_AUDIT_CONCURRENCY="6",
    )

    def leadgen(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [LEADGEN, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
        )

    assert leadgen("credits", "set", "100", "--json").returncode == 0
    done = leadgen("run", "-n", "6", "--vertical", "dentists", "--geography", "Austin, TX", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    run = json.loads(done.stdout)
    assert run["status"] == "completed"
    assert [p["status"] for p in run["phases"]] == ["complete"] * 6

    audits = json.loads(leadgen("audits", run["id"], "--json").stdout)
    researched = sum(1 for job in audits if job["status"] == "completed")
    assert researched >= 1  # the SDKs the thread loaded did the audits' work
    history = json.loads(leadgen("credits", "history", "--json").stdout)
    charges = sorted(
        (h["feature_id"], h["credits"], h["idempotency_key"]) for h in history if h["kind"] == "charge"
    )
    assert charges == sorted(
        [("lead_discovery", 1, f"flow:{run['id']}:source")]
        + [("dossier_research", 2, f"audit:{job['id']}") for job in audits if job["status"] == "completed"]
    )
    balance = json.loads(leadgen("credits", "--json").stdout)["balance"]
    assert balance == 100 - 1 - 2 * researched


def _imported(importtime_log: str) -> set[str]:
    return {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in importtime_log.splitlines()
        if line.startswith("import time:") and "|" in line
    }


@pytest.mark.slow
def test_a_runner_starts_the_run_already_loaded_and_hands_back_its_exit_code(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    socket_path = tmp_path / "runner.sock"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADGEN_", "DATABASE_URL", "AUTUMN_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'l.db'}",
        LEADGEN_DATA_DIR=str(tmp_path),
        LEADGEN_SANDBOX_URL=sandbox.url,
        LEADGEN_AGENCY="handed",
        LEADGEN_AUDIT_CONCURRENCY="6",
    )
    runner = subprocess.Popen(
        [LEADGEN, "runner", "--socket", str(socket_path)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert runner.stderr is not None
        assert "listening on" in runner.stderr.readline()

        def leadgen(*args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-X", "importtime", LEADGEN, *args],
                env=env | (extra or {}),
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )

        handed = {"LEADGEN_RUNNER": str(socket_path)}
        assert leadgen("credits", "set", "100", "--json").returncode == 0
        done = leadgen(
            "run", "-n", "6", "--vertical", "dentists", "--geography", "Austin, TX", "--json", extra=handed
        )
        assert done.returncode == 0, done.stderr[-3000:]
        run = json.loads(done.stdout)
        assert run["status"] == "completed"
        # The run completed, yet this process never loaded the stack: the runner's child ran it.
        loaded = _imported(done.stderr)
        assert "assistant" in loaded
        assert sorted(loaded & {"langgraph", "sqlalchemy", "openai", "firecrawl", "typer"}) == []

        audits = json.loads(leadgen("audits", run["id"], "--json").stdout)
        researched = sum(1 for job in audits if job["status"] == "completed")
        assert researched >= 1
        assert json.loads(leadgen("credits", "--json").stdout)["balance"] == 100 - 1 - 2 * researched

        # Exit codes and the stdout/stderr split come back as the command's own.
        bad = leadgen("run", "-n", "0", "--json", extra=handed)
        assert bad.returncode == 2 and bad.stdout == ""
        assert "-n" in bad.stderr and "out of range" in bad.stderr
        missing = leadgen("resume", "0123456789abcdef0123456789abcdef", "--json", extra=handed)
        assert missing.returncode == 4 and missing.stdout == ""

        # Nothing answers on the socket named: the command runs the campaign itself.
        alone = leadgen(
            "run", "-n", "3", "--vertical", "dentists", "--geography", "Austin, TX", "--json",
            extra={"LEADGEN_RUNNER": str(tmp_path / "nobody.sock")},
        )  # fmt: skip
        assert alone.returncode == 0, alone.stderr[-3000:]
        assert json.loads(alone.stdout)["status"] == "completed"
        assert "langgraph" in _imported(alone.stderr)
    finally:
        runner.terminate()
        assert runner.wait(timeout=30) == 0
    assert not socket_path.exists()
