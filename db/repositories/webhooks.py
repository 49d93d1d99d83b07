"""The webhook inbox: each authenticated provider delivery recorded once, then its outcome."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from db.base import new_id, utcnow
from db.models import WebhookInbox
from db.repositories.base import NotFound, RepositoryBase

WEBHOOK_STATUSES = ("received", "processed", "failed")


class WebhookRecords(RepositoryBase):
    async def record_webhook(
        self, provider: str, event_id: str, event_type: str | None, payload: dict[str, Any]
    ) -> bool:
        """Note an authenticated delivery; False when (provider, event_id) was recorded before,
        so the caller skips the redelivery. UNSCOPED: a webhook arrives before we know the agency.
        Race-safe: the unique pair and ON CONFLICT DO NOTHING let exactly one caller win."""
        inserted = (
            await self.session.execute(
                self._insert(WebhookInbox)
                .values(
                    id=new_id(),
                    provider=provider,
                    event_id=event_id,
                    event_type=event_type,
                    payload=payload,
                    status="received",
                    received_at=utcnow(),
                )
                .on_conflict_do_nothing()
                .returning(WebhookInbox.id)
            )
        ).first()
        return inserted is not None

    async def mark_webhook(self, provider: str, event_id: str, status: str, error: str | None = None) -> None:
        """Record the outcome of processing (`processed` / `failed`, with the error)."""
        if status not in WEBHOOK_STATUSES:
            raise ValueError(f"unknown webhook status {status!r}; statuses: {', '.join(WEBHOOK_STATUSES)}")
        result = await self.session.execute(
            update(WebhookInbox)
            .where(WebhookInbox.provider == provider, WebhookInbox.event_id == event_id)
            .values(status=status, error=error, processed_at=None if status == "received" else utcnow())
            .execution_options(synchronize_session="fetch")
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise NotFound("webhook_inbox", f"{provider}:{event_id}")
