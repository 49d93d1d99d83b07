"""`leadgen serve`: the HTTP app providers and chat platforms call back into.

    POST /webhooks/vapi   Vapi server messages (end-of-call reports, status updates)
    POST /slack/events    Slack slash commands, events and buttons (assistant/slack/)
    GET  /healthz         {"ok": true}
    GET  /r/{token}       a lead's shared report (HTML); /r/{token}/report.pdf the same as PDF

A Vapi webhook is authenticated (`assistant.webhooks`), parsed strictly (`tools.vapi.wire`), written
to the webhook inbox, and acknowledged at once (Vapi gives a server 20 s, and a slow answer gets
redelivered); the work (record the call's outcome, meter it) runs after the response in an
in-process asyncio task (graphs/executors.py `BackgroundTasks`, awaited on shutdown). Answers: 200 accepted (also for a redelivery, a message type we do not act
on, and a call we do not know, which is logged and writes nothing), 401 bad or missing
credentials, 400 malformed body (the message names the problem), 413 body too large.

Other faces mount their routes on the same app::

    app = create_app(settings, routes=[Route("/slack/events", slack_events, methods=["POST"])],
                     lifespans=[slack_lifespan])   # each: app -> async context manager

Route handlers find the call service at `request.app.state.calls`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from assistant.report_page import CONTENT_SECURITY_POLICY, NOT_FOUND_HTML, render_html, render_pdf
from assistant.webhooks import VapiWebhookAuth, WebhookRejected
from graphs.calls import VAPI_WEBHOOK_PATH, CallService
from graphs.executors import BackgroundTasks
from graphs.reports import REPORT_PATH, ReportNotFound, ReportService
from leadgen.settings import Settings, get_settings
from tools.vapi.wire import (
    MAX_WEBHOOK_BYTES,
    EndOfCallReport,
    MalformedWebhook,
    StatusUpdate,
    parse_vapi_webhook,
)

log = logging.getLogger(__name__)

Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


async def _read_body(request: Request) -> bytes | None:
    """The raw body (signatures cover the exact bytes), or None when it exceeds the limit."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_WEBHOOK_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_WEBHOOK_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def vapi_webhook(request: Request) -> JSONResponse:
    state = request.app.state
    raw = await _read_body(request)
    if raw is None:
        return JSONResponse({"error": f"body larger than {MAX_WEBHOOK_BYTES} bytes"}, status_code=413)
    try:
        scheme = state.vapi_auth.verify(request.headers, raw)
    except WebhookRejected as exc:
        log.warning("Vapi webhook rejected from %s: %s", request.client.host if request.client else "?", exc)
        return JSONResponse({"error": exc.reason}, status_code=401)
    try:
        message = parse_vapi_webhook(raw)
    except MalformedWebhook as exc:
        log.warning("malformed Vapi webhook: %s", exc)
        return JSONResponse({"error": str(exc)}, status_code=400)
    calls: CallService = state.calls
    receipt = await calls.accept_webhook(message)
    if receipt.process and isinstance(message, EndOfCallReport | StatusUpdate):
        state.background.spawn(calls.process_webhook(message), name=f"vapi:{receipt.event_id}")
    log.info("Vapi %s accepted (%s, auth %s)", getattr(message, "type", "?"), receipt.reason, scheme)
    return JSONResponse({"ok": True, "event_id": receipt.event_id, "status": receipt.reason})


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


# A shared report is for whoever holds the link, and no one else: not indexed, not cached, the
# token not passed on as a referrer when the prospect clicks through, and no script runs in it.
_REPORT_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


async def _shared_report(request: Request) -> dict[str, Any] | None:
    """The report behind the request's token; None for every token that does not answer."""
    reports = ReportService(request.app.state.calls.db, request.app.state.settings)
    found = await reports.resolve(str(request.path_params.get("token", "")))
    if found is None:
        return None
    agency_id, lead_id = found
    try:
        return await reports.report(agency_id, lead_id)
    except ReportNotFound:
        return None


def _report_not_found() -> HTMLResponse:
    # One answer for unknown, revoked and expired links alike: nothing about the link is disclosed.
    return HTMLResponse(NOT_FOUND_HTML, status_code=404, headers=_REPORT_HEADERS)


async def report_page(request: Request) -> Response:
    report = await _shared_report(request)
    if report is None:
        return _report_not_found()
    return HTMLResponse(render_html(report), headers=_REPORT_HEADERS)


async def report_pdf(request: Request) -> Response:
    report = await _shared_report(request)
    if report is None:
        return _report_not_found()
    pdf = await asyncio.to_thread(render_pdf, report)  # reportlab is CPU-bound: off the loop
    name = "".join(ch for ch in report["lead"]["name"] if ch.isalnum() or ch in " -_").strip() or "report"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={**_REPORT_HEADERS, "Content-Disposition": f'inline; filename="{name[:60]}.pdf"'},
    )


def create_app(
    settings: Settings | None = None,
    *,
    calls: CallService | None = None,
    routes: Sequence[BaseRoute] = (),
    lifespans: Sequence[Lifespan] = (),
) -> Starlette:
    """The server app. Without `calls`, it opens its own CallService (database, billing,
    providers) on start-up and closes it on shutdown. `routes` and `lifespans` let other faces
    (Slack) share the app."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            app.state.calls = calls or await stack.enter_async_context(CallService.open(settings))
            for extra in lifespans:
                await stack.enter_async_context(extra(app))
            try:
                yield
            finally:
                await app.state.background.drain()

    app = Starlette(
        routes=[
            Route(VAPI_WEBHOOK_PATH, vapi_webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route(REPORT_PATH + "{token}", report_page, methods=["GET"]),
            Route(REPORT_PATH + "{token}/report.pdf", report_pdf, methods=["GET"]),
            *routes,
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.vapi_auth = VapiWebhookAuth(settings.vapi_webhook_secret, settings.leadgen_env)
    # Work acknowledged before it is done (webhooks): awaited on shutdown.
    app.state.background = BackgroundTasks("background work")
    if calls is not None:
        app.state.calls = calls
    return app


def serve(settings: Settings | None = None, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the app in the foreground until interrupted."""
    from assistant.slack import slack_lifespan, slack_routes  # Slack: POST /slack/events

    settings = settings or get_settings()
    app = create_app(settings, routes=slack_routes(), lifespans=[slack_lifespan])
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=True)
