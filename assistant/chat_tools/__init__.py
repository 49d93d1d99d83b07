"""The chat agent's tools, by area, and the typed artifacts they hand the faces.

Names, descriptions and parameter names are what the model sees: keep them plain. Each tool
answers `(content, artifact)` (assistant/chat_tools/context.py): JSON for the model, a typed
artifact (assistant/chat_tools/artifacts.py) for the faces.
"""

from __future__ import annotations

from langchain_core.tools import BaseTool

from assistant.chat_tools.account import (
    connect_slack_workspace,
    get_credits,
    start_upgrade,
    update_agency_profile,
)
from assistant.chat_tools.calls import get_call_outcome, place_call
from assistant.chat_tools.leads import get_dossier, list_leads, list_sources
from assistant.chat_tools.reports import revoke_report, set_report_branding, share_report
from assistant.chat_tools.runs import get_run_status, resume_run, start_lead_run

TOOLS: list[BaseTool] = [
    start_lead_run,
    get_run_status,
    list_leads,
    get_dossier,
    share_report,
    revoke_report,
    set_report_branding,
    list_sources,
    get_credits,
    start_upgrade,
    resume_run,
    place_call,
    get_call_outcome,
    update_agency_profile,
    connect_slack_workspace,
]

__all__ = ["TOOLS"]
