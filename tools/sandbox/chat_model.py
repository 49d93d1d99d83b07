"""An OpenAI-compatible chat model, scripted: `POST /openai/v1/chat/completions`.

It honours the chat-completions contract (OpenAI's chat completions API reference): tools and
`tool_choice`, JSON-schema structured output, SSE streaming with chunked tool-call arguments,
usage (also as the final stream chunk when `stream_options.include_usage`), and the OpenAI error
envelope. What it says is scripted, never invented:

* With tools, it reads the last user message for an intent ("find 10 plumbers in Denver",
  "status of run r_1", "credits", "dossier for Acme Plumbing", "share the report for Acme
  Plumbing", "upgrade to pro", "resume", "call") and picks the tool whose NAME and DESCRIPTION
  match that intent best, filling arguments by the parameter names and descriptions of the
  tool's JSON schema. A required parameter it cannot fill
  turns into a question instead of a call. After a tool result it summarises that result's JSON.
* Structured output by schema name: `UrlSelection` picks relevant URLs from the `- <url>` list
  (never one outside it, at most N); `DossierDraft` writes an extractive dossier from
  `<page url=... title=...>` blocks, citing only those URLs and treating page text as data.
  Any other schema gets a schema-valid object filled from the message where possible.

It reads only what it is given, as a model would: it knows nothing of the sandbox's world (no
sentence, page name or planted gap of it), and its gaps come from general reading rules applied to
the page text in the prompt (see `write_dossier`).

Every text answer ends with "(sandbox model)"; structured answers carry the mark inside a
free-text field (e.g. the dossier summary) so the schema still validates.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tools.sandbox.model_faults import misbehaving

MARK = "(sandbox model)"
NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "a dozen": 12,
    "dozen": 12,
}
# Intent -> words that signal it in a message, and words that signal it in a tool's name/description.
INTENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # Before "find": "update the profile to find plumbers in Denver" is about the profile.
    "profile": (("profile",), ("profile", "target", "criteria")),
    "find": (
        ("find", "search", "source", "get me", "look for", "generate", "discover", "prospect", "start"),
        ("find", "search", "source", "start", "run", "generate", "discover", "new", "campaign"),
    ),
    "status": (("status", "progress", "how is", "how's", "doing", "check on"), ("status", "progress")),
    "credits": (("credit", "balance", "how many credits"), ("credit", "balance")),
    # Before "share": "stop sharing" and "unshare" end links, they do not make one.
    "revoke": (("revoke", "unshare", "stop sharing", "end the link", "end the share"), ("revoke",)),
    "share": (("share", "shareable", "report link", "link to the report"), ("share",)),
    "dossier": (("dossier", "research report", "write-up"), ("dossier", "research")),
    "leads": (
        ("leads", "results", "list", "show me", "opportunities"),
        ("leads", "list", "lead", "opportunit"),
    ),
    "sources": (("sources", "pages", "scraped", "citations"), ("source", "pages", "scraped", "citation")),
    "upgrade": (
        ("upgrade", "buy", "purchase", "more credits", "plan"),
        ("upgrade", "plan", "checkout", "purchase"),
    ),
    "resume": (("resume", "continue", "unpause", "pick up"), ("resume", "continue")),
    # Before "call": "what happened with my call to X" asks about a call, it does not place one.
    "call_outcome": (
        ("happened", "how did the call", "how did my call", "call go", "outcome", "my calls", "calls placed"),
        ("outcome", "happened"),
    ),
    "call": (("call", "phone", "ring", "dial"), ("call", "phone")),
    "workspace": (("slack", "workspace"), ("slack", "workspace")),
}
ID_PATTERN = re.compile(
    r"\b([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[a-z]{1,8}_[A-Za-z0-9]{2,}|[0-9a-f]{12,})\b"
)
# Slack's team and user ids (T0123ABCD, U0123ABCD): capitals with at least one digit.
SLACK_ID_PATTERN = re.compile(r"\b([TEUW](?=[A-Z]*[0-9])[A-Z0-9]{6,14})\b")
PLANS = ("starter", "pro", "agency")
# "the second one", "the 3rd lead", "that lead", "number 2": how people point at something shown.
REFERENCE_PATTERN = re.compile(
    r"\b(the\s+(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last|\d{1,2}(?:st|nd|rd|th))"
    r"(?:\s+(?:one|lead|business))?|(?:that|this)\s+(?:one|lead|business)|number\s+\d{1,2})\b"
)


# --------------------------------------------------------------------------------------------
# Reading messages


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _last_user(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def parse_slots(text: str) -> dict[str, Any]:
    """Count, vertical, geography, ids, lead name and plan from one message."""
    slots: dict[str, Any] = {}
    lowered = " ".join(text.lower().split())
    number = r"(\d{1,3}|" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + ")"
    match = re.search(
        number + r"\s+(?:more\s+|new\s+)?([a-z][a-z &/-]*?)\s+(?:in|near|around)\s+([^.?!;\n]+)",
        lowered,
    )
    if match:
        slots["count"] = int(match[1]) if match[1].isdigit() else NUMBER_WORDS[match[1]]
        slots["vertical"] = match[2].strip()
        slots["geography"] = _tidy_geography(text, match[3])
    else:
        bare = re.search(
            r"\b(?:find|search for|get me|look for)\s+([a-z][a-z &/-]*?)\s+(?:in|near)\s+([^.?!;\n]+)",
            lowered,
        )
        if bare:
            slots["vertical"] = bare[1].strip()
            slots["geography"] = _tidy_geography(text, bare[2])
        counted = re.search(r"\b" + number + r"\s+(?:leads|results|businesses|prospects)\b", lowered)
        if counted:
            slots["count"] = int(counted[1]) if counted[1].isdigit() else NUMBER_WORDS[counted[1]]
    ids = [m for m in ID_PATTERN.findall(text) if not m.isalpha()]
    ids += SLACK_ID_PATTERN.findall(text)
    if ids:
        slots["ids"] = ids
    quoted = re.search(r"[\"“']([^\"”']{3,60})[\"”']", text)
    named = re.search(r"\b(?i:for|call|about|of|to|with|open)\s+((?:[A-Z][\w'&.-]*\s?){1,5})", text)
    pointing = REFERENCE_PATTERN.search(lowered)
    if quoted:
        slots["name"] = quoted[1].strip()
    elif named:
        slots["name"] = named[1].strip()
    elif pointing:
        slots["name"] = pointing[1]
    for plan in PLANS:
        if re.search(rf"\b{plan}\b", lowered):
            slots["plan"] = plan
    return slots


def _tidy_geography(original: str, lowered_geo: str) -> str:
    """The geography as the user wrote it (case kept), minus trailing filler."""
    geo = re.split(r"\s+(?:for|with|and then|please|that|who)\b", lowered_geo)[0].strip(" ,")
    start = original.lower().find(geo)
    return original[start : start + len(geo)].strip() if start >= 0 else geo.title()


def detect_intents(text: str) -> list[str]:
    lowered = f" {' '.join(text.lower().split())} "
    found = [name for name, (words, _) in INTENTS.items() if any(w in lowered for w in words)]
    slots = parse_slots(text)
    if "find" not in found and "vertical" in slots and "geography" in slots:
        found.insert(0, "find")
    return found


def _tool_results(messages: list[dict[str, Any]]) -> list[Any]:
    """Parsed contents of every tool message, oldest first."""
    results = []
    for message in messages:
        if message.get("role") == "tool":
            content = _text(message.get("content"))
            try:
                results.append(json.loads(content))
            except ValueError:
                results.append(content)
    return results


def _walk(value: Any) -> list[dict[str, Any]]:
    """Every dict inside a JSON value."""
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        found.append(value)
        for item in value.values():
            found.extend(_walk(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_walk(item))
    return found


# --------------------------------------------------------------------------------------------
# Tools


def _words(text: str) -> str:
    return " ".join(
        re.sub(r"([a-z])([A-Z])", r"\1 \2", text).replace("_", " ").replace("-", " ").lower().split()
    )


def _param_kind(name: str, spec: dict[str, Any]) -> str | None:
    """Which slot a parameter takes, from its name first and its description second."""
    words = _words(name)
    description = str(spec.get("description", "")).lower()
    if name.endswith("_id") or name in ("id", "runId", "leadId") or words.endswith(" id"):
        return "id"
    table = (
        (
            "count",
            ("num leads", "count", "limit", "number", "num", "quantity", "max results", "n", "how many"),
        ),
        (
            "vertical",
            ("vertical", "target vertical", "industry", "category", "niche", "business type", "trade"),
        ),
        (
            "geography",
            ("geography", "location", "city", "target geography", "region", "area", "place", "where"),
        ),
        ("plan", ("plan", "product", "product id", "plan id", "tier")),
        ("name", ("name", "lead name", "business name", "business", "company", "lead")),
    )
    for kind, names in table:
        if words in names or any(words.endswith(" " + n) for n in names if " " not in n):
            return kind
    for kind, hints in (
        ("count", ("number of", "how many")),
        ("vertical", ("vertical", "industry")),
        ("geography", ("geograph", "city", "location")),
        ("id", (" id", "identifier")),
        ("plan", ("plan",)),
    ):
        if any(h in description for h in hints):
            return kind
    return None


def _find_id(name: str, slots: dict[str, Any], results: list[Any]) -> str | None:
    ids: list[str] = slots.get("ids", [])
    if ids:
        return ids[-1]
    objects = [obj for result in results for obj in _walk(result)]
    wanted = slots.get("name", "").lower()
    if wanted:
        for obj in reversed(objects):
            if wanted in str(obj.get("name", "")).lower() and obj.get("id"):
                return str(obj["id"])
    for obj in reversed(objects):
        if obj.get(name):
            return str(obj[name])
    for obj in reversed(objects):
        if obj.get("id"):
            return str(obj["id"])
    return None


def fill_arguments(
    parameters: dict[str, Any], slots: dict[str, Any], results: list[Any], text: str
) -> tuple[dict[str, Any], list[str]]:
    """Arguments for a tool schema, and the required parameters left unfilled."""
    args: dict[str, Any] = {}
    properties: dict[str, Any] = parameters.get("properties", {}) or {}
    lowered = text.lower()
    for name, spec in properties.items():
        spec = spec or {}
        kind = _param_kind(name, spec)
        value: Any = None
        if "enum" in spec:
            value = next((v for v in spec["enum"] if str(v).lower() in lowered), None)
        elif kind == "id":
            value = _find_id(name, slots, results)
        elif kind is not None and kind in slots:
            value = slots[kind]
        elif kind == "name" and slots.get("ids"):
            value = slots["ids"][-1]  # "call 3f2a...": the thing named by its id
        if value is None:
            continue
        json_type = spec.get("type") or next(
            (o.get("type") for o in spec.get("anyOf", []) if o.get("type") != "null"), None
        )
        if json_type == "integer":
            value = int(value) if str(value).isdigit() else None
        elif json_type == "number":
            value = float(value) if str(value).replace(".", "", 1).isdigit() else None
        elif json_type == "string":
            value = str(value)
        if value is not None:
            args[name] = value
    missing = [name for name in parameters.get("required", []) or [] if name not in args]
    return args, missing


def _tool_score(tool: dict[str, Any], intents: list[str]) -> int:
    function = tool.get("function", {})
    name = _words(str(function.get("name", "")))
    description = str(function.get("description", "")).lower()
    score = 0
    for rank, intent in enumerate(intents):
        weight = 2 if rank == 0 else 1  # the first intent named weighs most
        for word in INTENTS[intent][1]:
            if word in name:
                score += 3 * weight
            if word in description:
                score += weight
    return score


def choose_tool(
    tools: list[dict[str, Any]], tool_choice: Any, messages: list[dict[str, Any]]
) -> tuple[dict[str, Any] | None, dict[str, Any], list[str]]:
    """The tool to call (or None), its arguments and the required parameters still missing."""
    text = _last_user(messages)
    slots = parse_slots(text)
    results = _tool_results(messages)
    functions = [t for t in tools if t.get("type", "function") == "function"]
    if isinstance(tool_choice, dict):
        wanted = tool_choice.get("function", {}).get("name")
        candidates = [t for t in functions if t["function"].get("name") == wanted]
    else:
        candidates = functions
    if not candidates:
        return None, {}, []
    intents = detect_intents(text)
    ranked = sorted(candidates, key=lambda t: _tool_score(t, intents), reverse=True)
    forced = tool_choice == "required" or isinstance(tool_choice, dict)
    best = ranked[0]
    if not forced and _tool_score(best, intents) == 0:
        return None, {}, []
    args, missing = fill_arguments(best["function"].get("parameters") or {}, slots, results, text)
    return best, args, missing


# --------------------------------------------------------------------------------------------
# Text answers


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            if isinstance(item, dict | list):
                parts.append(f"{key}: {_describe(item)}")
            else:
                parts.append(f"{key}: {item}")
        return "{" + "; ".join(parts) + "}"
    if isinstance(value, list):
        if not value:
            return "none"
        names = [str(v.get("name") or v.get("id")) for v in value if isinstance(v, dict)]
        if names and all(n != "None" for n in names):
            return f"{len(value)} items ({', '.join(names[:10])}{', ...' if len(names) > 10 else ''})"
        return f"{len(value)} items ({', '.join(str(v) for v in value[:10])})"
    return str(value)


def summarise_tool_results(messages: list[dict[str, Any]]) -> str:
    """A faithful summary of the tool results after the last assistant tool call."""
    names: dict[str, str] = {}
    start = 0
    for index, message in enumerate(messages):
        if message.get("role") == "assistant" and message.get("tool_calls"):
            start = index
            for call in message["tool_calls"]:
                names[call.get("id", "")] = call.get("function", {}).get("name", "the tool")
    lines = []
    for message in messages[start:]:
        if message.get("role") != "tool":
            continue
        content = _text(message.get("content"))
        try:
            lines.append(speak(json.loads(content)))
        except ValueError:
            lines.append(content.strip()[:500])
    return " ".join(line for line in lines if line) + f" {MARK}"


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _pct(value: Any) -> str:
    return f"{round(float(value) * 100)}%" if isinstance(value, int | float) else ""


def speak(value: Any) -> str:
    """Plain sentences from one tool result, as a model reads JSON it was given: the result's own
    message first, then what its common fields say (a run, leads, a dossier, a balance, calls,
    pages). Nothing is added that the result does not hold."""
    if not isinstance(value, dict):
        return _describe(value)
    said: list[str] = []
    for key in ("message", "question"):
        if isinstance(value.get(key), str) and value[key] not in said:
            said.append(value[key])
    run = value.get("run")
    if isinstance(run, dict) and run.get("status"):
        campaign = run.get("campaign") or {}
        what = " ".join(
            str(x)
            for x in (run.get("num_leads_requested"), campaign.get("target_vertical"))
            if x not in (None, "")
        )
        where = f" in {campaign['target_geography']}" if campaign.get("target_geography") else ""
        status = str(run["status"]).replace("_", " ").replace("paused for upgrade", "paused: out of credits")
        sentence = f"Your run for {what}{where} is {status}" if what else f"The run is {status}"
        if run["status"] == "running" and _pct(run.get("progress")):
            sentence += f", {_pct(run.get('progress'))} done"
        counts = run.get("counts") or {}
        if isinstance(counts.get("opportunities"), int) and counts["opportunities"]:
            sentence += f"; it has found {_count(counts['opportunities'], 'lead')}"
            if isinstance(counts.get("ready"), int):
                sentence += f", {counts['ready']} researched"
        said.append(sentence + ".")
    leads = value.get("leads")
    if isinstance(leads, list):
        named = [lead for lead in leads if isinstance(lead, dict) and lead.get("name")]
        if not named:
            said.append("There are no leads to show.")
        else:
            top = "; ".join(
                str(lead["name"]) + (f" ({lead['fit_reason']})" if lead.get("fit_reason") else "")
                for lead in named[:3]
            )
            said.append(
                f"Here {'is' if len(named) == 1 else 'are'} {_count(len(named), 'lead')}. Top: {top}."
            )
    dossier = value.get("dossier")
    if isinstance(dossier, dict):
        lead: dict[str, Any] = value["lead"] if isinstance(value.get("lead"), dict) else {}
        about = f" for {lead['name']}" if lead.get("name") else ""
        said.append(f"Here is the dossier{about}. {dossier.get('summary') or ''}".strip())
        findings = dossier.get("findings") or dossier.get("gaps") or []
        if findings:
            said.append(
                f"It lists {_count(len(findings), 'finding')} and {_count(len(dossier.get('talking_points') or []), 'talking point')}."
            )
    if isinstance(value.get("balance"), int) and "message" not in value:
        said.append(f"You have {_count(value['balance'], 'credit')}.")
    if isinstance(value.get("credits_granted"), int) and "message" not in value:
        said.append(f"{_count(value['credits_granted'], 'credit')} added.")
    pages = value.get("pages")
    if isinstance(pages, list) and pages:
        titles = ", ".join(str(p.get("title") or p.get("url")) for p in pages[:5] if isinstance(p, dict))
        said.append(f"{_count(len(pages), 'page')} were read: {titles}.")
    calls = value.get("calls")
    if isinstance(calls, list):
        for call in calls[:3]:
            if not isinstance(call, dict):
                continue
            who = call.get("lead_name") or "the lead"
            if call.get("finished") and call.get("status") == "ended":
                talk = call.get("talk_seconds")
                length = f" after {talk} s" if isinstance(talk, int | float) else ""
                said.append(f"The call to {who} ended{length}: {call.get('billing') or 'not billed'}.")
            else:
                said.append(f"The call to {who} is {str(call.get('status', 'unknown')).replace('-', ' ')}.")
    candidates = value.get("candidates")
    if isinstance(candidates, list) and candidates and not value.get("message"):
        said.append(
            "It could be " + " or ".join(str(c.get("name")) for c in candidates if isinstance(c, dict)) + "."
        )
    if not said:
        facts = [
            f"{k.replace('_', ' ')} is {v}"
            for k, v in value.items()
            if isinstance(v, str | int | float) and not k.endswith("id")
        ]
        said.append(("; ".join(facts[:4]) + ".") if facts else "Done.")
    return " ".join(said)


def _ask_for(tool: dict[str, Any], missing: list[str]) -> str:
    """A question for what the call still needs, in the words of the parameters' descriptions."""
    properties = (tool["function"].get("parameters") or {}).get("properties", {})
    wanted = []
    for name in missing:
        spec = properties.get(name, {})
        if _param_kind(name, spec) == "name":
            wanted.append("which one you mean (its name)")
            continue
        description = str(spec.get("description", "")).split(". ")[0].rstrip(".")
        wanted.append(description[0].lower() + description[1:] if description else name.replace("_", " "))
    return f"Happy to, but I need to know {' and '.join(wanted)}. Could you tell me? {MARK}"


