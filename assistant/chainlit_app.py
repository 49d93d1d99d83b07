"""The web chat UI (Chainlit 2.12): `leadgen chat` serves it; `chainlit run` on this file works too.

What a session shows:

* the agent's streamed answer to each message (assistant/agent.py);
* for each run it started (or reopened), a live view: a progress message and a `cl.TaskList`
  with the six phases, redrawn from our tables on every event of the run (and every couple of
  seconds, so runs executed elsewhere - CLI, another tab - show too);
* when a run completes, its leads as a table with a CSV download and one button per dossier;
  a dossier opens as a message with its sources as links and a button for its scraped pages;
* a dossier's "Share report" button (and the agent's share_report) answers with a share link to
  the lead's branded report and the report attached as a PDF (free: drawn from our tables);
* when a run pauses for credits, the paywall: why (phase, feature, balance, required, deficit),
  the plans, an Upgrade button per plan and "I've upgraded - resume". While the paywall is up the
  view polls the balance; once it covers the next step a 5-second countdown is shown and the run
  resumes by itself (graphs/auto_resume.py, the rule Slack follows too; the run service decides).

Runs execute in the run service's executor (`runs.executor`: tasks of this process, or queued
jobs), not in the chat turn, so closing the tab never stops them. Reopening a thread (`on_chat_resume`) reattaches a live view to each of its runs
still running or paused (so the paywall and its buttons come back).

Sign-in: with `CHAINLIT_AUTH_SECRET` set, password login against `agency_users`
(`leadgen user add`), throttled per user and per client address (graphs/identity.py: a
throttled attempt answers 429 with the reason). Without it, no login: Chainlit's header-auth
callback hands every visitor the single local user of the default agency (history needs an
authenticated user), with a JWT secret generated once and kept in the data folder. That mode
listens on loopback only: another address is refused in production and warned about elsewhere
(assistant/exposure.py), whether started by `leadgen chat` or by `chainlit run`.

Who may upgrade, and what the paywall offers, is graphs/accounts.py's to say (`upgrade_offer`).

This file is what Chainlit loads (by path, not as a module). Chainlit registers callbacks by
decorator when they are imported, so it imports the modules of assistant/chainlit_ui/ that hold
them. All of them import lifecycle, so the process is set up (log level, port, files folder,
sign-in mode and its secret) before any other callback is registered:

* lifecycle: start-up and shutdown, sign-in, the data layer and element storage;
* session: binding a browser session to its user and agency;
* messages: starting and reopening a thread, each message and `render_turn` of typed artifacts;
* runs: the live view of a run (`RunView`, `watch`) and its paywall;
* leads: leads, dossiers, pages and report links, and their buttons;
* calls: the Call buttons and `follow_call_in_chat`;
* choices: questions answered by a button (`send_choice`/`close_choice`), `confirm_run`,
  upgrades and the paywall's resume.
"""

from __future__ import annotations

from assistant.chainlit_ui.calls import follow_call_in_chat, on_call_lead, on_confirm_call
from assistant.chainlit_ui.choices import (
    close_choice,
    on_confirm_run,
    on_dismiss,
    on_resume_paused,
    on_upgrade,
    send_choice,
)
from assistant.chainlit_ui.leads import (
    on_open_dossier,
    on_revoke_report,
    on_share_report,
    on_show_lead_pages,
    on_show_pages,
    send_dossier,
    send_leads,
    send_pages,
    send_report_share,
)
from assistant.chainlit_ui.lifecycle import STATE, data_layer, shutdown, startup
from assistant.chainlit_ui.messages import (
    on_chat_end,
    on_chat_resume,
    on_chat_start,
    on_message,
    render_turn,
    starters,
)
from assistant.chainlit_ui.runs import RunView, SessionTasks, watch
from assistant.chainlit_ui.session import bind_session, chat_context, ensure_bound, session_agency

__all__ = [
    "STATE",
    "RunView",
    "SessionTasks",
    "bind_session",
    "chat_context",
    "close_choice",
    "data_layer",
    "ensure_bound",
    "follow_call_in_chat",
    "on_call_lead",
    "on_chat_end",
    "on_chat_resume",
    "on_chat_start",
    "on_confirm_call",
    "on_confirm_run",
    "on_dismiss",
    "on_message",
    "on_open_dossier",
    "on_resume_paused",
    "on_revoke_report",
    "on_share_report",
    "on_show_lead_pages",
    "on_show_pages",
    "on_upgrade",
    "render_turn",
    "send_choice",
    "send_dossier",
    "send_leads",
    "send_pages",
    "send_report_share",
    "session_agency",
    "shutdown",
    "starters",
    "startup",
    "watch",
]
