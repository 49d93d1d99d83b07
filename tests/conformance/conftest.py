"""Conformance tests: the providers' own artefacts (their SDKs' types, clients and error classes,
pinned as dev dependencies) judge our sandbox and our clients, so that a misreading shared by
both cannot pass unnoticed. Each test talks to the session sandbox over real HTTP.

Fixtures: `fresh` (the sandbox with an empty request log, knobs reset afterwards), `receiver`
(a local webhook endpoint that records what it is sent), `sent` (the request bodies the sandbox
recorded at a path, newest last).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@pytest.fixture
def fresh(sandbox_config: Any) -> Any:
    sandbox_config.clear_requests()
    return sandbox_config


class Receiver:
    """Records each delivery (headers, body) and signals it."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Event()
        self.url = ""

        async def hook(request: Request) -> JSONResponse:
            self.received.append((dict(request.headers), await request.body()))
            self.arrived.set()
            return JSONResponse({"ok": True})

        self.app = Starlette(routes=[Route("/webhooks/vapi", hook, methods=["POST"])])

    def wait(self, timeout: float = 20.0) -> tuple[dict[str, str], bytes]:
        assert self.arrived.wait(timeout), "no delivery arrived"
        return self.received[-1]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    target = Receiver()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(target.app, log_level="warning", lifespan="off"))
    started = threading.Event()

    async def serve() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.005)
        started.set()
        await task

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert started.wait(10), "the receiver did not start"
    target.url = f"http://127.0.0.1:{sock.getsockname()[1]}/webhooks/vapi"
    yield target
    server.should_exit = True
    thread.join(5)


@pytest.fixture
def sent(sandbox: Any) -> Callable[..., list[dict[str, Any]]]:
    """`sent(service, path, method="POST")` -> the recorded requests there (dicts), oldest first."""

    def find(service: str, path: str, method: str = "POST") -> list[dict[str, Any]]:
        return [r for r in sandbox.requests(service) if r["path"] == path and r["method"] == method]

    return find
