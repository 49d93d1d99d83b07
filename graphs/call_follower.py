"""Follow a placed call to its end, whichever face placed it.

A call learns its outcome from Vapi's end-of-call report (`leadgen serve`, when Vapi can reach it)
or by asking Vapi (`CallService.refresh_call`); both finalise and meter it idempotently. The CLI
always polled while it waited; the chat did not, so a call placed from the chat of a host Vapi
cannot reach stayed `queued` for ever and kept its lead from another call. `follow_call` is the
one polling loop both use; `CallFollower` runs it as a task of the process (one per call, however
many tabs watch it) and tells subscribers when the call changes and when it is done.

    follower = CallFollower(calls)
    follower.follow(agency_id, call.id, on_update=tell_the_thread)   # returns at once
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from db.base import utcnow
from db.models import Call
from graphs.calls import CallService
from graphs.views import billed_text, call_metering
from tools.vapi import VapiError
from tools.vapi.wire import LIVE_STATUSES

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
# A call longer than this is not worth following; `leadgen calls` shows it later.
WAIT_LIMIT_SECONDS = 45 * 60.0

CallSink = Callable[[Call], Awaitable[None]]


def call_finished(call: Call) -> bool:
    """Ended and metered (or ended with nothing to meter), or failed."""
    return call.status == "failed" or (
        call.status == "ended" and (call_metering(call) is not None or call.billing_seconds is None)
    )


ENDED_REASONS = {
    "customer-ended-call": "the lead hung up",
    "assistant-ended-call": "the assistant ended it",
    "customer-did-not-answer": "nobody answered",
    "customer-busy": "the line was busy",
    "voicemail": "it reached voicemail",
    "silence-timed-out": "the line went silent",
    "exceeded-max-duration": "it reached the maximum length",
    "twilio-failed-to-connect-call": "it could not connect",
}


def talk_time(seconds: float | None) -> str:
    if seconds is None:
        return "unknown length"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} second{'s' if whole != 1 else ''}"
    minutes, rest = divmod(whole, 60)
    shown = f"{minutes} minute{'s' if minutes != 1 else ''}"
    return shown + (f" {rest} s" if rest else "")


def call_report(call: Call, lead_name: str) -> str:
    """One sentence on how the call ended and what it cost (for a chat or Slack thread)."""
    if call.status == "failed":
        error = (call.metadata_ or {}).get("error")
        return f"The call to {lead_name} failed" + (f": {error}." if error else ".")
    if not call_finished(call):
        return f"The call to {lead_name} is still {call.status.replace('-', ' ')}; ask me about it later."
    reason = ENDED_REASONS.get(call.ended_reason or "", (call.ended_reason or "ended").replace("-", " "))
    text = f"The call to {lead_name} ended ({reason}) after {talk_time(call.billing_seconds)}: {billed_text(call)}."
    if call.summary:
        text += f" Summary: {call.summary}"
    return text


async def follow_call(
    calls: CallService,
    call: Call,
    *,
    on_update: CallSink | None = None,
    on_poll_error: Callable[[VapiError], None] | None = None,
    poll_seconds: float = POLL_SECONDS,
    limit_seconds: float = WAIT_LIMIT_SECONDS,
) -> Call:
    """Poll until the call has ended and is metered (or failed, or the limit passes); the call as
    last read. `on_update` hears every change of status or metering."""
    deadline = time.monotonic() + limit_seconds
    seen = (call.status, call_metering(call) is not None)
    while not call_finished(call) and time.monotonic() < deadline:
        await asyncio.sleep(poll_seconds)
        try:
            call = await calls.refresh_call(call.agency_id, call.id)
        except VapiError as exc:  # a poll that failed: the webhook may still arrive
            if on_poll_error is not None:
                on_poll_error(exc)
            call = await calls.get_call(call.agency_id, call.id)
        now = (call.status, call_metering(call) is not None)
        if now != seen and on_update is not None:
            seen = now
            await on_update(call)
    return call


class CallFollower:
    """Follows calls as tasks of this process: one task per call, any number of subscribers,
    each told of every change and of the end (a failing subscriber is dropped, never the call)."""

    def __init__(self, calls: CallService, *, poll_seconds: float = POLL_SECONDS) -> None:
        self.calls = calls
        self.poll_seconds = poll_seconds
        self._tasks: dict[str, asyncio.Task[Call | None]] = {}
        self._sinks: dict[str, list[CallSink]] = {}

    def following(self, call_id: str) -> bool:
        task = self._tasks.get(call_id)
        return task is not None and not task.done()

    def follow(self, agency_id: str, call_id: str, *, on_update: CallSink | None = None) -> None:
        """Follow the call (unless already followed) and tell `on_update` of its changes."""
        if on_update is not None:
            self._sinks.setdefault(call_id, []).append(on_update)
        if not self.following(call_id):
            self._tasks[call_id] = asyncio.create_task(
                self._run(agency_id, call_id), name=f"leadgen-call-{call_id}"
            )

    async def recover(
        self,
        *,
        within_seconds: float = WAIT_LIMIT_SECONDS,
        report_to: Callable[[Call], CallSink | None] | None = None,
    ) -> list[str]:
        """Follow again the calls a stopped process left unfinished: placed at Vapi in the last
        `within_seconds` and not yet ended and metered (start-up sweep, every agency). Their
        outcome and charge are recorded as if nothing had happened; the ids followed.
        `report_to(call)` may give a subscriber for a call (the face that placed it, from its
        `call_origin`), which hears its changes and its end like any other."""
        since = utcnow() - timedelta(seconds=within_seconds)
        async with self.calls.db.reader() as repo:
            swept = await repo.sweep_open_calls(LIVE_STATUSES | {"ended"}, since)
        open_calls = [call for call in swept if not call_finished(call)]
        for call in open_calls:
            self.follow(call.agency_id, call.id, on_update=report_to(call) if report_to else None)
        if open_calls:
            log.info("following %d call(s) left unfinished by a stopped process", len(open_calls))
        return [call.id for call in open_calls]

    async def wait(self, call_id: str) -> Call | None:
        task = self._tasks.get(call_id)
        if task is None:
            return None
        with contextlib.suppress(asyncio.CancelledError):
            return await asyncio.shield(task)
        return None

    async def aclose(self) -> None:
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _tell(self, call: Call) -> None:
        for sink in list(self._sinks.get(call.id, [])):
            try:
                await sink(call)
            except Exception:  # a closed tab must never stop the call being followed
                log.warning("dropping a subscriber of call %s", call.id, exc_info=True)
                with contextlib.suppress(ValueError):
                    self._sinks[call.id].remove(sink)

    async def _run(self, agency_id: str, call_id: str) -> Call | None:
        async def progress(call: Call) -> None:
            if not call_finished(call):  # the end is told once, below
                await self._tell(call)

        try:
            call = await self.calls.get_call(agency_id, call_id)
            call = await follow_call(
                self.calls,
                call,
                on_update=progress,
                on_poll_error=lambda exc: log.warning("polling call %s: %r", call_id, exc),
                poll_seconds=self.poll_seconds,
            )
            await self._tell(call)
        except Exception:  # a background task has nobody else to report to
            log.exception("following call %s failed", call_id)
            return None
        finally:
            self._sinks.pop(call_id, None)
        return call
