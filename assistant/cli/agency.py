"""`leadgen agency set|show`: the agency's profile (what it sells, to whom, on which signals).

Also home of what every agency-scoped command does first: `open_agency` validates the id, opens
the database and creates the agency on first use, with its starting credits on the local ledger.
All input is validated before the database is opened, so bad input writes nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from assistant.cli.app import AgencyOption, ExitCode, JsonOption, app, emit_json, fail, resolve_agency
from assistant.cli.parsing import (
    InvalidInput,
    parse_agency_id,
    parse_criteria,
    parse_geography,
    parse_services,
    parse_vertical,
)
from assistant.cli.tables import print_profile, profile_json
from db.signals import SIGNALS
from graphs.branding import BadBranding, check_branding

if TYPE_CHECKING:
    # The rest of the stack loads when a command runs, not when `leadgen` starts: registering
    # the commands stays cheap, and `leadgen run` draws its first screen before the pipeline
    # has loaded (assistant/cli/runs.py).
    from db import Database
    from db.models import Agency
    from graphs.account_service import AccountService
    from tools.billing.port import BillingProvider

agency_app = typer.Typer(
    help="The agency's profile: target vertical, geography and criteria.", no_args_is_help=True
)
app.add_typer(agency_app, name="agency")

T = TypeVar("T")


@dataclass
class AgencyContext:
    """The account service (its database and billing provider) and the agency, created on first use."""

    accounts: AccountService
    agency: Agency

    @property
    def database(self) -> Database:
        return self.accounts.db

    @property
    def billing(self) -> BillingProvider:
        return self.accounts.billing

    @property
    def customer_id(self) -> str:
        return self.agency.billing_customer_id


def agency_id_or_fail(agency: str | None) -> str:
    """`--agency` (or its default), validated; exit 2 when it is not a valid id."""
    try:
        # An explicit `--agency ""` is a mistake, not a request for the default agency.
        return parse_agency_id(agency if agency is not None else resolve_agency(None))
    except InvalidInput as exc:
        fail(str(exc), ExitCode.BAD_INPUT)


@asynccontextmanager
async def open_agency(agency_id: str) -> AsyncIterator[AgencyContext]:
    """The agency, created with its profile and starting credits if this is its first use.

    Starting credits (`LEADGEN_STARTING_CREDITS`) are granted on the local ledger once per
    billing customer; with Autumn the plan decides what a new customer gets.
    """
    from graphs.account_service import AccountService
    from leadgen.settings import get_settings

    async with AccountService.open(get_settings()) as accounts:
        yield AgencyContext(accounts, await accounts.open_agency(agency_id))


def run_command(work: Callable[[], Coroutine[Any, Any, T]], *, then: Callable[[], str] | None = None) -> T:
    """Run a command's async body, turning infrastructure failures into a message and exit 1.
    `then` says how to carry on after the database was locked (e.g. the `leadgen resume` to run)."""
    import asyncio

    from db.engine import DatabaseError, DatabaseLocked, is_locked_error
    from leadgen.settings import get_settings
    from tools.billing import BillingNotConfigured
    from tools.billing.port import BillingAuthFailed, BillingError

    try:
        return asyncio.run(work())
    except DatabaseLocked as exc:
        fail(f"{exc}{'; ' + then() if then else ''}.", ExitCode.FAILED)
    except BillingNotConfigured as exc:
        fail(str(exc), ExitCode.FAILED)
    except BillingAuthFailed as exc:  # its message is the sentence naming the variable to fix
        fail(str(exc), ExitCode.FAILED)
    except BillingError as exc:
        fail(f"billing failed: {exc}", ExitCode.FAILED)
    except (DatabaseError, OSError, sqlite3.OperationalError) as exc:
        settings = get_settings()
        url = settings.resolved_database_url
        if is_locked_error(exc):  # one that bypassed write_session: the checkpointer's, a read's
            locked = DatabaseLocked(locked_file(url, exc), settings.leadgen_sqlite_busy_seconds)
            fail(f"{locked}{'; ' + then() if then else ''}.", ExitCode.FAILED)
        fail(f"database error ({type(exc).__name__}) on {url.split('@')[-1]}: {exc}", ExitCode.FAILED)


def locked_file(database_url: str, exc: BaseException) -> str:
    """The SQLite file a raw lock error was about: ours (wrapped by SQLAlchemy) or, for a bare
    sqlite3 error, the checkpoint file beside it (LangGraph's saver is the one bare user)."""
    from db.engine import DatabaseError, database_file
    from graphs.checkpoints import checkpoint_location

    return (
        database_file(database_url) if isinstance(exc, DatabaseError) else checkpoint_location(database_url)
    )


@agency_app.command("set")
def set_profile(
    agency: AgencyOption = None,
    vertical: Annotated[
        str | None, typer.Option("--vertical", help="Target vertical, e.g. 'dentists'.")
    ] = None,
    geography: Annotated[
        str | None, typer.Option("--geography", help="Target geography, e.g. 'Austin, TX'.")
    ] = None,
    criteria: Annotated[
        str | None,
        typer.Option("--criteria", help=f"Comma-separated signals: {','.join(SIGNALS)}."),
    ] = None,
    services: Annotated[
        str | None,
        typer.Option("--services", help="Comma-separated services you sell, e.g. 'web design,SEO'."),
    ] = None,
    brand_name: Annotated[
        str | None,
        typer.Option(
            "--brand-name",
            help="Agency name on reports (default: the agency's name).",
            rich_help_panel="Report branding",
        ),
    ] = None,
    logo_url: Annotated[
        str | None,
        typer.Option("--logo-url", help="Logo URL (https) on reports.", rich_help_panel="Report branding"),
    ] = None,
    primary_color: Annotated[
        str | None,
        typer.Option(
            "--primary-color", help="Report colour, e.g. '#1f3a5f'.", rich_help_panel="Report branding"
        ),
    ] = None,
    accent_color: Annotated[
        str | None,
        typer.Option(
            "--accent-color",
            help="Report accent colour (button, highlights).",
            rich_help_panel="Report branding",
        ),
    ] = None,
    contact_email: Annotated[
        str | None,
        typer.Option("--contact-email", help="Contact email on reports.", rich_help_panel="Report branding"),
    ] = None,
    contact_phone: Annotated[
        str | None,
        typer.Option("--contact-phone", help="Contact phone on reports.", rich_help_panel="Report branding"),
    ] = None,
    cta_label: Annotated[
        str | None,
        typer.Option(
            "--cta-label",
            help="Call-to-action button text, e.g. 'Book a free call'.",
            rich_help_panel="Report branding",
        ),
    ] = None,
    cta_url: Annotated[
        str | None,
        typer.Option(
            "--cta-url",
            help="Call-to-action link (https, mailto: or tel:).",
            rich_help_panel="Report branding",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Set the agency's target vertical, geography, criteria, services and report branding (only
    those given change; an empty branding value removes it)."""
    agency_id = agency_id_or_fail(agency)
    brand = {
        "name": brand_name,
        "logo_url": logo_url,
        "primary_color": primary_color,
        "accent_color": accent_color,
        "contact_email": contact_email,
        "contact_phone": contact_phone,
        "cta_label": cta_label,
        "cta_url": cta_url,
    }
    given_brand = {k: v for k, v in brand.items() if v is not None}
    if vertical is None and geography is None and criteria is None and services is None and not given_brand:
        fail(
            "nothing to set: give --vertical, --geography, --criteria, --services and/or a branding option",
            ExitCode.BAD_INPUT,
        )
    try:
        fields: dict[str, Any] = {
            "target_vertical": parse_vertical(vertical) if vertical is not None else None,
            "target_geography": parse_geography(geography) if geography is not None else None,
            "criteria": parse_criteria(criteria) if criteria is not None else None,
            "services_offered": parse_services(services) if services is not None else None,
            "branding": check_branding(given_brand) if given_brand else None,
        }
    except InvalidInput as exc:
        fail(str(exc), ExitCode.BAD_INPUT)
    except BadBranding as exc:
        fail(str(exc), ExitCode.BAD_INPUT)

    async def work() -> dict[str, Any]:
        async with open_agency(agency_id) as ctx:
            return profile_json(ctx.agency, await ctx.accounts.set_profile(agency_id, **fields))

    data = run_command(work)
    if json_output:
        emit_json(data)
    else:
        print_profile(data)


@agency_app.command("show")
def show_profile(agency: AgencyOption = None, json_output: JsonOption = False) -> None:
    """Show the agency's profile."""
    agency_id = agency_id_or_fail(agency)

    async def work() -> dict[str, Any]:
        async with open_agency(agency_id) as ctx:
            return profile_json(ctx.agency, await ctx.accounts.profile(agency_id))

    data = run_command(work)
    if json_output:
        emit_json(data)
    else:
        print_profile(data)
