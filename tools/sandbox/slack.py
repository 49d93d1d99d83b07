"""The Slack Web API at `/slack/api/<method>`, keeping every message posted.

Methods: auth.test, chat.postMessage, chat.update, chat.postEphemeral, views.open,
conversations.replies, apps.connections.open. Arguments come as JSON or form bodies (or the query
string); errors are HTTP 200 `{"ok": false, "error": ...}` as Slack sends them; with
`slack_rate_limit_per_minute` set, a method+channel over the limit gets 429 `ratelimited` with
Retry-After. Messages are readable at `GET /_sandbox/slack/messages?channel=C`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

BOT = {"user_id": "U0BOT", "bot_id": "B0BOT", "team_id": "T0SANDBOX"}


class SlackStore:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.views: list[dict[str, Any]] = []
        self.calls: dict[str, list[float]] = defaultdict(list)
        self._ts = itertools.count(1)

    def next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"


def _store(request: Request) -> SlackStore:
    store: SlackStore = request.app.state.sandbox.stores.setdefault("slack", SlackStore())
    return store


def ok(**fields: Any) -> JSONResponse:
    return JSONResponse({"ok": True, **fields})


def fail(error: str, **fields: Any) -> JSONResponse:
    return JSONResponse({"ok": False, "error": error, **fields})


async def _arguments(request: Request) -> dict[str, Any]:
    args: dict[str, Any] = dict(request.query_params)
    raw = await request.body()
    if raw:
        if "json" in request.headers.get("content-type", ""):
            try:
                body = json.loads(raw)
            except ValueError:
                body = {}
            if isinstance(body, dict):
                args.update(body)
        else:
            args.update(dict(parse_qsl(raw.decode("utf-8", "replace"))))
    for key in ("blocks", "view", "attachments"):  # form bodies carry these as JSON strings
        if isinstance(args.get(key), str):
            with contextlib.suppress(ValueError):
                args[key] = json.loads(args[key])
    return args


def _message(store: SlackStore, channel: str, ts: str) -> dict[str, Any] | None:
    return next((m for m in store.messages if m["channel"] == channel and m["ts"] == ts), None)


def _public(message: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in message.items() if k not in ("channel", "ephemeral_user")}
    return {"type": "message", **shown}


async def auth_test(request: Request, args: dict[str, Any], store: SlackStore) -> JSONResponse:
    return ok(
        url="https://atlas-sandbox.slack.com/",
        team="Atlas Sandbox",
        user="atlas",
        team_id=BOT["team_id"],
        user_id=BOT["user_id"],
        bot_id=BOT["bot_id"],
        is_enterprise_install=False,
    )


async def post_message(request: Request, args: dict[str, Any], store: SlackStore) -> JSONResponse:
    channel = str(args.get("channel") or "")
    if not channel:
        return fail("channel_not_found")
    if not args.get("text") and not args.get("blocks") and not args.get("attachments"):
        return fail("no_text")
    message = {
        "channel": channel,
        "ts": store.next_ts(),
        "text": args.get("text", ""),
        "blocks": args.get("blocks") or [],
        "user": BOT["user_id"],
        "bot_id": BOT["bot_id"],
    }
    if args.get("thread_ts"):
        if _message(store, channel, str(args["thread_ts"])) is None:
            return fail("thread_not_found")
        message["thread_ts"] = str(args["thread_ts"])
    store.messages.append(message)
    return ok(channel=channel, ts=message["ts"], message=_public(message))


async def update(request: Request, args: dict[str, Any], store: SlackStore) -> JSONResponse:
    channel, ts = str(args.get("channel") or ""), str(args.get("ts") or "")
    message = _message(store, channel, ts)
    if message is None:
        return fail("message_not_found")
    if "text" in args:
        message["text"] = args["text"]
    if "blocks" in args:
        message["blocks"] = args["blocks"] or []
    message["edited"] = {"user": BOT["user_id"], "ts": store.next_ts()}
    return ok(channel=channel, ts=ts, text=message["text"], message=_public(message))


async def post_ephemeral(request: Request, args: dict[str, Any], store: SlackStore) -> JSONResponse:
    channel, user = str(args.get("channel") or ""), str(args.get("user") or "")
    if not channel:
        return fail("channel_not_found")
    if not user:
        return fail("user_not_in_channel")
    if not args.get("text") and not args.get("blocks"):
        return fail("no_text")
    ts = store.next_ts()
    store.messages.append(
        {
            "channel": channel,
            "ts": ts,
            "text": args.get("text", ""),
            "blocks": args.get("blocks") or [],
            "user": BOT["user_id"],
            "bot_id": BOT["bot_id"],
            "ephemeral_user": user,
        }
    )
    return ok(message_ts=ts)


async def views_open(request: Request, args: dict[str, Any], store: SlackStore) -> JSONResponse:
    view = args.get("view")
    if not args.get("trigger_id") and not args.get("interactivity_pointer"):
        return fail(
            "invalid_arguments",
            response_metadata={"messages": ["[ERROR] missing required field: trigger_id"]},
        )
    if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
        return fail("invalid_arguments", response_metadata={"messages": ["[ERROR] invalid view"]})
    opened = {
        **view,
        "id": f"V{len(store.views) + 1:08d}",
        "team_id": BOT["team_id"],
        "state": {"values": {}},
    }
    store.views.append(opened)
    return ok(view=opened)


async def replies(request: Request, args: dict[str, Any], store: SlackStore) -> JSONResponse:
    channel, ts = str(args.get("channel") or ""), str(args.get("ts") or "")
    parent = _message(store, channel, ts)
    if parent is None:
        return fail("thread_not_found")
    thread = [parent] + [m for m in store.messages if m["channel"] == channel and m.get("thread_ts") == ts]
    return ok(messages=[_public(m) for m in thread], has_more=False)


async def connections_open(request: Request, args: dict[str, Any], store: SlackStore) -> JSONResponse:
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    if not token.startswith("xapp-"):
        return fail("not_allowed_token_type")
    host = request.url.netloc
    return ok(url=f"ws://{host}/slack/socket-mode")


Handler = Callable[[Request, dict[str, Any], SlackStore], Awaitable[JSONResponse]]
METHODS: dict[str, Handler] = {
    "auth.test": auth_test,
    "chat.postMessage": post_message,
    "chat.update": update,
    "chat.postEphemeral": post_ephemeral,
    "views.open": views_open,
    "conversations.replies": replies,
    "apps.connections.open": connections_open,
}


async def web_api(request: Request) -> Response:
    method = request.path_params["method"]
    args = await _arguments(request)
    token = request.headers.get("authorization", "").removeprefix("Bearer ").strip() or str(
        args.get("token", "")
    )
    if not token:
        return fail("not_authed")
    if not token.startswith(("xoxb-", "xoxp-", "xapp-")):
        return fail("invalid_auth")
    if token in request.app.state.sandbox.config.revoked_keys:
        return fail("token_revoked")
    handler = METHODS.get(method)
    if handler is None:
        return fail("unknown_method")
    store = _store(request)
    limit = request.app.state.sandbox.config.slack_rate_limit_per_minute
    if limit > 0:
        key = f"{method}|{args.get('channel', '')}"
        now = time.monotonic()
        recent = [t for t in store.calls[key] if now - t < 60]
        if len(recent) >= limit:
            retry = max(1, int(60 - (now - recent[0])) + 1)
            store.calls[key] = recent
            return JSONResponse(
                {"ok": False, "error": "ratelimited"}, status_code=429, headers={"Retry-After": str(retry)}
            )
        store.calls[key] = [*recent, now]
    return await handler(request, args, store)


async def sandbox_messages(request: Request) -> Response:
    """Sandbox-only: posted messages, oldest first (`?channel=C` to filter)."""
    channel = request.query_params.get("channel")
    messages = [m for m in _store(request).messages if channel is None or m["channel"] == channel]
    return JSONResponse(messages)


routes = [
    Route("/slack/api/{method}", web_api, methods=["POST", "GET"]),
    Route("/_sandbox/slack/messages", sandbox_messages, methods=["GET"]),
]
