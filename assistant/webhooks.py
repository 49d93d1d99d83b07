"""Authenticating provider webhooks (Vapi) before anything is read or written.

With `VAPI_WEBHOOK_SECRET` set, a request is accepted when ANY of Vapi's credential schemes
carries that secret (reference §4, "Webhook authenticity"):

* `X-Vapi-Secret: <secret>`                       (legacy shared secret; what `start_call` puts in
                                                  each call's `server.headers`, which is all Vapi
                                                  sends when the URL comes with the call; the
                                                  report echoes those headers back, so
                                                  `tools.vapi.wire.parse_vapi_webhook` redacts them
                                                  before anything is stored)
* `Authorization: Bearer <secret>`                (Bearer Token credential)
* `x-signature: hex(hmac_sha256(secret, f"{x-timestamp}.{raw body}"))`, optionally prefixed
  `sha256=`, with `x-timestamp` (seconds or milliseconds since the epoch) within ±300 s of now
  (HMAC credential; the window makes a captured request useless for replay later).

Every comparison is constant-time. With no secret configured, webhooks are refused when
`LEADGEN_ENV=production` and accepted (with a warning in the log) in development and test.

Errors::

    WebhookRejected            (the server answers 401 with `reason`)
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

TIMESTAMP_WINDOW_SECONDS = 300.0
SIGNATURE_HEADER = "x-signature"
TIMESTAMP_HEADER = "x-timestamp"
SECRET_HEADER = "x-vapi-secret"
# A timestamp above this is in milliseconds (1e11 seconds is the year 5138).
_MILLISECONDS_THRESHOLD = 10**11


class WebhookRejected(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def hmac_signature(secret: str, timestamp: str, raw_body: bytes) -> str:
    """Vapi's default HMAC payload `"{timestamp}.{body}"`, sha256, hex."""
    message = timestamp.encode("ascii") + b"." + raw_body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, raw_body: bytes, *, timestamp: float | None = None) -> dict[str, str]:
    """Headers of an HMAC-signed delivery (for tests and local tools that post reports)."""
    ts = str(int(time.time() if timestamp is None else timestamp))
    return {TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: hmac_signature(secret, ts, raw_body)}


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


@dataclass(frozen=True)
class VapiWebhookAuth:
    secret: str
    environment: str = "development"
    window_seconds: float = TIMESTAMP_WINDOW_SECONDS
    clock: Callable[[], float] = field(default=time.time, compare=False)

    def verify(self, headers: Mapping[str, str], raw_body: bytes) -> str:
        """The scheme that authenticated the request (`x-vapi-secret`, `bearer`, `hmac`, or
        `none` in development without a secret); WebhookRejected otherwise. `headers` must look
        names up case-insensitively (Starlette's Headers do)."""
        if not self.secret:
            if self.environment == "production":
                log.error("Vapi webhook refused: VAPI_WEBHOOK_SECRET is not set (LEADGEN_ENV=production)")
                raise WebhookRejected("webhook authentication is not configured")
            log.warning("accepting an unauthenticated Vapi webhook: set VAPI_WEBHOOK_SECRET to require one")
            return "none"
        presented = headers.get(SECRET_HEADER)
        if presented is not None and _same(presented, self.secret):
            return "x-vapi-secret"
        scheme, _, token = (headers.get("authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and _same(token.strip(), self.secret):
            return "bearer"
        signature = headers.get(SIGNATURE_HEADER)
        if signature is not None:
            self._verify_hmac(signature, headers.get(TIMESTAMP_HEADER), raw_body)
            return "hmac"
        raise WebhookRejected("missing or wrong webhook credentials")

    def _verify_hmac(self, signature: str, timestamp: str | None, raw_body: bytes) -> None:
        if timestamp is None or not timestamp.isascii() or not timestamp.strip().isdigit():
            raise WebhookRejected(f"signed webhook without a valid {TIMESTAMP_HEADER}")
        timestamp = timestamp.strip()
        seconds = int(timestamp[:20])  # more digits than this is no timestamp; the window refuses it
        if seconds > _MILLISECONDS_THRESHOLD:
            seconds //= 1000
        if abs(self.clock() - seconds) > self.window_seconds:
            raise WebhookRejected("webhook timestamp outside the allowed window (stale or replayed)")
        expected = hmac_signature(self.secret, timestamp, raw_body)
        given = signature.strip()
        if given.lower().startswith("sha256="):
            given = given[len("sha256=") :]
        if not _same(given.lower(), expected):
            raise WebhookRejected("bad webhook signature")
