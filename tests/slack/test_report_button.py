"""The dossier's Share report button in Slack: a share link to the lead's branded report and its
PDF, posted where the button was; another workspace's forged click is refused and makes nothing."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from assistant.slack_blocks import OPEN_DOSSIER, SHARE_REPORT


def _buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b.get("type") == "actions" for e in b["elements"]]


async def test_share_report_button_posts_the_link_and_pdf_and_refuses_another_workspace(
    slack: Any, channel: str
) -> None:
    await slack.install("TALPHA", "acme")
    await slack.install("TBETA", "beta")
    runs = slack.adapter.services.runs
    flow = await runs.start("acme", num_leads=2, vertical="dentists", geography="Austin, TX")
    assert (await runs.execute("acme", flow.id)).status == "completed"
    record = next(
        r
        for r in [await runs.lead("acme", o.id) for o in await runs.opportunities("acme", flow.id)]
        if r and r.dossier_id
    )
    opp = record.opportunity
    balance = await runs.billing.balance("acme")

    # The dossier (a modal) carries the Share report button for its lead.
    views_before = len(await slack.requests("views.open"))
    assert (await slack.action(OPEN_DOSSIER, {"o": opp.id}, channel=channel)).status_code == 200
    await slack.adapter.drain()
    view = (await slack.requests("views.open"))[views_before]["body"]["view"]
    view = json.loads(view) if isinstance(view, str) else view
    share = next(b for b in _buttons(view["blocks"]) if b["action_id"] == SHARE_REPORT)
    assert share["text"]["text"] == "Share report" and json.loads(share["value"]) == {"o": opp.id}

    # Another workspace's forged click on that button: told "not available", nothing made.
    assert (
        await slack.action(SHARE_REPORT, share["value"], channel=channel, team="TBETA", user="UBOB")
    ).status_code == 200
    await slack.adapter.drain()
    told = [r["body"] for r in await slack.requests("chat.postEphemeral", channel)]
    assert [(t["user"], "not available" in t["text"]) for t in told] == [("UBOB", True)]
    async with slack.adapter.services.database.reader() as repo:
        assert await repo.list_report_links("acme", opp.id) == []

    # The owner's click posts the link and the PDF's link in the channel.
    assert (await slack.action(SHARE_REPORT, share["value"], channel=channel, user="UANA")).status_code == 200
    await slack.adapter.drain()
    posted = [m for m in await slack.bot_messages(channel) if "Report for" in m.get("text", "")]
    assert len(posted) == 1 and opp.name in posted[0]["text"] and "<@UANA>" in posted[0]["text"]
    text = json.dumps(posted[0]["blocks"])
    url = re.search(r"<(http[^|>]*/r/[A-Za-z0-9_-]{40,})\|Open the shared report>", text)
    assert url and f"<{url[1]}/report.pdf|Download the PDF>" in text
    async with slack.adapter.services.database.reader() as repo:
        links = await repo.list_report_links("acme", opp.id)
    assert len(links) == 1 and links[0].created_by == "slack:TALPHA:UANA"

    # `leadgen serve` (the app these requests go to) answers both links.
    path = urlsplit(url[1]).path
    page = await slack.http.get(path)
    assert page.status_code == 200 and opp.name in page.text
    pdf = await slack.http.get(f"{path}/report.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert await runs.billing.balance("acme") == balance, "a report costs nothing"


async def test_asking_the_agent_to_share_a_report_posts_the_link_in_the_thread(
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
        if m.get("thread_ts") == ts and "Download the PDF" in json.dumps(m.get("blocks") or [])
    ]
    assert len(posted) == 1 and opp.name in posted[0]["text"]
    async with slack.adapter.services.database.reader() as repo:
        assert len(await repo.list_report_links("acme", opp.id)) == 1