def plain_answer(messages: list[dict[str, Any]]) -> str:
    text = _last_user(messages).strip()
    if not text:
        return f"Hello! How can I help with your leads? {MARK}"
    return (
        "I am the sandbox's scripted model, so I only follow plain requests: find leads (\"Find 5 "
        'dentists in Austin, TX"), ask how a run is doing, show the leads, open a dossier for a '
        "business, check credits, or call a lead. "
        f"{MARK}"
    )


# --------------------------------------------------------------------------------------------
# Structured output


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part, {})
        return _resolve(node, root)
    if "anyOf" in schema and "type" not in schema:
        options = [o for o in schema["anyOf"] if o.get("type") != "null"]
        if options:
            return _resolve(options[0], root)
    return schema


def conform(
    value: Any, schema: dict[str, Any], root: dict[str, Any], slots: dict[str, Any], name: str = ""
) -> Any:
    """`value` reshaped to satisfy `schema` (missing parts filled from slots or type defaults)."""
    schema = _resolve(schema, root)
    kind = schema.get("type")
    if "enum" in schema:
        return value if value in schema["enum"] else schema["enum"][0]
    if kind == "object" or "properties" in schema:
        given = value if isinstance(value, dict) else {}
        properties = schema.get("properties", {})
        return {key: conform(given.get(key), spec, root, slots, key) for key, spec in properties.items()}
    if kind == "array":
        items = value if isinstance(value, list) else []
        return [conform(item, schema.get("items", {}), root, slots, name) for item in items]
    slot = slots.get(_param_kind(name, schema) or "")
    if kind == "integer":
        return value if isinstance(value, int) else (int(slot) if isinstance(slot, int) else 0)
    if kind == "number":
        return value if isinstance(value, int | float) else 0.0
    if kind == "boolean":
        return value if isinstance(value, bool) else False
    if isinstance(value, str):
        return value
    if slot is not None:
        return str(slot)
    return f"{name.replace('_', ' ')} unknown {MARK}".strip()


