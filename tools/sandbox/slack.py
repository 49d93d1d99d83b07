"""The Slack Web API at `/slack/api/<method>`, keeping every message posted.

Methods: auth.test, chat.postMessage, chat.update, chat.postEphemeral, views.open,
conversations.replies, conversations.create, conversations.join, conversations.info,
apps.connections.open, files.getUploadURLExternal, files.completeUploadExternal, files.info.
Arguments come as JSON or form bodies (or the query string); errors are
HTTP 200 `{"ok": false, "error": ...}` as Slack sends them; with `slack_rate_limit_per_minute`
set, a method+channel over the limit gets 429 `ratelimited` with Retry-After. Messages are
readable at `GET /_sandbox/slack/messages?channel=C`.

Conversations exist only once created, and the bot posts only where it is a member, as at Slack:
an unknown channel (or a private one it is not in) is `channel_not_found`, a public one it is
not in is `not_in_channel`, for `chat.postMessage`, `chat.update` and `chat.postEphemeral` alike.
A user id as the channel is a DM, which Slack opens. People's tokens (`xoxp-`) may post in any
conversation that exists. `POST /_sandbox/slack/channels` creates one as a workspace admin would
(`{"id"?, "name"?, "private"?, "im"?, "bot_member"?: true}`).

Slash commands answer through their `response_url` (a `hooks.slack.com` URL at Slack; here
`/slack/hooks/commands/...`), which needs no membership: up to 5 posts within 30 minutes, each
`{"text", "blocks"?, "response_type": "ephemeral"|"in_channel"}`. `POST /_sandbox/slack/response_urls`
`{"channel", "user"}` issues one, as Slack does with each command it sends.

Files go up as Slack's external upload flow has them (what slack_sdk's `files_upload_v2` does):
`files.getUploadURLExternal` (`filename`, `length`) gives `{upload_url, file_id}`; the bytes are
POSTed to `upload_url` (raw or multipart, no token: the URL is the credential; `200 OK - <n>` as
text); `files.completeUploadExternal` (`files=[{"id","title"?}]`, `channel_id` or `channels`,
`thread_ts`, `initial_comment`) shares them, posting a message that carries the files where
they were shared (read at `/_sandbox/slack/messages` like any other), or keeps them private
without a channel. A file id that was never issued, issued to another token, has no bytes yet
or was already completed is `file_not_found`; a channel is checked as `chat.postMessage` checks
it; more than 100 channels is `channels_limit_exceeded`. The errors are those Slack's method
reference lists; it lists none for a `thread_ts` that names no message (here or for
`chat.postMessage`), so such a post is made at the channel's top level. The bytes come back from the file's `url_private_download` with a token, as at Slack. With
the `slack_file_uploads_disabled` knob the workspace has uploads turned off (`file_uploads_disabled`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import mimetypes
import secrets
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

BOT = {"user_id": "U0BOT", "bot_id": "B0BOT", "team_id": "T0SANDBOX"}
RESPONSE_URL_USES = 5
RESPONSE_URL_SECONDS = 30 * 60


@dataclass
class Conversation:
    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    members: set[str] = field(default_factory=set)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_im and not self.is_private,
            "is_group": self.is_private and not self.is_im,
            "is_im": self.is_im,
            "is_private": self.is_private or self.is_im,
            "is_member": BOT["user_id"] in self.members,
            "num_members": len(self.members),
        }


@dataclass
class UploadedFile:
    """A file from files.getUploadURLExternal on: bytes once POSTed, shared once completed."""

    id: str
    name: str
    length: int  # what getUploadURLExternal was told
    token: str  # who asked for the upload URL: only they may complete it
    ticket: str
    content: bytes | None = None
    title: str = ""
    created: int = 0
    completed: bool = False
    shares: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # channel -> [{ts, ...}]

    def as_json(self, base: str, store: SlackStore) -> dict[str, Any]:
        mimetype = mimetypes.guess_type(self.name)[0] or "application/octet-stream"
        filetype = self.name.rsplit(".", 1)[-1].lower() if "." in self.name else "binary"
        name = quote(self.name)
        private_url = f"{base}/slack/files-pri/{BOT['team_id']}-{self.id}/{name}"
        public = {c: s for c, s in self.shares.items() if _is_public(store, c)}
        private = {c: s for c, s in self.shares.items() if c not in public}
        return {
            "id": self.id,
            "created": self.created,
            "timestamp": self.created,
            "name": self.name,
            "title": self.title or self.name,
            "mimetype": mimetype,
            "filetype": filetype,
            "pretty_type": filetype.upper(),
            "user": BOT["user_id"],
            "user_team": BOT["team_id"],
            "editable": False,
            "size": len(self.content or b""),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": bool(public),
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": private_url,
            "url_private_download": (f"{base}/slack/files-pri/{BOT['team_id']}-{self.id}/download/{name}"),
            "permalink": f"https://atlas-sandbox.slack.com/files/{BOT['user_id']}/{self.id}/{name}",
            "channels": [c for c in public if c.startswith("C")],
            "groups": [c for c in private if c.startswith("G")],
            "ims": [c for c in private if c.startswith("D") or c[:1] in ("U", "W")],
            "comments_count": 0,
            "shares": {
                **({"public": public} if public else {}),
                **({"private": private} if private else {}),
            },
            "has_rich_preview": False,
            "file_access": "visible",
        }


def _is_public(store: SlackStore, channel: str) -> bool:
    conversation = store.conversations.get(channel)
    return conversation is not None and not conversation.is_private and not conversation.is_im


@dataclass
class ResponseUrl:
    channel: str
    user: str
    issued: float
    uses: int = 0


class SlackStore:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.views: list[dict[str, Any]] = []
        self.calls: dict[str, list[float]] = defaultdict(list)
        self.conversations: dict[str, Conversation] = {}
        self.response_urls: dict[str, ResponseUrl] = {}
        self.files: dict[str, UploadedFile] = {}
        self.upload_tickets: dict[str, str] = {}  # upload URL's ticket -> file id
        self._ts = itertools.count(1)

    def refusal(self, channel: str, token: str) -> str | None:
        """Slack's error for posting to `channel` with `token`, or None when it may post."""
        if not channel:
            return "channel_not_found"
        if token.startswith("xoxb-") and channel[:1] in ("U", "W"):
            return None  # a DM with that user: Slack opens it for the bot
        conversation = self.conversations.get(channel)
        if conversation is None:
            return "channel_not_found"
        if not token.startswith("xoxb-") or BOT["user_id"] in conversation.members:
            return None
        return "channel_not_found" if conversation.is_private or conversation.is_im else "not_in_channel"

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
    for key in ("blocks", "view", "attachments", "files"):  # form bodies carry these as JSON strings
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


