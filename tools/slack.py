"""The Slack Web API client, pointed at Settings' endpoint (the sandbox serves `/slack/api/`).

No error tree of our own: slack_sdk raises `SlackApiError` (an `ok: false` answer, with
`e.response`) and `SlackRequestError`. slack_sdk retries only connection errors by default
(reference §5); we add its rate-limit handler so a 429 waits out `Retry-After` and tries again.

`respond` answers a slash command through its `response_url` (slack_sdk's webhook client): the
one way to reach its user where the bot is not a member (`not_in_channel`, `channel_not_found`
refuse `chat.postEphemeral` as much as `chat.postMessage`). The URL comes inside a request Slack
signed, and is still only followed to Slack's hooks host (or the sandbox serving our Web API).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from leadgen.settings import KEY_VARIABLES, Settings

SLACK_HOOKS_ORIGIN = "https://hooks.slack.com"
RESPONSE_URL_TIMEOUT = 10  # seconds
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


def response_url_allowed(url: str, web_api_base: str) -> bool:
    """Whether `url` is a response URL we may post to: Slack's hooks host, or (the sandbox, or any
    Web API that is not slack.com) the origin serving our Web API."""
    parts, api = urlsplit(url), urlsplit(web_api_base)
    if f"{parts.scheme}://{parts.netloc}" == SLACK_HOOKS_ORIGIN:
        return True
    return api.netloc not in ("slack.com", "") and (parts.scheme, parts.netloc) == (api.scheme, api.netloc)


async def respond(response_url: str, text: str, *, web_api_base: str) -> bool:
    """Answer a command's user (ephemeral) through its response URL; False when refused."""
    if not response_url_allowed(response_url, web_api_base):
        return False
    answer = await AsyncWebhookClient(response_url, timeout=RESPONSE_URL_TIMEOUT).send(
        text=text, response_type="ephemeral"
    )
    return answer.status_code == 200