URL_PRIORITY = (
    ("home", ("",)),
    ("services", ("service", "what-we-do", "treatments", "menu", "practice-areas", "classes")),
    ("pricing", ("pricing", "price", "rates", "plans", "cost", "fees", "membership")),
    ("about", ("about", "our-story", "company")),
    ("team", ("team", "staff", "doctors", "people", "meet")),
    ("reviews", ("testimonial", "review")),
    ("contact", ("contact", "location")),
    ("booking", ("book", "appointment", "schedule", "reserv")),
)
URL_NOISE = (
    "blog",
    "career",
    "job",
    "privacy",
    "terms",
    "legal",
    "login",
    "cart",
    "cookie",
    "sitemap",
    "feed",
)


def select_urls(text: str) -> list[str]:
    """The relevant URLs among the `- <url>` lines of `text`, at most N, best first."""
    candidates = re.findall(r"^\s*[-*]\s+<?(https?://\S+?)>?\s*$", text, flags=re.MULTILINE)
    at_most = re.search(r"at most\s+(\d+)", text, flags=re.IGNORECASE)
    limit = int(at_most[1]) if at_most else 10
    ranked: list[tuple[int, int, str]] = []
    for order, url in enumerate(dict.fromkeys(candidates)):
        path = re.sub(r"^https?://[^/]+", "", url).strip("/").lower()
        if any(word in path for word in URL_NOISE):
            continue
        for rank, (_, words) in enumerate(URL_PRIORITY):
            if (rank == 0 and path == "") or (rank > 0 and any(w in path for w in words)):
                ranked.append((rank, order, url))
                break
    return [url for _, _, url in sorted(ranked)[:limit]]


