"""A run's overall progress from its phases: the one rule the repositories and the quick read path
(db/sqlite_reads.py) share. Apart from db/models.py so that reading it loads no SQLAlchemy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Each phase's share of a run's overall progress: its share of the work, measured on 10-lead runs
# against the sandbox's realistic latency (phase durations in ms: source 868/1085, filter_rank 6/6,
# persist_leads 35/24, scrape_content 64/35, generate_dossier 14431/12077, finalize_rank 20/20).
# The audits are ~90% of a run, so a plain mean of six phases read 68% before one had finished.
PHASE_WEIGHTS: dict[str, float] = {
    "source": 0.07,
    "filter_rank": 0.01,
    "persist_leads": 0.01,
    "scrape_content": 0.01,
    "generate_dossier": 0.88,
    "finalize_rank": 0.02,
}


def overall_progress(status: str, phases: Sequence[Mapping[str, Any]] | None) -> float:
    """0..1: the phases' progress weighted by their share of the work, 1.0 once completed."""
    if status == "completed":
        return 1.0
    weights = [(PHASE_WEIGHTS.get(str(p.get("name")), 0.0), p) for p in phases or []]
    total = sum(w for w, _ in weights)
    if total <= 0:
        return 0.0
    done = sum(w * min(1.0, max(0.0, float(p.get("progress") or 0.0))) for w, p in weights)
    return done / total
