"""Block Kit rendering for the Slack adapter: pure functions from our JSON shapes to blocks.

Everything here takes the dicts of graphs/views.py (run, lead, dossier) or of the agent's tools
(paywall, credit gap) and returns Slack blocks, so a field reads the same in Slack as in the web
UI and the CLI. No I/O.

Buttons carry ids only, as compact JSON in `value` (Slack limits it to 2000 characters); the
adapter re-checks every id against the clicking workspace's agency, so a forged value can name
another agency's lead and still see nothing.

Slack limits kept in mind: 50 blocks per message, 3000 characters per section text, 24 per modal
title, 75 per button text.
"""

from __future__ import annotations

import json
from typing import Any

from assistant.chat_tools.artifacts import RunNeedsConfirmation
from db.statuses import FlowStatus
from graphs.run_snapshot import PhaseView, RunSnapshot
from graphs.views import run_notes
from graphs.wording import phase_label, run_status_label

# Action ids (the adapter registers a listener for each).
OPEN_DOSSIER = "open_dossier"
CALL_LEAD = "call_lead"
SHARE_REPORT = "share_report"
CONFIRM_RUN = "confirm_run"  # a large or refreshed run the agent prepared
RESUME_RUN = "resume_run"
UPGRADE_PREFIX = "upgrade_"  # + plan id: one action id per button in the same actions block
OPEN_CHECKOUT = "open_checkout"  # a link button: Slack still sends block_actions, which we ack

TOP_LEADS = 10
SECTION_LIMIT = 3000
PHASE_ICONS = {"pending": "⚪", "running": "⏳", "complete": "✅", "error": "❌"}
Block = dict[str, Any]


def cut(text: str, limit: int = SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: Any) -> str:
    """Text from our data (business names, dossiers) shown as mrkdwn: Slack's three control
    characters escaped, so a name like `<!channel>` cannot ping anyone."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text)}}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": cut(text)}]}


def button(text: str, action_id: str, value: dict[str, Any], *, style: str | None = None) -> Block:
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": cut(text, 75)},
        "action_id": action_id,
        "value": json.dumps(value, separators=(",", ":")),
    }
    if style:
        element["style"] = style
    return element


def link_button(text: str, url: str) -> Block:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": cut(text, 75)},
        "action_id": OPEN_CHECKOUT,
        "url": url,
        "style": "primary",
    }


def button_value(raw: str | None) -> dict[str, Any]:
    """A button's value back as a dict ({} when it is not our JSON: a forged or stale button)."""
    try:
        value = json.loads(raw or "")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def mrkdwn(text: str) -> str:
    """The agent writes Markdown; Slack's mrkdwn uses single asterisks for bold."""
    return text.replace("**", "*")


# -- runs ----------------------------------------------------------------------------------


