"""The web chat UI (Chainlit 2.12): `leadgen chat` serves it; `chainlit run` on this file works too.

What a session shows:

* the agent's streamed answer to each message (assistant/agent.py);
* for each run it started (or reopened), a live view: a progress message and a `cl.TaskList`
  with the six phases, redrawn from our tables on every event of the run (and every couple of
  seconds, so runs executed elsewhere - CLI, another tab - show too);
* when a run completes, its leads as a table with a CSV download and one button per dossier;
  a dossier opens as a message with its sources as links and a button for its scraped pages;
* a dossier's "Share report" button (and the agent's share_report) answers with a share link to
  the lead's branded report and the report attached as a PDF (free: drawn from our tables);
* when a run pauses for credits, the paywall: why (phase, feature, balance, required, deficit),
  the plans, an Upgrade button per plan and "I've upgraded - resume". While the paywall is up the
  view polls the balance; once it covers the next step a 5-second countdown is shown and the run
  resumes by itself (graphs/auto_resume.py, the rule Slack follows too; the run service decides).

Runs execute in the run service's executor (`runs.executor`: tasks of this process, or queued
jobs), not in the chat turn, so closing the tab never stops them. Reopening a thread (`on_chat_resume`) reattaches a live view to each of its runs
still running or paused (so the paywall and its buttons come back).

Sign-in: with `CHAINLIT_AUTH_SECRET` set, password login against `agency_users`
(`leadgen user add`), throttled per user and per client address (graphs/identity.py: a
throttled attempt answers 429 with the reason). Without it, no login: Chainlit's header-auth
callback hands every visitor the single local user of the default agency (history needs an
authenticated user), with a JWT secret generated once and kept in the data folder. That mode
listens on loopback only: another address is refused in production and warned about elsewhere
(assistant/exposure.py), whether started by `leadgen chat` or by `chainlit run`.

Who may upgrade, and what the paywall offers, is graphs/accounts.py's to say (`upgrade_offer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import os
import secrets
from collections import defaultdict
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Any

import chainlit as cl
from chainlit.types import ThreadDict
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.agent import (
    PLANS,
    AgentTurn,
    ChatContext,
    ChatServices,
    confirm_upgrade,
    open_chat,
    plan_by_id,
    resume_flow,
    share_json,
    start_confirmed_run,
    upgrade,
    upgrade_offer,
)
from assistant.chainlit_views import parse_iso, paywall_markdown, progress_markdown, task_list, view_id
from assistant.chat_data import HistoryDataLayer, make_data_layer, recovered_call_reporter
from assistant.chat_files import ELEMENTS_SUBDIR, FolderStorage, files_route
from assistant.chat_server import PortInUse, own_files_dir, refuse_busy_port
from assistant.chat_tools.artifacts import (
    CallPrepared,
    CandidatesToChoose,
    CheckoutOpened,
    DossierShown,
    LeadsShown,
    ReportShared,
    ResumeAnswered,
    RunNeedsConfirmation,
    RunStarted,
    RunStatusShown,
    SourcesShown,
    UpgradeOffered,
)
from assistant.cli.chat import apply_log_level
from assistant.report_page import PdfRenderFailed, pdf_file_name, render_pdf
from db.models import Call
from db.statuses import FlowStatus
from graphs import accounts
from graphs.auto_resume import AUTO_RESUME
from graphs.call_follower import call_finished, call_report
from graphs.identity import LOCAL_USERNAME, SignInThrottled, agency_of, authenticate
from graphs.lead_export import dossiers_of, leads_csv
from graphs.reports import ReportNotFound, ReportService
from graphs.run_snapshot import RunSnapshot
from graphs.run_watch import RunWatch
from graphs.service import RunNotFound
from graphs.views import lead_json, page_json, run_notes
from graphs.wording import ago, lead_status_label, plural
from leadgen.settings import get_settings, reset_settings
from tools.billing.port import BillingError

log = logging.getLogger(__name__)

POLL_SECONDS = 1.5  # read interval without events (runs executed by another process)
RESTATE_SECONDS = 30.0  # an unchanged run is drawn again this often (its times read "... ago")
TERMINAL = ("completed", "error", "cancelled")
ESSENTIAL_KEYS = ("google_places_api_key", "firecrawl_api_key", "openai_api_key")


# --------------------------------------------------------------------------------------------
# Process-wide state (opened on app start-up, inside Chainlit's event loop)


class AppState:
    """(A plain class: Chainlit loads this file without registering it in sys.modules, which
    `@dataclass` needs.)"""

    def __init__(self) -> None:
        self.services: ChatServices | None = None
        self.sandbox_url: str | None = None  # set when this process started the sandbox
        self.stack = AsyncExitStack()
        self.locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    @property
    def chat(self) -> ChatServices:
        if self.services is None:
            raise RuntimeError("the chat services are not open yet")
        return self.services


STATE = AppState()


def _wants_sandbox() -> bool:
    """No provider keys and no sandbox URL: start the sandbox in-process (a new user's first run)."""
    settings = get_settings()
    return not settings.leadgen_sandbox_url and not any(getattr(settings, k) for k in ESSENTIAL_KEYS)


def _password_login() -> bool:
    return bool(os.environ.get("CHAINLIT_AUTH_SECRET") or get_settings().chainlit_auth_secret)


def _local_jwt_secret() -> str:
    """A JWT secret for the no-login mode, generated once and kept in the data folder (0600), so
    a restart does not sign everyone out."""
    path = get_settings().leadgen_data_dir / "chainlit-local-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _refuse_open_door() -> None:
    """No sign-in and listening beyond loopback: exit in production, warn elsewhere. (Chainlit
    sets the host before it loads this file; `leadgen chat` has checked already.)"""
    from chainlit.config import config

    from assistant.exposure import ExposureRefused, check_exposure

    try:
        check = check_exposure("chat", config.run.host, get_settings())
    except ExposureRefused as exc:
        raise SystemExit(f"error: {exc} (refused: LEADGEN_ENV=production)") from None
    if check.open_door:
        log.warning("%s", check.message())


class SignInAttempt:
    """What the password callback needs beyond the username and password Chainlit hands it
    (the client's address), and what it tells the response (a throttle)."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        self.throttled: SignInThrottled | None = None


class _SignInGuard:
    """Pure ASGI middleware on `POST /login`: gives the password callback the client's address
    (behind a proxy on this host, uvicorn has put X-Forwarded-For there), and turns the answer
    to a throttled attempt into 429 with the reason and Retry-After. (Chainlit's wrapper
    swallows whatever the callback raises, answering 401 "credentialssignin".)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).endswith("/login"):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        attempt = SignInAttempt(str(client[0]) if client else None)
        token = SIGN_IN.set(attempt)
        replaced = False

        async def send_or_replace(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and attempt.throttled is not None:
                replaced = True
                body = json.dumps({"detail": str(attempt.throttled)}).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 429,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"retry-after", str(attempt.throttled.retry_after).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
            if replaced:
                return  # the body of the 401 we replaced
            await send(message)

        try:
            await self.app(scope, receive, send_or_replace)
        finally:
            SIGN_IN.reset(token)


SIGN_IN: contextvars.ContextVar[SignInAttempt | None] = contextvars.ContextVar("sign_in", default=None)


def _own_port_and_files() -> None:
    """Refuse a busy port before anything starts (`leadgen chat` checked already; `chainlit run`
    did not), and give this process a files folder of its own: Chainlit deletes its folder on
    exit, which must never be another server's (assistant/chat_server.py)."""
    from chainlit import config as chainlit_config
    from chainlit import server as chainlit_server

    here = f"{chainlit_config.config.run.host}:{chainlit_config.config.run.port}"
    if os.environ.get("LEADGEN_CHAT_PORT_CHECKED") != here:
        try:
            refuse_busy_port(chainlit_config.config.run.host, chainlit_config.config.run.port)
        except PortInUse as exc:
            raise SystemExit(f"error: {exc}") from None
        os.environ["LEADGEN_CHAT_PORT_CHECKED"] = here  # a reload of this module is not a second server
    files = own_files_dir(get_settings().leadgen_data_dir)
    # session.files_dir reads the config module's name at call time; the shutdown hook that
    # deletes the folder reads the server module's.
    chainlit_config.FILES_DIRECTORY = files
    chainlit_server.FILES_DIRECTORY = files


apply_log_level()  # after Chainlit's own logging set-up (INFO), before anything logs
_own_port_and_files()

PASSWORD_LOGIN = _password_login()
if PASSWORD_LOGIN:
    from chainlit.server import app as _chainlit_server

    with contextlib.suppress(RuntimeError):  # a reload after start-up keeps the first one
        _chainlit_server.add_middleware(_SignInGuard)
    os.environ.setdefault("CHAINLIT_AUTH_SECRET", get_settings().chainlit_auth_secret)
else:
    _refuse_open_door()
    # Chainlit checks the secret right after importing this module (ensure_jwt_secret).
    os.environ["CHAINLIT_AUTH_SECRET"] = _local_jwt_secret()


def _stage(text: str) -> None:
    """One line per start-up stage on the terminal (`make run`), whatever the log level."""
    print(f"• {text}", flush=True)


@cl.on_app_startup
async def startup() -> None:
    if _wants_sandbox():
        from tools.sandbox.server import start_sandbox

        _stage(
            "Starting the sandbox (no provider keys: Places, Firecrawl, the model, billing and calls are emulated)…"
        )
        handle = start_sandbox()
        STATE.stack.callback(handle.stop)
        os.environ["LEADGEN_SANDBOX_URL"] = handle.url
        reset_settings()
        STATE.sandbox_url = handle.url
        log.info("no provider keys: started the sandbox at %s", handle.url)
    STATE.services = await STATE.stack.enter_async_context(open_chat())
    from chainlit.config import config as chainlit_config

    host = chainlit_config.run.host
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    _stage(f"Atlas Lead Gen is ready: http://{shown}:{chainlit_config.run.port}")
    # Runs left `running` by a process that died resume in the background (views attach later).
    STATE.stack.push_async_callback(_stop_recovery, asyncio.create_task(STATE.chat.runs.recover()))
    # Calls it was following are followed again to their end and charge (the follower's tasks).
    try:
        from chainlit.data import get_data_layer

        layer = get_data_layer()
        report_to = (
            recovered_call_reporter(layer, author=chainlit_config.ui.name)
            if isinstance(layer, HistoryDataLayer)
            else None
        )
        await STATE.chat.follower.recover(report_to=report_to)
    except Exception:  # a failed sweep must not keep the chat from starting
        log.exception("could not follow the calls left unfinished")


async def _stop_recovery(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


@cl.on_app_shutdown
async def shutdown() -> None:
    await STATE.stack.aclose()


def _element_storage() -> FolderStorage:
    """Elements are kept under the data folder; their URLs are signed with the chat's secret."""
    return FolderStorage(
        get_settings().leadgen_data_dir / ELEMENTS_SUBDIR, os.environ["CHAINLIT_AUTH_SECRET"]
    )


STORAGE = _element_storage()


def _serve_element_files() -> None:
    from chainlit.server import app as chainlit_server

    routes = chainlit_server.router.routes
    routes[:] = [r for r in routes if getattr(r, "path", "") != files_route(STORAGE).path]
    # Before Chainlit's catch-all route, which answers every other GET with the UI.
    routes.insert(0, files_route(STORAGE))


_serve_element_files()


@cl.data_layer
def data_layer() -> Any:
    # Always ours: without it Chainlit would pick its own layer from DATABASE_URL.
    return make_data_layer(get_settings().resolved_database_url, STORAGE)


# --------------------------------------------------------------------------------------------
# Sign-in

if PASSWORD_LOGIN:

    @cl.password_auth_callback
    async def password_login(username: str, password: str) -> cl.User | None:
        attempt = SIGN_IN.get() or SignInAttempt(None)
        try:
            who = await authenticate(STATE.chat.database, username, password, address=attempt.address)
        except SignInThrottled as exc:
            attempt.throttled = exc  # _SignInGuard answers 429 with the reason
            return None
        if who is None:
            return None
        return cl.User(identifier=who.username, metadata={"agency_id": who.agency_id, "auth": "password"})

else:

    @cl.header_auth_callback
    async def local_login(headers: Headers) -> cl.User | None:
        return cl.User(
            identifier=LOCAL_USERNAME, metadata={"agency_id": get_settings().leadgen_agency, "auth": "local"}
        )


# --------------------------------------------------------------------------------------------
# Session


def _session_user() -> str:
    user = cl.context.session.user
    if user is None:
        raise PermissionError("not signed in")
    return user.identifier


async def _bind_session() -> str | None:
    """Look the user's agency up now (not from the token: a removed user loses access)."""
    username = _session_user()
    agency = await agency_of(STATE.chat.database, username, local_agency=get_settings().leadgen_agency)
    if agency is None:
        await cl.Message(content="Your account no longer exists; ask an admin to add you again.").send()
        return None
    cl.user_session.set("agency_id", agency)
    cl.user_session.set("username", username)
    cl.user_session.set("views", {})
    return agency


async def _ensure_bound() -> bool:
    """Bind the session if on_chat_start (a task of its own) has not finished yet: a message or
    a click can arrive first."""
    if cl.user_session.get("agency_id"):
        return True
    return await _bind_session() is not None


def _agency() -> str:
    agency = cl.user_session.get("agency_id")
    if not agency:
        raise PermissionError("this session has no agency")
    return str(agency)


def _context() -> ChatContext:
    return STATE.chat.context(
        _agency(), user_id=cl.user_session.get("username"), thread_id=cl.context.session.thread_id
    )


@cl.set_starters
async def starters(user: cl.User | None = None, language: str | None = None) -> list[cl.Starter]:
    return [
        cl.Starter(label="Find 5 dentists in Austin, TX", message="Find 5 dentists in Austin, TX"),
        cl.Starter(label="Find 10 plumbers in Denver, CO", message="Find 10 plumbers in Denver, CO"),
        cl.Starter(label="How is my run doing?", message="What's the status of my run?"),
        cl.Starter(label="Show me the leads", message="Show me the leads"),
        cl.Starter(label="How many credits do I have?", message="How many credits do I have?"),
    ]


@cl.on_chat_start
async def on_chat_start() -> None:
    await _bind_session()


@cl.on_chat_resume
async def on_chat_resume(thread: ThreadDict) -> None:
    if await _bind_session() is None:
        return
    # Redraw, in place, the view of each run this conversation showed: its current state once
    # (progress, paywall, results), never a stale copy above a fresh one.
    existing = {str(step["id"]): str(step.get("createdAt") or "") for step in thread.get("steps") or []}
    thread_id = cl.context.session.thread_id
    for run_id in await STATE.chat.agent.run_ids(thread["id"]):
        with contextlib.suppress(RunNotFound):
            flow = await STATE.chat.runs.get(_agency(), run_id)
            shown_here = view_id(thread_id, run_id, "progress") in existing
            if flow.status not in TERMINAL or shown_here:
                await watch(run_id, existing)


@cl.on_chat_end
async def on_chat_end() -> None:
    # The tab is gone: stop its views (the runs go on; a reopened tab gets new views).
    views: dict[str, RunView] = cl.user_session.get("views") or {}
    for view in views.values():
        view.stop()


@cl.on_message
async def on_message(message: cl.Message) -> None:
    if not await _ensure_bound():
        return
    thread_id = cl.context.session.thread_id
    lock = STATE.locks[thread_id]
    if lock.locked():
        await cl.Message(content="Still working on your previous message; one moment.").send()
    async with lock:
        answer = cl.Message(content="")
        if STATE.sandbox_url and not cl.user_session.get("sandbox_noted"):
            cl.user_session.set("sandbox_noted", True)
            await answer.stream_token(
                "_Sandbox mode: no provider keys are set, so Places, Firecrawl, the model and billing "
                "are emulated locally with synthetic businesses._\n\n"
            )
        turn = await STATE.chat.agent.reply(
            message.content, thread_id=thread_id, context=_context(), on_token=answer.stream_token
        )
        if not answer.streaming:  # the model answered without streaming tokens
            answer.content += turn.text
        await answer.send()
        await render_turn(turn)


async def render_turn(turn: AgentTurn) -> None:
    """Rich views for what the tools handed over this turn (the text answer is already shown)."""
    for artifact in turn.artifacts:
        match artifact:
            case CandidatesToChoose(candidates=[_, *_]):
                await send_candidates(artifact)
            case CallPrepared():
                await send_call_confirmation(artifact)
            case RunNeedsConfirmation():
                await send_run_confirmation(artifact)
            case UpgradeOffered():
                await send_upgrade_confirmation(artifact)
            case RunStarted(run_id=run_id) | ResumeAnswered(run_id=run_id, live=True):
                await watch(run_id)
            case RunStatusShown(run_id=run_id, live=True):
                await watch(run_id)
            case LeadsShown():
                await send_leads(artifact.run_id, artifact.leads, title="Leads", notes=artifact.notes)
            case DossierShown():
                await send_dossier(artifact.dossier, artifact.lead)
            case ReportShared():
                await send_report_share(artifact.share)
            case SourcesShown(audit_job_id=str(job_id)):
                await send_pages(job_id, artifact.pages)
            case CheckoutOpened():
                await cl.Message(
                    content=f"[Open the checkout]({artifact.checkout_url}) to finish the upgrade."
                ).send()


async def send_choice(message: cl.Message) -> None:
    """A question answered by one of its buttons (Start/Cancel, Call/Cancel, Upgrade/Cancel).
    Its buttons are remembered so that answering it takes them all away: a Cancel left under a
    started run or a placed call would say nothing was charged."""
    await message.send()
    choices: dict[str, list[cl.Action]] = cl.user_session.get("choices") or {}
    choices[message.id] = list(message.actions)
    cl.user_session.set("choices", choices)


async def close_choice(action: cl.Action) -> None:
    """Take away every button of the question `action` answered (at least `action` itself)."""
    choices: dict[str, list[cl.Action]] = cl.user_session.get("choices") or {}
    buttons = choices.pop(action.forId or "", [])
    for button in [action, *(b for b in buttons if b.id != action.id)]:
        with contextlib.suppress(Exception):
            await button.remove()


async def send_run_confirmation(prepared: RunNeedsConfirmation) -> None:
    """A large or refreshed run: what it may cost, and the button that starts it (once)."""
    await send_choice(
        cl.Message(
            content=f"**{prepared.message}**",
            actions=[
                cl.Action(
                    name="confirm_run",
                    payload={
                        "run_id": prepared.run_id,
                        "num_leads": prepared.num_leads,
                        "vertical": prepared.vertical,
                        "geography": prepared.geography,
                        "refresh": prepared.refresh,
                    },
                    label="Start the run",
                    icon="play",
                ),
                cl.Action(name="dismiss", payload={}, label="Cancel", icon="x"),
            ],
        )
    )


async def send_upgrade_confirmation(prepared: UpgradeOffered) -> None:
    """A free upgrade the agent prepared: granted only by this button."""
    plan = plan_by_id(prepared.plan_id)
    if plan is None:
        return
    await send_choice(
        cl.Message(
            content=prepared.message,
            actions=[
                cl.Action(
                    name="upgrade",
                    payload={"plan": plan.id, "tool_call": prepared.tool_call_id},
                    label=f"Upgrade: {plan.name} (+{plan.credits})",
                ),
                cl.Action(name="dismiss", payload={}, label="Cancel", icon="x"),
            ],
        )
    )


@cl.action_callback("confirm_run")
async def on_confirm_run(action: cl.Action) -> None:
    if not await _ensure_bound():
        return
    run_id = str(action.payload.get("run_id", ""))
    # One start per prepared run: a second click waits for the first and finds its run.
    async with STATE.locks[f"start/{run_id}"]:
        result = await start_confirmed_run(
            _context(),
            run_id,
            num_leads=action.payload.get("num_leads"),
            vertical=action.payload.get("vertical"),
            geography=action.payload.get("geography"),
            refresh=action.payload.get("refresh"),
        )
    await close_choice(action)
    if result["status"] == "started":
        await watch(result["run_id"])
    else:
        await cl.Message(content=result["message"]).send()


# What a candidate button does, per action the person asked for.
CANDIDATE_ACTIONS = {
    "open_dossier": "open_dossier",
    "call_lead": "call_lead",
    "show_pages": "show_lead_pages",
    "share_report": "share_report",
    "revoke_report": "revoke_report",
}


async def send_candidates(choice: CandidatesToChoose) -> None:
    """Several leads match what the person said: one button per candidate, by name and address."""
    action = CANDIDATE_ACTIONS.get(choice.action, "open_dossier")
    await cl.Message(
        content="Which one?",
        actions=[
            cl.Action(
                name=action,
                payload={"opportunity_id": c["id"]},
                label=f"{c['name']} · {c['address']}" if c.get("address") else c["name"],
            )
            for c in choice.candidates
        ],
    ).send()


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
        self.agency_id = _agency()
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


# --------------------------------------------------------------------------------------------
# Leads, dossiers and pages: custom elements (public/elements/*.jsx) kept with the thread


def table_row(rank: int, lead: dict[str, Any], dossier: dict[str, Any] | None) -> dict[str, Any]:
    score = lead.get("opportunity_score")
    findings = (dossier or {}).get("findings") or []
    return {
        "id": lead["id"],
        "rank": rank,
        "name": lead["name"],
        "status": lead_status_label(lead["status"]),
        "score": score if isinstance(score, int | float) else round(lead["qualification_score"] * 100),
        "rating": lead.get("rating"),
        "reviews": lead.get("reviews_count"),
        "phone": lead.get("phone"),
        "website": lead.get("website"),
        "signals": [s.replace("_", " ").lower() for s in lead.get("signals") or []],
        "findings": [
            {"code": f.get("code"), "title": f.get("title"), "url": f.get("evidence_url")} for f in findings
        ]
        or [{"code": None, "title": gap, "url": None} for gap in (dossier or {}).get("gaps") or []],
        "fit": lead.get("fit_reason") or "",
        "reused": bool(lead.get("dossier_reused")),
        "dossier": bool(lead.get("dossier_id")),
    }


async def send_leads(
    run_id: str,
    leads: list[dict[str, Any]],
    *,
    title: str,
    notes: Sequence[str] = (),
    message: cl.Message | None = None,
) -> None:
    dossiers = await dossiers_of(STATE.chat.runs, _agency(), leads)
    rows = [
        table_row(rank, lead, dossiers.get(str(lead.get("dossier_id")))) for rank, lead in enumerate(leads, 1)
    ]
    table = cl.CustomElement(name="LeadsTable", props={"title": title, "rows": rows}, display="inline")
    csv_file = cl.File(
        name=f"leads-{run_id[:8]}.csv",
        content=leads_csv(leads, dossiers).encode(),
        mime="text/csv",
        display="inline",
    )
    top = ", ".join(lead["name"] for lead in leads[:3])
    text = "\n\n".join(
        [f"**{title}** · {plural(len(leads), 'lead')}" + (f" · top: {top}" if top else ""), *notes]
    )
    message = message or cl.Message(content="")
    message.content = text
    message.elements = [table, csv_file]  # type: ignore[list-item]
    await message.send()


def dossier_props(dossier: dict[str, Any], lead: dict[str, Any] | None) -> dict[str, Any]:
    findings = dossier.get("findings") or [
        {"code": None, "title": gap, "detail": None, "evidence_url": None}
        for gap in dossier.get("gaps") or []
    ]
    return {
        "name": lead["name"] if lead else "Lead",
        "opportunity_id": dossier["opportunity_id"],
        "audit_job_id": lead.get("audit_job_id") if lead else None,
        "phone": lead.get("phone") if lead else None,
        "website": lead.get("website") if lead else None,
        "summary": dossier["summary"],
        "findings": findings,
        "talking_points": dossier.get("talking_points") or [],
        "sources": dossier.get("sources") or [],
        "fit_reason": dossier.get("fit_reason"),
        "written": ago(parse_iso(dossier.get("created_at"))),
    }


async def send_dossier(dossier: dict[str, Any], lead: dict[str, Any] | None) -> None:
    name = lead["name"] if lead else "this lead"
    card = cl.CustomElement(name="DossierCard", props=dossier_props(dossier, lead), display="inline")
    sources = ", ".join(f"[{s.get('title') or s['url']}]({s['url']})" for s in dossier.get("sources") or [])
    await cl.Message(
        content=f"### Dossier · {name}\n\n{dossier['summary']}"
        + (f"\n\nSources: {sources}" if sources else ""),
        elements=[card],
        actions=[
            cl.Action(
                name="share_report",
                payload={"opportunity_id": dossier["opportunity_id"]},
                label="Share report",
                icon="share-2",
            )
        ],
    ).send()


async def send_report_share(share: dict[str, Any]) -> None:
    """A share link with the report's PDF attached. The PDF is drawn now from our tables (no
    provider call, no credit), off the event loop: xhtml2pdf takes a moment."""
    runs = STATE.chat.runs
    name = str(share["lead"]["name"])
    lines = [
        f"**Report for {name}** · [open the shared report]({share['url']})",
        "",
        f"Anyone with the link can open it until {str(share['expires_at'])[:10]}; ask me to revoke "
        "it to end it sooner.",
    ]
    elements: list[Any] = []
    try:
        report = await ReportService(runs.db, runs.settings).report(_agency(), str(share["opportunity_id"]))
        pdf = await asyncio.to_thread(render_pdf, report)
    except ReportNotFound:
        await cl.Message(content="That lead is not available.").send()
        return
    except PdfRenderFailed as exc:
        log.warning("the report PDF for %s could not be drawn: %s", share["opportunity_id"], exc)
        lines.append(f"The PDF could not be drawn here; [download it from the link]({share['pdf_url']}).")
    else:
        elements.append(
            cl.File(name=pdf_file_name(name), content=pdf, mime="application/pdf", display="inline")
        )
        lines.append("The report as a PDF is attached.")
    await cl.Message(content="\n".join(lines), elements=elements).send()


async def send_pages(audit_job_id: str, pages: list[dict[str, Any]]) -> None:
    if not pages:
        await cl.Message(content="No pages were read for this lead.").send()
        return
    lines = [f"**Scraped pages** · {plural(len(pages), 'page')}", ""]
    lines += [
        f"- [{p.get('title') or p['url']}]({p['url']})"
        + (f" · read {ago(parse_iso(p.get('scraped_at')))}" if p.get("scraped_at") else "")
        for p in pages
    ]
    await cl.Message(content="\n".join(lines)).send()


# --------------------------------------------------------------------------------------------
# Buttons. Payloads come back from the browser: every lookup is scoped to the session's agency.


@cl.action_callback("open_dossier")
async def on_open_dossier(action: cl.Action) -> None:
    if not await _ensure_bound():
        return
    runs, agency = STATE.chat.runs, _agency()
    opp_id = str(action.payload.get("opportunity_id", ""))
    lead = await runs.lead(agency, opp_id)
    dossier = await runs.dossier(agency, lead.dossier_id) if lead and lead.dossier_id else None
    if lead is None or dossier is None:
        await cl.Message(content="That dossier is not available.").send()
        return
    view = await ReportService(runs.db, runs.settings).dossier_view(agency, dossier)
    await send_dossier(view, lead_json(lead))


@cl.action_callback("share_report")
async def on_share_report(action: cl.Action) -> None:
    """The dossier's Share report button (or a candidate's): a new link to the lead's report."""
    if not await _ensure_bound():
        return
    runs, agency = STATE.chat.runs, _agency()
    opp = await runs.opportunity(agency, str(action.payload.get("opportunity_id", "")))
    if opp is None:
        await cl.Message(content="That lead is not available.").send()
        return
    try:
        link = await ReportService(runs.db, runs.settings).share(
            agency, opp.id, created_by=cl.user_session.get("username")
        )
    except ReportNotFound:
        await cl.Message(content="That lead is not available.").send()
        return
    await send_report_share(share_json(opp.id, opp.name, link))


@cl.action_callback("revoke_report")
async def on_revoke_report(action: cl.Action) -> None:
    """A candidate's button after "revoke the report of <a name several leads share>"."""
    if not await _ensure_bound():
        return
    runs, agency = STATE.chat.runs, _agency()
    opp = await runs.opportunity(agency, str(action.payload.get("opportunity_id", "")))
    if opp is None:
        await cl.Message(content="That lead is not available.").send()
        return
    try:
        count = await ReportService(runs.db, runs.settings).revoke(agency, opp.id)
    except ReportNotFound:
        await cl.Message(content="That lead is not available.").send()
        return
    await cl.Message(content=f"Ended {plural(count, 'share link')} to the report on {opp.name}.").send()


@cl.action_callback("show_pages")
async def on_show_pages(action: cl.Action) -> None:
    if not await _ensure_bound():
        return
    job_id = str(action.payload.get("audit_job_id", ""))
    try:
        pages = await STATE.chat.runs.scraped_pages(_agency(), job_id)
    except RunNotFound:
        await cl.Message(content="Those pages are not available.").send()
        return
    await send_pages(job_id, [page_json(p) for p in pages])


@cl.action_callback("show_lead_pages")
async def on_show_lead_pages(action: cl.Action) -> None:
    if not await _ensure_bound():
        return
    lead = await STATE.chat.runs.lead(_agency(), str(action.payload.get("opportunity_id", "")))
    if lead is None or lead.audit_job_id is None:
        await cl.Message(content="No pages were read for that lead.").send()
        return
    pages = await STATE.chat.runs.scraped_pages(_agency(), lead.audit_job_id)
    await send_pages(lead.audit_job_id, [page_json(p) for p in pages])


@cl.action_callback("call_lead")
async def on_call_lead(action: cl.Action) -> None:
    """A Call button (dossier, leads table, a candidate): prepare the call and ask to confirm."""
    if not await _ensure_bound():
        return
    opp = await STATE.chat.runs.opportunity(_agency(), str(action.payload.get("opportunity_id", "")))
    if opp is None:
        await cl.Message(content="That lead is not available.").send()
        return
    balance = await STATE.chat.accounts.balance(_agency())
    await send_call_confirmation(CallPrepared(opp.id, opp.name, opp.phone, balance))


async def send_call_confirmation(prepared: CallPrepared) -> None:
    """What the call costs, and the button that places it (nothing is dialled before)."""
    name, balance = prepared.lead_name, prepared.balance
    if not prepared.phone:
        await cl.Message(content=f"{name} has no phone number to call.").send()
        return
    await send_choice(
        cl.Message(
            content=f"**Call {name}** at {prepared.phone}? A call costs 1 credit per started minute; "
            f"you have {plural(balance, 'credit')}.",
            actions=[
                cl.Action(
                    name="confirm_call",
                    payload={"opportunity_id": prepared.opportunity_id},
                    label=f"Call {name}",
                    icon="phone",
                ),
                cl.Action(name="dismiss", payload={}, label="Cancel", icon="x"),
            ],
        )
    )


@cl.action_callback("dismiss")
async def on_dismiss(action: cl.Action) -> None:
    await close_choice(action)
    await cl.Message(content="Cancelled: nothing was charged.").send()


@cl.action_callback("confirm_call")
async def on_confirm_call(action: cl.Action) -> None:
    if not await _ensure_bound():
        return
    from graphs.call_tools import place_call

    ctx = _context()
    opp_id = str(action.payload.get("opportunity_id", ""))
    opp = await STATE.chat.runs.opportunity(ctx.agency_id, opp_id)
    if opp is None:
        await cl.Message(content="That lead is not available.").send()
        return
    await close_choice(action)  # one click, one call
    # Where it was asked for: a server that restarts while the call is live reports it there.
    origin = {"face": "chat", "thread_id": cl.context.session.thread_id, "lead_name": opp.name}
    result = await place_call(
        STATE.chat.calls,
        ctx.agency_id,
        opp.id,
        user_id=ctx.user_id,
        variables={"business_name": opp.name},
        origin=origin,
    )
    if result["outcome"] in ("placed", "in_progress") and result.get("call"):
        await follow_call_in_chat(result["call"]["id"], opp.name, result["message"])
    else:
        await cl.Message(content=result["message"]).send()


async def follow_call_in_chat(call_id: str, lead_name: str, opening: str) -> None:
    """A message that follows the call live and ends with its outcome and charge. The call is
    followed by the process (graphs/call_follower.py) even if this tab closes."""
    status = cl.Message(content=f"{opening}\n\nFollowing the call to {lead_name}…")
    await status.send()
    session = contextvars.copy_context()  # the follower's task may belong to another session

    async def report(call: Call) -> None:
        async def draw() -> None:
            if call_finished(call):
                status.content = f"{opening}\n\n**{call_report(call, lead_name)}**"
            else:
                status.content = f"{opening}\n\nThe call to {lead_name} is {call.status.replace('-', ' ')}…"
            await status.update()

        await asyncio.get_running_loop().create_task(draw(), context=session)

    STATE.chat.follower.follow(_agency(), call_id, on_update=report)
    call = await STATE.chat.calls.get_call(_agency(), call_id)
    if call_finished(call):  # it ended before we subscribed
        await report(call)


@cl.action_callback("upgrade")
async def on_upgrade(action: cl.Action) -> None:
    if not await _ensure_bound():
        return
    plan = plan_by_id(str(action.payload.get("plan", "")))
    run_id = str(action.payload.get("run_id", ""))
    tool_call = str(action.payload.get("tool_call") or "")
    if plan is None:
        await cl.Message(content="Unknown plan.").send()
        return
    if not tool_call:
        try:
            await STATE.chat.runs.get(_agency(), run_id)
        except RunNotFound:
            await cl.Message(content="That run is not available.").send()
            return
    try:
        if tool_call:  # the button the agent's start_upgrade returned: once per that tool call
            result = await confirm_upgrade(_context(), plan, tool_call)
        else:
            # One grant per paywall and plan: a double click (or a second tab, or Slack) adds
            # nothing more.
            occasion = accounts.UpgradeOccasion.run_pause(run_id, str(action.payload.get("pause", "")))
            result = await upgrade(_context(), plan, occasion)
    except accounts.NotAllowed as exc:
        await cl.Message(content=str(exc)).send()
        return
    except BillingError as exc:
        await cl.Message(content=f"The upgrade could not be applied: {exc}").send()
        return
    if tool_call:  # the agent's question is answered
        await close_choice(action)
    text = result["message"]
    if result.get("checkout_url"):
        text += f"\n\n[Open the checkout]({result['checkout_url']})"
    else:
        text += f" Balance: {result['balance']} credits."
    await cl.Message(content=text).send()


@cl.action_callback("resume_paused")
async def on_resume_paused(action: cl.Action) -> None:
    if not await _ensure_bound():
        return
    run_id = str(action.payload.get("run_id", ""))
    try:
        flow = await STATE.chat.runs.get(_agency(), run_id)
    except RunNotFound:
        await cl.Message(content="That run is not available.").send()
        return
    result = await resume_flow(_context(), flow)
    await cl.Message(content=result["message"]).send()
    if result["status"] in ("resuming", "running", "paused_for_upgrade"):
        (await watch(run_id)).watch.poke()