def _token(request: Request, args: dict[str, Any]) -> str:
    return request.headers.get("authorization", "").removeprefix("Bearer ").strip() or str(
        args.get("token", "")
    )


async def post_message(request: Request, args: dict[str, Any], store: SlackStore) -> JSONResponse:
    channel = str(args.get("channel") or "")
    if refused := store.refusal(channel, _token(request, args)):
        return fail(refused)
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
    # Slack lists no error for a thread_ts that names no message: the post stands on its own.
    if args.get("thread_ts") and _message(store, channel, str(args["thread_ts"])) is not None:
        message["thread_ts"] = str(args["thread_ts"])
    store.messages.append(message)
    return ok(channel=channel, ts=message["ts"], message=_public(message))


async def update(request: Request, args: dict[str, Any], store: SlackStore) -> JSONResponse:
    channel, ts = str(args.get("channel") or ""), str(args.get("ts") or "")
    if refused := store.refusal(channel, _token(request, args)):
        return fail(refused)
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
    if refused := store.refusal(channel, _token(request, args)):
        return fail(refused)
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


def _member_of(request: Request, args: dict[str, Any]) -> str:
    """Who the token acts for: the bot for a bot token, else a person."""
    return BOT["user_id"] if _token(request, args).startswith("xoxb-") else "UPERSON"


async def conversations_create(request: Request, args: dict[str, Any], store: SlackStore) -> JSONResponse:
    name = str(args.get("name") or "").strip().lower()
    if not name or not all(c.isalnum() or c in "-_" for c in name) or len(name) > 80:
        return fail("invalid_name_specials" if name else "invalid_name_required")
    if any(c.name == name for c in store.conversations.values()):
        return fail("name_taken")
    private = str(args.get("is_private", "")).lower() in ("true", "1")
    conversation = Conversation(
        ("G" if private else "C") + uuid.uuid4().hex[:10].upper(),
        name,
        is_private=private,
        members={_member_of(request, args)},
    )
    store.conversations[conversation.id] = conversation
    return ok(channel=conversation.as_json())


