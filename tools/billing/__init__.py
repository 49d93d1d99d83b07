"""Billing: the port (`tools.billing.port`) and the adapter the settings choose.

`billing_for(settings, engine)` is the one place that decides who holds the credits: Autumn when
`AUTUMN_SECRET_KEY` is set, else our own ledger (`LocalLedger`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, cast

from tools.billing.local import LocalLedger
from tools.billing.port import BillingError, BillingProvider, CreditAdmin

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from leadgen.settings import Settings


class BillingNotConfigured(BillingError):
    """The settings ask for a billing adapter this installation does not have."""


def billing_for(settings: Settings, engine: AsyncEngine) -> BillingProvider:
    """The billing provider the settings ask for. Both adapters keep holds in `engine`'s database."""
    if settings.uses_autumn:
        # Imported lazily: the Autumn adapter pulls in its HTTP client, which the local
        # ledger never needs.
        try:
            autumn = importlib.import_module("tools.billing.autumn")
        except ModuleNotFoundError as exc:
            if exc.name != "tools.billing.autumn":
                raise  # the adapter exists but one of *its* imports is missing: show that
            raise BillingNotConfigured(
                "AUTUMN_SECRET_KEY is set but this installation has no Autumn adapter "
                "(tools/billing/autumn.py); unset AUTUMN_SECRET_KEY to use the local credit ledger."
            ) from exc
        return cast(BillingProvider, autumn.AutumnBilling(settings=settings, engine=engine))
    return LocalLedger(engine)


def credit_admin(billing: BillingProvider) -> CreditAdmin | None:
    """The provider's credit administration (starting credits, grants, set balance) when we keep
    the credits ourselves; None when the provider manages them (Autumn: plans grant credits)."""
    return billing if isinstance(billing, LocalLedger) else None


__all__ = ["BillingNotConfigured", "CreditAdmin", "LocalLedger", "billing_for", "credit_admin"]
