"""The Slack Web API client, pointed at Settings' endpoint (the sandbox serves `/slack/api/`).

No error tree of our own: slack_sdk raises `SlackApiError` (an `ok: false` answer, with
`e.response`) and `SlackRequestError`. slack_sdk retries only connection errors by default
(reference §5); we add its rate-limit handler so a 429 waits out `Retry-After` and tries again.
"""

from __future__ import annotations

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from leadgen.settings import KEY_VARIABLES, Settings

# Slack's answers (HTTP 200, `ok: false`) for a token it will not take.
TOKEN_REFUSED = frozenset(
    {"not_authed", "invalid_auth", "token_revoked", "token_expired", "account_inactive"}
)


def slack_web_client(settings: Settings, *, rate_limit_retries: int = 3, timeout: int = 30) -> AsyncWebClient:
    """An AsyncWebClient with the bot token and base URL from `settings` (MissingProviderKey if neither
    SLACK_BOT_TOKEN nor the sandbox is set)."""
    endpoint = settings.endpoint("slack")
    base_url = endpoint.base_url if endpoint.base_url.endswith("/") else endpoint.base_url + "/"
    client = AsyncWebClient(token=endpoint.api_key, base_url=base_url, timeout=timeout)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=rate_limit_retries))
    return client


def key_rejected_message(exc: BaseException) -> str | None:
    """The one sentence naming SLACK_BOT_TOKEN when `exc` is Slack refusing our token."""
    if not isinstance(exc, SlackApiError):
        return None
    error = exc.response.get("error") if exc.response is not None else None
    if error not in TOKEN_REFUSED:
        return None
    variable = KEY_VARIABLES["slack"]
    return f"Slack refused the token in {variable} ({error}); set {variable} to a valid bot token."
