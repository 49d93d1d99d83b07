"""Where scraped page markdown lives: outside the database, addressed by its SHA-256.

`audit_scraped_pages` rows keep only the reference (`content_ref`, `content_sha256`,
`content_length`); the text itself goes to a `ContentStore`. The default, `FileContentStore`,
writes one file per distinct text under `<LEADGEN_DATA_DIR>/content/ab/abcdef....md`.

Because the key is the hash of the bytes, a put is idempotent (the same text twice is one file)
and two processes writing the same text at once both end with the same complete file: each writes
a temporary file in the target folder and renames it into place, which is atomic, so a reader
never sees half a page. A file is never modified after it is written.

Both methods are async (file I/O runs in a worker thread) so they can be awaited from the
pipeline's event loop without blocking it. Another store (S3, a database column) only needs to
implement the `ContentStore` protocol.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

_KEY = re.compile(r"^[0-9a-f]{64}$")


class ContentNotFound(KeyError):
    """No content stored under this key."""


@dataclass(frozen=True)
class ContentRef:
    """What a page row records about its content. `length` is the size in UTF-8 bytes."""

    key: str
    sha256: str
    length: int


@runtime_checkable
class ContentStore(Protocol):
    async def put(self, text: str) -> ContentRef:
        """Store `text` (idempotent: the same text gives the same ref and is stored once)."""
        ...

    async def get(self, key: str) -> str:
        """The text stored under `key`; raises ContentNotFound when there is none."""
        ...


def content_ref(text: str) -> ContentRef:
    data = text.encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()
    return ContentRef(key=digest, sha256=digest, length=len(data))


class FileContentStore:
    """Content-addressed files under `root` (normally `<data dir>/content`)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path_for(self, key: str) -> Path:
        # The key becomes a path: refuse anything but a hex digest (no '..', no separators).
        if not _KEY.match(key):
            raise ContentNotFound(key)
        return self.root / key[:2] / f"{key}.md"

    async def put(self, text: str) -> ContentRef:
        return await asyncio.to_thread(self._put, text)

    async def get(self, key: str) -> str:
        return await asyncio.to_thread(self._get, key)

    def _put(self, text: str) -> ContentRef:
        ref = content_ref(text)
        path = self.path_for(ref.key)
        if path.exists():
            return ref
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(text.encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return ref

    def _get(self, key: str) -> str:
        try:
            data = self.path_for(key).read_bytes()
        except FileNotFoundError:
            raise ContentNotFound(key) from None
        return data.decode("utf-8")
