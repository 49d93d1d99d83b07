"""The web chat's process: start-up and shutdown, sign-in, the data layer and element storage.

Importing this module sets the process up, as Chainlit expects of the file it loads
(assistant/chainlit_app.py imports it first): the log level, a port and files folder of its own,
and the sign-in mode. With `CHAINLIT_AUTH_SECRET` set, password login against `agency_users`
(`leadgen user add`), throttled per user and per client address (graphs/identity.py: a throttled
attempt answers 429 with the reason). Without it, no login: Chainlit's header-auth callback hands
every visitor the single local user of the default agency (history needs an authenticated user),
with a JWT secret generated once and kept in the data folder. That mode listens on loopback only:
another address is refused in production and warned about elsewhere (assistant/exposure.py),
whether started by `leadgen chat` or by `chainlit run`.
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
from contextlib import AsyncExitStack
from typing import Any

import chainlit as cl
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.agent import ChatServices, open_chat
from assistant.chat_data import HistoryDataLayer, make_data_layer, recovered_call_reporter
from assistant.chat_files import ELEMENTS_SUBDIR, FolderStorage, files_route
from assistant.chat_server import PortInUse, own_files_dir, refuse_busy_port
from assistant.cli.chat import apply_log_level
from graphs.identity import LOCAL_USERNAME, SignInThrottled, authenticate
from leadgen.settings import get_settings, reset_settings

log = logging.getLogger(__name__)

ESSENTIAL_KEYS = ("google_places_api_key", "firecrawl_api_key", "openai_api_key")


# --------------------------------------------------------------------------------------------
# Process-wide state (opened on app start-up, inside Chainlit's event loop)


class AppState:
    """The chat services and what the process keeps beside them, opened on app start-up inside
    Chainlit's event loop."""

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
    sets the host before it loads the app file; `leadgen chat` has checked already.)"""
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
    # Chainlit checks the secret right after importing the app file (ensure_jwt_secret).
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
