"""Placing a call, shaped for the faces' tools (the chat agent, Chainlit's and Slack's Call
buttons): `place_call` never raises for an expected outcome, it says which one it was."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from db.models import Call
from graphs.calls import (
    CallFailed,
    CallInProgress,
    CallNotFound,
    CallService,
    CallsNotConfigured,
    CreditCheckUnavailable,
    InsufficientCallCredits,
    InvalidCallTarget,
    Unauthenticated,
)
from graphs.views import call_json

PlaceCallOutcome = Literal[
    "placed",
    "insufficient_credits",
    "credits_unavailable",
    "unauthenticated",
    "not_found",
    "invalid_phone",
    "not_configured",
    "in_progress",
    "failed",
]


async def place_call(
    calls: CallService,
    agency_id: str,
    opportunity_id: str,
    *,
    user_id: str | None,
    variables: Mapping[str, str | int | float] | None = None,
    origin: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """`start_call` shaped for a tool: never raises for an expected outcome. Returns
    `{"ok", "outcome", "message", "call" (call JSON or None), "paywall" (or None)}`; with
    `outcome == "insufficient_credits"` the face shows the paywall from `paywall`."""
    call: Call | None = None
    paywall: dict[str, Any] | None = None
    outcome: PlaceCallOutcome
    try:
        call = await calls.start_call(
            agency_id, opportunity_id, user_id=user_id, variables=variables, origin=origin
        )
        outcome, message = "placed", f"Calling {call.to_number} now; the call is {call.status}."
    except InsufficientCallCredits as exc:
        outcome, message, paywall = "insufficient_credits", str(exc), exc.paywall()
    except CreditCheckUnavailable as exc:
        outcome, message = "credits_unavailable", str(exc)
    except Unauthenticated as exc:
        outcome, message = "unauthenticated", str(exc)
    except CallNotFound as exc:
        outcome, message = "not_found", str(exc)
    except InvalidCallTarget as exc:
        outcome, message = "invalid_phone", str(exc)
    except CallsNotConfigured as exc:
        outcome, message = "not_configured", str(exc)
    except CallInProgress as exc:
        outcome, message, call = "in_progress", str(exc), exc.call
    except CallFailed as exc:
        outcome, message, call = "failed", str(exc), exc.call
    return {
        "ok": outcome == "placed",
        "outcome": outcome,
        "message": message,
        "call": call_json(call) if call is not None else None,
        "paywall": paywall,
    }
