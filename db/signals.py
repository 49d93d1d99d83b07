"""The four Places signals a lead can raise (README, "What a run does"), in their fixed order.

Apart from db/models.py so that the CLI can name them in its help without loading SQLAlchemy.
"""

from __future__ import annotations

SIGNALS = ("MISSING_WEBSITE", "WEAK_WEB_PRESENCE", "LOW_GOOGLE_RATING", "FEW_GOOGLE_REVIEWS")
