"""The dossier's Share report button in Slack: a share link to the lead's branded report, posted
where the button was, and the report's PDF uploaded there as a file (Slack's external upload, as
the sandbox's Slack serves it); a refused upload leaves the PDF's link instead; another
workspace's forged click is refused and makes and uploads nothing."""

from __future__ import annotations

import io
import json
import logging
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pypdf import PdfReader

from assistant.slack_blocks import OPEN_DOSSIER, SHARE_REPORT


def _buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b.get("type") == "actions" for e in b["elements"]]


async def _file_messages(slack: Any, channel: str) -> list[dict[str, Any]]:
    return [m for m in await slack.bot_messages(channel) if m.get("files")]


async def _uploads(slack: Any) -> int:
    """How many uploads were asked for and completed, in the sandbox's request log."""
    return len(await slack.requests("files.getUploadURLExternal")) + len(
        await slack.requests("files.completeUploadExternal")
    )


async def _downloaded(file: dict[str, Any]) -> bytes:
    """The file's bytes as Slack gives them back: its url_private_download, with a token."""
    async with httpx.AsyncClient() as http:
        got = await http.get(file["url_private_download"], headers={"Authorization": "Bearer xoxb-reader"})
    assert got.status_code == 200, got.text
    return got.content


async def _lead_with_dossier(slack: Any) -> Any:
    runs = slack.adapter.services.runs
    flow = await runs.start("acme", num_leads=2, vertical="dentists", geography="Austin, TX")
    assert (await runs.execute("acme", flow.id)).status == "completed"
    return next(
        r
        for r in [await runs.lead("acme", o.id) for o in await runs.opportunities("acme", flow.id)]
        if r and r.dossier_id
    ).opportunity


