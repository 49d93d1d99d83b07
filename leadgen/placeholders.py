"""Secret values that are fine on a laptop and dangerous anywhere else (shared by the settings
and the quick read path, which must refuse exactly what the settings refuse)."""

from __future__ import annotations

UNSAFE_PLACEHOLDERS = frozenset({"", "changethis", "changeme", "secret", "test", "dev"})


def is_placeholder(value: str) -> bool:
    """True for a set secret that holds a placeholder (an unset one is not a placeholder)."""
    return bool(value) and value.strip().lower() in UNSAFE_PLACEHOLDERS