async def conversations_join(request: Request, args: dict[str, Any], store: SlackStore) -> JSONResponse:
    conversation = store.conversations.get(str(args.get("channel") or ""))
    if conversation is None or conversation.is_private or conversation.is_im:
        # Slack: private conversations cannot be joined, only be invited to.
        return fail("method_not_supported_for_channel_type" if conversation else "channel_not_found")
    conversation.members.add(_member_of(request, args))
    return ok(channel=conversation.as_json())


async def conversations_info(request: Request, args: dict[str, Any], store: SlackStore) -> JSONResponse:
    conversation = store.conversations.get(str(args.get("channel") or ""))
    member = conversation is not None and _member_of(request, args) in conversation.members
    if conversation is None or ((conversation.is_private or conversation.is_im) and not member):
        return fail("channel_not_found")
    return ok(channel=conversation.as_json())


async def connections_open(request: Request, args: dict[str, Any], store: SlackStore) -> JSONResponse:
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    if not token.startswith("xapp-"):
        return fail("not_allowed_token_type")
    host = request.url.netloc
    return ok(url=f"ws://{host}/slack/socket-mode")


def _invalid(message: str) -> JSONResponse:
    return fail("invalid_arguments", response_metadata={"messages": [f"[ERROR] {message}"]})


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def get_upload_url(request: Request, args: dict[str, Any], store: SlackStore) -> JSONResponse:
    filename = str(args.get("filename") or "").strip()
    if not filename:
        return _invalid("missing required field: filename")
    if args.get("length") in (None, ""):
        return _invalid("missing required field: length")
    try:
        length = int(str(args["length"]))
    except ValueError:
        return _invalid("invalid type for field: length")
    if length < 0:
        return _invalid("length must be a positive integer")
    if len(str(args.get("alt_txt") or "")) > 1000:
        return fail("alt_txt_too_large")
    if request.app.state.sandbox.config.slack_file_uploads_disabled:
        return fail("file_uploads_disabled")
    uploaded = UploadedFile(
        id="F" + uuid.uuid4().hex[:10].upper(),
        name=filename,
        length=length,
        token=_token(request, args),
        ticket=secrets.token_urlsafe(32),
    )
    store.files[uploaded.id] = uploaded
    store.upload_tickets[uploaded.ticket] = uploaded.id
    return ok(upload_url=f"{_base(request)}/slack/files/upload/v1/{uploaded.ticket}", file_id=uploaded.id)


def _file_list(value: Any) -> list[dict[str, Any]] | None:
    """`files` as completeUploadExternal takes it: a non-empty array of objects with an id."""
    if not isinstance(value, list) or not value:
        return None
    if not all(isinstance(item, dict) and isinstance(item.get("id"), str) for item in value):
        return None
    return value


