"""The billing port: what the pipeline and the calls need from whoever holds the credits.

Two adapters implement it: `LocalLedger` (credits in our database, the default) and
`AutumnBilling` (Autumn holds the balance; our database keeps the holds). Both must pass the one
contract suite in `tests/billing/`.

Units and credits: callers speak in units of a feature (1 search, 1 dossier, 1 call minute);
`FEATURE_CREDITS` turns units into credits of the single balance `atlas_credits`.

Errors::

    BillingError
    ├── InsufficientCredits      (carries the CreditCheck that failed)
    ├── UnknownHold              (settle/release of a key that was never held)
    └── BillingUnavailable       (the provider could not be reached or answered nonsense)
        └── BillingAuthFailed    (the provider refused our key: the message names the variable)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

BALANCE_FEATURE = "atlas_credits"
FEATURE_CREDITS: dict[str, int] = {
    "lead_discovery": 1,  # one Places search
    "dossier_research": 2,  # one completed dossier
    "ai_call_minutes": 1,  # one started call minute
}


def credits_for(feature_id: str, units: int = 1) -> int:
    if feature_id not in FEATURE_CREDITS:
        raise ValueError(f"unknown feature {feature_id!r}; known: {', '.join(sorted(FEATURE_CREDITS))}")
    if units < 1:
        raise ValueError(f"units must be at least 1, got {units}")
    return FEATURE_CREDITS[feature_id] * units


class BillingError(Exception):
    """Root of the billing errors."""


class InsufficientCredits(BillingError):
    def __init__(self, check: CreditCheck) -> None:
        self.check = check
        super().__init__(
            f"{check.feature_id} needs {check.required_balance} credits but {check.balance} are available "
            f"(short by {check.deficit})"
        )


class UnknownHold(BillingError):
    pass


class BillingUnavailable(BillingError):
    pass


class BillingAuthFailed(BillingUnavailable):
    """The billing provider refused our credentials; retrying cannot help, fixing the key can."""


@dataclass(frozen=True)
class CreditCheck:
    """The answer to "may this customer spend `required_balance` credits on `feature_id`?".

    `balance` is the *available* balance: provider balance minus open holds.
    """

    allowed: bool
    customer_id: str
    feature_id: str
    required_balance: int
    balance: int
    deficit: int
    atlas_feature_id: str = BALANCE_FEATURE
    usage: int | None = None
    included_usage: int | None = None
    interval: str | None = None
    unlimited: bool = False
    overage_allowed: bool = False
    plan: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def credit_info(self) -> dict[str, Any]:
        """The `credit_info` of a flow's billing block (snake_case JSON)."""
        info = asdict(self)
        info.update(info.pop("extra"))
        return info


@dataclass(frozen=True)
class Hold:
    key: str
    customer_id: str
    feature_id: str
    units: int
    credits: int
    # "settling": a charge was sent (or is about to be) and its outcome is not recorded yet
    # (AutumnBilling only; see tools/billing/autumn.py).
    status: Literal["open", "settling", "settled", "released"]


@dataclass(frozen=True)
class TrackResult:
    key: str
    credits: int
    recorded: bool  # False when the key had been recorded before (nothing charged this time)


@dataclass(frozen=True)
class LedgerEntry:
    kind: Literal["charge", "grant", "adjustment"]
    feature_id: str | None
    credits: int
    idempotency_key: str
    created_at: datetime
    balance_after: int | None = None


@runtime_checkable
class BillingProvider(Protocol):
    async def check(self, customer_id: str, feature_id: str, units: int = 1) -> CreditCheck:
        """Whether `units` of `feature_id` fit in the available balance. Never spends."""
        ...

    async def hold(self, customer_id: str, feature_id: str, key: str, units: int = 1) -> Hold:
        """Reserve the credits atomically or raise InsufficientCredits. Holding an open or
        settled key again returns that hold and reserves nothing more; holding a released key
        re-opens it (the work is being retried), reserving its credits again."""
        ...

    async def settle(self, key: str) -> TrackResult:
        """Charge an open hold (tracked with idempotency key `key`) and close it. Settling a
        settled hold returns `recorded=False`; settling a released or unknown one raises UnknownHold."""
        ...

    async def release(self, key: str) -> None:
        """Give an open hold's credits back. No-op for released holds; settled holds stay settled."""
        ...

    async def track(self, customer_id: str, feature_id: str, key: str, units: int = 1) -> TrackResult:
        """Charge now, once per key. Raises InsufficientCredits when the balance cannot cover it."""
        ...

    async def balance(self, customer_id: str) -> int:
        """Available credits (provider balance minus open holds)."""
        ...

    async def history(self, customer_id: str) -> list[LedgerEntry]:
        """Charges, grants and adjustments, oldest first."""
        ...


class CreditAdmin(BillingProvider, Protocol):
    """A provider whose credits we adjust ourselves (the local ledger). With Autumn, credits
    are granted by plans and managed in Autumn, so it is not one; `tools.billing.credit_admin`
    tells which, so no face has to name the ledger's class."""

    async def ensure_account(self, customer_id: str, starting_credits: int) -> bool:
        """Open the customer's account with `starting_credits` once; True when it was opened now."""
        ...

    async def grant(self, customer_id: str, credits: int, key: str | None = None) -> TrackResult:
        """Add credits (once per `key` when one is given)."""
        ...

    async def set_balance(self, customer_id: str, credits: int) -> int:
        """Set the balance to exactly `credits` (recorded as an adjustment); the signed change
        (0 when it already was `credits`: nothing is written then)."""
        ...
