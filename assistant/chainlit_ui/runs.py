"""The live view of one run: a progress message and the session's Tasks panel, redrawn from
each snapshot of the run's watch loop; its result (leads table, failure, cancellation) when it
ends; and, while it is paused for credits, the paywall with its Upgrade buttons, balance polling
and the visible countdown before it asks the run service to resume (graphs/auto_resume.py, the
rule Slack follows too; the run service decides).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import chainlit as cl

from assistant.agent import PLANS, ChatContext, resume_flow, upgrade_offer
from assistant.chainlit_ui.leads import send_leads
from assistant.chainlit_ui.lifecycle import STATE
from assistant.chainlit_ui.session import session_agency
from assistant.chainlit_views import paywall_markdown, progress_markdown, task_list, view_id
from db.statuses import FlowStatus
from graphs.auto_resume import AUTO_RESUME
from graphs.run_snapshot import RunSnapshot
from graphs.run_watch import RunWatch
from graphs.service import RunNotFound
from graphs.views import run_notes
from graphs.wording import plural

POLL_SECONDS = 1.5  # read interval without events (runs executed by another process)
RESTATE_SECONDS = 30.0  # an unchanged run is drawn again this often (its times read "... ago")
TERMINAL = ("completed", "error", "cancelled")


# --------------------------------------------------------------------------------------------
# Live view of one run
#
# Each run a thread shows has stable message ids (per thread, run and part), so a reopened thread
# redraws the same messages in place - progress, paywall, results - instead of adding a second,
# current copy under a stale one. The Tasks panel is one list per session covering every run the
# session follows.


class SessionTasks:
    """The session's one Tasks panel: the phases of every run it follows (assistant/chainlit_views.py
    draws it), sent again only when it changed."""

    def __init__(self) -> None:
        self.tasklist = cl.TaskList(status="Ready")
        self.runs: dict[str, RunSnapshot] = {}
        self.shown = ""

    async def show(self, snap: RunSnapshot) -> None:
        self.runs[snap.id] = snap
        tasks, overall = task_list(self.runs)
        signature = repr([(t.title, t.status) for t in tasks] + [overall])
        if signature != self.shown:
            self.shown = signature
            self.tasklist.tasks, self.tasklist.status = tasks, overall
            await self.tasklist.send()


def _session_tasks() -> SessionTasks:
    tasks: SessionTasks | None = cl.user_session.get("tasks")
    if tasks is None:
        tasks = SessionTasks()
        cl.user_session.set("tasks", tasks)
    return tasks


class RunView:
    """One session's live view of one run: draws each snapshot the run's watch loop yields
    (graphs/run_watch.py: woken by the run's events and by a timer) until the run ends.
    `existing` maps the ids of messages the thread already holds to their creation times."""

    def __init__(self, run_id: str, existing: dict[str, str] | None = None) -> None:
        self.run_id = run_id
        self.agency_id = session_agency()
        self.username = cl.user_session.get("username")
        self.thread_id = cl.context.session.thread_id
        self.existing = existing or {}
        self.tasks = _session_tasks()
        self.watch = RunWatch(
            STATE.chat.runs,
            self.agency_id,
            run_id,
            events=STATE.chat.background,
            poll_seconds=POLL_SECONDS,
            final_leads=True,
            restate_seconds=RESTATE_SECONDS,  # "Last: ... · 2 minutes ago" moves on by itself
        )
        self.message = self.stable_message("progress", "Starting the run…")
        self.shown = ""
        self.paywall_key: str | None = None
        self.paywall: cl.Message | None = None
        self.countdown: asyncio.Task[None] | None = None
        self.task: asyncio.Task[None] | None = None

    def stable_message(self, part: str, content: str, **kw: Any) -> cl.Message:
        """This run's `part` message: the same id (and creation time) every time it is drawn."""
        ident = view_id(self.thread_id, self.run_id, part)
        return cl.Message(id=ident, content=content, created_at=self.existing.get(ident), **kw)

    def shown_before(self, part: str) -> bool:
        return view_id(self.thread_id, self.run_id, part) in self.existing

    def context(self) -> ChatContext:
        return STATE.chat.context(self.agency_id, user_id=self.username, thread_id=self.thread_id)

    def stop(self) -> None:
        self.watch.close()
        for task in (self.countdown, self.task):
            if task is not None and task is not asyncio.current_task():
                task.cancel()

    async def start(self) -> None:
        await self.message.send()
        # The task inherits this handler's Chainlit context: it draws in this session.
        self.task = asyncio.create_task(self.loop(), name=f"view-{self.run_id}")

    async def loop(self) -> None:
        try:
            async for snap in self.watch:
                await self.draw(snap)
                if snap.paused:
                    await self.show_paywall(snap)
                elif self.paywall_key is not None:
                    await self.close_paywall("Credits covered: the run resumed.")
                if snap.ended:
                    await self.finish(snap)
        except RunNotFound:
            return
        finally:
            self.stop()
            views: dict[str, RunView] = cl.user_session.get("views") or {}
            if views.get(self.run_id) is self:
                views.pop(self.run_id)

    async def draw(self, snap: RunSnapshot) -> None:
        text = progress_markdown(snap)
        if text != self.shown:
            self.shown = text
            self.message.content = text
            await self.message.update()
        await self.tasks.show(snap)

    async def finish(self, snap: RunSnapshot) -> None:
        if self.shown_before("result"):
            return  # the thread already holds it (and its table and CSV)
        label = snap.campaign_label
        if snap.status == FlowStatus.COMPLETED:
            offer = await STATE.chat.runs.scoring_note(self.agency_id)
            await send_leads(
                self.run_id,
                snap.lead_list,
                title=f"Run finished · {label}",
                notes=[*run_notes(snap.run), *([offer] if offer else [])],
                message=self.stable_message("result", ""),
            )
        elif snap.status == FlowStatus.ERROR:
            message = self.stable_message(
                "result", f"The run for {label} failed: {snap.error or 'unknown error'}"
            )
            await message.send()
        else:
            await self.stable_message("result", f"The run for {label} was cancelled.").send()

    # -- the paywall -----------------------------------------------------------------------

    async def show_paywall(self, snap: RunSnapshot) -> None:
        block = snap.billing_block
        key = block.pause_key if block is not None else "pause"
        if key == self.paywall_key:
            return
        await self.close_paywall(None)
        self.paywall_key = key
        gap = await STATE.chat.runs.resume_gap(self.agency_id, self.run_id)
        offer = await upgrade_offer(self.context())
        plans = PLANS if offer.allowed else ()
        content = paywall_markdown(snap, gap, plans=plans, offer_message=offer.message)
        # Upgrade buttons only where they can do something for this person.
        actions = [
            cl.Action(
                name="upgrade",
                payload={"run_id": self.run_id, "plan": p.id, "pause": key},
                label=f"Upgrade: {p.name} (+{p.credits})",
            )
            for p in plans
        ]
        actions.append(
            cl.Action(name="resume_paused", payload={"run_id": self.run_id}, label="I've upgraded — resume")
        )
        # The same message for the same pause: a reopened thread shows it once, buttons included.
        self.paywall = self.stable_message(f"paywall/{key}", content, actions=actions)
        await self.paywall.send()
        self.countdown = asyncio.create_task(self.wait_for_credits(key))

    async def close_paywall(self, note: str | None) -> None:
        if self.countdown is not None and self.countdown is not asyncio.current_task():
            self.countdown.cancel()
        self.countdown = None
        if self.paywall is not None:
            for action in self.paywall.actions:
                with contextlib.suppress(Exception):
                    await action.remove()
            self.paywall.actions = []
            if note:
                self.paywall.content += f"\n\n**{note}**"
                await self.paywall.update()
        self.paywall, self.paywall_key = None, None

    async def wait_for_credits(self, key: str) -> None:
        """Poll the balance; once it covers the paused step, count down visibly, then ask the
        run service to resume (graphs/auto_resume.py: the rule Slack follows too). When the
        service finds the credits short after all, ask again no sooner than its retry delay."""
        rule = AUTO_RESUME
        last_try: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(rule.poll_seconds)
            flow = await STATE.chat.runs.get(self.agency_id, self.run_id)
            if flow.status != FlowStatus.PAUSED_FOR_UPGRADE or self.paywall_key != key:
                return
            gap = await STATE.chat.runs.resume_gap(self.agency_id, self.run_id)
            if not gap.enough or (last_try is not None and loop.time() - last_try < rule.retry_seconds):
                continue
            notice = cl.Message(content="")
            for left in range(rule.countdown_seconds, 0, -1):
                notice.content = f"{plural(gap.balance, 'credit')} available. Resuming the run in {left} s…"
                await (notice.update() if left < rule.countdown_seconds else notice.send())
                await asyncio.sleep(1)
            last_try = loop.time()
            flow = await STATE.chat.runs.get(self.agency_id, self.run_id)
            result = await resume_flow(self.context(), flow)
            notice.content = result["message"]
            await notice.update()
            self.watch.poke()
            if result["status"] != "paused_for_upgrade":
                return


async def watch(run_id: str, existing: dict[str, str] | None = None) -> RunView:
    """The session's live view of `run_id` (started when there is none yet)."""
    views: dict[str, RunView] = cl.user_session.get("views") or {}
    cl.user_session.set("views", views)
    view = views.get(run_id)
    if view is not None and view.task is not None and not view.task.done():
        view.watch.poke()
        return view
    view = RunView(run_id, existing)
    views[run_id] = view
    await view.start()
    return view