PAGE_PATTERN = re.compile(r'<page\s+url="([^"]+)"(?:\s+title="([^"]*)")?\s*>\n?(.*?)</page>', re.DOTALL)
INJECTION = re.compile(r"ignore (all |any )?(previous|prior|above)|disregard|system prompt|you are now", re.I)


def _sentences(markdown: str) -> list[str]:
    lines = [ln.strip() for ln in markdown.splitlines()]
    prose = " ".join(ln for ln in lines if ln and not ln.startswith(("#", "-", "---", "©", "|", "[", "!")))
    prose = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", prose)  # link text, not link syntax
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", prose) if len(s.strip()) > 20]


# General reading rules, as a careful model applies them to any site: a dollar amount is a price
# unless the sentence is about a discount, a legal outcome or a waived fee; an offer to book or
# schedule counts unless it is negated or postponed; quoted, attributed praise or a reviews
# heading counts as reviews, a request to review something does not.
_MONEY = re.compile(r"\$\s?\d")
_NOT_PRICE = re.compile(r"\b(off|save|discount|coupon|verdict|settlement|recovered|waive\w*)\b", re.I)
_BOOKING_OFFER = re.compile(
    r"\b(book|schedule|reserve|request)\b[^.\n]{0,40}\b(online|appointment|table|visit|service|class|call|consultation|now)\b",
    re.I,
)
_NEGATED = re.compile(r"\b(coming soon|not available|unavailable|not yet|call (us|our office) to)\b", re.I)
_REVIEW_HEADING = re.compile(
    r"^#+ .*\b(reviews?|testimonials?|what (our )?\w+ say|kind words)\b", re.I | re.M
)
_QUOTE = re.compile(r"[“\"][^”\"]{25,}[”\"]\s*(—|-|–)?\s*[A-Z]")
_COPYRIGHT_YEAR = re.compile(r"(?:©|copyright)\s*(?:©\s*)?(\d{4})(?:\s*[-–]\s*(\d{4}))?", re.I)


