"""Users and agencies: scrypt hashes, sign-in, and bad input that writes nothing."""

from __future__ import annotations

import pytest

from assistant.agent import ChatServices
from graphs.identity import (
    IdentityError,
    add_user,
    agency_of,
    authenticate,
    hash_password,
    verify_password,
)


def test_hashes_are_salted_and_verify() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and first.startswith("scrypt$")
    assert verify_password("correct horse", first) and verify_password("correct horse", second)
    assert not verify_password("wrong horse", first)
    assert not verify_password("correct horse", None)
    assert not verify_password("correct horse", "scrypt$garbage")
    assert not verify_password("correct horse", "md5$x$y$z$a$b")


async def test_users_sign_in_to_their_agency(chat: ChatServices) -> None:
    await add_user(chat.database, "ana", "acme", "s3cret-pass")
    await add_user(chat.database, "bo", "bravo", "other-pass")
    signed = await authenticate(chat.database, "ana", "s3cret-pass")
    assert signed is not None and (signed.username, signed.agency_id) == ("ana", "acme")
    assert await authenticate(chat.database, "ana", "other-pass") is None
    assert await authenticate(chat.database, "nobody", "s3cret-pass") is None
    assert await agency_of(chat.database, "bo", local_agency="default") == "bravo"
    assert await agency_of(chat.database, "local", local_agency="default") == "default"
    assert await agency_of(chat.database, "gone", local_agency="default") is None


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("ana", "short", "at least 10"),
        ("ana", "nine-char", "at least 10"),
        ("", "long-enough", "username"),
        ("has space", "long-enough", "username"),
        ("local", "long-enough", "reserved"),
    ],
)
async def test_bad_users_are_refused(chat: ChatServices, username: str, password: str, message: str) -> None:
    with pytest.raises(IdentityError, match=message):
        await add_user(chat.database, username, "acme", password)
    assert await authenticate(chat.database, username, password) is None


async def test_a_username_is_taken_once(chat: ChatServices) -> None:
    await add_user(chat.database, "ana", "acme", "s3cret-pass")
    with pytest.raises(IdentityError, match="already taken"):
        await add_user(chat.database, "ana", "bravo", "another-pass")
    signed = await authenticate(chat.database, "ana", "s3cret-pass")
    assert signed is not None and signed.agency_id == "acme"
