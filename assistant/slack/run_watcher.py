"""The live run message: one Slack message kept in step with one run, by the one watch loop
(graphs/run_watch.py); the paywall in its thread; the top leads once it completes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError, SlackClientError

from assistant import slack_blocks as kit
from assistant.agent import (
    resume_flow,
)
from assistant.slack.workspaces import Place, Workspace
from graphs.auto_resume import AUTO_RESUME
from graphs.run_snapshot import RunSnapshot
from graphs.run_watch import RunWatch
from graphs.service import RunNotFound, RunService
from graphs.wording import run_status_label

if TYPE_CHECKING:
    from assistant.slack.adapter import SlackAdapter

log = logging.getLogger(__name__)


class RunWatcher:
    """Keeps one Slack message in step with one run: edited as phases advance (throttled), the
    paywall posted in its thread when the run pauses, the top leads once it completes.

    Draws what the run's watch loop yields (graphs/run_watch.py: woken by the run's events when
    this process executes it, and by a timer when another process does: the web UI, the CLI, a
    worker)."""

    # Class attributes so tests can shorten them.
    POLL_SECONDS = 1.0
    MIN_LOOP_SECONDS = 0.2  # events can arrive by the hundred; reading the run that often is waste
    MIN_EDIT_SECONDS = 1.0  # Slack's chat.update budget is about one a second per channel
    PROGRESS_EDIT_SECONDS = 3.0  # edits that only move a percentage wait longer
    WATCH_LIMIT_SECONDS = 6 * 3600.0  # then stop; a Resume click attaches a new watcher

    def __init__(self, adapter: SlackAdapter, ws: Workspace, run_id: str, place: Place, ts: str) -> None:
        self.adapter = adapter
        self.ws = ws
        self.run_id = run_id
        self.place = place
        self.ts = ts
        self.shown = ""
        self.shown_phases: tuple[Any, ...] = ()
        self.last_edit = 0.0
        self.edits = 0
        self.paywall_key: str | None = None
        self.paywall_ts: str | None = None
        self.paywall_text = ""
        self.funded_since: float | None = None  # when the balance was first seen covering the step
        self.auto_resumed_at: float | None = None
        self.task: asyncio.Task[None] | None = None
        self.watch = RunWatch(
            self.runs,
            ws.agency_id,
            run_id,
            events=adapter.background,
            poll_seconds=self.POLL_SECONDS,
            min_interval=self.MIN_LOOP_SECONDS,
            final_leads=True,
            limit_seconds=self.WATCH_LIMIT_SECONDS,
        )

    @property
    def runs(self) -> RunService:
        return self.adapter.services.runs

    def poke(self) -> None:
        self.watch.poke()

    def start(self) -> None:
        self.task = self.adapter.spawn(self.loop(), name=f"slack-run-{self.run_id}")

    async def loop(self) -> None:
        try:
            async for snap in self.watch:
                if snap.ended:
                    await self.finish(snap)
                    return
                await self.draw(snap)
                if snap.paused:
                    await self.paused(snap)
                    self.watch.repeat()  # the balance is not in the snapshot: look again next time
                elif self.paywall_key is not None:
                    await self.close_paywall("Credits covered: the run resumed.")
        except RunNotFound:
            return
        finally:
            self.watch.close()
            self.adapter.forget(self)

    async def draw(self, snap: RunSnapshot, *, final: bool = False) -> None:
        """Edit the message when what it shows changed and the throttle allows: phase changes
        after MIN_EDIT_SECONDS, progress-only changes after PROGRESS_EDIT_SECONDS. The final
        edit waits out the throttle instead of being skipped; a skipped one is drawn when the
        watch loop comes back (it repeats the snapshot)."""
        run = snap.run
        blocks = kit.run_blocks(snap)
        rendered = json.dumps(blocks, sort_keys=True)
        if rendered == self.shown:
            return
        phases = (run["status"], *((p["name"], p["status"]) for p in run["phases"]))
        interval = (
            self.MIN_EDIT_SECONDS if final or phases != self.shown_phases else self.PROGRESS_EDIT_SECONDS
        )
        wait = self.last_edit + interval - time.monotonic()
        if wait > 0:
            if not final:
                self.watch.repeat()  # back within POLL_SECONDS, with the latest state
                return
            await asyncio.sleep(wait)
        self.last_edit = time.monotonic()
        try:
            await self.ws.client.chat_update(
                channel=self.place.channel, ts=self.ts, text=kit.run_text(snap), blocks=blocks
            )
        except SlackApiError as exc:
            # Still rate limited after slack_sdk's Retry-After retries, or the message is gone:
            # the run goes on, and the next draw carries the latest state.
            log.warning("could not edit the run message of %s: %s", self.run_id, exc.response.get("error"))
            return
        self.shown, self.shown_phases = rendered, phases
        self.edits += 1

    async def finish(self, snap: RunSnapshot) -> None:
        if self.paywall_key is not None:
            await self.close_paywall(f"The run is {run_status_label(snap.status)}.")
        await self.draw(snap, final=True)

    # -- the paywall ------------------------------------------------------------------------

    async def paused(self, snap: RunSnapshot) -> None:
        """Post the paywall once per pause; resume by the shared rule (graphs/auto_resume.py, as
        the web UI does) once the balance covers the step, which also covers an upgrade made in
        another face. The run service decides; only one face resumes."""
        gap = await self.runs.resume_gap(self.ws.agency_id, self.run_id)
        block = snap.billing_block
        key = block.pause_key if block is not None else "pause"
        now = time.monotonic()
        if not gap.enough:
            self.funded_since = None
        elif self.funded_since is None:
            self.funded_since = now
        if AUTO_RESUME.due(funded_since=self.funded_since, last_try=self.auto_resumed_at, now=now):
            self.auto_resumed_at = now
            flow = await self.runs.get(self.ws.agency_id, self.run_id)
            result = await resume_flow(self.adapter.context(self.ws, None, self.place), flow)
            if result["status"] in ("resuming", "running"):
                await self.close_paywall(f"Credits available ({gap.balance}): the run is resuming.")
                self.watch.poke()
            if result["status"] != "paused_for_upgrade":
                return
        if key == self.paywall_key:
            return
        await self.close_paywall(None)
        plans, note = self.adapter.paywall_offer(self.ws)
        raw = dict(block.raw) if block is not None else {}
        blocks = kit.run_paywall_blocks(self.run_id, raw, gap.as_dict(), plans, key, note)
        self.paywall_text = blocks[0]["text"]["text"]
        posted = await self.adapter.post(
            self.ws, Place(self.place.channel, self.place.thread_ts or self.ts), self.paywall_text, blocks
        )
        self.paywall_key, self.paywall_ts = key, posted

    async def close_paywall(self, note: str | None) -> None:
        """Take the buttons off the paywall (and say why), so it cannot be clicked again."""
        if self.paywall_ts is not None and note:
            blocks = [kit.section(self.paywall_text), kit.context(note)]
            with contextlib.suppress(SlackClientError):
                await self.ws.client.chat_update(
                    channel=self.place.channel, ts=self.paywall_ts, text=note, blocks=blocks
                )
        self.paywall_key, self.paywall_ts = None, None
