"""The web chat UI (Chainlit 2.12): `leadgen chat` serves it; `chainlit run` on this file works too.

What a session shows:

* the agent's streamed answer to each message (assistant/agent.py);
* for each run it started (or reopened), a live view: a progress message and a `cl.TaskList`
  with the six phases, redrawn from our tables on every event of the run (and every couple of
  seconds, so runs executed elsewhere - CLI, another tab - show too);
* when a run completes, its leads as a table with a CSV download and one button per dossier;
  a dossier opens as a message with its sources as links and a button for its scraped pages;
* when a run pauses for credits, the paywall: why (phase, feature, balance, required, deficit),
  the plans, an Upgrade button per plan and "I've upgraded - resume". While the paywall is up the
  view polls the balance; once it covers the next step a 5-second countdown is shown and the run
  resumes by itself.

Runs execute in `BackgroundRuns` tasks of this process, not in the chat turn, so closing the tab
never stops them. Reopening a thread (`on_chat_resume`) reattaches a live view to each of its runs
still running or paused (so the paywall and its buttons come back).

Sign-in: with `CHAINLIT_AUTH_SECRET` set, password login against `agency_users`
(`leadgen user add`), throttled per user and per client address (assistant/identity.py: a
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
import csv
import io
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
    credit_gap,
    open_chat,
    plan_by_id,
    resume_flow,
    upgrade,
    upgrade_offer,
)
from assistant.chat_data import make_data_layer
from assistant.identity import LOCAL_USERNAME, SignInThrottled, agency_of, authenticate
from db.models import PHASES
from graphs import accounts
from graphs.reports import ReportService
from graphs.service import RunNotFound
from graphs.views import flow_json, lead_json, leads_json, page_json, run_notes
from leadgen.settings import get_settings, reset_settings
from tools.billing.port import BillingError

log = logging.getLogger(__name__)

RESUME_COUNTDOWN_SECONDS = 5
POLL_SECONDS = 1.5  # redraw interval without events (runs executed by another process)
BALANCE_POLL_SECONDS = 1.0
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


@cl.on_app_startup
async def startup() -> None:
    if _wants_sandbox():
        from tools.sandbox.server import start_sandbox

        handle = start_sandbox()
        STATE.stack.callback(handle.stop)
        os.environ["LEADGEN_SANDBOX_URL"] = handle.url
        reset_settings()
        STATE.sandbox_url = handle.url
        log.warning("no provider keys: started the sandbox at %s", handle.url)
    STATE.services = await STATE.stack.enter_async_context(open_chat())
    # Runs left `running` by a process that died resume in the background (views attach later).
    STATE.stack.push_async_callback(_stop_recovery, asyncio.create_task(STATE.chat.runs.recover()))


async def _stop_recovery(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


@cl.on_app_shutdown
async def shutdown() -> None:
    await STATE.stack.aclose()


@cl.data_layer
def data_layer() -> Any:
    # Always ours: without it Chainlit would pick its own layer from DATABASE_URL.
    return make_data_layer(get_settings().resolved_database_url)


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
    # Reattach live views (and paywalls) to this conversation's unfinished runs.
    for run_id in await STATE.chat.agent.run_ids(thread["id"]):
        with contextlib.suppress(RunNotFound):
            flow = await STATE.chat.runs.get(_agency(), run_id)
            if flow.status not in TERMINAL:
                await watch(run_id)


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


def _shows_live_run(tool: str, result: dict[str, Any]) -> bool:
    """Whether a tool result is about a run worth a live view (started, resuming, unfinished)."""
    if tool == "start_lead_run":
        return result.get("status") == "started"
    if tool == "resume_run":
        return result.get("status") in ("resuming", "running", "paused_for_upgrade")
    if tool == "get_run_status":
        return result["run"]["status"] not in TERMINAL
    return False


async def render_turn(turn: AgentTurn) -> None:
    """Rich views for what the tools returned this turn (the text answer is already shown)."""
    for name, result in turn.tool_results:
        if not isinstance(result, dict) or result.get("error"):
            continue
        if _shows_live_run(name, result):
            await watch(result["run_id"])
        elif name == "list_leads":
            await send_leads(result["run_id"], result["leads"], title="Leads", notes=result.get("notes", ()))
        elif name == "get_dossier" and result.get("dossier"):
            await send_dossier(result["dossier"], result.get("lead"))
        elif name == "list_sources":
            await send_pages(result["audit_job_id"], result["pages"])
        elif name == "start_upgrade" and result.get("checkout_url"):
            await cl.Message(
                content=f"[Open the checkout]({result['checkout_url']}) to finish the upgrade."
            ).send()


# --------------------------------------------------------------------------------------------
# Live view of one run


PHASE_ICONS = {"pending": "⏸", "running": "⏳", "complete": "✅", "error": "❌"}
TASK_STATUS = {
    "pending": cl.TaskStatus.READY,
    "running": cl.TaskStatus.RUNNING,
    "complete": cl.TaskStatus.DONE,
    "error": cl.TaskStatus.FAILED,
}


def progress_markdown(run: dict[str, Any]) -> str:
    campaign = run["campaign"]
    pct = round(run["progress"] * 100)
    bar = "█" * (pct // 10) + "░" * (10 - pct // 10)
    lines = [
        f"**Run `{run['id'][:8]}`** · {run['num_leads_requested']} {campaign['target_vertical']} "
        f"in {campaign['target_geography']} · **{run['status'].replace('_', ' ')}** · {pct}%",
        f"`{bar}`",
        "",
    ]
    for phase in run["phases"]:
        extra = ""
        if phase["status"] == "running":
            extra = f" {round((phase['progress'] or 0) * 100)}%"
        elif phase["status"] == "complete" and phase.get("duration_ms") is not None:
            extra = f" ({phase['duration_ms'] / 1000:.1f} s)"
        lines.append(f"- {PHASE_ICONS.get(phase['status'], '')} {phase['name']}{extra}")
    counts = run["counts"]
    lines.append("")
    lines.append(
        f"Leads: {counts['opportunities']} · ready: {counts['ready']} · audits: "
        f"{counts['audits_completed'] + counts['audits_failed']}/{counts['audits_queued']}"
        f" done, {counts['audits_failed']} failed"
    )
    lines += run_notes(run)
    if run.get("last_event"):
        lines.append(f"Last event: {run['last_event'].get('message') or run['last_event'].get('type')}")
    return "\n".join(lines)


class RunView:
    """One session's live view of one run: redraws on events and on a timer until the run ends."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.agency_id = _agency()
        self.username = cl.user_session.get("username")
        self.thread_id = cl.context.session.thread_id
        self.poke = asyncio.Event()
        self.message = cl.Message(content=f"Run `{run_id[:8]}` starting…")
        self.tasks = cl.TaskList(status="Starting…")
        self.task_by_phase = {name: cl.Task(title=name, status=cl.TaskStatus.READY) for name in PHASES}
        self.shown = ""
        self.tasks_shown = ""
        self.paywall_key: str | None = None
        self.paywall: cl.Message | None = None
        self.countdown: asyncio.Task[None] | None = None
        self.task: asyncio.Task[None] | None = None
        self.unsubscribe = STATE.chat.background.subscribe(run_id, self.on_event)

    def context(self) -> ChatContext:
        return STATE.chat.context(self.agency_id, user_id=self.username, thread_id=self.thread_id)

    async def on_event(self, event: dict[str, Any]) -> None:
        if (event.get("__metadata__") or {}).get("cached"):
            return  # a replay of work already shown (resumed runs)
        self.poke.set()

    def stop(self) -> None:
        self.unsubscribe()
        for task in (self.countdown, self.task):
            if task is not None and task is not asyncio.current_task():
                task.cancel()

    async def start(self) -> None:
        for task in self.task_by_phase.values():
            await self.tasks.add_task(task)
        await self.message.send()
        # The task inherits this handler's Chainlit context: it draws in this session.
        self.task = asyncio.create_task(self.loop(), name=f"view-{self.run_id}")

    async def loop(self) -> None:
        try:
            while True:
                self.poke.clear()
                flow = await STATE.chat.runs.get(self.agency_id, self.run_id)
                counts = await STATE.chat.runs.counts(self.agency_id, self.run_id)
                progress = await STATE.chat.runs.progress(self.agency_id, self.run_id)
                run = flow_json(flow, counts=counts, progress=progress)
                await self.draw(run)
                if run["status"] == "paused_for_upgrade":
                    await self.show_paywall(run)
                elif self.paywall_key is not None:
                    await self.close_paywall("Credits covered: the run resumed.")
                if run["status"] in TERMINAL:
                    await self.finish(run)
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.poke.wait(), POLL_SECONDS)
        except RunNotFound:
            return
        finally:
            self.stop()
            views: dict[str, RunView] = cl.user_session.get("views") or {}
            if views.get(self.run_id) is self:
                views.pop(self.run_id)

    async def draw(self, run: dict[str, Any]) -> None:
        text = progress_markdown(run)
        if text != self.shown:
            self.shown = text
            self.message.content = text
            await self.message.update()
        for phase in run["phases"]:
            task = self.task_by_phase[phase["name"]]
            task.status = TASK_STATUS.get(phase["status"], cl.TaskStatus.READY)
            pct = round((phase["progress"] or 0) * 100)
            task.title = f"{phase['name']} · {pct}%"
        labels = {
            "running": f"Running · {round(run['progress'] * 100)}%",
            "paused_for_upgrade": "Paused: out of credits",
            "completed": "Done",
            "error": "Failed",
            "cancelled": "Cancelled",
            "idle": "Queued",
        }
        self.tasks.status = labels.get(run["status"], run["status"])
        signature = repr([(t.title, t.status) for t in self.task_by_phase.values()] + [self.tasks.status])
        if signature != self.tasks_shown:
            self.tasks_shown = signature
            await self.tasks.send()

    async def finish(self, run: dict[str, Any]) -> None:
        if run["status"] == "completed":
            leads = await STATE.chat.runs.run_leads(self.agency_id, self.run_id)
            await send_leads(
                self.run_id,
                leads_json(leads),
                title=f"Run `{self.run_id[:8]}` finished",
                notes=run_notes(run),
            )
        elif run["status"] == "error":
            await cl.Message(
                content=f"Run `{self.run_id[:8]}` failed: {run.get('error') or 'unknown error'}"
            ).send()
        else:
            await cl.Message(content=f"Run `{self.run_id[:8]}` was cancelled.").send()

    # -- the paywall -----------------------------------------------------------------------

    async def show_paywall(self, run: dict[str, Any]) -> None:
        block = run.get("billing_block") or {}
        key = str(block.get("created_at") or "pause")
        if key == self.paywall_key:
            return
        await self.close_paywall(None)
        self.paywall_key = key
        flow = await STATE.chat.runs.get(self.agency_id, self.run_id)
        gap = await credit_gap(STATE.chat.runs, flow)
        offer = await upgrade_offer(self.context())
        info = block.get("credit_info") or {}
        plans = " · ".join(f"**{p.name}** (+{p.credits} credits)" for p in PLANS)
        content = "\n".join(
            [
                f"### Run `{self.run_id[:8]}` paused: out of credits",
                f"Phase **{block.get('phase', '?')}** needs **{block.get('feature_id', '?')}**.",
                f"Balance: **{gap.balance}** · required: **{gap.required}** · short by: **{gap.deficit}**"
                + (f" (at pause: balance {info.get('balance')})" if info.get("balance") is not None else ""),
                *([f"Plans: {plans}"] if offer.allowed else []),
                offer.message,
                "",
                "Nothing is charged twice: when your balance covers the next step the run resumes by "
                "itself after a short countdown, or press *I've upgraded — resume*.",
            ]
        )
        # Upgrade buttons only where they can do something for this person.
        actions = [
            cl.Action(
                name="upgrade",
                payload={"run_id": self.run_id, "plan": p.id, "pause": key},
                label=f"Upgrade: {p.name} (+{p.credits})",
            )
            for p in (PLANS if offer.allowed else ())
        ]
        actions.append(
            cl.Action(name="resume_paused", payload={"run_id": self.run_id}, label="I've upgraded — resume")
        )
        self.paywall = cl.Message(content=content, actions=actions)
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
            if note:
                self.paywall.content += f"\n\n**{note}**"
                await self.paywall.update()
        self.paywall, self.paywall_key = None, None

    async def wait_for_credits(self, key: str) -> None:
        """Poll the balance; once it covers the paused step, count down visibly, then resume."""
        while True:
            await asyncio.sleep(BALANCE_POLL_SECONDS)
            flow = await STATE.chat.runs.get(self.agency_id, self.run_id)
            if flow.status != "paused_for_upgrade" or self.paywall_key != key:
                return
            gap = await credit_gap(STATE.chat.runs, flow)
            if gap.enough:
                break
        notice = cl.Message(content="")
        for left in range(RESUME_COUNTDOWN_SECONDS, 0, -1):
            notice.content = (
                f"Credits available ({gap.balance}). Resuming run `{self.run_id[:8]}` in {left} s…"
            )
            await (notice.update() if left < RESUME_COUNTDOWN_SECONDS else notice.send())
            await asyncio.sleep(1)
        flow = await STATE.chat.runs.get(self.agency_id, self.run_id)
        result = await resume_flow(self.context(), flow)
        notice.content = result["message"]
        await notice.update()
        self.poke.set()


