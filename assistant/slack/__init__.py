"""The Slack adapter (slack-bolt, async): the same agent, runs and calls as the web UI, in Slack.

`leadgen serve` mounts it at `POST /slack/events` (HTTP mode: Bolt verifies every request's
signature with SLACK_SIGNING_SECRET and answers 401 to a bad or stale one). With SLACK_APP_TOKEN
set it also connects over Socket Mode (no public URL needed). The bot posts with
`tools.slack.slack_web_client(settings)`, so SLACK_BOT_TOKEN or the sandbox's Slack Web API.

What it does:

* `/leads 10 dentists in Austin, TX` starts a run (validated like the CLI; bad input gets an
  ephemeral explanation and writes nothing) and posts ONE message that is edited as the run
  advances (throttled: at most one edit a second, progress-only edits less often); when the run
  completes the same message shows the top leads with score, fit reason and per-lead Dossier
  (a modal) and Call buttons. A dossier's Share report button posts a share link to the lead's
  branded report and uploads its PDF as a file there (Slack's external upload:
  `files_upload_v2`), as the agent's share_report does; when the upload fails the message links
  the PDF (`/r/<token>/report.pdf`) instead.
* `@Atlas ...` mentions and direct messages go to the chat agent (assistant/agent.py); a Slack
  thread is one conversation (`slack:{team}:{channel}:{thread_ts}`), answered in the thread, and
  the rich results of its tools (a started run, leads, a dossier, a checkout) are drawn as blocks.
* A run paused for credits gets a paywall reply (phase, feature, balance, required, deficit) with
  an Upgrade button per plan where upgrading is possible (self-service grants through
  `assistant.agent.upgrade`, with the same idempotency key as the web UI's plan choice; Autumn:
  a checkout link; otherwise no buttons, and the reply says to ask the administrator) and Resume. Resume
  goes through `assistant.agent.resume_flow` -> `RunService.resume_if_funded`, which decides
  under the flow's lease, so a run started in the web UI or the CLI resumes from Slack and the
  reverse, once. Like the web UI, a watched paused run resumes by itself once the balance covers
  its next step, by the same rule (graphs/auto_resume.py).

Tenancy. A workspace (team id) maps to one agency through `slack_installs`. Single-workspace
set-up outside production: while NO workspace is installed, the first team that contacts us is
connected to the default agency (LEADGEN_AGENCY) and recorded; every other unknown team is
refused from then on. In production nothing connects itself: an operator (`leadgen slack
install`) or an agency admin does.

Roles (graphs/accounts.py): a Slack user is a member of the workspace's agency unless linked to
an admin user (`leadgen user link-slack`). The paywall shows Upgrade buttons only where this
installation lets anyone upgrade (a checkout, or free self-service credits), and a member's
click on one is refused in an ephemeral reply that says to ask the administrator.
Button values carry ids only, and every id is looked up within the clicking team's agency, so a
forged value reads as "not available".

Slack redelivers an event it thinks we missed (same `event_id`, `X-Slack-Retry-Num`); each event
is recorded in the webhook inbox (provider "slack") before it is processed, so it runs once.

Everything slow happens after the ack: listeners ack (Bolt answers Slack at once, well within its
3 s) and hand the work to `SlackAdapter.spawn` (graphs/executors.py `BackgroundTasks`), whose
tasks are awaited on shutdown.

The package, along its seams: `commands.py` (`/leads` parsing and the face's words),
`workspaces.py` (team, agency, place), `run_watcher.py` (the live run message), `adapter.py`
(`SlackAdapter`: the work), `listeners.py` (the Bolt listeners), `serving.py` (the route, the
lifespan, Socket Mode). `assistant.slack_app` re-exports these names (tests and `leadgen serve`
import it).
"""

from __future__ import annotations

from assistant.slack.adapter import SlackAdapter
from assistant.slack.commands import (
    CANNOT_POST,
    LEADS_COMMAND,
    NOT_CONNECTED,
    USAGE,
    LeadsRequest,
    parse_leads_command,
)
from assistant.slack.listeners import register
from assistant.slack.run_watcher import RunWatcher
from assistant.slack.serving import (
    MAX_BODY_BYTES,
    SLACK_EVENTS_PATH,
    SocketMode,
    slack_configured,
    slack_events,
    slack_lifespan,
    slack_routes,
)
from assistant.slack.workspaces import Place, Workspace, conversation_id, slack_user

__all__ = [
    "CANNOT_POST",
    "LEADS_COMMAND",
    "MAX_BODY_BYTES",
    "NOT_CONNECTED",
    "SLACK_EVENTS_PATH",
    "USAGE",
    "LeadsRequest",
    "Place",
    "RunWatcher",
    "SlackAdapter",
    "SocketMode",
    "Workspace",
    "conversation_id",
    "parse_leads_command",
    "register",
    "slack_configured",
    "slack_events",
    "slack_lifespan",
    "slack_routes",
    "slack_user",
]
