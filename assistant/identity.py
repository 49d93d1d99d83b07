"""Who is talking to the assistant: people (`agency_users`) and the agency each acts for.

Passwords are stored as scrypt hashes in one self-describing string,
`scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>`, so the cost can be raised later without breaking
existing rows (verification reads the parameters from the string).

Without `CHAINLIT_AUTH_SECRET` the web UI has no login: everyone who reaches it is the single
local user of the default agency (`local_user`). Chainlit still needs an authenticated user to
keep chat history, so that user is handed out by a header-auth callback (see chainlit_app.py).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from db import Database
from db.models import AgencyUser

# scrypt cost: 2**14 * 8 * 128 B = 16 MiB of memory per check, ~50 ms on a laptop.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES, HASH_BYTES = 16, 32
MIN_PASSWORD_LENGTH = 8
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
LOCAL_USERNAME = "local"


class IdentityError(ValueError):
    """Bad username or password, or the username is taken."""


@dataclass(frozen=True)
class Identity:
    """A signed-in person: the Chainlit user identifier and the agency they act for."""

    username: str
    agency_id: str


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


async def add_user(database: Database, username: str, agency_id: str, password: str) -> Identity:
    """Create a user of `agency_id` (the agency is created on first use). IdentityError when the
    username is taken or the input is invalid; nothing is written then."""
    username = check_username(username)
    password_hash = hash_password(check_password(password))
    try:
        async with database.transaction() as repo:
            await repo.ensure_agency(agency_id)
            repo.session.add(AgencyUser(agency_id=agency_id, username=username, password_hash=password_hash))
            await repo.session.flush()
    except IntegrityError as exc:
        raise IdentityError(f"username {username!r} is already taken") from exc
    return Identity(username, agency_id)


async def authenticate(database: Database, username: str, password: str) -> Identity | None:
    """The user when the password matches, else None (unknown users cost the same time)."""
    async with database.reader() as repo:
        user = (
            await repo.session.execute(select(AgencyUser).where(AgencyUser.username == username.strip()))
        ).scalar_one_or_none()
    if user is None:
        verify_password(password, _DUMMY_HASH)  # same work as a real check: no user enumeration by timing
        return None
    if not verify_password(password, user.password_hash):
        return None
    return Identity(user.username, user.agency_id)


async def agency_of(database: Database, username: str, *, local_agency: str) -> str | None:
    """The agency a signed-in username acts for now (None when the user was removed)."""
    if username == LOCAL_USERNAME:
        return local_agency
    async with database.reader() as repo:
        return (
            await repo.session.execute(select(AgencyUser.agency_id).where(AgencyUser.username == username))
        ).scalar_one_or_none()


def local_user(agency_id: str) -> Identity:
    return Identity(LOCAL_USERNAME, agency_id)


_DUMMY_HASH = hash_password(secrets.token_hex(8))
