"""`leadgen call OPPORTUNITY_ID`, `leadgen calls`, `leadgen serve`: AI phone calls to leads.

`call` places the call (at least 1 credit needed: exit 3 otherwise, and nothing is dialled), then,
on a terminal or with `--wait`, follows it until it ends and prints the minutes billed. While
waiting it polls Vapi too, so a call is finalised and metered even when Vapi cannot reach
`leadgen serve` (no LEADGEN_PUBLIC_URL); the webhook and the poll are idempotent together.
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Annotated, Any

import typer

from assistant.cli.agency import agency_id_or_fail, open_agency, run_command
from assistant.cli.app import (
    AgencyOption,
    ExitCode,
    JsonOption,
    app,
    emit_json,
    err,
    fail,
    out,
    refuse_open_doors,
)
from assistant.cli.tables import print_calls
from graphs.views import billed_text, call_json

if TYPE_CHECKING:
    # Loaded by the commands that use them (registering commands stays cheap).
    from db.models import Call
    from graphs.calls import CallError, CallService
    from tools.vapi import VapiError

POLL_SECONDS = 1.0

WaitOption = Annotated[
    bool | None,
    typer.Option("--wait/--no-wait", help="Follow the call until it ends (default: on a terminal)."),
]


def _exit_code(exc: CallError) -> ExitCode:
    from graphs.calls import (
        CallFailed,
        CallNotFound,
        CallsNotConfigured,
        CreditCheckUnavailable,
        InsufficientCallCredits,
        InvalidCallTarget,
        Unauthenticated,
    )

    if isinstance(exc, InsufficientCallCredits):
        return ExitCode.PAUSED
    if isinstance(exc, CallNotFound):
        return ExitCode.NOT_FOUND
    if isinstance(exc, InvalidCallTarget | Unauthenticated):
        return ExitCode.BAD_INPUT
    if isinstance(exc, CallsNotConfigured | CreditCheckUnavailable | CallFailed):
        return ExitCode.FAILED
    return ExitCode.FAILED


async def _follow(calls: CallService, call: Call, show: bool) -> Call:
    """Follow the call to its end (graphs/call_follower.py), with a spinner on a terminal."""
    from graphs.call_follower import WAIT_LIMIT_SECONDS, follow_call

    status: AbstractContextManager[Any] = err.status(f"call {call.status}…") if show else nullcontext()

    def poll_failed(exc: VapiError) -> None:
        err.print(f"[yellow]could not reach Vapi ({type(exc).__name__}); still waiting[/]")

    with status as spinner:

        async def changed(update: Call) -> None:
            if spinner is not None:
                spinner.update(f"call {update.status}…")

        return await follow_call(
            calls,
            call,
            on_update=changed,
            on_poll_error=poll_failed,
            poll_seconds=POLL_SECONDS,
            limit_seconds=WAIT_LIMIT_SECONDS,
        )


@app.command("call")
def call(
    opportunity_id: Annotated[str, typer.Argument(help="The lead (opportunity) to call.")],
    agency: AgencyOption = None,
    json_output: JsonOption = False,
    wait: WaitOption = None,
) -> None:
    """Place an AI phone call to a lead (1 credit per started minute; at least 1 needed)."""
    agency_id = agency_id_or_fail(agency)
    follow = wait if wait is not None else (sys.stdout.isatty() and not json_output)
    from graphs.calls import LOCAL_USER, CallError, CallService
    from leadgen.settings import get_settings
    from tools.providers import Providers

    settings = get_settings()

    async def work() -> Call:
        async with open_agency(agency_id) as ctx, Providers.from_settings(settings) as providers:
            calls = CallService(ctx.database, ctx.billing, providers, settings)
            try:
                placed = await calls.start_call(agency_id, opportunity_id.strip(), user_id=LOCAL_USER)
            except CallError as exc:
                fail(str(exc), _exit_code(exc))
            if not json_output:
                err.print(f"calling {placed.to_number} (call {placed.id})", highlight=False)
            return await _follow(calls, placed, show=not json_output) if follow else placed

    result = run_command(work)
    if json_output:
        emit_json(call_json(result))
        return
    out.print(f"call [bold]{result.id}[/]: {result.status}", highlight=False)
    if result.status == "ended":
        seconds = result.billing_seconds
        talk = f"{seconds:.0f} s" if seconds is not None else "unknown duration"
        out.print(f"{result.ended_reason or 'ended'}, {talk}, {billed_text(result)}", highlight=False)
    if result.status == "failed":
        raise typer.Exit(int(ExitCode.FAILED))


@app.command("calls")
def calls_list(agency: AgencyOption = None, json_output: JsonOption = False) -> None:
    """List the agency's calls, newest first."""
    agency_id = agency_id_or_fail(agency)

    async def work() -> list[Call]:
        from graphs.call_reads import list_calls

        async with open_agency(agency_id) as ctx:
            return await list_calls(ctx.database, agency_id)

    rows = run_command(work)
    if json_output:
        emit_json([call_json(row) for row in rows])
        return
    print_calls(rows, agency_id)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Run the HTTP server: Vapi webhooks (POST /webhooks/vapi), Slack (POST /slack/events), GET /healthz."""
    from assistant.server import serve as run_server
    from leadgen.settings import get_settings

    settings = get_settings()
    refuse_open_doors("serve", host)
    if not settings.leadgen_public_url:
        err.print(
            "[yellow]LEADGEN_PUBLIC_URL is not set: calls will not tell Vapi where to send reports "
            "(`leadgen call` still learns the outcome by polling).[/]"
        )
    if not settings.vapi_webhook_secret:
        mode = "refused" if settings.leadgen_env == "production" else "accepted without authentication"
        err.print(f"[yellow]VAPI_WEBHOOK_SECRET is not set: webhooks will be {mode}.[/]")
    run_server(settings, host=host, port=port)
