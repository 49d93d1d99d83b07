"""Who may execute a flow now: the one rule for a stale lease, shared by every executor.

A flow row carries a lease (`lease_owner`, `lease_expires_at`), taken by compare-and-set and
renewed while a run executes. The in-process run service (taking a lease, the start-up sweep)
and the queue (enqueueing, its workers' orphan sweep) all ask the same question, "is the
holder gone?", and must answer it the same way, or one of them would wait on a dead holder
while another took its run over.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Literal

from db.repositories import parse_lease_owner

# What a run is asked to do: run from its start (or checkpoint), or resume a paused run.
RunKind = Literal["execute", "resume"]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive, just not ours to signal
        return True
    return True


def holder_is_dead_here(owner: str | None) -> bool:
    """The lease's holder was a process on this host that no longer exists: its lease can be
    taken over at once, without waiting for it to expire."""
    parsed = parse_lease_owner(owner) if owner else None
    return parsed is not None and parsed[0] == socket.gethostname() and not _pid_alive(parsed[1])


def lease_is_stale(owner: str | None, expires_at: datetime | None, now: datetime) -> bool:
    """Nobody executes the flow: no lease, an expired one, or one held by a dead local process.

    A flow `running` with a stale lease is an orphan (its holder died); a stale lease never
    makes a caller wait. The compare-and-set that takes a lease (`acquire_lease`) applies the
    expiry half itself and is told the dead local holder explicitly."""
    return expires_at is None or expires_at < now or holder_is_dead_here(owner)
