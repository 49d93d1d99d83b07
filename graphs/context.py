"""What every node of the pipeline needs at run time, passed as LangGraph's run context.

Nothing here is checkpointed: the run service builds a fresh `PipelineContext` for each
execution (start, resume, crash recovery), so a resumed run talks to live clients.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from langgraph.runtime import Runtime

from db import Database
from db.repositories import Repository
from leadgen.settings import Settings
from tools.billing.port import BillingProvider
from tools.providers import Providers


@dataclass
class NodeCounter:
    """Appends one line per node execution to a file (when LEADGEN_NODE_LOG is set), so crash
    tests can count how often each node ran across a kill and a resume, in another process."""

    path: Path | None = field(
        default_factory=lambda: Path(p) if (p := os.environ.get("LEADGEN_NODE_LOG")) else None
    )

    def record(self, node: str, key: str = "") -> None:
        if self.path is None:
            return
        # O_APPEND writes of one short line are atomic, so parallel audits do not interleave.
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(f"{node}:{key}\n")


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL when LEADGEN_KILL_AT names this point (crash tests only)."""
    if os.environ.get("LEADGEN_KILL_AT") == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


_STALLS: Counter[str] = Counter()


async def stall_point(name: str, counter: NodeCounter, key: str) -> None:
    """Tests only: when LEADGEN_STALL_AT is `name#N`, the Nth execution in this process to reach
    this point writes `stalled:KEY` to the node log and waits here until it is cancelled (Ctrl-C,
    a worker's drain) or the process dies. A test then stops a run at a known place, with work
    both finished and unfinished, instead of racing it."""
    point, _, nth = os.environ.get("LEADGEN_STALL_AT", "").partition("#")
    if point != name:
        return
    _STALLS[name] += 1
    if _STALLS[name] != int(nth or 1):
        return
    counter.record("stalled", key)
    await asyncio.Event().wait()


@dataclass
class PipelineContext:
    db: Database
    billing: BillingProvider
    providers: Providers
    settings: Settings
    counter: NodeCounter = field(default_factory=NodeCounter)

    @asynccontextmanager
    async def repo(self) -> AsyncIterator[Repository]:
        """A repository in its own write transaction, committed when the block ends without error.
        Nodes keep these blocks short and never call a provider inside one."""
        async with self.db.transaction() as repo:
            yield repo

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Repository]:
        """A repository for reads only: takes no write lock, so parallel audits never queue on it."""
        async with self.db.reader() as repo:
            yield repo


Ctx = Runtime[PipelineContext]
