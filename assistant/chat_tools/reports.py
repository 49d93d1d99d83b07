"""Chat tools about shared reports: a link to one lead's branded report, revoking it, the
agency's branding on them."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import tool

from assistant.chat_tools.artifacts import BrandingSaved, ReportRevoked, ReportShared
from assistant.chat_tools.context import Answer, Runtime_, answer, refuse
from assistant.chat_tools.leads import resolve, unresolved
from graphs import accounts
from graphs.accounts import AccountError
from graphs.branding import BadBranding, branding_json
from graphs.lead_lookup import LeadResolution
from graphs.reports import ReportNotFound, ReportService, ShareLink


def share_json(opp_id: str, name: str, link: ShareLink) -> dict[str, Any]:
    """A share link as every face shows it (the agent's tool, the chat's and Slack's buttons)."""
    return {
        "opportunity_id": opp_id,
        "lead": {"id": opp_id, "name": name},
        "url": link.url,
        "pdf_url": f"{link.url}/report.pdf",
        "expires_at": link.expires_at.isoformat().replace("+00:00", "Z"),
        "message": f"Report for {name}: anyone with the link can open it until it expires; "
        "revoke_report ends it. `leadgen serve` answers the link.",
    }


@tool(parse_docstring=True, response_format="content_and_artifact")
async def share_report(runtime: Runtime_, lead: str) -> Answer:
    """Make a shareable link to one lead's branded report (graded website, search, reputation, conversion and presence, with evidence and how it compares with competitors), plus its PDF. Free.

    Args:
        lead: The lead as the user referred to it: its business name (e.g. "Summit Smiles"), its place in the list just shown ("the second one"), or "that lead" for the one being discussed.
    """
    ctx = runtime.context
    found = await resolve(runtime, lead)
    if found.lead is None:
        return unresolved(found, "share_report")
    opp = found.lead
    reports = ReportService(ctx.runs.db, ctx.runs.settings)
    try:
        link = await reports.share(ctx.agency_id, opp.id, created_by=ctx.user_id)
    except ReportNotFound:  # deleted between the lookup and the link
        return unresolved(LeadResolution("not_found", found.reference), "share_report")
    share = share_json(opp.id, opp.name, link)
    return answer(share, ReportShared(opp.id, opp.name, share))


@tool(parse_docstring=True, response_format="content_and_artifact")
async def revoke_report(runtime: Runtime_, lead: str) -> Answer:
    """End every share link to one lead's report.

    Args:
        lead: The lead as the user referred to it: its business name (e.g. "Summit Smiles"), its place in the list just shown ("the second one"), or "that lead" for the one being discussed.
    """
    ctx = runtime.context
    found = await resolve(runtime, lead)
    if found.lead is None:
        return unresolved(found, "revoke_report")
    opp = found.lead
    reports = ReportService(ctx.runs.db, ctx.runs.settings)
    try:
        count = await reports.revoke(ctx.agency_id, opp.id)
    except ReportNotFound:
        return unresolved(LeadResolution("not_found", found.reference), "revoke_report")
    message = f"Ended {count} share link{'' if count == 1 else 's'} to the report on {opp.name}."
    return answer(
        {
            "opportunity_id": opp.id,
            "lead": {"id": opp.id, "name": opp.name},
            "revoked": count,
            "message": message,
        },
        ReportRevoked(opp.id, opp.name, count, message),
    )


@tool(parse_docstring=True, response_format="content_and_artifact")
async def set_report_branding(
    runtime: Runtime_,
    name: str | None = None,
    logo_url: str | None = None,
    primary_color: str | None = None,
    accent_color: str | None = None,
    contact_email: str | None = None,
    contact_phone: str | None = None,
    cta_label: str | None = None,
    cta_url: str | None = None,
) -> Answer:
    """Set the agency's branding on lead reports: name, logo, colours, contact and call-to-action link. Agency admins only; only the fields given change, an empty one is removed.

    Args:
        name: The agency name shown on reports.
        logo_url: An https URL of the agency's logo.
        primary_color: The report's main colour, like #1f3a5f.
        accent_color: The accent colour (button, highlights), like #e07a1f.
        contact_email: The email address prospects can write to.
        contact_phone: The phone number prospects can call.
        cta_label: The call-to-action button text, like "Book a free call".
        cta_url: Where the button leads: an https, mailto: or tel: link.
    """
    ctx = runtime.context
    values = {
        "name": name,
        "logo_url": logo_url,
        "primary_color": primary_color,
        "accent_color": accent_color,
        "contact_email": contact_email,
        "contact_phone": contact_phone,
        "cta_label": cta_label,
        "cta_url": cta_url,
    }
    try:
        profile = await accounts.update_branding(ctx.runs.db, ctx.agency_id, ctx.user_id, values)
    except accounts.NotAllowed as exc:
        return refuse("not_allowed", str(exc))
    except (AccountError, BadBranding) as exc:
        return refuse("bad_input", str(exc))
    branding = branding_json(profile.branding, ctx.agency_id)
    return answer({"branding": branding, "message": "Report branding saved."}, BrandingSaved(branding))
