"""What one web-chat server process owns on this machine: its port and its own files folder.

Two faults of Chainlit's defaults, fixed here:

* A second server started on a busy port printed "Your app is available", failed to bind, exited
  0 - and on exit Chainlit deletes its files folder. We check the port before anything starts
  (`refuse_busy_port`) and exit non-zero naming the URL already served there.
* That folder (`<app root>/.files`, where every session keeps the files it shows) was shared by
  every server started from the same folder, so the exit of one deleted the live files of the
  others. Each process gets a folder of its own under the data folder (`own_files_dir`), and
  folders left by processes that no longer exist are removed at start-up.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
from pathlib import Path

FILES_SUBDIR = "chat-files"


class PortInUse(Exception):
    def __init__(self, host: str, port: int) -> None:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        self.url = f"http://{shown}:{port}"
        super().__init__(
            f"port {port} on {host} is already in use: a chat may already be running at {self.url} "
            f"(open that, stop it, or choose another port: `leadgen chat --port 8100`, "
            f"`make run PORT=8100`)"
        )


def port_in_use(host: str, port: int) -> bool:
    """Whether binding `host:port` fails because something listens there. Bound as uvicorn
    binds (SO_REUSEADDR), so a port in TIME_WAIT after a restart does not count as busy."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def refuse_busy_port(host: str, port: int) -> None:
    """PortInUse when `host:port` is taken."""
    if port_in_use(host, port):
        raise PortInUse(host, port)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def own_files_dir(data_dir: Path, pid: int | None = None) -> Path:
    """This process's files folder (made now), after removing those of dead processes."""
    pid = os.getpid() if pid is None else pid
    root = data_dir.resolve() / FILES_SUBDIR
    root.mkdir(parents=True, exist_ok=True)
    for other in root.iterdir():
        if other.is_dir() and other.name.isdigit() and int(other.name) != pid and not _alive(int(other.name)):
            shutil.rmtree(other, ignore_errors=True)
    mine = root / str(pid)
    mine.mkdir(exist_ok=True)
    return mine
