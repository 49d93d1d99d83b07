"""A resident process that starts `leadgen run` and `resume` with the stack already loaded.

    leadgen runner [--socket PATH]          (then: export LEADGEN_RUNNER=PATH)

A run started from a fresh process pays for importing LangGraph, SQLAlchemy and the provider
SDKs (a second or two of CPU) before its first step. `leadgen runner` pays once: it imports the
stack, then listens on a Unix socket. With `LEADGEN_RUNNER` naming that socket, `leadgen run`
and `resume` hand their command line, environment, working directory and standard streams to
the runner, which forks a child: a new process, already loaded, that runs exactly the command
the person typed, on their terminal, with their settings, and exits with its exit code (which
the command hands back). The run itself is the one `leadgen run` executes: same service, same
lease (held by the child's pid), same ledger. Ctrl-C is passed on to the child.

Without `LEADGEN_RUNNER`, or when nothing answers on it, the command runs in its own process as
always. The runner holds no connection, thread or event loop before it forks, and reads no
setting: each child reads its own, from the environment and `.env` it was handed. Restart it
after upgrading: children run the code the runner loaded. Only processes of the runner's own
user are served (the socket is 0600, and the peer's uid is checked).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import signal
import socket
import struct
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

RUNNER_VARIABLE = "LEADGEN_RUNNER"
# Commands a runner starts; every other command runs in its own process.
HANDED_OFF = frozenset({"run", "resume"})
# What a child would otherwise import first: the run service, the graph, the checkpointer and the
# SQLite driver, the provider clients and the CLI's libraries. The CLI's own modules are left out
# (the runner is a fresh interpreter, `python -m assistant.cli.runner`, not the Typer app): they
# build their consoles at import, which must see the child's terminal, not the runner's.
PRELOADED = (
    "typer",
    "rich.live",
    "rich.table",
    "graphs.service",
    "graphs.pipeline",
    "graphs.checkpoints",
    "graphs.views",
    "langgraph.checkpoint.sqlite.aio",
    "aiosqlite",
    "sqlalchemy.dialects.sqlite.aiosqlite",
    "tools.providers",
    "tools.places",
    "tools.billing",
    "tools.billing.local",
    "httpcore",
)


# ---- the command's side ------------------------------------------------------------------------


def hand_off(argv: Sequence[str]) -> int | None:
    """Have the runner named by LEADGEN_RUNNER execute `leadgen <argv>` on our streams; its exit
    code, or None when there is no runner to ask (the caller runs the command itself)."""
    path = os.environ.get(RUNNER_VARIABLE)
    if not path or not argv or argv[0] not in HANDED_OFF:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None  # no runner (stale socket, not started): run here, as without one
    with sock:
        request = {"argv": list(argv), "env": dict(os.environ), "cwd": os.getcwd()}
        socket.send_fds(sock, [b"L"], [0, 1, 2])
        sock.sendall(json.dumps(request).encode() + b"\n")
        replies = sock.makefile("rb")
        started = replies.readline()
        if not started:
            print("leadgen: the runner refused the command (see its log)", file=sys.stderr)
            return 1
        child = int(json.loads(started)["pid"])

        def pass_on(signum: int, _frame: FrameType | None) -> None:
            os.kill(child, signum)

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, pass_on)
        ended = replies.readline()
    if not ended:
        print(f"leadgen: the runner's process {child} ended without an exit code", file=sys.stderr)
        return 1
    return int(json.loads(ended)["exit"])


# ---- the runner's side -------------------------------------------------------------------------


def load_stack() -> None:
    """Import what a run needs (and build the graph once, which fills the caches it uses)."""
    from graphs.pipeline import DEFERRED_MODULES, compile_graph

    for name in (*PRELOADED, *DEFERRED_MODULES):
        importlib.import_module(name)
    compile_graph(None)


def _peer_uid(conn: socket.socket) -> int | None:
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    return int(uid)


def serve(path: Path, *, ready: str | None = None) -> None:
    """Load the stack, then fork a child per command until SIGTERM or Ctrl-C."""
    load_stack()
    gc.collect()
    gc.freeze()  # children share these pages with the runner (copy-on-write) and never scan them
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    signal.signal(signal.SIGTERM, _stop)  # through the `finally` below, which removes the socket
    if path.is_socket():
        path.unlink()  # a previous runner's (a live one would have answered the command)
    path.parent.mkdir(parents=True, exist_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_mask = os.umask(0o177)
    try:
        listener.bind(str(path))
    finally:
        os.umask(old_mask)
    listener.listen(64)
    if ready:
        print(ready, file=sys.stderr, flush=True)
    try:
        while True:
            conn, _ = listener.accept()
            if _peer_uid(conn) not in (None, os.getuid()):
                conn.close()
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            if os.fork() == 0:
                listener.close()
                _child(conn)  # never returns
            conn.close()
    finally:
        listener.close()
        path.unlink(missing_ok=True)


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _child(conn: socket.socket) -> None:
    code = 1
    try:
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _, fds, _, _ = socket.recv_fds(conn, 1, 3)
        request = json.loads(conn.makefile("rb").readline())
        for fd, target in zip(fds, (0, 1, 2), strict=True):
            os.dup2(fd, target)
            os.close(fd)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = ["leadgen", *request["argv"]]
        conn.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
        from assistant.cli import full_main, preload

        preload.whole_process = True
        try:
            full_main()
            code = 0
        except SystemExit as exc:
            code = _exit_code(exc)
    except BaseException:  # noqa: BLE001 - a child that must exit: its last word goes to the person's terminal
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        with contextlib.suppress(OSError):  # the command stopped listening (killed): nobody to tell
            conn.sendall(json.dumps({"exit": code}).encode() + b"\n")
        os._exit(code)


def main(argv: Sequence[str]) -> int:
    """`python -m assistant.cli.runner --socket PATH` (what `leadgen runner` executes)."""
    import argparse

    parser = argparse.ArgumentParser(prog="leadgen runner")
    parser.add_argument("--socket", required=True, type=Path)
    args = parser.parse_args(argv)
    path: Path = args.socket
    try:
        serve(path, ready=f"runner: listening on {path}; export {RUNNER_VARIABLE}={path}")
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"error: cannot listen on {path}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
