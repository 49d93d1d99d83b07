"""The scripted chat model misbehaving on purpose, the way real models do (knobs, off by default).

`misbehaving(handler)` wraps the chat-completions handler: it lets the scripted model answer,
then spoils the answer according to the sandbox config (`/_sandbox/config`):

    model_faults          which failures to show (any of MODEL_FAULTS; [] = a well-behaved model)
    model_fault_schemas   only for requests whose `response_format.json_schema.name` is listed
                          ([] = every chat-completions request)
    model_fault_limit     only the first N matching requests since the knobs were last set
                          (0 = all of them); e.g. one timeout, then a retry that succeeds

The failures:

    unseen_urls              cites URLs it was not given: every list of URLs (`urls`, `sources`)
                             in a structured answer starts with a page of the same site that was
                             never in the prompt and a page of another site
    obey_page_instructions   follows an instruction found in the page text of the prompt (a
                             paragraph that addresses the model: "ignore previous instructions",
                             "you are now", ...): its structured answer repeats the instruction
                             in every free-text field, drops its own findings (lists of strings)
                             and cites the URLs the instruction names first
    truncated_json           stops mid-answer: half the JSON, `finish_reason: "length"`
    schema_mismatch          well-formed JSON that ignores the schema (as non-strict
                             OpenAI-compatible servers answer): the object under another key
    refusal                  refuses: `content: null`, `refusal: "..."` (structured outputs' refusal)
    timeout                  answers only after `timeout_seconds`, longer than clients wait
    down                     503 in OpenAI's error envelope, as during an incident

Nothing here knows what the world planted or what our product expects: the spoilers read only the
request (its schema name, its `<page>` blocks, its URLs) and the scripted model's own answer.
Content changes apply to non-streamed answers; `timeout` and `down` to every request.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

MODEL_FAULTS = (
    "unseen_urls",
    "obey_page_instructions",
    "truncated_json",
    "schema_mismatch",
    "refusal",
    "timeout",
    "down",
)
REFUSAL = "I'm sorry, but I can't help with that request."

Handler = Callable[[Request], Awaitable[Response]]

_PAGE = re.compile(r"<page\s+url=\"([^\"]+)\"[^>]*>(.*?)</page>", re.DOTALL)
_URL = re.compile(r"https?://[^\s<>\"')\]]+")
# How a paragraph of page text addresses the model rather than the site's visitors.
_ADDRESSES_THE_MODEL = re.compile(
    r"\b(ignore|disregard|forget)\b[^.]{0,40}\b(instructions?|prompt|rules|above)\b"
    r"|\byou are now\b|\bsystem prompt\b|\bas an ai\b|\blanguage model\b",
    re.IGNORECASE,
)


def misbehaving(handler: Handler) -> Handler:
    """`handler` (the scripted model) with the configured faults applied to its answers."""

    async def handle(request: Request) -> Response:
        state = request.app.state.sandbox
        config = state.config
        faults = set(config.model_faults)
        if not faults:
            return await handler(request)
        try:
            body = await request.json()
        except ValueError:
            return await handler(request)
        if not isinstance(body, dict) or not _claim(state, config, _schema_name(body)):
            return await handler(request)
        if "down" in faults:
            return JSONResponse(
                {
                    "error": {
                        "message": "The server is overloaded or not ready yet.",
                        "type": "server_error",
                        "param": None,
                        "code": "service_unavailable",
                    }
                },
                status_code=503,
            )
        if "timeout" in faults:
            await asyncio.sleep(config.timeout_seconds)
        response = await handler(request)
        if body.get("stream") or response.status_code != 200 or not isinstance(response, JSONResponse):
            return response
        answer = json.loads(bytes(response.body))
        spoil(answer, body, faults)
        return JSONResponse(answer, status_code=200)

    return handle


def _schema_name(body: dict[str, Any]) -> str | None:
    response_format = body.get("response_format") or {}
    if not isinstance(response_format, dict):
        return None
    spec = response_format.get("json_schema") or {}
    name = spec.get("name") if isinstance(spec, dict) else None
    return str(name) if name else None


def _claim(state: Any, config: Any, schema: str | None) -> bool:
    """Whether this request misbehaves: its schema is targeted and the limit not yet reached.
    The count starts again whenever the config object is replaced (set or reset)."""
    if config.model_fault_schemas and schema not in config.model_fault_schemas:
        return False
    counter = state.stores.get("model_faults")
    if counter is None or counter["config"] is not config:
        counter = state.stores["model_faults"] = {"config": config, "count": 0}
    if config.model_fault_limit and counter["count"] >= config.model_fault_limit:
        return False
    counter["count"] += 1
    return True


def spoil(answer: dict[str, Any], request: dict[str, Any], faults: set[str]) -> None:
    """Apply the content faults to a chat.completion `answer` in place."""
    choice = answer["choices"][0]
    message = choice["message"]
    content = message.get("content")
    if "refusal" in faults:
        message["content"], message["refusal"], choice["finish_reason"] = None, REFUSAL, "stop"
        message.pop("tool_calls", None)
        return
    if not isinstance(content, str):
        return
    try:
        value = json.loads(content)
    except ValueError:
        value = None
    if isinstance(value, dict):
        prompt = "\n".join(
            _text(m.get("content")) for m in request.get("messages", []) if isinstance(m, dict)
        )
        if "obey_page_instructions" in faults:
            _obey(value, prompt)
        if "unseen_urls" in faults:
            _cite_unseen(value, prompt)
        if "schema_mismatch" in faults:
            value = {"result": value}
        content = json.dumps(value)
    if "truncated_json" in faults:
        content = content[: max(1, len(content) // 2)]
        choice["finish_reason"] = "length"
    message["content"] = content


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _url_lists(value: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    """Top-level lists that hold URLs: of strings (`urls`) or of objects with a `url`."""
    found = []
    for key, item in value.items():
        if not isinstance(item, list):
            continue
        if key.lower() in ("urls", "links") or any(isinstance(i, dict) and "url" in i for i in item):
            found.append((key, item))
    return found


def _cite_unseen(value: dict[str, Any], prompt: str) -> None:
    given = {u.rstrip("/.,;").lower() for u in _URL.findall(prompt)}
    hosts = [urlsplit(u).netloc for u in _URL.findall(prompt) if urlsplit(u).netloc]
    if not hosts:
        return
    site = hosts[0]
    stem = site.removeprefix("www.").split(".")[0]
    invented = [
        f"https://{site}/press/awards-and-recognition",
        f"https://www.yelp.com/biz/{stem}-reviews",
    ]
    unseen = [u for u in invented if u.lower() not in given]
    for key, items in _url_lists(value):  # first: a model puts its favourite picks on top
        if key.lower() in ("urls", "links"):
            items[:0] = unseen
        else:
            items[:0] = [{"url": u, "title": "Source"} for u in unseen]


def _instructions(prompt: str) -> list[str]:
    paragraphs = [p.strip() for _, body in _PAGE.findall(prompt) for p in re.split(r"\n\s*\n", body)]
    return [" ".join(p.split()) for p in paragraphs if _ADDRESSES_THE_MODEL.search(p)]


def _obey(value: dict[str, Any], prompt: str) -> None:
    orders = _instructions(prompt)
    if not orders:
        return
    said = " ".join(orders)
    named = list(dict.fromkeys(u.rstrip(".,;") for u in _URL.findall(said)))
    url_keys = {key for key, _ in _url_lists(value)}
    for key, item in value.items():
        if key in url_keys:
            if key.lower() in ("urls", "links"):
                item[:0] = named
            else:
                item[:0] = [{"url": u, "title": "Main source"} for u in named]
        elif isinstance(item, str):
            value[key] = said
        elif isinstance(item, list) and all(isinstance(i, str) for i in item):
            value[key] = []
