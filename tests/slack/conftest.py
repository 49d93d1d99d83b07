"""Fixtures for the Slack adapter tests: the REAL Bolt app mounted in the real `leadgen serve`
Starlette app (assistant.server.create_app), driven over HTTP (httpx's ASGI transport) with
requests signed the way Slack signs them, and the session sandbox's Slack Web API receiving the
bot's posts (`/_sandbox/slack/messages`, `/_sandbox/requests?service=slack`).

`slack` is a `SlackHarness`: `.command(...)`, `.action(...)`, `.event(...)` send signed requests
(a command with a `response_url` the sandbox's Slack issued); `.create_channel(...)` makes a
conversation exist; `.messages(channel)`, `.requests(method)` read what the bot did; `.wait_for(...)` polls;
`.adapter` is the running `SlackAdapter` (its services: runs, calls, agent, database);
`.link_admin(team, user, agency)` makes a Slack user an admin (Slack users are members).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx
import pytest

from leadgen.settings import get_settings, reset_settings

if TYPE_CHECKING:
    from assistant.slack_app import SlackAdapter
    from tools.sandbox.server import SandboxHandle

SECRET = "slack-test-signing-secret-0123456789"
TEAM_A, TEAM_B = "TALPHA", "TBETA"
AGENCY_A, AGENCY_B = "acme", "beta"

CLEARED = (
    "DATABASE_URL",
    "LEADGEN_AGENCY",
    "LEADGEN_STARTING_CREDITS",
    "AUTUMN_SECRET_KEY",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "GOOGLE_PLACES_API_KEY",
    "FIRECRAWL_API_KEY",
    "FIRECRAWL_API_URL",
    "VAPI_API_KEY",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "LEADGEN_PUBLIC_URL",
)


def sign(body: bytes, *, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    """Slack's request signature: `v0=` HMAC-SHA256 over `v0:{timestamp}:{raw body}`."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def new_channel() -> str:
    return "C" + uuid.uuid4().hex[:10].upper()


