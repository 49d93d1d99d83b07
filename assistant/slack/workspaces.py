"""Who and where: a Slack team and the agency it acts for, the place to answer, the ids our rows
and the agent's threads carry for Slack users and threads."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient

from graphs import accounts


@dataclass(frozen=True)
class Workspace:
    """A Slack team and the agency it acts for; `client` posts with the team's bot token."""

    team_id: str
    agency_id: str
    client: AsyncWebClient


@dataclass(frozen=True)
class Place:
    """Where to answer: a channel, and the thread to reply in (None: the channel itself)."""

    channel: str
    thread_ts: str | None = None


def slack_user(team_id: str, user_id: str) -> str:
    """The user id our rows carry (flows, calls) for a Slack user; its role comes from
    graphs/accounts.py (a member unless linked to an admin user)."""
    return accounts.slack_actor_id(team_id, user_id)


def conversation_id(team_id: str, channel: str, thread_ts: str | None) -> str:
    """The agent's thread id: one conversation per Slack thread (`main` for a DM's top level)."""
    return f"slack:{team_id}:{channel}:{thread_ts or 'main'}"
