"""The listeners: each command, button and event of the Bolt app acks at once and hands its
work to the adapter (`SlackAdapter.spawn`), after checking who asked and for which agency."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from assistant import slack_blocks as kit
from assistant.cli.parsing import InvalidInput
from assistant.slack.commands import _MENTION, LEADS_COMMAND, NOT_CONNECTED, USAGE, parse_leads_command
from assistant.slack.workspaces import Place, Workspace

if TYPE_CHECKING:
    from assistant.slack.adapter import SlackAdapter

log = logging.getLogger(__name__)


def register(adapter: SlackAdapter) -> None:
    """Register the listeners of every command, action and event on the adapter's Bolt app:
    each acks at once and hands the work to `adapter.spawn`."""
    app = adapter.bolt

    @app.command(LEADS_COMMAND)
    async def on_leads(ack: Any, command: dict[str, Any]) -> None:
        try:
            request = parse_leads_command(str(command.get("text") or ""))
        except InvalidInput as exc:
            await ack(text=f"{exc}. Nothing was started.\n{USAGE}")
            return
        ws = await adapter.workspace(command.get("team_id"))
        if ws is None:
            await ack(text=NOT_CONNECTED)
            return
        await ack()
        place = Place(str(command["channel_id"]))
        response_url = str(command.get("response_url") or "") or None
        adapter.spawn(
            adapter.start_run(ws, place, str(command["user_id"]), request, response_url), name="slack-leads"
        )

    @app.action(kit.OPEN_DOSSIER)
    async def on_open_dossier(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        clicked = await _clicked(adapter, body)
        if clicked is not None:
            ws, user, place = clicked
            opp_id = str(kit.button_value(action.get("value")).get("o") or "")
            adapter.spawn(
                adapter.open_dossier(ws, user, place, body.get("trigger_id"), opp_id), name="slack-dossier"
            )

    @app.action(kit.CALL_LEAD)
    async def on_call(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        clicked = await _clicked(adapter, body)
        if clicked is not None:
            ws, user, place = clicked
            opp_id = str(kit.button_value(action.get("value")).get("o") or "")
            adapter.spawn(adapter.call_lead(ws, user, place, opp_id), name="slack-call")

    @app.action(kit.SHARE_REPORT)
    async def on_share_report(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        clicked = await _clicked(adapter, body)
        if clicked is not None:
            ws, user, place = clicked
            opp_id = str(kit.button_value(action.get("value")).get("o") or "")
            adapter.spawn(adapter.share_report(ws, user, place, opp_id), name="slack-share-report")

    @app.action(kit.CONFIRM_RUN)
    async def on_confirm_run(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        clicked = await _clicked(adapter, body)
        if clicked is not None:
            ws, user, place = clicked
            value = kit.button_value(action.get("value"))
            adapter.spawn(adapter.confirm_run(ws, user, place, value), name="slack-confirm-run")

    @app.action(re.compile(rf"^{kit.UPGRADE_PREFIX}[a-z]+$"))
    async def on_upgrade(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        clicked = await _clicked(adapter, body)
        if clicked is not None:
            ws, user, place = clicked
            plan_id = str(action["action_id"]).removeprefix(kit.UPGRADE_PREFIX)
            value = kit.button_value(action.get("value"))
            adapter.spawn(adapter.upgrade_plan(ws, user, place, plan_id, value), name="slack-upgrade")

    @app.action(kit.RESUME_RUN)
    async def on_resume(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        clicked = await _clicked(adapter, body)
        if clicked is not None:
            ws, user, place = clicked
            run_id = str(kit.button_value(action.get("value")).get("r") or "")
            paywall_ts = (body.get("container") or {}).get("message_ts")
            adapter.spawn(adapter.resume(ws, user, place, run_id, paywall_ts), name="slack-resume")

    @app.action(kit.OPEN_CHECKOUT)
    async def on_checkout_link(ack: Any) -> None:
        await ack()  # a link button: Slack opens the URL; it still expects an ack

    @app.event("app_mention")
    async def on_mention(body: dict[str, Any], event: dict[str, Any]) -> None:
        await _on_message_event(
            adapter, body, event, Place(str(event["channel"]), str(event.get("thread_ts") or event["ts"]))
        )

    @app.event("message")
    async def on_message(body: dict[str, Any], event: dict[str, Any]) -> None:
        # Only direct messages from people: channel messages reach us as app_mention, and
        # edits, joins and bot posts (our own included) carry a subtype or a bot id.
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return
        thread = event.get("thread_ts")
        await _on_message_event(
            adapter, body, event, Place(str(event["channel"]), str(thread) if thread else None)
        )

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("Slack listener failed on %s: %s", body.get("type"), error, exc_info=error)


async def _clicked(adapter: SlackAdapter, body: dict[str, Any]) -> tuple[Workspace, str, Place] | None:
    """Who clicked, for which agency, and where to answer (the clicked message's thread, or
    the channel a modal was opened from)."""
    team = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id")
    user = str((body.get("user") or {}).get("id") or "")
    ws = await adapter.workspace(team)
    if ws is None or not user:
        return None
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    thread = message.get("thread_ts") or container.get("message_ts") or message.get("ts")
    if not channel and body.get("view"):
        meta = kit.button_value((body.get("view") or {}).get("private_metadata"))
        channel, thread = meta.get("c"), meta.get("t")
    if not channel:
        return None
    return ws, user, Place(str(channel), str(thread) if thread else None)


async def _on_message_event(
    adapter: SlackAdapter, body: dict[str, Any], event: dict[str, Any], place: Place
) -> None:
    ws = await adapter.workspace(body.get("team_id") or event.get("team"))
    if ws is None or not event.get("user"):
        return
    if not await adapter.first_delivery(body):
        log.info(
            "Slack event %s redelivered (retry %s): skipped", body.get("event_id"), body.get("retry_num")
        )
        return
    text = _MENTION.sub("", str(event.get("text") or "")).strip()
    adapter.spawn(adapter.converse(ws, str(event["user"]), text, place, body), name="slack-converse")
