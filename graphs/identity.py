"""Who is talking to the assistant: people (`agency_users`) and the agency each acts for.

Passwords are stored as scrypt hashes in one self-describing string,
`scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>`, so the cost can be raised later without breaking
existing rows (verification reads the parameters from the string).

Without `CHAINLIT_AUTH_SECRET` the web UI has no login: everyone who reaches it is the single
local user of the default agency (`LOCAL_USERNAME`, an admin: graphs/accounts.py). Chainlit
still needs an authenticated user to keep chat history, so that user is handed out by a
header-auth callback (see assistant/chainlit_ui/lifecycle.py).

The faces ask this module (a service: it decides who is who); none of them reads
`agency_users` or `sign_in_failures` itself.

Roles (`admin` | `member`) and what each may do live in graphs/accounts.py; a user is made with
one (`add_user(..., role=)`, default member).

Sign-in throttle. Failed password attempts are recorded in `sign_in_failures` (shared by every
process of the web UI) and counted over a sliding window, per username (case-insensitive,
known or not) and per client address. Once either count reaches its limit
(LEADGEN_SIGNIN_MAX_FAILURES_PER_USER, default 5; ..._PER_ADDRESS, default 20; window
LEADGEN_SIGNIN_WINDOW_SECONDS, default 900) `authenticate` raises `SignInThrottled` without
checking the password, until enough failures leave the window. Throttled attempts are not
recorded (a flood cannot extend the lock for ever; each still costs the attacker a round trip
and nothing else). A successful sign-in clears the user's failures. The log names the username
and address, never the password.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from db import Database
from db.base import utcnow
from db.models import AgencyUser, SignInFailure
from graphs.accounts import LOCAL_USERNAME, Role, check_role
from leadgen.settings import Settings, get_settings

log = logging.getLogger(__name__)

# scrypt cost: 2**14 * 8 * 128 B = 16 MiB of memory per check, ~50 ms on a laptop.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES, HASH_BYTES = 16, 32
MIN_PASSWORD_LENGTH = 10
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
MAX_ADDRESS_LENGTH = 64

Clock = Callable[[], datetime]


class IdentityError(ValueError):
    """Bad username or password, or the username is taken."""


class SignInThrottled(Exception):
    """Too many failed sign-ins for this username or from this address; `retry_after` seconds
    until the next attempt is checked."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        minutes = max(1, math.ceil(retry_after / 60))
        super().__init__(
            f"Too many failed sign-in attempts for this account or from this address; "
            f"try again in {minutes} minute{'s' if minutes != 1 else ''}."
        )


@dataclass(frozen=True)
class SignInLimits:
    window_seconds: float
    per_user: int
    per_address: int

    @classmethod
    def from_settings(cls, settings: Settings) -> SignInLimits:
        return cls(
            settings.leadgen_signin_window_seconds,
            settings.leadgen_signin_max_failures_per_user,
            settings.leadgen_signin_max_failures_per_address,
        )


@dataclass(frozen=True)
class Identity:
    """A signed-in person: the Chainlit user identifier, the agency they act for, their role."""

    username: str
    agency_id: str
    role: Role = "member"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=HASH_BYTES
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str | None) -> bool:
    """True when `password` matches the stored hash (constant-time compare)."""
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected) // 2,
            maxmem=256 * 1024 * 1024,
        )
    except ValueError:  # malformed row: never a match
        return False
    return hmac.compare_digest(digest.hex(), expected)


def check_username(username: str) -> str:
    username = username.strip()
    if not USERNAME.match(username):
        raise IdentityError(
            "username must be 1-100 characters: letters, digits and . _ @ - (starting with a letter or digit)"
        )
    if username == LOCAL_USERNAME:
        raise IdentityError(f"{LOCAL_USERNAME!r} is reserved for the no-login local user")
    return username


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise IdentityError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    return password