def progress_bar(progress: float) -> str:
    pct = max(0, min(100, round(progress * 100)))
    return "█" * (pct // 10) + "░" * (10 - pct // 10) + f" {pct}%"


def run_title(snap: RunSnapshot) -> str:
    return f"Run {snap.id[:8]} · {snap.campaign_label}"


def phase_line(phase: PhaseView) -> str:
    extra = ""
    if phase.status == "running":
        extra = f" {round(phase.progress * 100)}%"
    elif phase.status == "complete" and phase.duration_ms is not None:
        extra = f" ({phase.duration_ms / 1000:.1f} s)"
    return f"{PHASE_ICONS.get(phase.status, '')} {phase_label(phase.name)}{extra}"


def run_text(snap: RunSnapshot) -> str:
    """The notification text of the run message (what Slack shows where blocks are not drawn)."""
    return f"{run_title(snap)}: {run_status_label(snap.status)}, {round(snap.progress * 100)}%"


def run_blocks(snap: RunSnapshot) -> list[Block]:
    """The run message: title, status and progress, the six phases, counts, the last event;
    once the run completed (and its leads were read), its top leads with their buttons."""
    counts = snap.counts
    blocks: list[Block] = [
        section(
            f"*{escape(run_title(snap))}*\n*{run_status_label(snap.status)}* · `{progress_bar(snap.progress)}`"
        ),
        section("\n".join(phase_line(p) for p in snap.phases)),
        context(
            f"Leads: {counts.opportunities} · ready: {counts.ready} · audits: "
            # audits_queued: every audit queued for the run (finished ones included)
            f"{counts.audits_completed}/{counts.audits_queued} done, {counts.audits_failed} failed"
            f" · run id `{snap.id}`"
        ),
    ]
    notes = run_notes(snap.run)
    if notes:
        blocks.append(context("\n".join(escape(note) for note in notes)))
    event = snap.last_event
    if event is not None and snap.status != FlowStatus.COMPLETED:
        blocks.append(context(f"Last event: {escape(event.message or event.type or '')}"))
    if snap.status == FlowStatus.ERROR and snap.error:
        blocks.append(section(f"*The run failed:* {escape(snap.error)}"))
    if snap.status == FlowStatus.COMPLETED and snap.leads is not None:
        blocks.extend(leads_blocks(snap.id, snap.lead_list))
    return blocks


def lead_line(rank: int, lead: dict[str, Any]) -> str:
    name = escape(lead["name"])
    if lead.get("website"):
        name = f"<{lead['website']}|{name}>"
    signals = ", ".join(lead["signals"]) or "no signals"
    lines = [
        f"*{rank}. {name}* · opportunity score *{lead.get('opportunity_score', 0):.0f}* · {lead['status']}"
        f"{' (reused dossier)' if lead.get('dossier_reused') else ''} · {signals}",
    ]
    if lead.get("fit_reason"):
        lines.append(f"_{escape(lead['fit_reason'])}_")
    return "\n".join(lines)


def lead_buttons(lead: dict[str, Any]) -> list[Block]:
    buttons: list[Block] = []
    if lead.get("dossier_id"):
        buttons.append(button("Dossier", OPEN_DOSSIER, {"o": lead["id"]}))
    if lead.get("phone"):
        buttons.append(button("Call", CALL_LEAD, {"o": lead["id"]}))
    return buttons


def leads_blocks(run_id: str, leads: list[dict[str, Any]], *, top: int = TOP_LEADS) -> list[Block]:
    """The top leads (already ranked), each with its Dossier and Call buttons."""
    if not leads:
        return [section("_No leads were found._")]
    blocks: list[Block] = [
        {"type": "divider"},
        section(f"*Top leads* ({min(top, len(leads))} of {len(leads)})"),
    ]
    for rank, lead in enumerate(leads[:top], 1):
        blocks.append(section(lead_line(rank, lead)))
        buttons = lead_buttons(lead)
        if buttons:
            blocks.append({"type": "actions", "block_id": f"lead:{lead['id']}", "elements": buttons})
    if len(leads) > top:
        blocks.append(context(f"{len(leads) - top} more: `leadgen leads {run_id}`"))
    return blocks


# -- dossiers ------------------------------------------------------------------------------


def dossier_blocks(dossier: dict[str, Any], lead: dict[str, Any] | None) -> list[Block]:
    name = escape(lead["name"] if lead else dossier["opportunity_id"])
    blocks: list[Block] = [section(f"*Dossier · {name}*\n{escape(dossier['summary'])}")]
    if dossier.get("findings"):
        lines = [f"• *{escape(f['title'])}*: {escape(f['evidence'])}" for f in dossier["findings"]]
        text = "*Findings*\n" + "\n".join(lines)
        blocks.append(section(text if len(text) <= 2900 else text[:2899] + "…"))
    if dossier["gaps"]:
        blocks.append(section("*Gaps*\n" + "\n".join(f"• {escape(g)}" for g in dossier["gaps"])))
    if dossier["talking_points"]:
        blocks.append(
            section("*Talking points*\n" + "\n".join(f"• {escape(p)}" for p in dossier["talking_points"]))
        )
    if dossier["sources"]:
        links = [f"• <{s['url']}|{escape(s.get('title') or s['url'])}>" for s in dossier["sources"]]
        blocks.append(section("*Sources*\n" + "\n".join(links)))
    if dossier.get("fit_reason"):
        blocks.append(context(f"Fit: {escape(dossier['fit_reason'])}"))
    buttons = [button("Share report", SHARE_REPORT, {"o": dossier["opportunity_id"]})]
    if lead and lead.get("phone"):
        buttons.append(button("Call this lead", CALL_LEAD, {"o": lead["id"]}))
    blocks.append({"type": "actions", "elements": buttons})
    return blocks


def share_text(share: dict[str, Any]) -> str:
    return f"Report for {share['lead']['name']}: {share['url']}"


def share_blocks(share: dict[str, Any], *, pdf_attached: bool = False) -> list[Block]:
    """A share link to a lead's report, and the same report as a PDF: uploaded as a file right
    after this message (`pdf_attached`), else the link's /report.pdf to download."""
    name = escape(share["lead"]["name"])
    pdf = "the PDF follows" if pdf_attached else f"<{share['pdf_url']}|Download the PDF>"
    return [
        section(f"*Report for {name}*\n<{share['url']}|Open the shared report> · {pdf}"),
        context(
            f"Anyone with the link can open it until {str(share['expires_at'])[:10]}; "
            "ask me to revoke it to end it sooner."
        ),
    ]


def dossier_modal(dossier: dict[str, Any], lead: dict[str, Any] | None) -> dict[str, Any]:
    """The dossier as a modal (views.open); buttons inside a modal arrive as block_actions too."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Lead dossier"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": dossier_blocks(dossier, lead),
    }


# -- paywalls ------------------------------------------------------------------------------


def plan_buttons(plans: list[dict[str, Any]], value: dict[str, Any]) -> list[Block]:
    return [
        button(
            f"Upgrade: {p['name']} (+{p['credits']})", f"{UPGRADE_PREFIX}{p['id']}", {**value, "p": p["id"]}
        )
        for p in plans
    ]


def run_paywall_blocks(
    run_id: str,
    block: dict[str, Any],
    gap: dict[str, int],
    plans: list[dict[str, Any]],
    pause_key: str,
    note: str | None = None,
) -> list[Block]:
    """Why the run paused (phase, feature, balance, required, deficit), the plans (none when
    this installation adds credits through its administrator), how credits are added, Resume."""
    plan_list = " · ".join(f"*{p['name']}* (+{p['credits']} credits)" for p in plans)
    text = (
        f"*Run {run_id[:8]} paused: out of credits*\n"
        f"Phase *{block.get('phase', '?')}* needs *{block.get('feature_id', '?')}*.\n"
        f"Balance: *{gap['balance']}* · required: *{gap['required_balance']}* · "
        f"short by: *{gap['deficit']}*" + (f"\nPlans: {plan_list}" if plans else "")
    )
    if note:
        text += f"\n{escape(note)}"
    elements = plan_buttons(plans, {"r": run_id, "k": pause_key})
    elements.append(button("I've upgraded: resume", RESUME_RUN, {"r": run_id}, style="primary"))
    return [
        section(text),
        {"type": "actions", "block_id": f"paywall:{run_id}", "elements": elements},
        context(
            "Nothing is charged twice: once your balance covers the next step the run resumes by "
            "itself, or press Resume."
        ),
    ]


def call_paywall_blocks(
    lead_name: str | None,
    paywall: dict[str, Any],
    plans: list[dict[str, Any]],
    nonce: str,
    note: str | None = None,
) -> list[Block]:
    who = escape(lead_name) if lead_name else "this lead"
    text = (
        f"*Not enough credits to call {who}*\n"
        f"Balance: *{paywall.get('balance')}* · required: *{paywall.get('required_balance')}* · "
        f"short by: *{paywall.get('deficit')}* (1 credit per started minute)"
    )
    if note:
        text += f"\n{escape(note)}"
    blocks = [section(text)]
    if plans:  # Slack refuses an actions block without elements
        blocks.append(
            {
                "type": "actions",
                "block_id": f"call-paywall:{nonce}",
                "elements": plan_buttons(plans, {"k": nonce}),
            }
        )
    return blocks


def checkout_blocks(message: str, url: str) -> list[Block]:
    return [
        section(escape(message)),
        {"type": "actions", "elements": [link_button("Open the checkout", url)]},
    ]


def call_confirm_blocks(message: str, lead: dict[str, Any]) -> list[dict[str, Any]]:
    """A prepared call: what it costs, and the button that places it."""
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": message}},
        {"type": "actions", "elements": [button(f"Call {lead['name']}"[:75], CALL_LEAD, {"o": lead["id"]})]},
    ]


def run_confirm_blocks(prepared: RunNeedsConfirmation) -> list[Block]:
    """A large or refreshed run: what it may cost, and the button that starts it (once: the
    run's id is chosen already and rides in the value)."""
    value = {
        "r": prepared.run_id,
        "n": prepared.num_leads,
        "v": prepared.vertical,
        "g": prepared.geography,
        "f": prepared.refresh,
    }
    return [
        section(escape(prepared.message)),
        {"type": "actions", "elements": [button("Start the run", CONFIRM_RUN, value, style="primary")]},
    ]


def upgrade_confirm_blocks(message: str, plan: dict[str, Any], tool_call_id: str) -> list[Block]:
    """A free upgrade the agent prepared: granted by this button, once per that tool call."""
    return [
        section(escape(message)),
        {"type": "actions", "elements": plan_buttons([plan], {"t": tool_call_id})},
    ]
