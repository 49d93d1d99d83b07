"""Mounting Slack on `leadgen serve`: the `POST /slack/events` route, the lifespan that opens the
adapter on the server's services, and Socket Mode."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import aiohttp
from slack_sdk.errors import SlackClientError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from assistant.agent import (
    ChatAgent,
    ChatServices,
)
from assistant.slack.adapter import SlackAdapter
from graphs.call_follower import CallFollower
from graphs.calls import CallService
from graphs.service import RunService
from leadgen.settings import MissingProviderKey, Settings
from tools.slack import slack_web_client

log = logging.getLogger(__name__)

SLACK_EVENTS_PATH = "/slack/events"
MAX_BODY_BYTES = 512 * 1024  # Slack's payloads are a few KB; refuse floods before Bolt parses them


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