def _shows_prices(text: str) -> bool:
    return any(_MONEY.search(s) and not _NOT_PRICE.search(s) for s in re.split(r"(?<=[.!?])\s+|\n", text))


def _offers_booking(text: str) -> bool:
    for line in text.splitlines():
        for sentence in re.split(r"(?<=[.!?])\s+", line):
            if _BOOKING_OFFER.search(sentence) and not _NEGATED.search(sentence) and "tel:" not in sentence:
                return True
    return False


def _shows_reviews(text: str) -> bool:
    return bool(_REVIEW_HEADING.search(text) or _QUOTE.search(text))


def write_dossier(text: str, slots: dict[str, Any]) -> dict[str, Any]:
    """An extractive dossier from the `<page>` blocks in `text`, by general reading rules."""
    pages = [(url, title or url, body) for url, title, body in PAGE_PATTERN.findall(text)]
    given_urls = {url for url, _, _ in pages}
    outside = re.sub(PAGE_PATTERN, " ", text).lower()  # the prompt itself, without page data

    def clean(sentence: str) -> bool:
        if INJECTION.search(sentence):
            return False
        return all(u in given_urls for u in re.findall(r"https?://[^\s)\"']+", sentence))

    home = next(
        (p for p in pages if re.sub(r"^https?://[^/]+", "", p[0]).strip("/") == ""),
        pages[0] if pages else None,
    )
    ordered = ([home] if home else []) + [p for p in pages if p is not home]
    picked: list[str] = []
    for _, _, body in ordered:
        for sentence in _sentences(body):
            if clean(sentence) and sentence not in picked:
                picked.append(sentence)
            if len(picked) >= 3:
                break
        if len(picked) >= 3:
            break
    summary = " ".join(picked) if picked else "The pages given contain little text."
    everything = "\n".join(body for _, _, body in pages)
    gaps = []
    if pages and not _shows_prices(everything):
        gaps.append("No prices shown on the pages read")
    if pages and not _offers_booking(everything):
        gaps.append("No way to book online found on the pages read")
    if pages and not _shows_reviews(everything):
        gaps.append("No customer reviews or testimonials on the pages read")
    years = [int(m.group(2) or m.group(1)) for m in _COPYRIGHT_YEAR.finditer(everything)]
    if years and max(years) < datetime.now(UTC).year - 1:
        gaps.append(f"Stale copyright year (© {max(years)})")
    if given_urls and all(u.startswith("http://") for u in given_urls):
        gaps.append("Site is served over plain HTTP (no HTTPS)")
    if home and len(home[2].split()) < 150:
        gaps.append("Thin homepage content")
    services = _agency_services(outside)
    talking_points = [_talking_point(gap, services) for gap in gaps] or [
        "The site covers the basics; offer an audit of conversion and local SEO."
    ]
    vertical = slots.get("vertical") or ""
    return {
        "outreach": write_outreach(re.sub(PAGE_PATTERN, " ", text)),
        "summary": f"{summary} {MARK}",
        "gaps": gaps,
        "talking_points": talking_points,
        "sources": [{"url": url, "title": title} for url, title, _ in pages],
        "fit_reason": (
            f"Website gaps the agency can fix: {', '.join(g.lower() for g in gaps)}."
            if gaps
            else "A solid site; fit depends on the agency's other criteria."
        )
        + (f" Matches the target vertical ({vertical})." if vertical else ""),
    }


