"""No open doors: what a face needs before it listens beyond this machine.

`leadgen chat` without CHAINLIT_AUTH_SECRET has no sign-in (everyone is the local admin of
LEADGEN_AGENCY, spending the operator's provider keys), so it may listen on loopback only.
`leadgen serve` answers Vapi's webhooks (POST /webhooks/vapi), which need VAPI_WEBHOOK_SECRET,
and, when Slack is set up for HTTP (SLACK_BOT_TOKEN without SLACK_APP_TOKEN), Slack's requests
(POST /slack/events), which need SLACK_SIGNING_SECRET.

Bound to any other address (0.0.0.0, ::, a LAN address, a host name) without them, a face is
refused in production (`ExposureRefused`, the message names the variables) and warned about
elsewhere.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

from leadgen.settings import Settings

Face = Literal["chat", "serve"]


class ExposureRefused(RuntimeError):
    pass


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only. Host names other than `localhost`
    count as exposed: what they resolve to can change."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def missing_secrets(face: Face, settings: Settings) -> list[str]:
    """The variables a face lacks to be safe beyond this machine (empty: it may listen anywhere)."""
    if face == "chat":
        return [] if settings.chainlit_auth_secret else ["CHAINLIT_AUTH_SECRET"]
    missing = [] if settings.vapi_webhook_secret else ["VAPI_WEBHOOK_SECRET"]
    slack_over_http = bool(settings.slack_bot_token) and not settings.slack_app_token
    if slack_over_http and not settings.slack_signing_secret:
        missing.append("SLACK_SIGNING_SECRET")
    return missing


@dataclass(frozen=True)
class ExposureCheck:
    face: Face
    host: str
    missing: list[str]

    @property
    def open_door(self) -> bool:
        return bool(self.missing) and not is_loopback(self.host)

    def message(self) -> str:
        names = " and ".join(self.missing)
        what = {
            "chat": "the web chat would let anyone who reaches it in without signing in, as an admin "
            "spending your provider keys",
            "serve": "its webhook routes would accept unauthenticated requests (or refuse every real one)",
        }[self.face]
        return (
            f"{names} {'is' if len(self.missing) == 1 else 'are'} not set, and `leadgen {self.face}` "
            f"would listen on {self.host}, beyond this machine: {what}. Set {names} "
            f"(e.g. `openssl rand -hex 32`), or listen on 127.0.0.1."
        )


def check_exposure(face: Face, host: str, settings: Settings) -> ExposureCheck:
    """ExposureRefused in production when `face` on `host` would be an open door; otherwise the
    check, whose `open_door` tells the caller to warn."""
    check = ExposureCheck(face, host, missing_secrets(face, settings))
    if check.open_door and settings.leadgen_env == "production":
        raise ExposureRefused(check.message())
    return check
