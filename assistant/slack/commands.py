"""`/leads`: what people type after it, and the words the Slack face answers with."""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.cli.parsing import InvalidInput, parse_count, parse_geography, parse_vertical
from graphs.run_input import MAX_LEADS, MIN_LEADS

LEADS_COMMAND = "/leads"
NOT_CONNECTED = (
    "This Slack workspace is not connected to an Atlas agency, so I can't act here. "
    "Ask your Atlas admin to connect it."
)
CANNOT_POST = (
    "I'm not in this channel, so I can't post the run here. Invite me (`/invite @Atlas`) or use "
    "`/leads` in a channel I'm in. Nothing was started."
)
USAGE = (
    f"Usage: `{LEADS_COMMAND} [N] VERTICAL in GEOGRAPHY`, for example "
    f"`{LEADS_COMMAND} 10 dentists in Austin, TX` (N: {MIN_LEADS}-{MAX_LEADS}, default 10)."
)
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
_COUNT_FIRST = re.compile(r"^(\S+)\s+(.*)$", re.DOTALL)
# A leading word that is meant as the count, also when it is wrong ("-3", "0", "1.5", "99").
_NUMBER = re.compile(r"[-+]?[0-9][0-9.,]*")


@dataclass(frozen=True)
class LeadsRequest:
    num_leads: int
    vertical: str
    geography: str


def parse_leads_command(text: str) -> LeadsRequest:
    """`[N] VERTICAL in GEOGRAPHY` -> LeadsRequest; InvalidInput (message for the user) otherwise.

    The count is the first word when it is a number, signed or not (so `-3`, `0` and `1.5` are
    refused with the CLI's message, not read as part of the vertical); the geography is what follows the LAST " in "
    ("coffee shops in Brooklyn in New York" keeps "coffee shops in Brooklyn" as the vertical)."""
    words = text.strip()
    if not words or words.lower() in ("help", "?"):
        raise InvalidInput("campaign", "tell me what to find and where")
    count = 10
    match = _COUNT_FIRST.match(words)
    if match and _NUMBER.fullmatch(match.group(1)):
        count = parse_count(match.group(1))
        words = match.group(2).strip()
    elif _NUMBER.fullmatch(words):
        parse_count(words)  # a lone number: its own message when it is out of range
        raise InvalidInput("campaign", "tell me what to find and where")
    head, sep, tail = words.rpartition(" in ")
    if not sep:
        head, sep, tail = words.rpartition(" IN ")
    if not sep:
        raise InvalidInput("campaign", f"{words[:60]!r} needs a place: 'VERTICAL in GEOGRAPHY'")
    return LeadsRequest(count, parse_vertical(head), parse_geography(tail))