async def watch(run_id: str) -> RunView:
    """The session's live view of `run_id` (started when there is none yet)."""
    views: dict[str, RunView] = cl.user_session.get("views") or {}
    cl.user_session.set("views", views)
    view = views.get(run_id)
    if view is not None and view.task is not None and not view.task.done():
        view.poke.set()
        return view
    view = RunView(run_id)
    views[run_id] = view
    await view.start()
    return view


# --------------------------------------------------------------------------------------------
# Leads, dossiers and pages


def leads_markdown(leads: list[dict[str, Any]]) -> str:
    if not leads:
        return "_No leads._"

    def cell(value: Any) -> str:
        return str(value if value is not None else "").replace("|", "\\|").replace("\n", " ")

    rows = [
        "| # | Lead | Status | Signals | Score | Fit reason |",
        "|---|---|---|---|---|---|",
    ]
    for rank, lead in enumerate(leads, 1):
        name = f"[{cell(lead['name'])}]({lead['website']})" if lead.get("website") else cell(lead["name"])
        rows.append(
            f"| {rank} | {name} | {lead['status']}{' (reused)' if lead.get('dossier_reused') else ''} | "
            f"{cell(', '.join(lead['signals']) or '—')} | "
            f"{lead.get('opportunity_score', 0):.0f} | {cell(lead.get('fit_reason') or '—')} |"
        )
    return "\n".join(rows)


