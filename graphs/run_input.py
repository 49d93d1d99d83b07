"""What arrives from outside with a run request: the lead count, the campaign's vertical and
geography, agency ids, and run ids typed as thread ids.

Pure functions, no I/O, and the one rule for every face: the CLI (`-n`, `--vertical`, `leadgen
agency set`), Slack (`/leads N ...`), the chat agent's tools, `RunService.campaign` and the
LangGraph Server graph (graphs/platform_graph.py) all call these, so each accepts exactly what
the others accept and refuses it with the same words. A face only frames the message (the CLI
prefixes the option, the chat adds its question).
"""

from __future__ import annotations

import re
import unicodedata
import uuid

# How many leads one run may ask for (`-n`, `num_leads`).
MIN_LEADS, MAX_LEADS = 1, 20

MAX_TEXT_LENGTH = 200

_AGENCY_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# Control characters and line/paragraph separators: they break tables, logs and prompts.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


def _shown(value: object, limit: int = 40) -> str:
    """`value` quoted for an error message, cut short so a huge paste does not flood the screen."""
    text = value if isinstance(value, str) else repr(value)
    return repr(text if len(text) <= limit else text[:limit] + "…")


class BadCampaignInput(ValueError):
    """A lead count or campaign field that cannot be accepted. `field` names it, `problem` says
    what was wrong and what is allowed; the message is both, as a sentence."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field} {problem}")


def _shown_count(value: object) -> str:
    """A count as given: a number bare (`got 21`), text quoted (`got 'ten'`)."""
    return repr(value)[:40] if isinstance(value, int | float) else _shown(value)


def lead_count_rule() -> str:
    return f"a whole number from {MIN_LEADS} to {MAX_LEADS}"


def check_lead_count(value: object, *, typed: bool = False) -> int:
    """How many leads a run asks for, from MIN_LEADS to MAX_LEADS: an int from a program (the
    agent's tool call, the SDK's input), or, with `typed`, text of ASCII digits as a person typed
    it (`-n 10`, `/leads 10 ...`). BadCampaignInput (field "number of leads") otherwise; never
    clamped: a count out of range is answered, not changed."""
    rule = lead_count_rule()
    if typed and isinstance(value, str):
        text = value.strip()
        if not text.isascii() or not text.isdigit():
            raise BadCampaignInput(
                "number of leads", f"must be {rule}, got {_shown_count(value)}, which is not a whole number"
            )
        # The length check first: int() of a huge digit string is slow.
        count = int(text) if len(text.lstrip("0")) <= 3 else MAX_LEADS + 1
    elif isinstance(value, int) and not isinstance(value, bool):
        count = value
    else:
        raise BadCampaignInput(
            "number of leads", f"must be {rule}, got {_shown_count(value)}, which is not a whole number"
        )
    if not MIN_LEADS <= count <= MAX_LEADS:
        raise BadCampaignInput(
            "number of leads", f"must be {rule}, got {_shown_count(value)}, which is out of range"
        )
    return count


def check_campaign_text(value: object, field: str, *, single_spaces: bool = False) -> str:
    """A vertical, a geography or another short free-text field (a service): trimmed, non-empty,
    at most MAX_TEXT_LENGTH characters, no control characters; BadCampaignInput naming `field`
    otherwise. `single_spaces`: runs of spaces inside made one (a run's campaign, which becomes
    a search query)."""
    if not isinstance(value, str):
        raise BadCampaignInput(field, f"must be text, got {type(value).__name__}")
    text = value.strip()
    bad = next((ch for ch in text if unicodedata.category(ch) in _FORBIDDEN_CATEGORIES), None)
    if single_spaces:
        text = " ".join(text.split())
    if not text:
        raise BadCampaignInput(field, "must not be empty (e.g. 'dentists', 'Austin, TX')")
    if len(text) > MAX_TEXT_LENGTH:
        raise BadCampaignInput(
            field, f"is {len(text)} characters long; at most {MAX_TEXT_LENGTH} are allowed"
        )
    if bad is not None:
        raise BadCampaignInput(field, f"contains the control character U+{ord(bad):04X}; use plain text")
    return text


def check_agency_id(value: object) -> str:
    """The agency id, trimmed; ValueError saying what is allowed otherwise."""
    candidate = value.strip() if isinstance(value, str) else None
    if candidate is None or not _AGENCY_ID.fullmatch(candidate):
        raise ValueError(
            f"{_shown(value)} is not a valid agency id; use 1-64 characters from lowercase a-z, "
            f"digits, '_' and '-', starting with a letter or digit (e.g. 'acme-digital')"
        )
    return candidate


def run_id_for_thread(thread_id: str) -> str:
    """The run id of a LangGraph thread: the thread's UUID as 32 hex digits, the form every run
    id takes (LangGraph Server spells thread ids with dashes). ValueError when it is no UUID."""
    try:
        return uuid.UUID(thread_id).hex
    except (ValueError, TypeError, AttributeError):
        raise ValueError(
            f"thread id {_shown(thread_id)} is not a UUID; LangGraph Server threads have UUID ids, "
            "and the run takes the thread's id as its own"
        ) from None


def normalise_run_id(text: str) -> str:
    """A run id as a person typed it: a thread id (dashed UUID) names the run of that thread;
    anything else is taken as it is (and reads as not found when it names no run)."""
    try:
        return run_id_for_thread(text.strip())
    except ValueError:
        return text
