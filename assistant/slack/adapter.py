"""The adapter: the Bolt app and the work its listeners start (runs, conversations, dossiers,
reports, calls, upgrades, resumes), answered where they were asked."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiohttp
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from assistant import slack_blocks as kit
from assistant.agent import (
    AgentTurn,
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
from assistant.report_page import PdfRenderFailed, pdf_file_name, render_pdf
from assistant.slack.commands import CANNOT_POST, USAGE, LeadsRequest
from assistant.slack.listeners import register
from assistant.slack.run_watcher import RunWatcher
from assistant.slack.workspaces import Place, Workspace, conversation_id, slack_user
from db.models import Call
from graphs import accounts, webhook_inbox
from graphs.call_follower import call_finished, call_report
from graphs.call_tools import place_call
from graphs.calls import CallService, call_origin
from graphs.executors import BackgroundTasks, Executor
from graphs.reports import ReportNotFound, ReportService
from graphs.service import BadRunInput, RunNotFound
from graphs.views import lead_json
from tools.billing.port import BillingError
from tools.slack import respond

log = logging.getLogger(__name__)


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
        register(self)

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
        occasion: accounts.UpgradeOccasion
        if tool_call:  # the button of the agent's start_upgrade: once per that tool call
            run_id = ""
            occasion = accounts.UpgradeOccasion.tool_call(tool_call)
        elif run_id:
            try:
                await self.services.runs.get(ws.agency_id, run_id)
            except RunNotFound:
                await self.tell(ws, place, user, "That run is not available.")
                return
            occasion = accounts.UpgradeOccasion.run_pause(run_id, nonce)
        else:
            occasion = accounts.UpgradeOccasion.call_paywall(nonce)
        try:
            result = await upgrade(self.context(ws, user, place), plan, occasion)
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