async def complete_upload(request: Request, args: dict[str, Any], store: SlackStore) -> JSONResponse:
    if args.get("files") in (None, ""):
        return _invalid("missing required field: files")
    items = _file_list(args["files"])
    if items is None:
        return _invalid("files must be a JSON array of objects with an id")
    token = _token(request, args)
    chosen: list[tuple[UploadedFile, dict[str, Any]]] = []
    for item in items:
        uploaded = store.files.get(item["id"])
        # Slack finds a file only from the upload ticket its own token was given, and only once.
        if uploaded is None or uploaded.token != token or uploaded.content is None or uploaded.completed:
            return fail("file_not_found")
        chosen.append((uploaded, item))
    if args.get("channel_id"):
        channels = [str(args["channel_id"])]
    else:
        channels = list(
            dict.fromkeys(c.strip() for c in str(args.get("channels") or "").split(",") if c.strip())
        )
    if len(channels) > 100:
        return fail("channels_limit_exceeded")
    for channel in channels:
        if refused := store.refusal(channel, token):
            return fail(refused)
    thread_ts = str(args.get("thread_ts") or "")
    # As chat.postMessage: no error is listed for a thread that does not exist; shared at the top.
    if thread_ts and (len(channels) != 1 or _message(store, channels[0], thread_ts) is None):
        thread_ts = ""
    now = int(time.time())
    for uploaded, item in chosen:
        uploaded.completed = True
        uploaded.created = now
        uploaded.title = str(item.get("title") or uploaded.name)
        store.upload_tickets.pop(uploaded.ticket, None)
    base = _base(request)
    comment = str(args.get("initial_comment") or "")
    for channel in channels:
        ts = store.next_ts()
        conversation = store.conversations.get(channel)
        share: dict[str, Any] = {
            "ts": ts,
            "channel_name": conversation.name if conversation else channel.lower(),
            "team_id": BOT["team_id"],
            "share_user_id": BOT["user_id"],
            "reply_count": 0,
        }
        if thread_ts:
            share["thread_ts"] = thread_ts
        for uploaded, _ in chosen:
            uploaded.shares.setdefault(channel, []).append(share)
        message: dict[str, Any] = {
            "channel": channel,
            "ts": ts,
            "text": comment,
            # Slack ignores `blocks` when an initial comment is given.
            "blocks": [] if comment else (args.get("blocks") or []),
            "files": [uploaded.as_json(base, store) for uploaded, _ in chosen],
            "upload": True,
            "display_as_bot": False,
            "user": BOT["user_id"],
            "bot_id": BOT["bot_id"],
        }
        if thread_ts:
            message["thread_ts"] = thread_ts
        store.messages.append(message)
    return ok(files=[uploaded.as_json(base, store) for uploaded, _ in chosen])


def _visible(uploaded: UploadedFile | None, token: str) -> UploadedFile | None:
    """A file a token may see: a shared one, or its own upload once it has been completed."""
    if uploaded is None or not uploaded.completed:
        return None
    return uploaded if uploaded.shares or uploaded.token == token else None


async def files_info(request: Request, args: dict[str, Any], store: SlackStore) -> JSONResponse:
    uploaded = _visible(store.files.get(str(args.get("file") or "")), _token(request, args))
    if uploaded is None:
        return fail("file_not_found")
    return ok(
        file=uploaded.as_json(_base(request), store), comments=[], response_metadata={"next_cursor": ""}
    )


