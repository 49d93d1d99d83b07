"""Where the chat's elements (CSV files, the leads table, dossier cards) are kept, so a reopened
thread shows them again: a Chainlit storage client on a folder of our data folder.

Chainlit persists an element only through a storage client (`create_element` uploads its content
and stores the returned URL; without one it logs "No blob_storage_client is configured" and the
element is gone on reload). Ours writes `<data>/chat-elements/<object key>` and hands out URLs
like a cloud bucket's presigned ones: `/atlas/files/<key>?expires=...&signature=...`, an HMAC of
the key and expiry under the chat's JWT secret. The route that serves them (`files_route`) needs
no session: the signature is the permission, it expires, and Chainlit only signs URLs for the
threads of the signed-in user it is reading.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from chainlit.data.storage_clients.base import BaseStorageClient, storage_expiry_time
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

ELEMENTS_SUBDIR = "chat-elements"
URL_PREFIX = "/atlas/files/"


def _safe_key(object_key: str) -> str:
    """Object keys are Chainlit's `<user id>/<element id>/<name>`; nothing may climb out."""
    parts = [p for p in object_key.replace("\\", "/").split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise ValueError(f"bad object key {object_key!r}")
    return "/".join(parts)


class FolderStorage(BaseStorageClient):
    def __init__(self, root: Path, secret: str, *, expiry_seconds: int = storage_expiry_time) -> None:
        self.root = root.resolve()
        self.secret = secret.encode()
        self.expiry_seconds = expiry_seconds

    def path_of(self, object_key: str) -> Path:
        path = (self.root / _safe_key(object_key)).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"bad object key {object_key!r}")
        return path

    def signature(self, object_key: str, expires: int) -> str:
        return hmac.new(self.secret, f"{object_key}\n{expires}".encode(), hashlib.sha256).hexdigest()

    async def upload_file(
        self,
        object_key: str,
        data: bytes | str,
        mime: str = "application/octet-stream",
        overwrite: bool = True,
        content_disposition: str | None = None,
    ) -> dict[str, Any]:
        key = _safe_key(object_key)
        path = self.path_of(key)
        if path.exists() and not overwrite:
            return {"object_key": key, "url": await self.get_read_url(key)}
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_name(f".{path.name}.{os.getpid()}")
        scratch.write_bytes(data.encode() if isinstance(data, str) else data)
        os.replace(scratch, path)  # a reader never sees half a file
        return {"object_key": key, "url": await self.get_read_url(key)}

    async def delete_file(self, object_key: str) -> bool:
        try:
            self.path_of(object_key).unlink()
        except (FileNotFoundError, ValueError):
            return False
        return True

    async def get_read_url(self, object_key: str) -> str:
        key = _safe_key(object_key)
        expires = int(time.time()) + self.expiry_seconds
        return f"{URL_PREFIX}{quote(key)}?expires={expires}&signature={self.signature(key, expires)}"

    async def close(self) -> None:
        return None

    async def serve(self, request: Request) -> Response:
        key = request.path_params.get("key", "")
        try:
            expires = int(request.query_params.get("expires", ""))
            key = _safe_key(key)
            path = self.path_of(key)
        except ValueError:
            return PlainTextResponse("Not found", status_code=404)
        given = request.query_params.get("signature", "")
        if expires < time.time() or not hmac.compare_digest(given, self.signature(key, expires)):
            return PlainTextResponse("This link has expired; reopen the conversation.", status_code=403)
        if not path.is_file():
            return PlainTextResponse("Not found", status_code=404)
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return FileResponse(path, media_type=mime, filename=path.name)


def files_route(storage: FolderStorage) -> Route:
    return Route(URL_PREFIX + "{key:path}", storage.serve, methods=["GET"])