_BUSINESS_LINE = re.compile(r"^\s*business\s*:\s*(.+?)(?:\s*\(|$)", re.I | re.M)


def write_outreach(prompt: str) -> dict[str, str]:
    """Outreach from the prompt's own facts (never from page text): the business named on its
    `Business:` line, and the first two `- ` lines listed under a heading that speaks of findings."""
    match = _BUSINESS_LINE.search(prompt)
    business = match.group(1).strip() if match else "your business"
    findings: list[str] = []
    listing = False
    for line in prompt.splitlines():
        if "finding" in line.lower() and line.rstrip().endswith(":"):
            listing = True
            continue
        if listing and line.lstrip().startswith("- "):
            item = line.strip()[2:].strip().rstrip(".")
            if item and item.lower() != "none":
                findings.append(item)
        elif listing and line.strip():
            listing = False
    noticed = "; ".join(f[0].lower() + f[1:] for f in findings[:2]) or "a few things worth fixing"
    return {
        "email_subject": f"A few quick wins for {business}",
        "email_body": f"Hi {business} team, I read your website and noticed: {noticed}. "
        "We fix exactly this for local businesses. Would a short call this week work?",
        "call_opener": f"Hi, is this {business}? I was reading your website and noticed: {noticed}.",
    }


def _agency_services(prompt: str) -> list[str]:
    match = re.search(r"(?:agency )?services?\s*(?:offered)?\s*:\s*([^\n]+)", prompt)
    if not match:
        return []
    return [s.strip(" .") for s in re.split(r",|;|\band\b", match[1]) if s.strip(" .")]


