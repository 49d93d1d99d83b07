"""No open doors, and the operator's user commands, as real `leadgen` processes.

* `leadgen chat` / `chainlit run` without CHAINLIT_AUTH_SECRET on a non-loopback address: refused
  in production (exit 2, the variable named, nothing started), warned about in development.
* `leadgen serve` on a non-loopback address without the webhook secrets of the routes it serves:
  refused in production, naming them.
* `leadgen user add` refuses short passwords and unknown roles (nothing written); `--role`,
  `user role`, `user link-slack`, `user list`.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from assistant.exposure import is_loopback, missing_secrets
from leadgen.settings import Settings

LEADGEN = str(Path(sys.executable).parent / "leadgen")
APP_FILE = Path(__file__).resolve().parents[2] / "assistant" / "chainlit_app.py"
SECRETS = (
    "CHAINLIT_AUTH_SECRET",
    "VAPI_WEBHOOK_SECRET",
    "SLACK_SIGNING_SECRET",
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A subprocess environment on a fresh SQLite file, without the developer's secrets."""
    base = {k: v for k, v in os.environ.items() if k not in SECRETS and not k.startswith("LEADGEN_")}
    return base | {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'access.db'}",
        "LEADGEN_DATA_DIR": str(tmp_path / "data"),
    }


def run(
    args: list[str], env: dict[str, str], cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120)


# --------------------------------------------------------------------------------------------
# Exposure


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "chat.example.com"])
def test_chat_beyond_loopback_without_sign_in_is_refused_in_production(
    env: dict[str, str], tmp_path: Path, host: str
) -> None:
    done = run(
        [LEADGEN, "chat", "--host", host, "--port", str(_free_port())],
        env | {"LEADGEN_ENV": "production"},
        tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert "CHAINLIT_AUTH_SECRET" in done.stderr and host in done.stderr
    assert "Atlas Lead Gen chat on" not in done.stdout  # nothing was started


def test_chainlit_run_directly_gets_the_same_refusal(env: dict[str, str], tmp_path: Path) -> None:
    done = run(
        [sys.executable, "-m", "chainlit", "run", str(APP_FILE), "--headless", "--host", "0.0.0.0",
         "--port", str(_free_port())],
        env | {"LEADGEN_ENV": "production", "CHAINLIT_APP_ROOT": str(APP_FILE.parents[1])},
        tmp_path,
    )  # fmt: skip
    assert done.returncode != 0
    assert "CHAINLIT_AUTH_SECRET" in done.stderr


def test_chat_beyond_loopback_in_development_warns_and_starts(env: dict[str, str], tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "chat.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [LEADGEN, "chat", "--host", "0.0.0.0", "--port", str(port)],
            env=env | {"LEADGEN_ENV": "development", "LEADGEN_SANDBOX_URL": "http://127.0.0.1:9"},
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"leadgen chat did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    said = log.read_text()
    assert "warning:" in said and "CHAINLIT_AUTH_SECRET is not set" in said and "0.0.0.0" in said


def test_serve_beyond_loopback_without_webhook_secrets_is_refused_in_production(
    env: dict[str, str], tmp_path: Path
) -> None:
    production = env | {"LEADGEN_ENV": "production"}
    args = [LEADGEN, "serve", "--host", "0.0.0.0", "--port", str(_free_port())]
    done = run(args, production, tmp_path)
    assert done.returncode == 2 and "VAPI_WEBHOOK_SECRET" in done.stderr, done.stderr
    # Slack over HTTP (a bot token, no Socket Mode) needs its signing secret too.
    done = run(
        args, production | {"VAPI_WEBHOOK_SECRET": "a" * 64, "SLACK_BOT_TOKEN": "xoxb-1-2-x"}, tmp_path
    )
    assert done.returncode == 2 and "SLACK_SIGNING_SECRET" in done.stderr, done.stderr
    assert "VAPI_WEBHOOK_SECRET" not in done.stderr


def test_what_counts_as_loopback_and_which_secrets_each_face_needs() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.5", "example.com", "localhost.evil.com"))
    assert missing_secrets("chat", Settings()) == ["CHAINLIT_AUTH_SECRET"]
    assert missing_secrets("chat", Settings(chainlit_auth_secret="x" * 64)) == []
    assert missing_secrets("serve", Settings()) == ["VAPI_WEBHOOK_SECRET"]
    socket_mode = Settings(vapi_webhook_secret="v" * 64, slack_bot_token="xoxb-1", slack_app_token="xapp-1")
    assert missing_secrets("serve", socket_mode) == []  # Slack arrives over the websocket


# --------------------------------------------------------------------------------------------
# Users and roles


def _users(db: Path) -> list[tuple[str, str, str, str | None]]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            rows = conn.execute("SELECT username, agency_id, role, slack_user FROM agency_users").fetchall()
        except sqlite3.OperationalError:  # never migrated: nothing was written
            return []
    return sorted(rows)


def test_user_add_refuses_short_passwords_and_unknown_roles_writing_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    db = tmp_path / "access.db"
    short = run(
        [LEADGEN, "user", "add", "ana", "--agency", "acme", "--password-stdin"], env, tmp_path, "nine-char\n"
    )
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    bad_role = run(
        [LEADGEN, "user", "add", "ana", "--agency", "acme", "--role", "owner", "--password-stdin"],
        env,
        tmp_path,
        "long-enough-password\n",
    )
    assert bad_role.returncode == 2 and "not a role" in bad_role.stderr and "admin, member" in bad_role.stderr
    assert _users(db) == []


def test_roles_and_slack_links_from_the_cli(env: dict[str, str], tmp_path: Path) -> None:
    db = tmp_path / "access.db"
    added = run(
        [LEADGEN, "user", "add", "ana", "--agency", "acme", "--role", "admin", "--password-stdin", "--json"],
        env,
        tmp_path,
        "long-enough-password\n",
    )
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout) == {"username": "ana", "agency_id": "acme", "role": "admin"}
    member = run(
        [LEADGEN, "user", "add", "max", "--agency", "acme", "--password-stdin"],
        env,
        tmp_path,
        "x" * 12 + "\n",
    )
    assert member.returncode == 0 and "as member" in member.stdout

    linked = run([LEADGEN, "user", "link-slack", "ana", "T0ACME1", "U0ANA1", "--json"], env, tmp_path)
    assert json.loads(linked.stdout)["slack_user"] == "T0ACME1:U0ANA1"
    taken = run([LEADGEN, "user", "link-slack", "max", "T0ACME1", "U0ANA1"], env, tmp_path)
    assert taken.returncode == 2 and "already linked" in taken.stderr
    promoted = run([LEADGEN, "user", "role", "max", "admin"], env, tmp_path)
    assert promoted.returncode == 0
    demoted = run([LEADGEN, "user", "role", "ana", "member"], env, tmp_path)
    assert demoted.returncode == 0
    unknown = run([LEADGEN, "user", "role", "ghost", "admin"], env, tmp_path)
    assert unknown.returncode == 2 and "no user named 'ghost'" in unknown.stderr
    assert _users(db) == [("ana", "acme", "member", "T0ACME1:U0ANA1"), ("max", "acme", "admin", None)]

    unlinked = run([LEADGEN, "user", "unlink-slack", "ana"], env, tmp_path)
    assert unlinked.returncode == 0
    listed = json.loads(run([LEADGEN, "user", "list", "--agency", "acme", "--json"], env, tmp_path).stdout)
    assert [(u["username"], u["role"], u["slack_user"]) for u in listed] == [
        ("ana", "member", None),
        ("max", "admin", None),
    ]
