"""Run the sandbox: in a background thread for tests (`start_sandbox`) or in the foreground (CLI)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from tools.sandbox.app import create_app


class SandboxHandle:
    """A running sandbox server: its URL and a small client for its control API."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, url: str) -> None:
        self._server = server
        self._thread = thread
        self.url = url
        self._http = httpx.Client(timeout=10)

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Change knobs (see SandboxConfig); returns the whole new config."""
        response = self._http.post(f"{self.url}/_sandbox/config", json=knobs, timeout=10)
        if response.status_code != 200:
            raise ValueError(response.json().get("error", response.text))
        result: dict[str, Any] = response.json()
        return result

    def reset_config(self) -> dict[str, Any]:
        """Back to the knobs the server was started with."""
        result: dict[str, Any] = self._http.delete(f"{self.url}/_sandbox/config", timeout=10).json()
        return result

    def config(self) -> dict[str, Any]:
        result: dict[str, Any] = self._http.get(f"{self.url}/_sandbox/config", timeout=10).json()
        return result

    def requests(self, service: str | None = None) -> list[dict[str, Any]]:
        """Requests the sandbox answered, newest last."""
        params = {"service": service} if service else {}
        result: list[dict[str, Any]] = self._http.get(
            f"{self.url}/_sandbox/requests", params=params, timeout=10
        ).json()
        return result

    def clear_requests(self) -> None:
        self._http.delete(f"{self.url}/_sandbox/requests", timeout=10)

    def truth(self, domain: str) -> dict[str, Any]:
        result: dict[str, Any] = self._http.get(
            f"{self.url}/_sandbox/truth", params={"domain": domain}, timeout=10
        ).json()
        return result

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C still reaches the caller)."""
        while self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def stop(self) -> None:
        self._http.close()
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> SandboxHandle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _server(host: str, port: int, knobs: dict[str, Any], world: Any) -> tuple[uvicorn.Server, socket.socket]:
    app = create_app(world, **knobs)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted sockets only then, and without it
    # every answer waits ~40 ms for the client's delayed ACK.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return server, sock


def start_sandbox(
    host: str = "127.0.0.1", port: int = 0, *, world: Any = None, **knobs: Any
) -> SandboxHandle:
    """Start a sandbox in a background thread (its own event loop); returns once it is listening.
    `world` is a recorded world (recorded_world.load_world), or None for the synthetic one."""
    server, sock = _server(host, port, knobs, world)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the sandbox server did not start")
        time.sleep(0.01)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return SandboxHandle(server, thread, f"http://{shown}:{bound_port}")