async def test_share_report_button_posts_the_link_uploads_the_pdf_and_refuses_another_workspace(
    slack: Any, channel: str
) -> None:
    await slack.install("TALPHA", "acme")
    await slack.install("TBETA", "beta")
    runs = slack.adapter.services.runs
    opp = await _lead_with_dossier(slack)
    balance = await runs.billing.balance("acme")

    # The dossier (a modal) carries the Share report button for its lead.
    views_before = len(await slack.requests("views.open"))
    assert (await slack.action(OPEN_DOSSIER, {"o": opp.id}, channel=channel)).status_code == 200
    await slack.adapter.drain()
    view = (await slack.requests("views.open"))[views_before]["body"]["view"]
    view = json.loads(view) if isinstance(view, str) else view
    share = next(b for b in _buttons(view["blocks"]) if b["action_id"] == SHARE_REPORT)
    assert share["text"]["text"] == "Share report" and json.loads(share["value"]) == {"o": opp.id}

    # Another workspace's forged click on that button: told "not available", nothing made or uploaded.
    uploads_before = await _uploads(slack)
    assert (
        await slack.action(SHARE_REPORT, share["value"], channel=channel, team="TBETA", user="UBOB")
    ).status_code == 200
    await slack.adapter.drain()
    told = [r["body"] for r in await slack.requests("chat.postEphemeral", channel)]
    assert [(t["user"], "not available" in t["text"]) for t in told] == [("UBOB", True)]
    async with slack.adapter.services.database.reader() as repo:
        assert await repo.list_report_links("acme", opp.id) == []
    assert await _uploads(slack) == uploads_before and await _file_messages(slack, channel) == []

    # The owner's click posts the link, then the report's PDF as a file, in the clicked thread.
    clicked = await slack.user_message(channel, "the leads message")
    assert (
        await slack.action(SHARE_REPORT, share["value"], channel=channel, message_ts=clicked, user="UANA")
    ).status_code == 200
    await slack.adapter.drain()
    posted = [m for m in await slack.bot_messages(channel) if "Report for" in m.get("text", "")]
    assert len(posted) == 1 and opp.name in posted[0]["text"] and "<@UANA>" in posted[0]["text"]
    text = json.dumps(posted[0]["blocks"])
    url = re.search(r"<(http[^|>]*/r/[A-Za-z0-9_-]{40,})\|Open the shared report>", text)
    assert url and "the PDF follows" in text and "Download the PDF" not in text
    files = await _file_messages(slack, channel)
    assert [(m["channel"], m.get("thread_ts"), len(m["files"])) for m in files] == [(channel, clicked, 1)]
    assert posted[0]["thread_ts"] == clicked and float(posted[0]["ts"]) < float(files[0]["ts"])
    pdf_file = files[0]["files"][0]
    assert pdf_file["mimetype"] == "application/pdf" and pdf_file["name"].endswith(".pdf")
    assert pdf_file["title"] == f"Report for {opp.name}"
    completed = (await slack.requests("files.completeUploadExternal"))[-1]
    assert parse_qs(completed["query"])["channel_id"] == [channel]  # slack_sdk sends it in the query
    content = await _downloaded(pdf_file)
    assert content.startswith(b"%PDF") and pdf_file["size"] == len(content)
    pdf_text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    assert opp.name in " ".join(pdf_text.split())
    async with slack.adapter.services.database.reader() as repo:
        links = await repo.list_report_links("acme", opp.id)
    assert len(links) == 1 and links[0].created_by == "slack:TALPHA:UANA"

    # `leadgen serve` (the app these requests go to) answers the link and its PDF.
    path = urlsplit(url[1]).path
    page = await slack.http.get(path)
    assert page.status_code == 200 and opp.name in page.text
    pdf = await slack.http.get(f"{path}/report.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert await runs.billing.balance("acme") == balance, "a report costs nothing"


async def test_a_refused_upload_leaves_the_pdfs_link_and_says_why(
    slack: Any, channel: str, sandbox_config: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A workspace with file uploads turned off (Slack: `file_uploads_disabled`): the message
    keeps the share link and gains the PDF's own link; the log says why."""
    await slack.install("TALPHA", "acme")
    opp = await _lead_with_dossier(slack)
    sandbox_config.configure(slack_file_uploads_disabled=True)
    with caplog.at_level(logging.WARNING, logger="assistant.slack_app"):
        assert (await slack.action(SHARE_REPORT, {"o": opp.id}, channel=channel)).status_code == 200
        await slack.adapter.drain()
    posted = [m for m in await slack.bot_messages(channel) if "Report for" in m.get("text", "")]
    assert len(posted) == 1 and await _file_messages(slack, channel) == []
    text = json.dumps(posted[0]["blocks"])
    url = re.search(r"<(http[^|>]*/r/[A-Za-z0-9_-]{40,})\|Open the shared report>", text)
    assert url and f"<{url[1]}/report.pdf|Download the PDF>" in text and "the PDF follows" not in text
    assert any("file_uploads_disabled" in r.getMessage() for r in caplog.records), caplog.text


async def test_asking_the_agent_to_share_a_report_posts_the_link_and_the_pdf_in_the_thread(
    slack: Any, channel: str
) -> None:
    await slack.install("TALPHA", "acme")
    runs = slack.adapter.services.runs
    flow = await runs.start("acme", num_leads=2, vertical="dentists", geography="Austin, TX")
    assert (await runs.execute("acme", flow.id)).status == "completed"
    opp = (await runs.opportunities("acme", flow.id))[0]

    text = f"share the report for {opp.name}"
    ts = await slack.user_message(channel, f"<@U0BOT> {text}")
    event = {"type": "app_mention", "user": "UANA", "text": f"<@U0BOT> {text}", "ts": ts, "channel": channel}
    assert (await slack.event(event)).status_code == 200
    await slack.adapter.drain()
    posted = [
        m
        for m in await slack.bot_messages(channel)
        if m.get("thread_ts") == ts and "Open the shared report" in json.dumps(m.get("blocks") or [])
    ]
    assert len(posted) == 1 and opp.name in posted[0]["text"]
    files = [m for m in await _file_messages(slack, channel) if m.get("thread_ts") == ts]
    assert len(files) == 1 and (await _downloaded(files[0]["files"][0])).startswith(b"%PDF")
    async with slack.adapter.services.database.reader() as repo:
        assert len(await repo.list_report_links("acme", opp.id)) == 1