GAP_SERVICE_WORDS = {
    "prices": ("web design", "copy", "website", "conversion"),
    "book": ("booking", "scheduling", "appointment", "web design", "website"),
    "reviews": ("review", "reputation", "testimonial", "social proof"),
    "copyright": ("maintenance", "web design", "website", "redesign"),
    "http": ("hosting", "security", "ssl", "web design", "website"),
    "thin": ("content", "seo", "copy", "web design"),
}


def _talking_point(gap: str, services: list[str]) -> str:
    lowered = gap.lower()
    for key, words in GAP_SERVICE_WORDS.items():
        if key not in lowered:
            continue
        for word in words:  # the most specific service first
            for service in services:
                if word in service.lower():
                    return f"{gap}: our {service} service addresses this."
    return f"{gap}: raise it as a quick win."


def structured_output(response_format: dict[str, Any], messages: list[dict[str, Any]]) -> str:
    if response_format.get("type") == "json_object":
        return json.dumps({"answer": plain_answer(messages)})
    spec = response_format.get("json_schema") or {}
    name = str(spec.get("name", ""))
    schema = spec.get("schema") or {"type": "object", "properties": {}}
    text = "\n".join(_text(m.get("content")) for m in messages if m.get("role") in ("system", "user"))
    slots = parse_slots(_last_user(messages))
    value: dict[str, Any]
    if name == "UrlSelection":
        value = {"urls": select_urls(text)}
    elif name == "DossierDraft":
        value = write_dossier(text, slots)
    else:
        value = {}
        urls = select_urls(text)
        for key, prop in (_resolve(schema, schema).get("properties") or {}).items():
            resolved = _resolve(prop, schema)
            if (
                resolved.get("type") == "array"
                and _resolve(resolved.get("items", {}), schema).get("type") == "string"
            ):
                value[key] = urls
    return json.dumps(conform(value, schema, schema, slots))


