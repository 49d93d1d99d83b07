"""Slack, judged by `slack_sdk`: its Web API client reads the sandbox's refusals (`ok: false`
with Slack's error codes, HTTP 200), its rate-limit retry handler waits out the sandbox's 429
(`Retry-After`), and its webhook client answers a command through the sandbox's response URL."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient


def bot(url: str, token: str = "xoxb-conformance") -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=url + "/slack/api/")


async def test_refusals_are_slacks(fresh: Any) -> None:
    person = bot(fresh.url, "xoxp-a-person")
    public = (await person.conversations_create(name=f"c-{uuid.uuid4().hex[:8]}"))["channel"]["id"]
    for call, error in (
        (bot(fresh.url).chat_postMessage(channel=public, text="hi"), "not_in_channel"),
        (bot(fresh.url).chat_postMessage(channel="CNOTHERE01", text="hi"), "channel_not_found"),
        (bot(fresh.url, "not-a-token").auth_test(), "invalid_auth"),
    ):
        with pytest.raises(SlackApiError) as refused:
            await call
        assert refused.value.response.status_code == 200 and refused.value.response["error"] == error


async def test_the_sdks_rate_limit_handler_waits_out_the_sandboxs_429(fresh: Any) -> None:
    client = bot(fresh.url)
    channel = (await client.conversations_create(name=f"r-{uuid.uuid4().hex[:8]}"))["channel"]["id"]
    fresh.configure(fail_rate=1.0, fault_kinds=["429"], retry_after_seconds=0.3)
    fresh.clear_requests()
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    with pytest.raises(SlackApiError) as limited:
        await client.chat_postMessage(channel=channel, text="hi")
    response = limited.value.response
    assert response.status_code == 429 and response["error"] == "ratelimited"
    wait = {k.lower(): v for k, v in response.headers.items()}["retry-after"]
    assert int(wait[0] if isinstance(wait, list) else wait) >= 1  # slack_sdk keeps header lists
    assert [r["status"] for r in fresh.requests("slack")] == [429, 429]  # retried once, then gave up


async def test_the_sdks_webhook_client_answers_through_a_response_url(fresh: Any) -> None:
    import httpx

    channel = "C" + uuid.uuid4().hex[:10].upper()
    url = httpx.post(
        f"{fresh.url}/_sandbox/slack/response_urls", json={"channel": channel, "user": "UANA"}
    ).json()["url"]
    answer = await AsyncWebhookClient(url).send(text="only you can see this", response_type="ephemeral")
    assert (answer.status_code, answer.body) == (200, "ok")


async def test_the_sdks_files_upload_v2_shares_a_file_through_the_external_upload_flow(fresh: Any) -> None:
    """files_upload_v2 as slack_sdk runs it: getUploadURLExternal, a POST of the bytes to the
    upload URL, completeUploadExternal; the file is shared in the thread with its comment and
    its bytes come back from url_private_download with a token, as at Slack."""
    import httpx

    client = bot(fresh.url)
    person = bot(fresh.url, "xoxp-a-person")
    channel = (await person.conversations_create(name=f"f-{uuid.uuid4().hex[:8]}"))["channel"]["id"]
    await client.conversations_join(channel=channel)
    parent = (await client.chat_postMessage(channel=channel, text="the thread"))["ts"]
    content = b"%PDF-1.4 not really a pdf \x00\xff\x10 but bytes that are not text"

    done = await client.files_upload_v2(
        channel=channel,
        thread_ts=parent,
        file=content,
        filename="report.pdf",
        title="The report",
        initial_comment="Here it is",
    )
    shared = done["file"]
    assert (shared["name"], shared["title"], shared["mimetype"]) == (
        "report.pdf",
        "The report",
        "application/pdf",
    )
    assert shared["size"] == len(content) and shared["id"].startswith("F")
    paths = [r["path"] for r in fresh.requests("slack")]
    get_url = paths.index("/slack/api/files.getUploadURLExternal")
    assert paths[get_url + 1].startswith("/slack/files/upload/v1/")
    assert paths[get_url + 2] == "/slack/api/files.completeUploadExternal"

    thread = (await client.conversations_replies(channel=channel, ts=parent))["messages"]
    assert [(m.get("text"), [f["id"] for f in m.get("files", [])]) for m in thread[1:]] == [
        ("Here it is", [shared["id"]])
    ]
    info = (await client.files_info(file=shared["id"]))["file"]
    assert info["shares"]["public"][channel][0]["thread_ts"] == parent and info["channels"] == [channel]

    download = shared["url_private_download"]
    async with httpx.AsyncClient() as http:
        got = await http.get(download, headers={"Authorization": "Bearer xoxb-conformance"})
        assert got.status_code == 200 and got.content == content
        assert (await http.get(download)).status_code == 302  # no token: Slack sends you to sign in


async def test_the_external_upload_flows_refusals_are_slacks(fresh: Any) -> None:
    import httpx

    client = bot(fresh.url)
    person = bot(fresh.url, "xoxp-a-person")
    outside = (await person.conversations_create(name=f"o-{uuid.uuid4().hex[:8]}"))["channel"]["id"]

    async def refused(call: Any) -> str:
        with pytest.raises(SlackApiError) as caught:
            await call
        assert caught.value.response.status_code == 200
        return str(caught.value.response["error"])

    assert await refused(client.files_getUploadURLExternal(filename="a.pdf", length=3, token="nope")) == (
        "invalid_auth"
    )
    assert await refused(client.api_call("files.getUploadURLExternal", params={"filename": "a.pdf"})) == (
        "invalid_arguments"
    )
    issued = await client.files_getUploadURLExternal(filename="a.pdf", length=3)
    # Completed before any bytes reached the upload URL: Slack has no file to share.
    assert await refused(client.files_completeUploadExternal(files=[{"id": issued["file_id"]}])) == (
        "file_not_found"
    )
    async with httpx.AsyncClient() as http:
        assert (await http.post(issued["upload_url"], content=b"abc")).text == "OK - 3"
    # Another token cannot complete this upload; the bot cannot share where it is not a member.
    assert await refused(person.files_completeUploadExternal(files=[{"id": issued["file_id"]}])) == (
        "file_not_found"
    )
    for channel, error in ((outside, "not_in_channel"), ("CNOTHERE01", "channel_not_found")):
        call = client.files_completeUploadExternal(files=[{"id": issued["file_id"]}], channel_id=channel)
        assert await refused(call) == error
    assert (
        await refused(client.files_completeUploadExternal(files=[{"id": "FNEVERISSUED"}])) == "file_not_found"
    )
    # Without a channel the file stays private; completing it a second time finds nothing.
    kept = (await client.files_completeUploadExternal(files=[{"id": issued["file_id"], "title": "A"}]))[
        "files"
    ]
    assert [(f["id"], f["shares"], f["channels"]) for f in kept] == [(issued["file_id"], {}, [])]
    assert await refused(client.files_completeUploadExternal(files=[{"id": issued["file_id"]}])) == (
        "file_not_found"
    )
    assert await refused(person.files_info(file=issued["file_id"])) == "file_not_found"  # private to the bot
    async with httpx.AsyncClient() as http:
        assert (await http.post(issued["upload_url"], content=b"abc")).status_code == 404  # ticket used up


# The error codes Slack's method reference lists for the methods the app calls (a refusal the
# sandbox sends must be one of these, or one every method shares).
LISTED_ERRORS = {
    "chat.postMessage": {"channel_not_found", "not_in_channel", "no_text", "invalid_blocks", "is_archived"},
    "files.completeUploadExternal": {
        "channel_not_found",
        "channels_limit_exceeded",
        "file_not_found",
        "invalid_channel",
        "not_in_channel",
        "posting_to_channel_denied",
        "invalid_blocks",
    },
    "files.getUploadURLExternal": {"file_uploads_disabled", "alt_txt_too_large", "invalid_arguments"},
}
EVERY_METHOD = {"invalid_auth", "not_authed", "ratelimited", "invalid_arguments", "missing_scope"}


async def test_a_reply_to_no_message_is_posted_on_its_own_and_refusals_are_listed_ones(fresh: Any) -> None:
    import httpx

    client = bot(fresh.url)
    channel = (await client.conversations_create(name=f"t-{uuid.uuid4().hex[:8]}"))["channel"]["id"]
    codes: list[tuple[str, str]] = []

    async def attempt(method: str, call: Any) -> dict[str, Any] | None:
        try:
            return dict((await call).data)
        except SlackApiError as refused:
            codes.append((method, str(refused.response["error"])))
            return None

    # Slack lists no thread_not_found for posting: the message stands at the top of the channel.
    posted = await attempt(
        "chat.postMessage", client.chat_postMessage(channel=channel, text="x", thread_ts="1.2")
    )
    assert posted is not None and "thread_ts" not in posted["message"]
    issued = await client.files_getUploadURLExternal(filename="a.pdf", length=3)
    async with httpx.AsyncClient() as http:
        await http.post(issued["upload_url"], content=b"abc")
    shared = await attempt(
        "files.completeUploadExternal",
        client.files_completeUploadExternal(
            files=[{"id": issued["file_id"]}], channel_id=channel, thread_ts="1.2"
        ),
    )
    assert shared is not None
    assert "thread_ts" not in shared["files"][0]["shares"]["public"][channel][0]
    second = await client.files_getUploadURLExternal(filename="b.pdf", length=3)
    async with httpx.AsyncClient() as http:
        await http.post(second["upload_url"], content=b"abc")
    many = [f"C{n:09d}" for n in range(101)]
    await attempt(
        "files.completeUploadExternal",
        client.files_completeUploadExternal(files=[{"id": second["file_id"]}], channels=many),
    )
    await attempt("chat.postMessage", client.chat_postMessage(channel="CNOTHERE01", text="x"))
    await attempt("files.getUploadURLExternal", client.files_getUploadURLExternal(filename="", length=3))
    assert ("files.completeUploadExternal", "channels_limit_exceeded") in codes
    unlisted = [(m, c) for m, c in codes if c not in LISTED_ERRORS[m] | EVERY_METHOD]
    assert unlisted == []
