"""How `leadgen run` and `resume` pay for the stack they load: as little on the critical path as
the process allows.

A run executed in this process needs LangGraph and SQLAlchemy before its first step, and the
provider SDKs (Firecrawl's, OpenAI's through LangChain, an HTML parser) only once its audits
start. The steps import those SDKs when they first run (graphs/pipeline.py,
DEFERRED_MODULES), so `preload_sdks()` can import them on a background thread while the main
thread opens the database, creates the flow and waits on the Places search: import is CPU work
under the GIL, and it fills time the main thread would spend blocked on the network. Python's
per-module import locks make the two threads safe together: a step that needs a module the
thread is still importing waits for it, then uses the finished module.

The cyclic garbage collector is held off while the stack loads (`hold_collector()`): tens of
thousands of long-lived objects (classes, functions, pydantic schemas) each trigger full
collections that free nothing. Once everything is loaded, those objects are moved to the
collector's permanent generation (`gc.freeze()`), so the run's own collections, and the one at
exit, no longer walk them; then collection resumes for the run's own objects.
"""

from __future__ import annotations

import gc
import importlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Preload:
    """What the background import did (read by tests and `LEADGEN_PRELOAD_REPORT`)."""

    modules: tuple[str, ...]
    imported: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    done: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)


# Set by the console script (assistant.cli.main): the collector policy is the process's. A test
# that invokes the app in its own process keeps its collector as it is.
whole_process = False
_collector_held = False
_collector_lock = threading.Lock()  # the preload thread and the command may both release it


def hold_collector() -> None:
    """Hold off the cyclic garbage collector until `release_collector()` (the stack loads
    without full collections that would free nothing)."""
    global _collector_held
    with _collector_lock:
        if gc.isenabled():
            gc.disable()
            _collector_held = True


def release_collector() -> None:
    """Move everything loaded so far to the permanent generation, then collect again (only what
    `hold_collector()` held off is turned back on)."""
    global _collector_held
    with _collector_lock:
        if _collector_held:
            _collector_held = False
            gc.freeze()
            gc.enable()


def _import_all(preload: Preload) -> None:
    started = time.perf_counter()
    try:
        for name in preload.modules:
            try:
                importlib.import_module(name)
            except ImportError as exc:
                # The step that needs it imports it again and raises there, where the run
                # reports it: a background thread has nobody to tell.
                preload.failed[name] = str(exc)
            else:
                preload.imported.append(name)
    finally:
        preload.seconds = time.perf_counter() - started
        release_collector()
        preload.done.set()


def preload_sdks(modules: Sequence[str] | None = None) -> Preload:
    """Import `modules` (default: what the run's steps import when they first run) on a daemon
    thread, then release the collector. Call it once the main thread has loaded the graph, so
    the two threads load disjoint parts of the stack."""
    if modules is None:
        from graphs.pipeline import DEFERRED_MODULES

        modules = DEFERRED_MODULES
    preload = Preload(tuple(modules))
    preload.thread = threading.Thread(
        target=_import_all, args=(preload,), name="leadgen-preload", daemon=True
    )
    preload.thread.start()
    return preload