# --------------------------------------------------------------------------------------------
# HTTP


def openai_error(
    status: int, message: str, kind: str, code: str | None, param: str | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": param, "code": code}}, status_code=status
    )


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


async def chat_completions(request: Request) -> Response:
    auth = request.headers.get("authorization", "")
    revoked = auth.removeprefix("Bearer ") in request.app.state.sandbox.config.revoked_keys
    if not auth.startswith("Bearer sk-") or revoked:
        shown = auth.removeprefix("Bearer ")[:4]
        return openai_error(
            401,
            f"Incorrect API key provided: {shown}****. You can find your API key at https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            "invalid_api_key",
        )
    try:
        body = await request.json()
    except ValueError:
        return openai_error(
            400, "We could not parse the JSON body of your request.", "invalid_request_error", None
        )
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not messages:
        return openai_error(
            400, "'messages' is a required property", "invalid_request_error", None, "messages"
        )
    model = str(body.get("model") or "gpt-4o-mini")
    tools = body.get("tools") or []
    tool_choice = body.get("tool_choice", "auto")
    if isinstance(tool_choice, dict) and not any(
        t.get("function", {}).get("name") == tool_choice.get("function", {}).get("name") for t in tools
    ):
        return openai_error(
            400,
            "Invalid value for 'tool_choice': no such tool.",
            "invalid_request_error",
            None,
            "tool_choice",
        )

    content: str | None = None
    tool_calls: list[dict[str, Any]] = []
    response_format = body.get("response_format") or {}
    last_role = messages[-1].get("role")
    if response_format.get("type") in ("json_schema", "json_object"):
        content = structured_output(response_format, messages)
    elif tools and tool_choice != "none" and not (last_role == "tool" and tool_choice == "auto"):
        tool, args, missing = choose_tool(tools, tool_choice, messages)
        forced = tool_choice == "required" or isinstance(tool_choice, dict)
        if tool is not None and (not missing or forced):
            tool_calls = [
                {
                    "id": f"call_{uuid.uuid4().hex[:24]}",
                    "type": "function",
                    "function": {"name": tool["function"]["name"], "arguments": json.dumps(args)},
                }
            ]
        elif tool is not None:
            content = _ask_for(tool, missing)
        else:
            content = plain_answer(messages)
    elif last_role == "tool":
        content = summarise_tool_results(messages)
    else:
        content = plain_answer(messages)

    prompt_tokens = _tokens(json.dumps(messages) + json.dumps(tools))
    completion_tokens = _tokens((content or "") + json.dumps(tool_calls))
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    finish = "tool_calls" if tool_calls else "stop"
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        stream = _stream(
            completion_id, created, model, content, tool_calls, finish, usage if include_usage else None
        )
        return StreamingResponse(stream, media_type="text/event-stream")
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return JSONResponse(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_sandbox",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": usage,
        }
    )


async def _stream(
    completion_id: str,
    created: int,
    model: str,
    content: str | None,
    tool_calls: list[dict[str, Any]],
    finish: str,
    usage: dict[str, Any] | None,
) -> AsyncIterator[str]:
    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_sandbox",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        return f"data: {json.dumps(body)}\n\n"

    yield chunk({"role": "assistant", "content": "" if content is not None else None, "refusal": None})
    if content:
        for piece in re.findall(r"\S+\s*|\s+", content):
            yield chunk({"content": piece})
    for index, call in enumerate(tool_calls):
        function = call["function"]
        head = {"index": index, "id": call["id"], "type": "function"}
        yield chunk({"tool_calls": [{**head, "function": {"name": function["name"], "arguments": ""}}]})
        arguments = function["arguments"]
        for start in range(0, len(arguments), 8):  # arguments arrive in fragments, as from OpenAI
            yield chunk(
                {"tool_calls": [{"index": index, "function": {"arguments": arguments[start : start + 8]}}]}
            )
    yield chunk({}, finish)
    if usage is not None:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": usage,
        }
        yield f"data: {json.dumps(body)}\n\n"
    yield "data: [DONE]\n\n"


# The one hook of the misbehaviour knobs (model_faults.py): they act on the finished answer.
routes = [Route("/openai/v1/chat/completions", misbehaving(chat_completions), methods=["POST"])]
