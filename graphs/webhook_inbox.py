"""The webhook inbox of deliveries that reach us (Slack events; Vapi's go through
graphs/calls.py): each (provider, event id) is processed once, and its outcome is recorded.
Faces ask here instead of writing `webhook_inbox` rows themselves."""

from __future__ import annotations

from typing import Any

from db import Database


async def first_delivery(
    db: Database, provider: str, event_id: str, event_type: str | None, summary: dict[str, Any]
) -> bool:
    """Record an authenticated delivery; False when it was recorded before (a redelivery to skip).
    Exactly one of two racing deliveries of one event gets True."""
    async with db.transaction() as repo:
        return await repo.record_webhook(provider, event_id, event_type, summary)


async def mark_delivery(
    db: Database, provider: str, event_id: str, status: str, error: str | None = None
) -> None:
    """The outcome of processing a delivery: `processed` or `failed` (with the error)."""
    async with db.transaction() as repo:
        await repo.mark_webhook(provider, event_id, status, error)