class SlackHarness:
    def __init__(self, app: Any, http: httpx.AsyncClient, sandbox: SandboxHandle) -> None:
        self.app = app
        self.http = http
        self.sandbox = sandbox
        self._sandbox_http = httpx.AsyncClient(base_url=sandbox.url, timeout=10)
        self.people_ts: set[str] = set()  # messages the harness posted as a person

    @property
    def adapter(self) -> SlackAdapter:
        adapter: SlackAdapter = self.app.state.slack
        return adapter

    # -- signed requests --------------------------------------------------------------------

    async def post(
        self, body: bytes, content_type: str, *, headers: dict[str, str] | None = None, **sign_args: Any
    ) -> httpx.Response:
        signed = sign(body, **sign_args)
        signed.update(headers or {})
        return await self.http.post(
            "/slack/events", content=body, headers={"Content-Type": content_type, **signed}
        )

    async def command(
        self, text: str, *, channel: str, team: str = TEAM_A, user: str = "UANA", **kw: Any
    ) -> httpx.Response:
        form = {
            "token": "legacy",
            "team_id": team,
            "team_domain": team.lower(),
            "channel_id": channel,
            "channel_name": "leads",
            "user_id": user,
            "user_name": "ana",
            "command": "/leads",
            "text": text,
            "api_app_id": "A0ATLAS",
            "is_enterprise_install": "false",
            "response_url": await self.response_url(channel, user),
            "trigger_id": f"{uuid.uuid4().int % 10**8}.1.{uuid.uuid4().hex[:8]}",
        }
        return await self.post(urlencode(form).encode(), "application/x-www-form-urlencoded", **kw)

    async def action(
        self,
        action_id: str,
        value: dict[str, Any] | str,
        *,
        channel: str,
        message_ts: str | None = None,
        team: str = TEAM_A,
        user: str = "UANA",
        **kw: Any,
    ) -> httpx.Response:
        """A click on a button of the message `message_ts` (default: a new message in the
        sandbox's channel standing for the one that carried the button)."""
        if message_ts is None:
            message_ts = await self.user_message(channel, "a message with buttons")
        payload = {
            "type": "block_actions",
            "team": {"id": team, "domain": team.lower()},
            "user": {"id": user, "username": "ana", "team_id": team},
            "api_app_id": "A0ATLAS",
            "token": "legacy",
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "trigger_id": f"{uuid.uuid4().int % 10**8}.1.{uuid.uuid4().hex[:8]}",
            "channel": {"id": channel, "name": "leads"},
            "message": {"type": "message", "ts": message_ts, "text": "", "bot_id": "B0BOT", "blocks": []},
            "response_url": "https://hooks.slack.com/actions/T/2/x",
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "b1",
                    "text": {"type": "plain_text", "text": "x"},
                    "value": value if isinstance(value, str) else json.dumps(value),
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return await self.post(body, "application/x-www-form-urlencoded", **kw)

    async def event(
        self,
        event: dict[str, Any],
        *,
        team: str = TEAM_A,
        event_id: str | None = None,
        retry_num: int | None = None,
        **kw: Any,
    ) -> httpx.Response:
        envelope = {
            "token": "legacy",
            "team_id": team,
            "api_app_id": "A0ATLAS",
            "event": {"team": team, "event_ts": event.get("ts"), **event},
            "type": "event_callback",
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": team, "user_id": "U0BOT", "is_bot": True}],
        }
        headers = dict(kw.pop("headers", {}) or {})
        if retry_num is not None:
            headers.update({"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"})
        return await self.post(json.dumps(envelope).encode(), "application/json", headers=headers, **kw)

    async def response_url(self, channel: str, user: str) -> str:
        """The `response_url` Slack sends with a command (issued by the sandbox's Slack)."""
        issued = await self._sandbox_http.post(
            "/_sandbox/slack/response_urls", json={"channel": channel, "user": user}
        )
        url: str = issued.raise_for_status().json()["url"]
        return url

    async def create_channel(self, channel: str, *, im: bool = False, bot_member: bool = True) -> None:
        """Make a conversation exist in the sandbox's Slack (with the bot in it, by default)."""
        body = {"id": channel, "im": im, "bot_member": bot_member, "members": ["UANA", "UBOB"]}
        (await self._sandbox_http.post("/_sandbox/slack/channels", json=body)).raise_for_status()

    async def user_message(self, channel: str, text: str, thread_ts: str | None = None) -> str:
        """Put a person's message into the sandbox's Slack (it refuses replies to a thread whose
        parent it never saw, as Slack does); returns its ts, for the event that mentions us."""
        body: dict[str, Any] = {"channel": channel, "text": text}
        if thread_ts:
            body["thread_ts"] = thread_ts
        response = await self._sandbox_http.post(
            "/slack/api/chat.postMessage", json=body, headers={"Authorization": "Bearer xoxp-a-person"}
        )
        assert response.json()["ok"], response.text
        self.people_ts.add(str(response.json()["ts"]))
        return str(response.json()["ts"])

    # -- what the bot did ---------------------------------------------------------------------

    async def messages(self, channel: str) -> list[dict[str, Any]]:
        response = await self._sandbox_http.get("/_sandbox/slack/messages", params={"channel": channel})
        result: list[dict[str, Any]] = response.json()
        return result

    async def bot_messages(self, channel: str) -> list[dict[str, Any]]:
        """What the bot posted in `channel` (threads included), without the people's messages."""
        return [m for m in await self.messages(channel) if m["ts"] not in self.people_ts]

    async def requests(self, method: str, channel: str | None = None) -> list[dict[str, Any]]:
        """The Slack Web API calls the sandbox answered for `method` (optionally to `channel`)."""
        response = await self._sandbox_http.get("/_sandbox/requests", params={"service": "slack"})
        found = []
        for item in response.json():
            if not str(item.get("path", "")).endswith("/" + method):
                continue
            body = item.get("body")
            if isinstance(body, str):
                try:
                    body = json.loads(body)
                except ValueError:
                    body = {}
            if channel is None or (isinstance(body, dict) and body.get("channel") == channel):
                found.append({**item, "body": body})
        return found

    async def wait_for(
        self, check: Callable[[], Awaitable[Any]], *, timeout: float = 60.0, what: str = "condition"
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = await check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            await asyncio.sleep(0.1)

    async def install(self, team: str, agency: str) -> None:
        # What `leadgen slack install TEAM --agency AGENCY` does.
        await self.adapter.services.accounts.install_slack(agency, team)

    async def link_admin(self, team: str, user: str, agency: str) -> None:
        """Make Slack user `user` of `team` an admin of `agency`: an admin user linked to that
        Slack identity (`leadgen user add --role admin` + `leadgen user link-slack`). Unlinked
        Slack users are members."""
        from graphs.accounts import link_slack_user
        from graphs.identity import add_user

        database = self.adapter.services.database
        username = f"{user.lower()}-{team.lower()}"
        await add_user(database, username, agency, "a-long-enough-password", role="admin")
        await link_slack_user(database, username, team, user)

    async def aclose(self) -> None:
        await self._sandbox_http.aclose()


@pytest.fixture
def slack_env(
    tmp_path: Path, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    env = {
        "LEADGEN_SANDBOX_URL": sandbox.url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'slack.db'}",
        "LEADGEN_DATA_DIR": str(tmp_path / "data"),
        "LEADGEN_LEASE_SECONDS": "5",
        "LEADGEN_AGENCY": AGENCY_A,
        "LEADGEN_STARTING_CREDITS": "100",
        "SLACK_SIGNING_SECRET": SECRET,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no developer `.env`
    reset_settings()
    yield env
    reset_settings()


@pytest.fixture
def fast_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shorter redraw intervals, so tests see edits quickly (the throttle logic is unchanged)."""
    from assistant.slack_app import RunWatcher

    monkeypatch.setattr(RunWatcher, "POLL_SECONDS", 0.2)
    monkeypatch.setattr(RunWatcher, "MIN_LOOP_SECONDS", 0.05)
    monkeypatch.setattr(RunWatcher, "MIN_EDIT_SECONDS", 0.3)
    monkeypatch.setattr(RunWatcher, "PROGRESS_EDIT_SECONDS", 0.6)


@pytest.fixture
async def slack(
    slack_env: dict[str, str], sandbox: SandboxHandle, fast_watch: None
) -> AsyncIterator[SlackHarness]:
    """`leadgen serve`'s app with the Slack routes and lifespan, running (lifespan entered)."""
    from assistant.server import create_app
    from assistant.slack_app import slack_lifespan, slack_routes

    app = create_app(get_settings(), routes=slack_routes(), lifespans=[slack_lifespan])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://serve.test", timeout=30) as http:
            harness = SlackHarness(app, http, sandbox)
            try:
                yield harness
            finally:
                await harness.adapter.drain(10)
                await harness.aclose()


@pytest.fixture
def channel(sandbox: SandboxHandle) -> str:
    """A channel of this test's own, the bot a member (the sandbox's Slack store is shared by the
    session, and its Slack refuses channels that do not exist or the bot is not in, as Slack does)."""
    created = new_channel()
    body = {"id": created, "name": created.lower(), "members": ["UANA", "UBOB"]}
    httpx.post(f"{sandbox.url}/_sandbox/slack/channels", json=body, timeout=10).raise_for_status()
    return created
