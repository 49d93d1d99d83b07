"""Who holds a SQLite file's write lock, in words, for the message a user gets when a write gave up.

SQLite locks with POSIX advisory locks (`fcntl`), which Linux lists in `/proc/locks` with the
holder's pid. In WAL mode (ours) the writer holds byte 120 of the `-shm` file (WAL_WRITE_LOCK);
in a rollback-journal database it holds the RESERVED/PENDING bytes of the file itself. Elsewhere
(no /proc), or when the holder cannot be seen, we fall back to the processes that have the file
open, and then to plain words.
"""

from __future__ import annotations

import os
from pathlib import Path

WAL_WRITE_LOCK_BYTE = 120  # WALINDEX_LOCK_OFFSET + WAL_WRITE_LOCK in SQLite's wal.c
PENDING_BYTE = 0x40000000  # the rollback journal's lock bytes start here (os_unix.c)


def _locks_on(path: Path) -> list[tuple[int, int, int]]:
    """(pid, start, end) of each write lock on `path` in /proc/locks ([] when unknown)."""
    try:
        inode = path.stat().st_ino
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split()
        # "1: POSIX  ADVISORY  WRITE 1234 fe:00:2146389 120 120"; blocked waiters start with "->".
        if len(fields) < 8 or fields[1] == "->" or fields[3] != "WRITE":
            continue
        # Match the inode only: overlay filesystems report another device number than stat().
        if fields[5].rsplit(":", 1)[-1] != str(inode) or not fields[4].lstrip("-").isdigit():
            continue
        end = fields[7]
        found.append((int(fields[4]), int(fields[6]), PENDING_BYTE + 512 if end == "EOF" else int(end)))
    return found


def write_lock_holders(database: Path) -> list[int]:
    """Pids holding the write lock of the SQLite file `database` (WAL or rollback journal)."""
    pids = [
        pid for pid, start, end in _locks_on(Path(f"{database}-shm")) if start <= WAL_WRITE_LOCK_BYTE <= end
    ]
    pids += [pid for pid, start, end in _locks_on(database) if start <= PENDING_BYTE + 1 <= end]
    return sorted({pid for pid in pids if pid > 0})


def processes_with_open(database: Path) -> list[int]:
    """Pids of the processes (that we may look at) with `database` open, this one excepted."""
    target = str(database.resolve())
    pids = []
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if any(os.readlink(fd) == target for fd in (entry / "fd").iterdir()):
                pids.append(int(entry.name))
        except OSError:
            continue
    return sorted(pids)


def describe_process(pid: int) -> str:
    """`process 1234 (leadgen run -n 8)`, or just `process 1234`."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return f"process {pid}"
    words = [os.path.basename(argv[0].decode(errors="replace"))] if argv and argv[0] else []
    words += [a.decode(errors="replace") for a in argv[1:] if a]
    if len(words) > 1 and words[0].startswith("python"):
        words = words[1:]  # `python …/leadgen run` reads better as `leadgen run`
        words[0] = os.path.basename(words[0])
    shown = " ".join(" ".join(words).split())  # one line, whatever the arguments hold
    return f"process {pid} ({shown[:80]})" if shown else f"process {pid}"


def who_holds(database: Path) -> str:
    """The holder of the write lock in words, as precisely as this system lets us see it."""
    holders = [pid for pid in write_lock_holders(database) if pid != os.getpid()]
    if holders:
        return " and ".join(describe_process(pid) for pid in holders)
    if os.getpid() in write_lock_holders(database):
        return f"this process ({os.getpid()}) itself, in another connection"
    users = processes_with_open(database)
    if users:
        return "one of the processes using it: " + ", ".join(describe_process(pid) for pid in users[:5])
    return "another process"
