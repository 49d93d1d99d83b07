"""At most one face resumes a paused run; the others watch it resume.

Several faces of one process may want to resume the same run at the same moment: the web view's
countdown, Slack's watcher once the balance covers the step, a person's Resume button. The first
starts the execution; every other one is told the run is resuming (not "already running": it is
what that person asked for) and follows it. Across processes the run's lease decides.

A later service-layer refactor can absorb this into the run service; until then the faces'
background runner asks here.
"""

from __future__ import annotations


class ResumeOnce:
    """The runs this process is resuming now."""

    def __init__(self) -> None:
        self._resuming: set[str] = set()

    def begin(self, flow_id: str) -> None:
        self._resuming.add(flow_id)

    def end(self, flow_id: str) -> None:
        self._resuming.discard(flow_id)

    def resuming(self, flow_id: str) -> bool:
        """Someone here is resuming the run: a second face should watch, not resume."""
        return flow_id in self._resuming
