"""Ids that arrive from outside with a run request: agency ids, and run ids typed as thread ids.

Pure functions, no I/O. The CLI's `parse_agency_id` (assistant/cli/parsing.py) and the LangGraph
Server graph (graphs/platform_graph.py) check agency ids with the same rule, so a run started
through the SDK accepts exactly what `leadgen run --agency` accepts.
"""

from __future__ import annotations

import re
import uuid

# How many leads one run may ask for (`-n`, `num_leads`).
MIN_LEADS, MAX_LEADS = 1, 20

_AGENCY_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def _shown(value: object, limit: int = 40) -> str:
    """`value` quoted for an error message, cut short so a huge paste does not flood the screen."""
    text = value if isinstance(value, str) else repr(value)
    return repr(text if len(text) <= limit else text[:limit] + "…")


def check_agency_id(value: object) -> str:
    """The agency id, trimmed; ValueError saying what is allowed otherwise."""
    candidate = value.strip() if isinstance(value, str) else None
    if candidate is None or not _AGENCY_ID.fullmatch(candidate):
        raise ValueError(
            f"{_shown(value)} is not a valid agency id; use 1-64 characters from lowercase a-z, "
            f"digits, '_' and '-', starting with a letter or digit (e.g. 'acme-digital')"
        )
    return candidate


def run_id_for_thread(thread_id: str) -> str:
    """The run id of a LangGraph thread: the thread's UUID as 32 hex digits, the form every run
    id takes (LangGraph Server spells thread ids with dashes). ValueError when it is no UUID."""
    try:
        return uuid.UUID(thread_id).hex
    except (ValueError, TypeError, AttributeError):
        raise ValueError(
            f"thread id {_shown(thread_id)} is not a UUID; LangGraph Server threads have UUID ids, "
            "and the run takes the thread's id as its own"
        ) from None


def normalise_run_id(text: str) -> str:
    """A run id as a person typed it: a thread id (dashed UUID) names the run of that thread;
    anything else is taken as it is (and reads as not found when it names no run)."""
    try:
        return run_id_for_thread(text.strip())
    except ValueError:
        return text