async def add_user(
    database: Database, username: str, agency_id: str, password: str, *, role: str = "member"
) -> Identity:
    """Create a user of `agency_id` (the agency is created on first use) with `role`.
    IdentityError when the username is taken or the input is invalid; nothing is written then."""
    username = check_username(username)
    try:
        checked_role = check_role(role)
    except ValueError as exc:
        raise IdentityError(str(exc)) from exc
    password_hash = hash_password(check_password(password))
    try:
        async with database.transaction() as repo:
            await repo.ensure_agency(agency_id)
            repo.session.add(
                AgencyUser(
                    agency_id=agency_id, username=username, password_hash=password_hash, role=checked_role
                )
            )
            await repo.session.flush()
    except IntegrityError as exc:
        raise IdentityError(f"username {username!r} is already taken") from exc
    return Identity(username, agency_id, checked_role)


def _throttle_name(username: str) -> str:
    return username.strip().lower()[:200]


async def _throttled_for(
    database: Database, name: str, address: str | None, limits: SignInLimits, now: datetime
) -> int | None:
    """Seconds until an attempt is checked again, or None when it may be checked now."""
    since = now - timedelta(seconds=limits.window_seconds)
    waits: list[float] = []
    async with database.reader() as repo:
        for column, value, limit in (
            (SignInFailure.username, name, limits.per_user),
            (SignInFailure.address, address, limits.per_address),
        ):
            if value is None:
                continue
            count, oldest = (
                await repo.session.execute(
                    select(func.count(), func.min(SignInFailure.failed_at)).where(
                        column == value, SignInFailure.failed_at > since
                    )
                )
            ).one()
            if count >= limit and oldest is not None:
                oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
                waits.append((oldest - since).total_seconds())
    return max(1, math.ceil(max(waits))) if waits else None


async def authenticate(
    database: Database,
    username: str,
    password: str,
    *,
    address: str | None = None,
    limits: SignInLimits | None = None,
    clock: Clock = utcnow,
) -> Identity | None:
    """The user when the password matches, else None (unknown users cost the same time).
    SignInThrottled, without checking the password, while this username or `address` (the
    client's) has too many recent failures."""
    limits = limits or SignInLimits.from_settings(get_settings())
    name = _throttle_name(username)
    address = address[:MAX_ADDRESS_LENGTH] if address else None
    now = clock()
    retry_after = await _throttled_for(database, name, address, limits, now)
    if retry_after is not None:
        log.warning(
            "sign-in throttled for user %r from %s (retry in %d s)", name, address or "?", retry_after
        )
        raise SignInThrottled(retry_after)
    async with database.reader() as repo:
        user = (
            await repo.session.execute(select(AgencyUser).where(AgencyUser.username == username.strip()))
        ).scalar_one_or_none()
    if user is None:
        verify_password(password, _DUMMY_HASH)  # same work as a real check: no user enumeration by timing
    if user is None or not verify_password(password, user.password_hash):
        await _record_failure(database, name, address, limits, now)
        return None
    async with database.transaction() as repo:
        await repo.session.execute(delete(SignInFailure).where(SignInFailure.username == name))
    role: Role = "admin" if user.role == "admin" else "member"
    return Identity(user.username, user.agency_id, role)


async def _record_failure(
    database: Database, name: str, address: str | None, limits: SignInLimits, now: datetime
) -> None:
    since = now - timedelta(seconds=limits.window_seconds)
    async with database.transaction() as repo:
        # Rows older than the window count for nothing any more: the table stays small.
        await repo.session.execute(delete(SignInFailure).where(SignInFailure.failed_at <= since))
        repo.session.add(SignInFailure(username=name, address=address, failed_at=now))
        await repo.session.flush()
        failures = (
            await repo.session.execute(
                select(func.count()).where(SignInFailure.username == name, SignInFailure.failed_at > since)
            )
        ).scalar_one()
    log.warning(
        "sign-in failed for user %r from %s (%d of %d allowed in %d s)",
        name,
        address or "?",
        failures,
        limits.per_user,
        limits.window_seconds,
    )


async def agency_of(database: Database, username: str, *, local_agency: str) -> str | None:
    """The agency a signed-in username acts for now (None when the user was removed)."""
    if username == LOCAL_USERNAME:
        return local_agency
    async with database.reader() as repo:
        return (
            await repo.session.execute(select(AgencyUser.agency_id).where(AgencyUser.username == username))
        ).scalar_one_or_none()


_DUMMY_HASH = hash_password(secrets.token_hex(8))
