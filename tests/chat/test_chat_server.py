"""One chat server per port, one files folder per server process (assistant/chat_server.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.chat_server import FILES_SUBDIR, PortInUse, own_files_dir, port_in_use, refuse_busy_port

LEADGEN = str(Path(sys.executable).parent / "leadgen")


def test_a_listening_port_is_in_use_and_a_closed_one_is_not() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert port_in_use("127.0.0.1", port)
        with pytest.raises(PortInUse) as refused:
            refuse_busy_port("127.0.0.1", port)
        assert refused.value.url == f"http://127.0.0.1:{port}"
        assert f"http://127.0.0.1:{port}" in str(refused.value)
    assert not port_in_use("127.0.0.1", port)


def test_each_process_gets_its_own_files_folder_and_dead_ones_are_swept(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    root = tmp_path / FILES_SUBDIR
    (root / str(dead.pid) / "session").mkdir(parents=True)
    alive_other = root / "1"  # pid 1 always exists
    (alive_other / "session").mkdir(parents=True)
    mine = own_files_dir(tmp_path)
    assert mine == (root / str(os.getpid())).resolve()
    assert mine.is_dir()
    assert not (root / str(dead.pid)).exists()  # a dead server's folder is gone
    assert (alive_other / "session").is_dir()  # a live server's folder is untouched


def test_leadgen_chat_refuses_a_busy_port_before_starting(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        env = dict(os.environ, LEADGEN_DATA_DIR=str(tmp_path / "data"))
        done = subprocess.run(
            [LEADGEN, "chat", "--port", str(port)], env=env, cwd=tmp_path, capture_output=True, text=True
        )
    assert done.returncode == 1
    assert f"already in use: a chat may already be running at http://127.0.0.1:{port}" in done.stderr
    assert "available" not in done.stdout  # nothing pretended to start
