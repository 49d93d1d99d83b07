"""Status for every face: each change is written to the flow row (phase status, progress,
timestamps, `last_event`) and emitted on LangGraph's custom stream for live UIs, in one call."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from langgraph.config import get_stream_writer

from graphs.context import PipelineContext


def emit(event: dict[str, Any]) -> None:
    """Send an event to whoever streams this run with stream_mode "custom" (no-op otherwise)."""
    get_stream_writer()({"timestamp": datetime.now(UTC).isoformat(), **event})


def phase_event(
    flow_id: str,
    name: str,
    *,
    status: str | None = None,
    progress: float | None = None,
    message: str | None = None,
    event_type: str = "phase",
) -> dict[str, Any]:
    return {
        "type": event_type,
        "flow_id": flow_id,
        "phase": name,
        "status": status,
        "progress": progress,
        "message": message,
    }


async def phase(
    ctx: PipelineContext,
    agency_id: str,
    flow_id: str,
    name: str,
    *,
    status: str | None = None,
    progress: float | None = None,
    message: str | None = None,
    event_type: str = "phase",
) -> None:
    async with ctx.repo() as repo:
        await repo.set_phase(
            agency_id, flow_id, name, status=status, progress=progress, message=message, event_type=event_type
        )
    emit(phase_event(flow_id, name, status=status, progress=progress, message=message, event_type=event_type))
