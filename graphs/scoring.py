"""How much an agency could sell a lead: `opportunity_score` (0-100) and the reasons for it.

    score = 40 * (share of the agency's criteria the lead matches)
          + 60 * min(1, weighted findings / FULL_FINDINGS)

An agency that set no criteria is scored against all four signals (DESIGN "The audit"). Each
finding of the lead (from the audit's checks, or SITE_DOWN) weighs by how much work it means for
an agency (`WEIGHTS`), times 1.5 when the agency sells a service that fixes it and 0.5 when it
sells services and none of them fixes it (an agency that listed no services weighs all alike).
Places' own findings are the signals, already counted by the criteria, so they are not counted
twice. A temporarily closed business keeps a quarter of its score: it cannot buy until it reopens.

`score_reasons` say each part that counted, biggest first, with its points.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from graphs.audit_checks import TITLES, Finding

SIGNALS = ("MISSING_WEBSITE", "WEAK_WEB_PRESENCE", "LOW_GOOGLE_RATING", "FEW_GOOGLE_REVIEWS")
CRITERIA_POINTS = 40.0
FINDINGS_POINTS = 60.0
FULL_FINDINGS = 12.0  # weighted findings that earn all of FINDINGS_POINTS
CLOSED_TEMPORARILY = "CLOSED_TEMPORARILY"

WEIGHTS: dict[str, float] = {
    "SITE_DOWN": 6.0,
    "NO_HTTPS": 2.0,
    "NOT_MOBILE_FRIENDLY": 2.5,
    "NO_META_DESCRIPTION": 1.0,
    "NO_LOCAL_BUSINESS_SCHEMA": 1.0,
    "NO_ANALYTICS": 1.5,
    "NO_ONLINE_BOOKING": 2.5,
    "NO_PRICING": 1.0,
    "NO_REVIEWS_SHOWN": 1.5,
    "STALE_COPYRIGHT": 1.0,
    "NO_CLICK_TO_CALL": 1.5,
    "NO_SOCIAL_LINKS": 1.0,
    "THIN_CONTENT": 1.5,
    "BROKEN_LINKS": 1.0,
}
# Words of an agency's services that fix each finding.
SERVICE_WORDS: dict[str, tuple[str, ...]] = {
    "SITE_DOWN": ("web", "site", "hosting", "maintenance", "design"),
    "NO_HTTPS": ("web", "site", "hosting", "security", "ssl", "maintenance"),
    "NOT_MOBILE_FRIENDLY": ("web", "site", "design", "mobile", "development"),
    "NO_META_DESCRIPTION": ("seo", "search"),
    "NO_LOCAL_BUSINESS_SCHEMA": ("seo", "search", "local"),
    "NO_ANALYTICS": ("analytics", "ads", "ppc", "tracking", "marketing", "advertising"),
    "NO_ONLINE_BOOKING": ("booking", "scheduling", "appointment", "web", "site"),
    "NO_PRICING": ("web", "site", "copy", "content", "conversion"),
    "NO_REVIEWS_SHOWN": ("review", "reputation", "testimonial"),
    "STALE_COPYRIGHT": ("maintenance", "web", "site", "redesign"),
    "NO_CLICK_TO_CALL": ("web", "site", "mobile", "conversion"),
    "NO_SOCIAL_LINKS": ("social",),
    "THIN_CONTENT": ("content", "seo", "copy", "blog"),
    "BROKEN_LINKS": ("maintenance", "web", "site", "seo"),
}
SIGNAL_NAMES = {
    "MISSING_WEBSITE": "no website",
    "WEAK_WEB_PRESENCE": "only a social or directory page",
    "LOW_GOOGLE_RATING": "low Google rating",
    "FEW_GOOGLE_REVIEWS": "few Google reviews",
}


@dataclass(frozen=True)
class Score:
    value: float  # 0-100, one decimal
    reasons: list[str]


def service_factor(code: str, services: Sequence[str]) -> tuple[float, str | None]:
    """1.5 and the service that fixes `code`; 0.5 when the agency sells none that does; 1 when
    it listed no services."""
    if not services:
        return 1.0, None
    for service in services:
        lowered = service.lower()
        if any(word in lowered for word in SERVICE_WORDS.get(code, ())):
            return 1.5, service
    return 0.5, None


def opportunity_score(
    signals: Iterable[str],
    criteria: Sequence[str],
    findings: Iterable[Finding],
    services: Sequence[str] = (),
) -> Score:
    signals = set(signals)
    wanted = [c for c in SIGNALS if c in set(criteria)] or list(SIGNALS)
    matched = [c for c in wanted if c in signals]
    parts: list[tuple[float, str]] = []
    criteria_points = CRITERIA_POINTS * len(matched) / len(wanted)
    basis = "your criteria" if criteria else "the four signals (no criteria set yet)"
    if matched:
        names = ", ".join(SIGNAL_NAMES[c] for c in matched)
        parts.append((criteria_points, f"Matches {len(matched)} of {len(wanted)} of {basis}: {names}"))
    else:
        parts.append((0.0, f"Matches none of {basis}"))
    closed = False
    weighted = 0.0
    finding_parts: list[tuple[float, str]] = []
    seen: set[str] = set()
    for found in findings:
        if found.code == CLOSED_TEMPORARILY:
            closed = True
            continue
        if found.code in SIGNALS or found.code not in WEIGHTS or found.code in seen:
            continue
        seen.add(found.code)
        factor, service = service_factor(found.code, services)
        weight = WEIGHTS[found.code] * factor
        weighted += weight
        label = TITLES.get(found.code, found.code)
        why = f"you sell {service}" if service else ("outside your services" if services else "")
        finding_parts.append((weight, f"{label}{f' ({why})' if why else ''}"))
    findings_points = FINDINGS_POINTS * min(1.0, weighted / FULL_FINDINGS)
    scale = findings_points / weighted if weighted else 0.0
    parts += [(w * scale, text) for w, text in finding_parts]
    total = criteria_points + findings_points
    reasons = [f"{text} (+{points:.0f})" for points, text in sorted(parts, key=lambda p: -p[0])]
    if closed:
        total *= 0.25
        reasons.insert(0, "Temporarily closed on Google: worth a call when it reopens (score x0.25)")
    if not finding_parts and not closed:
        reasons.append("No website findings (not audited, or the site shows none)")
    return Score(round(min(100.0, max(0.0, total)), 1), reasons)
