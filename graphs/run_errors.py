"""The errors of asking for a run, shared by the run service and the queue that executes for it.

They live apart from both so the queue (which raises and catches them in its worker's job) does not
import the service (which enqueues on the queue): the dependency runs one way, service -> queue.

    RunError
    ├── BadRunInput        bad count, empty campaign ... (nothing was written)
    │   ├── QueueRequiresPostgres   LEADGEN_EXECUTOR=queue on a database that is not PostgreSQL
    │   └── ProviderKeyRejected     the billing provider refused its key (the message names the
    │                               variable; checked before the flow is written)
    ├── RunNotFound        unknown id or another agency's
    ├── RunIdTaken         `start(flow_id=...)` named a flow that exists already
    └── AlreadyRunning     someone else holds the flow's lease (or, queued, has a job for it)
"""

from __future__ import annotations


class RunError(Exception):
    pass


class BadRunInput(RunError, ValueError):
    pass


class RunNotFound(RunError, LookupError):
    pass


class AlreadyRunning(RunError):
    pass


class RunIdTaken(RunError):
    """`start(flow_id=...)` named a flow that exists already (a confirmation clicked twice)."""


class QueueRequiresPostgres(BadRunInput):
    """LEADGEN_EXECUTOR=queue with a database that cannot hold the queue."""


class ProviderKeyRejected(BadRunInput):
    """A provider refused the key we hold for it: a setting to fix, not a run to retry."""
