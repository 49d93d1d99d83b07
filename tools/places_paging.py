"""How Google Places (New) Text Search pages its results: numbers every layer may quote.

Kept apart from tools/places.py (the client, which needs httpx) so that the JSON views and the
quick read path can say "the most Places returns" without loading an HTTP client.
"""

from __future__ import annotations

PAGE_SIZE = 20  # Google's per-page maximum
MAX_RESULTS = 60  # Google's documented cap across all pages
