"""The Slack adapter (slack-bolt, async): the same agent, runs and calls as the web UI, in Slack.

`leadgen serve` mounts it at `POST /slack/events` (HTTP mode: Bolt verifies every request's
signature with SLACK_SIGNING_SECRET and answers 401 to a bad or stale one). With SLACK_APP_TOKEN
set it also connects over Socket Mode (no public URL needed). The bot posts with
`tools.slack.slack_web_client(settings)`, so SLACK_BOT_TOKEN or the sandbox's Slack Web API.

What it does:

* `/leads 10 dentists in Austin, TX` starts a run (validated like the CLI; bad input gets an
  ephemeral explanation and writes nothing) and posts ONE message that is edited as the run
  advances (throttled: at most one edit a second, progress-only edits less often); when the run
  completes the same message shows the top leads with score, fit reason and per-lead Dossier
  (a modal) and Call buttons. A dossier's Share report button posts a share link to the lead's
  branded report and uploads its PDF as a file there (Slack's external upload:
  `files_upload_v2`), as the agent's share_report does; when the upload fails the message links
  the PDF (`/r/<token>/report.pdf`) instead.
* `@Atlas ...` mentions and direct messages go to the chat agent (assistant/agent.py); a Slack
  thread is one conversation (`slack:{team}:{channel}:{thread_ts}`), answered in the thread, and
  the rich results of its tools (a started run, leads, a dossier, a checkout) are drawn as blocks.
* A run paused for credits gets a paywall reply (phase, feature, balance, required, deficit) with
  an Upgrade button per plan where upgrading is possible (self-service grants through
  `assistant.agent.upgrade`, with the same idempotency key as the web UI's plan choice; Autumn:
  a checkout link; otherwise no buttons, and the reply says to ask the administrator) and Resume. Resume
  goes through `assistant.agent.resume_flow` -> `RunService.resume_if_funded`, which decides
  under the flow's lease, so a run started in the web UI or the CLI resumes from Slack and the
  reverse, once. Like the web UI, a watched paused run resumes by itself once the balance covers
  its next step, by the same rule (graphs/auto_resume.py).

Tenancy. A workspace (team id) maps to one agency through `slack_installs`. Single-workspace
set-up outside production: while NO workspace is installed, the first team that contacts us is
connected to the default agency (LEADGEN_AGENCY) and recorded; every other unknown team is
refused from then on. In production nothing connects itself: an operator (`leadgen slack
install`) or an agency admin does.

Roles (graphs/accounts.py): a Slack user is a member of the workspace's agency unless linked to
an admin user (`leadgen user link-slack`). The paywall shows Upgrade buttons only where this
installation lets anyone upgrade (a checkout, or free self-service credits), and a member's
click on one is refused in an ephemeral reply that says to ask the administrator.
Button values carry ids only, and every id is looked up within the clicking team's agency, so a
forged value reads as "not available".

Slack redelivers an event it thinks we missed (same `event_id`, `X-Slack-Retry-Num`); each event
is recorded in the webhook inbox (provider "slack") before it is processed, so it runs once.

Everything slow happens after the ack: listeners ack (Bolt answers Slack at once, well within its
3 s) and hand the work to `SlackAdapter.spawn` (graphs/executors.py `BackgroundTasks`), whose
tasks are awaited on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from assistant import slack_blocks as kit
from assistant.agent import (
    AgentTurn,
    ChatAgent,
    ChatContext,
    ChatServices,
    plan_by_id,
    plans_json,
    resume_flow,
    share_json,
    start_confirmed_run,
    upgrade,
)
from assistant.chat_tools.artifacts import (
    CallPrepared,
    CheckoutOpened,
    DossierShown,
    LeadsShown,
    ReportShared,
    ResumeAnswered,
    RunNeedsConfirmation,
    RunStarted,
    RunStatusShown,
    UpgradeOffered,
)
from assistant.cli.parsing import InvalidInput, parse_count, parse_geography, parse_vertical
from assistant.report_page import PdfRenderFailed, pdf_file_name, render_pdf
from db.models import Call
from graphs import accounts, webhook_inbox
from graphs.auto_resume import AUTO_RESUME
from graphs.call_follower import CallFollower, call_finished, call_report
from graphs.call_tools import place_call
from graphs.calls import CallService, call_origin
from graphs.executors import BackgroundTasks, Executor
from graphs.reports import ReportNotFound, ReportService
from graphs.run_input import MAX_LEADS, MIN_LEADS
from graphs.run_snapshot import RunSnapshot
from graphs.run_watch import RunWatch
from graphs.service import BadRunInput, RunNotFound, RunService
from graphs.views import lead_json
from graphs.wording import run_status_label
from leadgen.settings import MissingProviderKey, Settings
from tools.billing.port import BillingError
from tools.slack import respond, slack_web_client

log = logging.getLogger(__name__)

SLACK_EVENTS_PATH = "/slack/events"
LEADS_COMMAND = "/leads"
MAX_BODY_BYTES = 512 * 1024  # Slack's payloads are a few KB; refuse floods before Bolt parses them
TERMINAL = ("completed", "error", "cancelled")
NOT_CONNECTED = (
    "This Slack workspace is not connected to an Atlas agency, so I can't act here. "
    "Ask your Atlas admin to connect it."
)
CANNOT_POST = (
    "I'm not in this channel, so I can't post the run here. Invite me (`/invite @Atlas`) or use "
    "`/leads` in a channel I'm in. Nothing was started."
)
USAGE = (
    f"Usage: `{LEADS_COMMAND} [N] VERTICAL in GEOGRAPHY`, for example "
    f"`{LEADS_COMMAND} 10 dentists in Austin, TX` (N: {MIN_LEADS}-{MAX_LEADS}, default 10)."
)
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
_COUNT_FIRST = re.compile(r"^(\S+)\s+(.*)$", re.DOTALL)
# A leading word that is meant as the count, also when it is wrong ("-3", "0", "1.5", "99").
_NUMBER = re.compile(r"[-+]?[0-9][0-9.,]*")


# --------------------------------------------------------------------------------------------
# Parsing `/leads`


@dataclass(frozen=True)
class LeadsRequest:
    num_leads: int
    vertical: str
    geography: str


def parse_leads_command(text: str) -> LeadsRequest:
    """`[N] VERTICAL in GEOGRAPHY` -> LeadsRequest; InvalidInput (message for the user) otherwise.

    The count is the first word when it is a number, signed or not (so `-3`, `0` and `1.5` are
    refused with the CLI's message, not read as part of the vertical); the geography is what follows the LAST " in "
    ("coffee shops in Brooklyn in New York" keeps "coffee shops in Brooklyn" as the vertical)."""
    words = text.strip()
    if not words or words.lower() in ("help", "?"):
        raise InvalidInput("campaign", "tell me what to find and where")
    count = 10
    match = _COUNT_FIRST.match(words)
    if match and _NUMBER.fullmatch(match.group(1)):
        count = parse_count(match.group(1))
        words = match.group(2).strip()
    elif _NUMBER.fullmatch(words):
        parse_count(words)  # a lone number: its own message when it is out of range
        raise InvalidInput("campaign", "tell me what to find and where")
    head, sep, tail = words.rpartition(" in ")
    if not sep:
        head, sep, tail = words.rpartition(" IN ")
    if not sep:
        raise InvalidInput("campaign", f"{words[:60]!r} needs a place: 'VERTICAL in GEOGRAPHY'")
    return LeadsRequest(count, parse_vertical(head), parse_geography(tail))


# --------------------------------------------------------------------------------------------
# Workspaces


@dataclass(frozen=True)
class Workspace:
    """A Slack team and the agency it acts for; `client` posts with the team's bot token."""

    team_id: str
    agency_id: str
    client: AsyncWebClient


@dataclass(frozen=True)
class Place:
    """Where to answer: a channel, and the thread to reply in (None: the channel itself)."""

    channel: str
    thread_ts: str | None = None


def slack_user(team_id: str, user_id: str) -> str:
    """The user id our rows carry (flows, calls) for a Slack user; its role comes from
    graphs/accounts.py (a member unless linked to an admin user)."""
    return accounts.slack_actor_id(team_id, user_id)


def conversation_id(team_id: str, channel: str, thread_ts: str | None) -> str:
    """The agent's thread id: one conversation per Slack thread (`main` for a DM's top level)."""
    return f"slack:{team_id}:{channel}:{thread_ts or 'main'}"


# --------------------------------------------------------------------------------------------
# The live run message


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


# --------------------------------------------------------------------------------------------
# The adapter


class SlackAdapter:
    """The Bolt app, its listeners, and the work they start. One per process."""

    def __init__(
        self,
        services: ChatServices,
        client: AsyncWebClient,
        *,
        signing_secret: str | None,
        default_agency: str,
    ) -> None:
        self.services = services
        self.client = client
        self.default_agency = default_agency
        self.background: Executor = services.background
        self.tasks = BackgroundTasks("Slack work")
        self._watchers: dict[tuple[str, str, str], RunWatcher] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._team_clients: dict[str, AsyncWebClient] = {}
        # The listeners only ack and spawn, so Bolt may wait for them before answering: the
        # answer is still immediate, and no work is started after the response is gone.
        self.bolt = AsyncApp(
            client=client,
            signing_secret=signing_secret or None,
            request_verification_enabled=bool(signing_secret),
            process_before_response=True,
            name="atlas-leadgen",
        )
        self.http = AsyncSlackRequestHandler(self.bolt) if signing_secret else None
        self._register()

    # -- plumbing ---------------------------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[None]:
        """Run `work` after the ack; kept referenced, failures logged, awaited on shutdown."""
        return self.tasks.spawn(work, name)

    async def drain(self, seconds: float = 30.0) -> None:
        """Wait for the work started so far (and what it starts) to finish; watchers excluded."""

        def watching() -> set[asyncio.Task[Any]]:
            return {w.task for w in self._watchers.values() if w.task is not None}

        await self.tasks.drain(seconds, exclude=watching)

    async def aclose(self) -> None:
        await self.tasks.aclose()

    def context(self, ws: Workspace, user: str | None, place: Place | None) -> ChatContext:
        thread = conversation_id(ws.team_id, place.channel, place.thread_ts) if place else None
        return self.services.context(
            ws.agency_id, user_id=slack_user(ws.team_id, user) if user else None, thread_id=thread
        )

    async def workspace(self, team_id: str | None) -> Workspace | None:
        """The agency a team acts for: its install, else (no install at all yet) the default
        agency, claimed for this team; None for any other unknown team."""
        if not team_id:
            return None
        install = await self.services.accounts.slack_workspace(team_id, self.default_agency)
        if install is None:
            return None
        return Workspace(team_id, install.agency_id, self._client_for(team_id, install.bot_token))

    def _client_for(self, team_id: str, bot_token: str | None) -> AsyncWebClient:
        if not bot_token or bot_token == self.client.token:
            return self.client
        cached = self._team_clients.get(team_id)
        if cached is None or cached.token != bot_token:
            cached = AsyncWebClient(
                token=bot_token, base_url=self.client.base_url, timeout=self.client.timeout
            )
            cached.retry_handlers = list(self.client.retry_handlers)
            self._team_clients[team_id] = cached
        return cached

    async def post(
        self, ws: Workspace, place: Place, text: str, blocks: list[kit.Block] | None = None
    ) -> str | None:
        """Post a message (in the thread when the place has one); its ts, None when Slack refused."""
        try:
            response = await ws.client.chat_postMessage(
                channel=place.channel, thread_ts=place.thread_ts, text=kit.cut(text, 39_000), blocks=blocks
            )
        except SlackClientError as exc:
            log.warning("could not post to %s: %s", place.channel, exc)
            return None
        ts = response.get("ts")
        return str(ts) if ts else None

    def paywall_offer(self, ws: Workspace) -> tuple[list[dict[str, Any]], str]:
        """The plans a paywall shows (none when credits come from the administrator) and the
        sentence saying how credits are added. A channel's paywall is seen by admins and members
        alike: a member's click is refused then (`upgrade_plan`)."""
        offer = accounts.upgrade_offer(self.services.settings, ws.agency_id, None)
        return (plans_json() if offer.allowed else []), offer.message

    async def tell(self, ws: Workspace, place: Place, user: str, text: str) -> None:
        """An ephemeral message: only `user` sees it."""
        try:
            await ws.client.chat_postEphemeral(
                channel=place.channel, user=user, text=text, thread_ts=place.thread_ts
            )
        except SlackClientError as exc:
            log.warning("could not tell %s in %s: %s", user, place.channel, exc)

    async def answer_command(
        self, ws: Workspace, place: Place, user: str, text: str, response_url: str | None
    ) -> None:
        """Tell a command's user something only they see: through the command's response URL,
        which works in any channel, else as an ephemeral message."""
        if response_url:
            try:
                if await respond(response_url, text, web_api_base=ws.client.base_url):
                    return
                log.warning("the response URL of a command in %s was refused or not Slack's", place.channel)
            except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("could not answer through the response URL: %s", exc)
        await self.tell(ws, place, user, text)

    async def first_delivery(self, body: dict[str, Any]) -> bool:
        """Record the event in the webhook inbox; False for a redelivery (processed before)."""
        event = body.get("event") or {}
        event_id = str(body.get("event_id") or "")
        if not event_id:
            return True  # nothing to deduplicate on (Slack always sends one with events)
        summary = {
            "team_id": body.get("team_id"),
            "event": {
                k: event.get(k) for k in ("type", "channel", "user", "ts", "thread_ts", "channel_type")
            },
        }
        return await webhook_inbox.first_delivery(
            self.services.database, "slack", event_id, str(event.get("type") or ""), summary
        )

    async def mark(self, body: dict[str, Any], status: str, error: str | None = None) -> None:
        event_id = str(body.get("event_id") or "")
        if event_id:
            await webhook_inbox.mark_delivery(self.services.database, "slack", event_id, status, error)

    # -- runs -------------------------------------------------------------------------------

    def watcher_of(self, run_id: str) -> RunWatcher | None:
        return next((w for (rid, _, _), w in self._watchers.items() if rid == run_id), None)

    def forget(self, watcher: RunWatcher) -> None:
        key = (watcher.run_id, watcher.place.channel, watcher.ts)
        if self._watchers.get(key) is watcher:
            del self._watchers[key]

    async def watch(
        self, ws: Workspace, run_id: str, place: Place, ts: str | None = None
    ) -> RunWatcher | None:
        """The live message of a run: the existing watcher of this run (poked), else a new one on
        message `ts`, else on a new message posted at `place`."""
        existing = self.watcher_of(run_id)
        if existing is not None:
            existing.poke()
            return existing
        if ts is None:
            snap = await self.services.runs.snapshot(ws.agency_id, run_id)
            ts = await self.post(ws, place, kit.run_text(snap), kit.run_blocks(snap))
            if ts is None:
                return None
        watcher = RunWatcher(self, ws, run_id, place, ts)
        self._watchers[(run_id, place.channel, ts)] = watcher
        watcher.start()
        return watcher

    async def start_run(
        self, ws: Workspace, place: Place, user: str, request: LeadsRequest, response_url: str | None = None
    ) -> None:
        """`/leads`: post the message first (a channel we cannot post in gets an explanation and
        no run), then create the flow, launch it and keep the message in step.

        Where the bot is not a member Slack refuses the ephemeral as well (`not_in_channel`,
        `channel_not_found`), so the explanation goes through the command's `response_url`."""
        announce = (
            f"<@{user}> asked for {request.num_leads} {request.vertical} in {request.geography}: starting…"
        )
        ts = await self.post(ws, place, announce)
        if ts is None:
            await self.answer_command(ws, place, user, CANNOT_POST, response_url)
            return
        try:
            flow = await self.services.runs.start(
                ws.agency_id,
                num_leads=request.num_leads,
                vertical=request.vertical,
                geography=request.geography,
                user_id=slack_user(ws.team_id, user),
            )
        except BadRunInput as exc:
            with contextlib.suppress(SlackClientError):
                await ws.client.chat_update(channel=place.channel, ts=ts, text=f"Nothing was started: {exc}")
            return
        watcher = await self.watch(ws, flow.id, place, ts)
        self.background.launch(ws.agency_id, flow.id)
        if watcher is not None:
            watcher.poke()

    # -- conversations ----------------------------------------------------------------------

    async def converse(self, ws: Workspace, user: str, text: str, place: Place, body: dict[str, Any]) -> None:
        """One agent turn for a mention or a DM, answered at `place`; the event is marked in
        the inbox as processed or failed."""
        try:
            conversation = conversation_id(ws.team_id, place.channel, place.thread_ts)
            async with self._locks[conversation]:
                if not text:
                    await self.post(
                        ws, place, f"Ask me to find leads, e.g. _find 5 dentists in Austin, TX_. {USAGE}"
                    )
                else:
                    context = self.context(ws, user, place)
                    turn = await self.services.agent.reply(text, thread_id=conversation, context=context)
                    await self.post(ws, place, kit.mrkdwn(turn.text) or "(no answer)")
                    await self.render_turn(ws, place, user, turn)
        except Exception as exc:
            await self.mark(body, "failed", f"{type(exc).__name__}: {exc}"[:2000])
            raise
        await self.mark(body, "processed")

    async def render_turn(self, ws: Workspace, place: Place, user: str, turn: AgentTurn) -> None:
        """Blocks for what the tools handed over this turn (the answer text is already posted)."""
        for artifact in turn.artifacts:
            match artifact:
                case RunStarted(run_id=run_id) | ResumeAnswered(run_id=run_id, live=True):
                    await self.watch(ws, run_id, place)
                case RunStatusShown(run_id=run_id, live=True):
                    await self.watch(ws, run_id, place)
                case LeadsShown():
                    leads = artifact.leads
                    await self.post(
                        ws, place, f"{len(leads)} leads", kit.leads_blocks(artifact.run_id, leads)
                    )
                case DossierShown():
                    await self.post(ws, place, "Dossier", kit.dossier_blocks(artifact.dossier, artifact.lead))
                case ReportShared():
                    await self.post_share(ws, place, artifact.share, kit.share_text(artifact.share))
                case CheckoutOpened():
                    blocks = kit.checkout_blocks(artifact.message, artifact.checkout_url)
                    await self.post(ws, place, artifact.message, blocks)
                case RunNeedsConfirmation():
                    await self.post(ws, place, artifact.message, kit.run_confirm_blocks(artifact))
                case UpgradeOffered():
                    plan = next((p for p in plans_json() if p["id"] == artifact.plan_id), None)
                    if plan is not None:
                        blocks = kit.upgrade_confirm_blocks(artifact.message, plan, artifact.tool_call_id)
                        await self.post(ws, place, artifact.message, blocks)
                case CallPrepared(phone=str()):
                    # The click is the confirmation: the button places the call.
                    lead = {"id": artifact.opportunity_id, "name": artifact.lead_name}
                    await self.post(
                        ws, place, artifact.message, kit.call_confirm_blocks(artifact.message, lead)
                    )

    # -- buttons ----------------------------------------------------------------------------

    async def open_dossier(
        self, ws: Workspace, user: str, place: Place, trigger_id: str | None, opp_id: str
    ) -> None:
        runs = self.services.runs
        record = await runs.lead(ws.agency_id, opp_id) if opp_id else None
        dossier = (
            await runs.dossier(ws.agency_id, record.dossier_id) if record and record.dossier_id else None
        )
        if record is None or dossier is None:
            await self.tell(ws, place, user, "That dossier is not available.")
            return
        opp = record.opportunity
        dossier_view = await ReportService(runs.db, runs.settings).dossier_view(ws.agency_id, dossier)
        lead = lead_json(record)
        if trigger_id:
            view = kit.dossier_modal(dossier_view, lead)
            view["private_metadata"] = json.dumps({"c": place.channel, "t": place.thread_ts})
            try:
                await ws.client.views_open(trigger_id=trigger_id, view=view)
                return
            except SlackClientError as exc:  # an expired trigger (over 3 s): answer in the thread
                log.info("views.open failed (%s); posting the dossier in the thread", exc)
        await self.post(ws, place, f"Dossier · {opp.name}", kit.dossier_blocks(dossier_view, lead))

    async def share_report(self, ws: Workspace, user: str, place: Place, opp_id: str) -> None:
        """The dossier's Share report button: a new link to the lead's report and its PDF as a
        file, posted where the button was."""
        runs = self.services.runs
        opp = await runs.opportunity(ws.agency_id, opp_id) if opp_id else None
        if opp is None:
            await self.tell(ws, place, user, "That lead is not available.")
            return
        try:
            link = await ReportService(runs.db, runs.settings).share(
                ws.agency_id, opp.id, created_by=slack_user(ws.team_id, user)
            )
        except ReportNotFound:
            await self.tell(ws, place, user, "That lead is not available.")
            return
        share = share_json(opp.id, opp.name, link)
        await self.post_share(ws, place, share, f"<@{user}> {kit.share_text(share)}")

    async def post_share(self, ws: Workspace, place: Place, share: dict[str, Any], text: str) -> None:
        """A report's share link, then its PDF uploaded as a file in the same place. When the PDF
        cannot be drawn or Slack refuses the upload, the link message offers the PDF's own link
        (`/report.pdf`) instead, and the log says why."""
        pdf = await self.report_pdf(ws, str(share["opportunity_id"]))
        if pdf is None:
            await self.post(ws, place, text, kit.share_blocks(share))
            return
        ts = await self.post(ws, place, text, kit.share_blocks(share, pdf_attached=True))
        if ts is None:
            return  # Slack refused the message (logged): it refuses a file there too
        name = str(share["lead"]["name"])
        try:
            await ws.client.files_upload_v2(
                channel=place.channel,
                thread_ts=place.thread_ts,
                file=pdf,
                filename=pdf_file_name(name),
                title=f"Report for {name}",
            )
            return
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning(
                "could not upload the report PDF for %s to %s (%s); linking it instead",
                share["opportunity_id"],
                place.channel,
                exc,
            )
        try:
            await ws.client.chat_update(
                channel=place.channel, ts=ts, text=text, blocks=kit.share_blocks(share)
            )
        except SlackClientError as exc:
            log.warning("could not add the PDF link to the report message in %s: %s", place.channel, exc)

    async def report_pdf(self, ws: Workspace, opp_id: str) -> bytes | None:
        """The lead's report as a PDF, drawn now from our tables (no provider call, no credit) off
        the event loop (xhtml2pdf is CPU-bound); None, logged, when it cannot be drawn."""
        runs = self.services.runs
        try:
            report = await ReportService(runs.db, runs.settings).report(ws.agency_id, opp_id)
            return await asyncio.to_thread(render_pdf, report)
        except (ReportNotFound, PdfRenderFailed) as exc:
            log.warning("the report PDF for %s could not be drawn (%s); linking it instead", opp_id, exc)
            return None

    async def call_lead(self, ws: Workspace, user: str, place: Place, opp_id: str) -> None:
        opp = await self.services.runs.opportunity(ws.agency_id, opp_id) if opp_id else None
        if opp is None:
            await self.tell(ws, place, user, "That lead is not available.")
            return
        calls: CallService = self.services.calls
        result = await place_call(
            calls,
            ws.agency_id,
            opp.id,
            user_id=slack_user(ws.team_id, user),
            variables={"business_name": opp.name},
            origin=self.call_origin(ws, place, opp.name),
        )
        if result["ok"]:
            await self.post(ws, place, f"<@{user}> {result['message']} (lead: {opp.name})")

            async def report(call: Call) -> None:
                if call_finished(call):
                    await self.post(ws, place, call_report(call, opp.name))

            # Followed to its end whether or not Vapi can reach `leadgen serve`.
            self.services.follower.follow(ws.agency_id, result["call"]["id"], on_update=report)
        elif result["outcome"] == "insufficient_credits" and result.get("paywall"):
            plans, note = self.paywall_offer(ws)
            blocks = kit.call_paywall_blocks(opp.name, result["paywall"], plans, uuid.uuid4().hex[:12], note)
            await self.post(ws, place, result["message"], blocks)
        else:
            await self.tell(ws, place, user, result["message"])

    @staticmethod
    def call_origin(ws: Workspace, place: Place, lead_name: str) -> dict[str, str]:
        """Where a call was asked for, kept with it (`CallService.start_call`)."""
        origin = {"face": "slack", "team_id": ws.team_id, "channel": place.channel, "lead_name": lead_name}
        return origin | ({"thread_ts": place.thread_ts} if place.thread_ts else {})

    def recovered_call_reporter(self, call: Call) -> Callable[[Call], Awaitable[None]] | None:
        """For `CallFollower.recover`: a call asked for in Slack and followed again after a
        restart has its end posted where it was asked for, as the process that placed it would
        have (a workspace no longer connected to the call's agency hears nothing)."""
        origin = call_origin(call)
        if origin.get("face") != "slack" or not origin.get("team_id") or not origin.get("channel"):
            return None
        place = Place(origin["channel"], origin.get("thread_ts") or None)
        lead_name = origin.get("lead_name") or "the lead"

        async def report(updated: Call) -> None:
            if not call_finished(updated):
                return
            ws = await self.workspace(origin["team_id"])
            if ws is not None and ws.agency_id == updated.agency_id:
                await self.post(ws, place, call_report(updated, lead_name))

        return report

    async def upgrade_plan(
        self, ws: Workspace, user: str, place: Place, plan_id: str, value: dict[str, Any]
    ) -> None:
        """An Upgrade button: the web UI's plan choice (`assistant.agent.upgrade`) with the same
        idempotency key for a run's pause, so a double click, or a click in both faces, grants once."""
        plan = plan_by_id(plan_id)
        if plan is None:
            await self.tell(ws, place, user, "Unknown plan.")
            return
        nonce = str(value.get("k") or "")[:64]
        run_id = str(value.get("r") or "")
        tool_call = str(value.get("t") or "")
        if tool_call:  # the button of the agent's start_upgrade: once per that tool call
            run_id = ""
            key = accounts.upgrade_key(ws.agency_id, plan.id, tool_call_id=tool_call)
        elif run_id:
            try:
                await self.services.runs.get(ws.agency_id, run_id)
            except RunNotFound:
                await self.tell(ws, place, user, "That run is not available.")
                return
            key = accounts.upgrade_key(ws.agency_id, plan.id, run_id=run_id, pause=nonce)
        else:
            key = accounts.upgrade_key(ws.agency_id, plan.id, call_nonce=nonce or "none")
        try:
            result = await upgrade(self.context(ws, user, place), plan, key)
        except accounts.NotAllowed as exc:
            await self.tell(ws, place, user, str(exc))
            return
        except BillingError as exc:
            await self.tell(ws, place, user, f"The upgrade could not be applied: {exc}")
            return
        if result.get("checkout_url"):
            await self.post(
                ws, place, result["message"], kit.checkout_blocks(result["message"], result["checkout_url"])
            )
        else:
            await self.post(ws, place, f"{result['message']} Balance: {result['balance']} credits.")
        if run_id and (watcher := self.watcher_of(run_id)) is not None:
            watcher.poke()  # it resumes the run once the balance covers the step

    async def confirm_run(self, ws: Workspace, user: str, place: Place, value: dict[str, Any]) -> None:
        """Start the run the agent prepared; a second click finds it started and adds nothing."""
        run_id = str(value.get("r") or "")
        async with self._locks[f"start/{run_id}"]:
            result = await start_confirmed_run(
                self.context(ws, user, place),
                run_id,
                num_leads=value.get("n"),
                vertical=value.get("v"),
                geography=value.get("g"),
                refresh=value.get("f"),
            )
        if result["status"] == "started":
            await self.post(ws, place, f"<@{user}> {result['message']}")
            await self.watch(ws, str(result["run_id"]), place)
        else:
            await self.tell(ws, place, user, result["message"])

    async def resume(
        self, ws: Workspace, user: str, place: Place, run_id: str, paywall_ts: str | None
    ) -> None:
        try:
            flow = await self.services.runs.get(ws.agency_id, run_id)
        except RunNotFound:
            await self.tell(ws, place, user, "That run is not available.")
            return
        result = await resume_flow(self.context(ws, user, place), flow)
        await self.post(ws, place, f"<@{user}> {result['message']}")
        if result["status"] in ("resuming", "running", "paused_for_upgrade"):
            watcher = self.watcher_of(run_id)
            if watcher is not None and result["status"] == "resuming" and watcher.paywall_ts == paywall_ts:
                await watcher.close_paywall(f"Resumed by <@{user}>.")
            await self.watch(ws, run_id, place)

    # -- Bolt listeners ----------------------------------------------------------------------

    def _register(self) -> None:
        app = self.bolt

        @app.command(LEADS_COMMAND)
        async def on_leads(ack: Any, command: dict[str, Any]) -> None:
            try:
                request = parse_leads_command(str(command.get("text") or ""))
            except InvalidInput as exc:
                await ack(text=f"{exc}. Nothing was started.\n{USAGE}")
                return
            ws = await self.workspace(command.get("team_id"))
            if ws is None:
                await ack(text=NOT_CONNECTED)
                return
            await ack()
            place = Place(str(command["channel_id"]))
            response_url = str(command.get("response_url") or "") or None
            self.spawn(
                self.start_run(ws, place, str(command["user_id"]), request, response_url), name="slack-leads"
            )

        @app.action(kit.OPEN_DOSSIER)
        async def on_open_dossier(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
            await ack()
            clicked = await self._clicked(body)
            if clicked is not None:
                ws, user, place = clicked
                opp_id = str(kit.button_value(action.get("value")).get("o") or "")
                self.spawn(
                    self.open_dossier(ws, user, place, body.get("trigger_id"), opp_id), name="slack-dossier"
                )

        @app.action(kit.CALL_LEAD)
        async def on_call(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
            await ack()
            clicked = await self._clicked(body)
            if clicked is not None:
                ws, user, place = clicked
                opp_id = str(kit.button_value(action.get("value")).get("o") or "")
                self.spawn(self.call_lead(ws, user, place, opp_id), name="slack-call")

        @app.action(kit.SHARE_REPORT)
        async def on_share_report(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
            await ack()
            clicked = await self._clicked(body)
            if clicked is not None:
                ws, user, place = clicked
                opp_id = str(kit.button_value(action.get("value")).get("o") or "")
                self.spawn(self.share_report(ws, user, place, opp_id), name="slack-share-report")

        @app.action(kit.CONFIRM_RUN)
        async def on_confirm_run(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
            await ack()
            clicked = await self._clicked(body)
            if clicked is not None:
                ws, user, place = clicked
                value = kit.button_value(action.get("value"))
                self.spawn(self.confirm_run(ws, user, place, value), name="slack-confirm-run")

        @app.action(re.compile(rf"^{kit.UPGRADE_PREFIX}[a-z]+$"))
        async def on_upgrade(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
            await ack()
            clicked = await self._clicked(body)
            if clicked is not None:
                ws, user, place = clicked
                plan_id = str(action["action_id"]).removeprefix(kit.UPGRADE_PREFIX)
                value = kit.button_value(action.get("value"))
                self.spawn(self.upgrade_plan(ws, user, place, plan_id, value), name="slack-upgrade")

        @app.action(kit.RESUME_RUN)
        async def on_resume(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
            await ack()
            clicked = await self._clicked(body)
            if clicked is not None:
                ws, user, place = clicked
                run_id = str(kit.button_value(action.get("value")).get("r") or "")
                paywall_ts = (body.get("container") or {}).get("message_ts")
                self.spawn(self.resume(ws, user, place, run_id, paywall_ts), name="slack-resume")

        @app.action(kit.OPEN_CHECKOUT)
        async def on_checkout_link(ack: Any) -> None:
            await ack()  # a link button: Slack opens the URL; it still expects an ack

        @app.event("app_mention")
        async def on_mention(body: dict[str, Any], event: dict[str, Any]) -> None:
            await self._on_message_event(
                body, event, Place(str(event["channel"]), str(event.get("thread_ts") or event["ts"]))
            )

        @app.event("message")
        async def on_message(body: dict[str, Any], event: dict[str, Any]) -> None:
            # Only direct messages from people: channel messages reach us as app_mention, and
            # edits, joins and bot posts (our own included) carry a subtype or a bot id.
            if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
                return
            thread = event.get("thread_ts")
            await self._on_message_event(
                body, event, Place(str(event["channel"]), str(thread) if thread else None)
            )

        @app.error
        async def on_error(error: Exception, body: dict[str, Any]) -> None:
            log.error("Slack listener failed on %s: %s", body.get("type"), error, exc_info=error)

    async def _clicked(self, body: dict[str, Any]) -> tuple[Workspace, str, Place] | None:
        """Who clicked, for which agency, and where to answer (the clicked message's thread, or
        the channel a modal was opened from)."""
        team = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id")
        user = str((body.get("user") or {}).get("id") or "")
        ws = await self.workspace(team)
        if ws is None or not user:
            return None
        container = body.get("container") or {}
        message = body.get("message") or {}
        channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
        thread = message.get("thread_ts") or container.get("message_ts") or message.get("ts")
        if not channel and body.get("view"):
            meta = kit.button_value((body.get("view") or {}).get("private_metadata"))
            channel, thread = meta.get("c"), meta.get("t")
        if not channel:
            return None
        return ws, user, Place(str(channel), str(thread) if thread else None)

    async def _on_message_event(self, body: dict[str, Any], event: dict[str, Any], place: Place) -> None:
        ws = await self.workspace(body.get("team_id") or event.get("team"))
        if ws is None or not event.get("user"):
            return
        if not await self.first_delivery(body):
            log.info(
                "Slack event %s redelivered (retry %s): skipped", body.get("event_id"), body.get("retry_num")
            )
            return
        text = _MENTION.sub("", str(event.get("text") or "")).strip()
        self.spawn(self.converse(ws, str(event["user"]), text, place, body), name="slack-converse")


# --------------------------------------------------------------------------------------------
# Mounting on `leadgen serve`


def slack_configured(settings: Settings) -> bool:
    """Slack is on when it can receive anything: HTTP (signing secret) or Socket Mode (app token)."""
    return bool(settings.slack_signing_secret or settings.slack_app_token)


async def slack_events(request: Request) -> Response:
    """`POST /slack/events`: Bolt verifies the signature (401 when bad or stale) and dispatches."""
    adapter: SlackAdapter | None = getattr(request.app.state, "slack", None)
    if adapter is None or adapter.http is None:
        reason = getattr(
            request.app.state, "slack_disabled", "Slack is not configured: set SLACK_SIGNING_SECRET"
        )
        return JSONResponse({"error": reason}, status_code=503)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return JSONResponse({"error": f"body larger than {MAX_BODY_BYTES} bytes"}, status_code=413)
    return await adapter.http.handle(request)


def slack_routes() -> Sequence[BaseRoute]:
    return [Route(SLACK_EVENTS_PATH, slack_events, methods=["POST"])]


@asynccontextmanager
async def slack_lifespan(app: Starlette) -> AsyncIterator[None]:
    """Open the Slack face inside `leadgen serve`: the chat services on the server's database,
    billing and providers (one engine per process), the Bolt app, and Socket Mode when
    SLACK_APP_TOKEN is set. Without Slack settings it does nothing (the route answers 503)."""
    settings: Settings = app.state.settings
    app.state.slack = None
    if not slack_configured(settings):
        yield
        return
    try:
        client = slack_web_client(settings)
    except MissingProviderKey as exc:
        app.state.slack_disabled = str(exc)
        log.error("Slack is disabled: %s", exc)
        yield
        return
    from graphs.checkpoints import open_checkpointer

    calls: CallService = app.state.calls
    async with open_checkpointer(calls.db.url) as saver:
        runs = RunService(calls.db, calls.billing, calls.providers, saver, settings)
        background = runs.executor
        agent = ChatAgent(calls.providers.llm(), saver)
        follower = CallFollower(calls)
        services = ChatServices(settings, calls.db, runs, background, agent, calls, follower)
        adapter = SlackAdapter(
            services,
            client,
            signing_secret=settings.slack_signing_secret,
            default_agency=settings.leadgen_agency,
        )
        app.state.slack = adapter
        socket = SocketMode(adapter, settings.slack_app_token) if settings.slack_app_token else None
        # Runs left `running` by a process that died continue here (the lease keeps other
        # faces doing the same off them).
        adapter.spawn(runs.recover(), name="slack-recover")
        # ... and the calls it followed, reported where they were asked for.
        adapter.spawn(follower.recover(report_to=adapter.recovered_call_reporter), name="slack-recover-calls")
        if socket is not None:
            socket.start()
        try:
            yield
        finally:
            if socket is not None:
                await socket.close()
            await adapter.aclose()
            await follower.aclose()
            await background.aclose()


class SocketMode:
    """Socket Mode: Bolt's aiohttp handler, connected in the background so a Slack outage (or
    the sandbox, which serves `apps.connections.open` but no websocket) never blocks start-up.
    slack_sdk's client keeps retrying a failed connection (logging each failure) and reconnects
    a dropped one; shutdown cancels it. Envelopes it receives go through the same Bolt app and
    listeners as HTTP requests (Bolt skips signature checks for them: the websocket is the
    authentication)."""

    def __init__(self, adapter: SlackAdapter, app_token: str) -> None:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        self.handler = AsyncSocketModeHandler(adapter.bolt, app_token)
        self.task: asyncio.Task[None] | None = None
        self.error: BaseException | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._connect(), name="slack-socket-mode")

    async def _connect(self) -> None:
        try:
            await self.handler.connect_async()
            log.info("Slack Socket Mode connected")
        except (OSError, aiohttp.ClientError, SlackClientError) as exc:  # HTTP mode keeps working
            self.error = exc
            log.error("Slack Socket Mode could not connect: %s", exc)

    async def close(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        with contextlib.suppress(Exception):
            await self.handler.close_async()
