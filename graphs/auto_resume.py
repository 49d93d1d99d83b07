"""When a face watching a paused run resumes it by itself: one rule for the web chat and Slack.

While a run is paused for credits, a face that shows it re-reads the gap every `poll_seconds`
(`RunService.resume_gap`, the cheapest-pending-step rule). Once the balance covers the step, it
waits `countdown_seconds` (the web chat draws them as a countdown, so the person sees it coming
and an upgrade made elsewhere has a moment to settle), then asks `RunService.resume_if_funded`,
which decides; only one face of any process resumes the run. When the service answers that the
credits were short after all (spent meanwhile), the face asks again no sooner than
`retry_seconds` later.

Pure: the faces pass the clock in.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AutoResume:
    poll_seconds: float = 1.0
    countdown_seconds: int = 5
    retry_seconds: float = 10.0

    def seconds_left(self, funded_since: float | None, now: float) -> float | None:
        """Seconds of the countdown still to go (0: resume now); None while not funded."""
        if funded_since is None:
            return None
        return max(0.0, self.countdown_seconds - (now - funded_since))

    def due(self, *, funded_since: float | None, last_try: float | None, now: float) -> bool:
        """Ask the run service to resume now? Funded for the whole countdown, and no try within
        `retry_seconds`."""
        left = self.seconds_left(funded_since, now)
        if left is None or left > 0:
            return False
        return last_try is None or now - last_try >= self.retry_seconds


# The rule every face follows.
AUTO_RESUME = AutoResume()
