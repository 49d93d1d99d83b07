"""How `leadgen serve` carries Slack: HTTP only with a signing secret, Socket Mode with an app
token, 503 naming what is missing otherwise.

Socket Mode is tested as far as the sandbox allows: it serves `apps.connections.open` (reached
through the Bolt app's client, with the xapp token) but not the websocket behind it, so the
connection itself is not exercised here; what arrives over it is dispatched to the same Bolt app,
which the last test drives directly in socket mode (unsigned, as Bolt's handler does)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from leadgen.settings import get_settings, reset_settings


@asynccontextmanager
async def _serve() -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    from assistant.server import create_app
    from assistant.slack_app import slack_lifespan, slack_routes

    app = create_app(get_settings(), routes=slack_routes(), lifespans=[slack_lifespan])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://serve.test") as http:
            yield app, http


async def test_without_slack_settings_the_route_answers_503(
    slack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_SIGNING_SECRET")
    reset_settings()
    async with _serve() as (app, http):
        assert app.state.slack is None
        response = await http.post("/slack/events", content=b"{}")
        assert response.status_code == 503
        assert "SLACK_SIGNING_SECRET" in response.json()["error"]
        assert (await http.get("/healthz")).json() == {"ok": True}


async def test_without_a_bot_token_or_sandbox_slack_is_disabled_with_the_variable_named(
    slack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEADGEN_SANDBOX_URL")
    monkeypatch.setenv("VAPI_API_KEY", "vapi-key")  # the call service itself needs nothing else here
    reset_settings()
    async with _serve() as (_app, http):
        response = await http.post("/slack/events", content=b"{}")
        assert response.status_code == 503
        assert "SLACK_BOT_TOKEN is not set" in response.json()["error"]


async def test_oversized_bodies_are_refused_before_bolt(slack: Any) -> None:
    response = await slack.post(b"x" * (600 * 1024), "application/x-www-form-urlencoded")
    assert response.status_code == 413


async def test_socket_mode_asks_for_a_websocket_with_the_app_token_and_http_keeps_working(
    slack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, sandbox: Any, fast_watch: None
) -> None:
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-A0ATLAS-socket-test")
    reset_settings()
    before = len(sandbox.requests("slack"))
    async with _serve() as (app, http):
        assert app.state.slack is not None

        def opened() -> list[dict[str, Any]]:
            return [
                r for r in sandbox.requests("slack")[before:] if r["path"].endswith("apps.connections.open")
            ]

        for _ in range(100):
            if opened():
                break
            await asyncio.sleep(0.05)
        calls = opened()
        assert calls, "Socket Mode never asked Slack for a websocket URL"
        headers = {k.lower(): v for k, v in calls[0]["headers"].items()}
        # The sandbox redacts tokens in its log; it answers ok only to an xapp- token.
        assert str(headers.get("authorization")).startswith("Bearer xapp")
        assert calls[0]["status"] == 200
        # HTTP mode is unaffected while the websocket is unavailable.
        body = json.dumps({"type": "url_verification", "challenge": "still-here"}).encode()
        ts = str(int(time.time()))
        secret = slack_env["SLACK_SIGNING_SECRET"].encode()
        digest = hmac.new(secret, f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
        response = await http.post(
            "/slack/events",
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": f"v0={digest}",
            },
        )
        assert response.status_code == 200 and response.json() == {"challenge": "still-here"}
    # Leaving the block shut the socket handler down without hanging.


async def test_socket_mode_envelopes_reach_the_same_listeners_unsigned(slack: Any, channel: str) -> None:
    from slack_bolt.request.async_request import AsyncBoltRequest

    form = {
        "team_id": "TALPHA",
        "channel_id": channel,
        "user_id": "UANA",
        "command": "/leads",
        "text": "2 dentists in Austin, TX",
        "trigger_id": "1.2.3",
    }
    # What AsyncSocketModeHandler does with a `slash_commands` envelope's payload.
    response = await slack.adapter.bolt.async_dispatch(
        AsyncBoltRequest(body=urlencode(form), mode="socket_mode")
    )
    assert response.status == 200
    await slack.adapter.drain()

    async def posted() -> list[dict[str, Any]]:
        return await slack.bot_messages(channel)

    assert await slack.wait_for(posted, timeout=20, what="the run message")
    flows = await slack.adapter.services.runs.list_runs("acme")
    assert [f.num_leads_requested for f in flows] == [2]
