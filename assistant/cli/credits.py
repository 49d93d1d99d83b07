"""`leadgen credits [grant N | set N | history]`: the agency's credit balance and its ledger.

`leadgen credits` alone prints the available balance (balance minus credits held by work in
progress). `grant` and `set` are admin operations of the local ledger; with Autumn, credits are
managed in Autumn and these two refuse.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from assistant.cli.agency import agency_id_or_fail, open_agency, run_command
from assistant.cli.app import AgencyOption, ExitCode, JsonOption, app, emit_json, err, fail
from assistant.cli.parsing import InvalidInput, parse_credits
from assistant.cli.tables import print_balance, print_history

credits_app = typer.Typer(
    help="Credits: balance (default), grant, set, history.",
    invoke_without_command=True,
)
app.add_typer(credits_app, name="credits")

# Lets `credits grant -5` reach our parser (and its clear message) instead of being read as an option.
_NUMBER_ARGUMENT = {"ignore_unknown_options": True}

CreditsArgument = Annotated[
    str, typer.Argument(metavar="N", help="Whole number of credits.", show_default=False)
]


@dataclass(frozen=True)
class GroupOptions:
    """`--agency`/`--json` given before the subcommand (`leadgen credits --agency acme grant 5`)."""

    agency: str | None
    json_output: bool


def _with_group_options(
    typer_ctx: typer.Context, agency: str | None, json_output: bool
) -> tuple[str | None, bool]:
    """The subcommand's own options, falling back to those given to `credits` itself."""
    group = typer_ctx.obj if isinstance(typer_ctx.obj, GroupOptions) else GroupOptions(None, False)
    if agency is not None and group.agency is not None and agency != group.agency:
        fail(f"--agency given twice with different values ({group.agency!r}, {agency!r})", ExitCode.BAD_INPUT)
    return (agency if agency is not None else group.agency), (json_output or group.json_output)


def _balance_json(customer_id: str, balance: int) -> dict[str, Any]:
    return {"customer_id": customer_id, "balance": balance}


@contextmanager
def _refused_with_autumn() -> Iterator[None]:
    """Exit 2 when the credits are Autumn's to manage (the service says so; nothing written)."""
    from graphs.account_service import CreditsManagedElsewhere

    try:
        yield
    except CreditsManagedElsewhere as exc:
        fail(str(exc), ExitCode.BAD_INPUT)


@credits_app.callback()
def credits_balance(
    typer_ctx: typer.Context, agency: AgencyOption = None, json_output: JsonOption = False
) -> None:
    """Show the agency's available credits."""
    if typer_ctx.invoked_subcommand is not None:
        # `credits --agency acme grant 5` must grant to acme: hand the options down.
        typer_ctx.obj = GroupOptions(agency, json_output)
        return
    agency_id = agency_id_or_fail(agency)

    async def work() -> dict[str, Any]:
        async with open_agency(agency_id) as ctx:
            return _balance_json(ctx.customer_id, await ctx.accounts.balance(agency_id))

    data = run_command(work)
    if json_output:
        emit_json(data)
    else:
        print_balance(agency_id, data)


@credits_app.command("grant", context_settings=_NUMBER_ARGUMENT)
def grant(
    typer_ctx: typer.Context,
    credits: CreditsArgument,
    agency: AgencyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Add N credits to the agency's balance (local ledger)."""
    agency, json_output = _with_group_options(typer_ctx, agency, json_output)
    agency_id = agency_id_or_fail(agency)
    try:
        amount = parse_credits(credits)
    except InvalidInput as exc:
        fail(str(exc), ExitCode.BAD_INPUT)

    async def work() -> dict[str, Any]:
        async with open_agency(agency_id) as ctx:
            with _refused_with_autumn():
                balance = await ctx.accounts.grant(agency_id, amount, action="`leadgen credits grant`")
            return _balance_json(ctx.customer_id, balance)

    data = run_command(work)
    if json_output:
        emit_json(data)
    else:
        err.print(f"granted {amount} credits", highlight=False)
        print_balance(agency_id, data)


@credits_app.command("set", context_settings=_NUMBER_ARGUMENT)
def set_balance(
    typer_ctx: typer.Context,
    credits: CreditsArgument,
    agency: AgencyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Set the agency's balance to exactly N (local ledger; recorded as an adjustment)."""
    agency, json_output = _with_group_options(typer_ctx, agency, json_output)
    agency_id = agency_id_or_fail(agency)
    try:
        amount = parse_credits(credits, allow_zero=True)
    except InvalidInput as exc:
        fail(str(exc), ExitCode.BAD_INPUT)

    async def work() -> dict[str, Any]:
        async with open_agency(agency_id) as ctx:
            try:
                with _refused_with_autumn():
                    balance = await ctx.accounts.set_balance(
                        agency_id, amount, action="`leadgen credits set`"
                    )
            except ValueError as exc:  # below what open holds reserve
                fail(str(exc), ExitCode.BAD_INPUT)
            return _balance_json(ctx.customer_id, balance)

    data = run_command(work)
    if json_output:
        emit_json(data)
    else:
        print_balance(agency_id, data)


@credits_app.command("history")
def history(typer_ctx: typer.Context, agency: AgencyOption = None, json_output: JsonOption = False) -> None:
    """The agency's charges, grants and adjustments, oldest first."""
    agency, json_output = _with_group_options(typer_ctx, agency, json_output)
    agency_id = agency_id_or_fail(agency)

    async def work() -> list[dict[str, Any]]:
        async with open_agency(agency_id) as ctx:
            entries = await ctx.accounts.history(agency_id)
        return [
            {
                "kind": e.kind,
                "feature_id": e.feature_id,
                "credits": e.credits,
                "idempotency_key": e.idempotency_key,
                "created_at": e.created_at,
                "balance_after": e.balance_after,
            }
            for e in entries
        ]

    rows = run_command(work)
    if json_output:
        emit_json(rows)
        return
    print_history(rows, agency_id)