Handler = Callable[[Request, dict[str, Any], SlackStore], Awaitable[JSONResponse]]
METHODS: dict[str, Handler] = {
    "auth.test": auth_test,
    "chat.postMessage": post_message,
    "chat.update": update,
    "chat.postEphemeral": post_ephemeral,
    "views.open": views_open,
    "conversations.replies": replies,
    "conversations.create": conversations_create,
    "conversations.join": conversations_join,
    "conversations.info": conversations_info,
    "apps.connections.open": connections_open,
    "files.getUploadURLExternal": get_upload_url,
    "files.completeUploadExternal": complete_upload,
    "files.info": files_info,
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


async def upload_bytes(request: Request) -> Response:
    """An upload URL from files.getUploadURLExternal (files.slack.com/upload/v1/... at Slack):
    the file's bytes, raw or as a multipart form; no token, the URL is the credential."""
    store = _store(request)
    uploaded = store.files.get(store.upload_tickets.get(request.path_params["ticket"], ""))
    if uploaded is None or uploaded.completed:
        return PlainTextResponse("not_found", status_code=404)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        part = next((v for v in form.values() if isinstance(v, UploadFile)), None)
        if part is None:
            return PlainTextResponse("no_file_data", status_code=400)
        data = await part.read()
    else:
        data = await request.body()
    uploaded.content = data
    return PlainTextResponse(f"OK - {len(data)}")


async def private_file(request: Request) -> Response:
    """A file's `url_private` / `url_private_download`: its bytes for a valid token, as at Slack
    (which sends a browser without one to sign in)."""
    token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not token.startswith(("xoxb-", "xoxp-")) or token in request.app.state.sandbox.config.revoked_keys:
        return RedirectResponse("https://atlas-sandbox.slack.com/?redir=" + request.url.path, status_code=302)
    team_file = request.path_params["team_file"]
    file_id = team_file.removeprefix(f"{BOT['team_id']}-")
    uploaded = _visible(_store(request).files.get(file_id), token)
    if uploaded is None or uploaded.content is None or request.path_params["name"] != uploaded.name:
        return PlainTextResponse("File not found", status_code=404)
    media_type = mimetypes.guess_type(uploaded.name)[0] or "application/octet-stream"
    headers = {}
    if request.url.path.rsplit("/", 2)[-2] == "download":
        headers["Content-Disposition"] = f'attachment; filename="{uploaded.name}"'
    return Response(uploaded.content, media_type=media_type, headers=headers)


async def response_url(request: Request) -> Response:
    """A slash command's `response_url`: answers the command's user (or the channel) without
    any membership. Plain-text answers, as hooks.slack.com gives them."""
    store = _store(request)
    hook = store.response_urls.get(request.path_params["token"])
    if hook is None:
        return PlainTextResponse("no_service", status_code=404)
    if time.time() - hook.issued > RESPONSE_URL_SECONDS:
        return PlainTextResponse("expired_url", status_code=404)
    if hook.uses >= RESPONSE_URL_USES:
        return PlainTextResponse("used_url", status_code=404)
    try:
        body = json.loads(await request.body())
    except ValueError:
        return PlainTextResponse("invalid_payload", status_code=400)
    if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
        return PlainTextResponse("no_text", status_code=400)
    hook.uses += 1
    message = {
        "channel": hook.channel,
        "ts": store.next_ts(),
        "text": str(body.get("text") or ""),
        "blocks": body.get("blocks") or [],
        "user": BOT["user_id"],
        "bot_id": BOT["bot_id"],
        "via": "response_url",
    }
    if body.get("response_type", "ephemeral") != "in_channel":
        message["ephemeral_user"] = hook.user
    store.messages.append(message)
    return PlainTextResponse("ok")


async def issue_response_url(request: Request) -> Response:
    """Sandbox-only: the `response_url` Slack would send with a command from `user` in `channel`."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not body.get("channel") or not body.get("user"):
        return JSONResponse({"error": "channel and user are required"}, status_code=400)
    token = uuid.uuid4().hex
    _store(request).response_urls[token] = ResponseUrl(str(body["channel"]), str(body["user"]), time.time())
    base = str(request.base_url).rstrip("/")
    return JSONResponse({"url": f"{base}/slack/hooks/commands/{BOT['team_id']}/{next_id()}/{token}"})


def next_id() -> str:
    return str(uuid.uuid4().int % 10**13)


async def create_channel(request: Request) -> Response:
    """Sandbox-only: a conversation made by a workspace admin (`bot_member` defaults to true)."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return JSONResponse({"error": "a JSON object is required"}, status_code=400)
    im = bool(body.get("im"))
    private = bool(body.get("private"))
    prefix = "D" if im else "G" if private else "C"
    channel_id = str(body.get("id") or prefix + uuid.uuid4().hex[:10].upper())
    members = {str(m) for m in body.get("members") or []}
    if body.get("bot_member", True):
        members.add(BOT["user_id"])
    conversation = Conversation(channel_id, str(body.get("name") or channel_id.lower()), private, im, members)
    _store(request).conversations[channel_id] = conversation
    return JSONResponse(conversation.as_json())


async def sandbox_messages(request: Request) -> Response:
    """Sandbox-only: posted messages, oldest first (`?channel=C` to filter)."""
    channel = request.query_params.get("channel")
    messages = [m for m in _store(request).messages if channel is None or m["channel"] == channel]
    return JSONResponse(messages)


routes = [
    Route("/slack/api/{method}", web_api, methods=["POST", "GET"]),
    Route("/slack/hooks/commands/{team}/{command}/{token}", response_url, methods=["POST"]),
    Route("/slack/files/upload/v1/{ticket}", upload_bytes, methods=["POST"]),
    Route("/slack/files-pri/{team_file}/download/{name}", private_file, methods=["GET"]),
    Route("/slack/files-pri/{team_file}/{name}", private_file, methods=["GET"]),
    Route("/_sandbox/slack/messages", sandbox_messages, methods=["GET"]),
    Route("/_sandbox/slack/channels", create_channel, methods=["POST"]),
    Route("/_sandbox/slack/response_urls", issue_response_url, methods=["POST"]),
]