LEAD_CSV_FIELDS = (
    "id",
    "name",
    "status",
    "opportunity_score",
    "qualification_score",
    "signals",
    "fit_reason",
    "score_reasons",
    "talking_points",
    "website",
    "domain",
    "phone",
    "address",
    "rating",
    "reviews_count",
    "dossier_id",
    "dossier_reused",
    "runs",
)


def leads_csv(leads: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=LEAD_CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for lead in leads:
        writer.writerow(
            {
                **lead,
                **{
                    key: ";".join(lead.get(key) or [])
                    for key in ("signals", "runs", "score_reasons", "talking_points")
                },
            }
        )
    return out.getvalue().encode()


async def send_leads(
    run_id: str, leads: list[dict[str, Any]], *, title: str, notes: Sequence[str] = ()
) -> None:
    actions = [
        cl.Action(
            name="open_dossier", payload={"opportunity_id": lead["id"]}, label=f"Dossier: {lead['name']}"
        )
        for lead in leads
        if lead.get("dossier_id")
    ]
    csv_file = cl.File(
        name=f"leads-{run_id[:8]}.csv", content=leads_csv(leads), mime="text/csv", display="inline"
    )
    await cl.Message(
        content="\n\n".join([f"**{title}** · {len(leads)} leads", *notes, leads_markdown(leads)]),
        elements=[csv_file],
        actions=actions,
    ).send()


def dossier_markdown(dossier: dict[str, Any], lead: dict[str, Any] | None) -> str:
    name = lead["name"] if lead else dossier["opportunity_id"]
    lines = [f"### Dossier · {name}", "", dossier["summary"], ""]
    if dossier.get("findings"):
        lines += ["**Findings**"]
        for f in dossier["findings"]:
            where = f" ([page]({f['evidence_url']}))" if f.get("evidence_url") else ""
            lines.append(f"- **{f['title']}** ({f['code']}): {f['detail']} — _{f['evidence']}_{where}")
        lines.append("")
    if dossier["gaps"]:
        lines += ["**Gaps**", *[f"- {gap}" for gap in dossier["gaps"]], ""]
    if dossier["talking_points"]:
        lines += ["**Talking points**", *[f"- {point}" for point in dossier["talking_points"]], ""]
    if dossier["sources"]:
        lines += [
            "**Sources**",
            *[f"- [{s.get('title') or s['url']}]({s['url']})" for s in dossier["sources"]],
            "",
        ]
    if dossier.get("fit_reason"):
        lines.append(f"**Fit:** {dossier['fit_reason']}")
    return "\n".join(lines)


async def send_dossier(dossier: dict[str, Any], lead: dict[str, Any] | None) -> None:
    actions = []
    if lead and lead.get("audit_job_id"):
        actions.append(
            cl.Action(
                name="show_pages", payload={"audit_job_id": lead["audit_job_id"]}, label="Scraped pages"
            )
        )
    if lead and lead.get("phone"):
        actions.append(
            cl.Action(name="call_lead", payload={"opportunity_id": lead["id"]}, label="Call this lead")
        )
    await cl.Message(content=dossier_markdown(dossier, lead), actions=actions).send()


async def send_pages(audit_job_id: str, pages: list[dict[str, Any]]) -> None:
    if not pages:
        await cl.Message(content="No pages were scraped for this audit.").send()
        return
    lines = [f"**Scraped pages** · audit `{audit_job_id[:8]}`", ""]
    lines += [f"- [{p.get('title') or p['url']}]({p['url']}) · {p.get('scraped_at') or ''}" for p in pages]
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


@cl.action_callback("call_lead")
async def on_call_lead(action: cl.Action) -> None:
    if not await _ensure_bound():
        return
    from graphs.calls import place_call

    ctx = _context()
    opp_id = str(action.payload.get("opportunity_id", ""))
    result = await place_call(STATE.chat.calls, ctx.agency_id, opp_id, user_id=ctx.user_id)
    await cl.Message(content=result["message"]).send()


@cl.action_callback("upgrade")
async def on_upgrade(action: cl.Action) -> None:
    if not await _ensure_bound():
        return
    plan = plan_by_id(str(action.payload.get("plan", "")))
    run_id = str(action.payload.get("run_id", ""))
    if plan is None:
        await cl.Message(content="Unknown plan.").send()
        return
    try:
        await STATE.chat.runs.get(_agency(), run_id)
    except RunNotFound:
        await cl.Message(content="That run is not available.").send()
        return
    # One grant per paywall and plan: a double click (or a second tab, or Slack) adds nothing more.
    key = accounts.upgrade_key(_agency(), plan.id, run_id=run_id, pause=str(action.payload.get("pause", "")))
    try:
        result = await upgrade(_context(), plan, key)
    except accounts.NotAllowed as exc:
        await cl.Message(content=str(exc)).send()
        return
    except BillingError as exc:
        await cl.Message(content=f"The upgrade could not be applied: {exc}").send()
        return
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
        (await watch(run_id)).poke.set()
