"""How the product words things for people, the same in every face: phase names, plurals,
times ("2 minutes ago"), statuses. Data (JSON, CSV) keeps the machine names and ISO times."""

from __future__ import annotations

from datetime import UTC, datetime

from db.statuses import FlowStatus, OpportunityStatus

PHASE_LABELS = {
    "source": "Finding businesses",
    "filter_rank": "Scoring leads",
    "persist_leads": "Saving leads",
    "scrape_content": "Reading websites",
    "generate_dossier": "Writing dossiers",
    "finalize_rank": "Final ranking",
}
# A run's status in words: the one table the web chat, Slack and the terminal draw from (they had
# drifted: "not started" / "queued", "paused for credits" / "paused: out of credits", "done" /
# "completed").
RUN_STATUS_LABELS: dict[str, str] = {
    FlowStatus.IDLE: "queued",
    FlowStatus.RUNNING: "running",
    FlowStatus.PAUSED_FOR_UPGRADE: "paused: out of credits",
    FlowStatus.COMPLETED: "completed",
    FlowStatus.ERROR: "failed",
    FlowStatus.CANCELLED: "cancelled",
}
LEAD_STATUS_LABELS: dict[str, str] = {
    OpportunityStatus.SOURCED: "found",
    OpportunityStatus.AUDITING: "auditing",
    OpportunityStatus.READY: "researched",
    OpportunityStatus.DATA_READY: "no dossier",
}
# Every status has its words (a status added to the table without a label fails at import).
assert set(RUN_STATUS_LABELS) == set(FlowStatus) and set(LEAD_STATUS_LABELS) == set(OpportunityStatus)


def phase_label(name: str) -> str:
    return PHASE_LABELS.get(name, name.replace("_", " ").capitalize())


def run_status_label(status: str) -> str:
    return RUN_STATUS_LABELS.get(status, status.replace("_", " "))


def lead_status_label(status: str) -> str:
    return LEAD_STATUS_LABELS.get(status, status.lower().replace("_", " "))


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 credit', '2 credits', '0 credits' ('many' for irregular plurals)."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """'just now', '2 minutes ago', 'yesterday', '3 days ago'; a future time reads 'in ...'."""
    if moment is None:
        return "never"
    now = _aware(now or datetime.now(UTC))
    seconds = (now - _aware(moment)).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 45:
        return "just now"
    for size, unit in (
        (86400 * 365, "year"),
        (86400 * 30, "month"),
        (86400, "day"),
        (3600, "hour"),
        (60, "minute"),
    ):
        if seconds >= size * 0.95:
            count = max(1, round(seconds / size))
            if unit == "day" and count == 1 and not future:
                return "yesterday"
            text = plural(count, unit)
            return f"in {text}" if future else f"{text} ago"
    return "just now"


def duration(seconds: float | None) -> str:
    """'0.4 s', '12 s', '2 min 5 s', '1 h 3 min'."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, rest = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min" + (f" {rest} s" if rest else "")
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h" + (f" {minutes} min" if minutes else "")
