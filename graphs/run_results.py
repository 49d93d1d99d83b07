"""What asking for a run answers: how an execution ended (`Outcome`), where a paused run stands
against the balance (`CreditGap`), and what a resume request decided (`ResumeDecision`).

They live apart from the run service so its executors (graphs/executors.py) build the same
answers without importing the service (graphs/ has no import cycle).

The one rule for "enough credits to resume": a paused run needs what its CHEAPEST pending step
needs (`required_credits`). With several audits paused at once, resuming answers all of their
interrupts; the gates retry their holds and those still short pause again, so the cheapest step
is the one that decides whether resuming does anything at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from db.models import LeadGenFlow

# The outcome of an execution that was only enqueued (queue executor, `wait=False`): not a flow
# status (the row stays as it was until a worker takes the job).
QUEUED = "queued"


@dataclass(frozen=True)
class Outcome:
    """How an execution ended: `completed`, `paused_for_upgrade`, `error` or `cancelled`; or
    `queued` (queue executor, `wait=False`: a worker will run it)."""

    status: str
    flow: LeadGenFlow
    pending_interrupts: int = 0
    ran: bool = True  # False when nothing was executed (e.g. resume without enough credits)
    job_id: int | None = None  # the queue job that ran (or will run) it, queue executor only

    def __post_init__(self) -> None:
        # A plain string, whoever built it: outcomes end up in LangGraph state (the platform
        # graph), and checkpoints refuse enum classes they were not told about.
        object.__setattr__(self, "status", str(self.status))


def required_credits(blocks: Iterable[Mapping[str, Any] | None]) -> int:
    """Credits a paused run needs to move at all: the cheapest of its pending steps' billing
    blocks (`credit_info.required_balance`); 1 when no block says."""
    needs: list[int] = []
    for block in blocks:
        info = (block or {}).get("credit_info") or {}
        required = info.get("required_balance")
        if isinstance(required, int | float) and not isinstance(required, bool) and required > 0:
            needs.append(int(required))
    return min(needs, default=1)


@dataclass(frozen=True)
class CreditGap:
    """Where a paused run stands: the available balance against what its next step needs."""

    balance: int
    required: int

    @property
    def deficit(self) -> int:
        return max(0, self.required - self.balance)

    @property
    def enough(self) -> bool:
        return self.balance >= self.required

    def as_dict(self) -> dict[str, int]:
        return {"balance": self.balance, "required_balance": self.required, "deficit": self.deficit}


class ResumeStatus(StrEnum):
    """What `RunService.resume_if_funded` decided."""

    COMPLETED = "completed"  # the run had finished: nothing to resume
    CANCELLED = "cancelled"  # the run was cancelled: nothing to resume
    RUNNING = "running"  # someone else executes it now (this process, another one, a worker)
    RESUMING = "resuming"  # resumed: by this call, or by another face an instant ago (watch it)
    STILL_SHORT = "still_short"  # the balance does not cover the cheapest pending step: still paused


@dataclass(frozen=True)
class ResumeDecision:
    """The answer a face draws. `gap` is set when credits were checked (always for STILL_SHORT);
    `outcome` when the caller waited for the execution (or nothing was executed)."""

    status: ResumeStatus
    flow: LeadGenFlow
    gap: CreditGap | None = None
    outcome: Outcome | None = None
