"""The file content store: content-addressed, idempotent, atomic."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from db.content_store import ContentNotFound, ContentStore, FileContentStore


async def test_put_get_round_trip_and_ref(tmp_path: Path) -> None:
    store = FileContentStore(tmp_path / "content")
    text = "# Café Dental\n\nWe fix teeth — fast. 😁\n"
    ref = await store.put(text)
    data = text.encode("utf-8")
    assert ref.sha256 == hashlib.sha256(data).hexdigest()
    assert ref.key == ref.sha256
    assert ref.length == len(data)  # bytes, not characters
    assert await store.get(ref.key) == text
    assert isinstance(store, ContentStore)


async def test_put_is_idempotent_one_file_per_text(tmp_path: Path) -> None:
    store = FileContentStore(tmp_path)
    first = await store.put("same page")
    path = store.path_for(first.key)
    mtime = path.stat().st_mtime_ns
    second = await store.put("same page")
    assert first == second
    assert path.stat().st_mtime_ns == mtime  # not rewritten
    other = await store.put("another page")
    assert other.key != first.key
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert files == sorted([path, store.path_for(other.key)])


async def test_concurrent_puts_of_the_same_text_leave_one_complete_file(tmp_path: Path) -> None:
    store = FileContentStore(tmp_path)
    text = "x" * 2_000_000
    refs = await asyncio.gather(*(store.put(text) for _ in range(8)))
    assert len(set(refs)) == 1
    assert await store.get(refs[0].key) == text
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [f"{refs[0].key}.md"]


async def test_a_failed_write_leaves_neither_file_nor_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileContentStore(tmp_path)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        await store.put("page")
    monkeypatch.undo()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    ref = await store.put("page")  # and the next attempt works
    assert await store.get(ref.key) == "page"


async def test_missing_and_malformed_keys_are_not_found(tmp_path: Path) -> None:
    store = FileContentStore(tmp_path / "content")
    (tmp_path / "secret.md").write_text("do not read")
    with pytest.raises(ContentNotFound):
        await store.get("0" * 64)
    for key in ("../secret", "../../secret.md", "ABC", "", "g" * 64):
        with pytest.raises(ContentNotFound):
            await store.get(key)
