"""The web chat in production, over its own protocol: real `leadgen chat` subprocesses with
password login and the local ledger, driven over HTTP and socket.io.

* Without self-service the paywall offers no Upgrade, says to ask the administrator, and an
  Upgrade click (forged: there is no button) grants nothing.
* With LEADGEN_SELF_SERVE_CREDITS=true the paywall says credits are free; an admin's clicks grant
  once per pause; a member's click is refused and changes nothing.
* Failed sign-ins are throttled with a clear 429.

The ledger is read with `leadgen credits --json` / `credits history --json`, as an operator would.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import socketio

if TYPE_CHECKING:
    from tools.sandbox.server import SandboxHandle

pytestmark = pytest.mark.slow

LEADGEN = str(Path(sys.executable).parent / "leadgen")
CLEARED = (
    "DATABASE_URL",
    "AUTUMN_SECRET_KEY",
    "OPENAI_API_KEY",
    "GOOGLE_PLACES_API_KEY",
    "FIRECRAWL_API_KEY",
    "LEADGEN_AGENCY",
    "LEADGEN_SELF_SERVE_CREDITS",
)
USERS = {
    "ana": ("admin", "ana-password-1"),
    "max": ("member", "max-password-1"),
    "cy": ("member", "cy-password-12"),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, url: str, env: dict[str, str], home: Path) -> None:
        self.url, self.env, self.home = url, env, home

    def leadgen(self, *args: str) -> Any:
        done = subprocess.run(
            [LEADGEN, *args, "--json"], env=self.env, cwd=self.home, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def upgrade_grants(self) -> list[dict[str, Any]]:
        history = self.leadgen("credits", "history", "--agency", "acme")
        return [row for row in history if row["idempotency_key"].startswith("upgrade:")]

    def balance(self) -> int:
        return int(self.leadgen("credits", "--agency", "acme")["balance"])


def _start(
    sandbox: SandboxHandle, home: Path, extra: dict[str, str]
) -> tuple[Server, subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env |= {
        "LEADGEN_ENV": "production",
        "LEADGEN_AGENCY": "acme",
        "LEADGEN_SANDBOX_URL": sandbox.url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{home / 'leadgen.db'}",
        "LEADGEN_DATA_DIR": str(home / "data"),
        "CHAINLIT_AUTH_SECRET": uuid.uuid4().hex * 2,
        **extra,
    }
    for username, (role, password) in USERS.items():
        subprocess.run(
            [LEADGEN, "user", "add", username, "--agency", "acme", "--role", role, "--password-stdin"],
            input=f"{password}\n".encode(),
            env=env,
            cwd=home,
            check=True,
            capture_output=True,
        )
    port = _free_port()
    log = home / "chat.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [LEADGEN, "chat", "--port", str(port)], env=env, cwd=home, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"leadgen chat did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)
    return Server(url, env, home), process


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def operator_server(sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Production, local ledger, no self-service: credits come from the operator."""
    server, process = _start(sandbox, tmp_path_factory.mktemp("chat-operator"), {})
    try:
        yield server
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def self_serve_server(sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Production, local ledger, LEADGEN_SELF_SERVE_CREDITS=true."""
    extra = {"LEADGEN_SELF_SERVE_CREDITS": "true"}
    server, process = _start(sandbox, tmp_path_factory.mktemp("chat-self-serve"), extra)
    try:
        yield server
    finally:
        _stop(process)


async def login(server: Server, username: str, password: str | None = None) -> httpx.Response:
    password = password if password is not None else USERS[username][1]
    async with httpx.AsyncClient(base_url=server.url) as http:
        return await http.post("/login", data={"username": username, "password": password})


async def token_of(server: Server, username: str) -> str:
    response = await login(server, username)
    assert response.status_code == 200, response.text
    return str(response.cookies["access_token"])


class Tab:
    """One browser tab, spoken over socket.io."""

    def __init__(self, server: Server, token: str) -> None:
        self.server, self.token = server, token
        self.session_id = str(uuid.uuid4())
        self.sio = socketio.AsyncClient()
        self.events: list[tuple[str, Any]] = []

        @self.sio.on("*")
        async def record(event: str, data: Any = None) -> None:
            self.events.append((event, data))

    async def __aenter__(self) -> Tab:
        await self.sio.connect(
            self.server.url,
            socketio_path="/ws/socket.io",
            transports=["websocket"],
            headers={"Cookie": f"access_token={self.token}"},
            auth={
                "sessionId": self.session_id,
                "clientType": "webapp",
                "userEnv": "{}",
                "chatProfile": None,
                "threadId": None,
            },
        )
        await self.sio.emit("connection_successful")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.sio.disconnect()

    async def say(self, text: str) -> None:
        message = {
            "id": str(uuid.uuid4()),
            "threadId": "",
            "type": "user_message",
            "output": text,
            "name": "user",
            "createdAt": datetime.now(UTC).isoformat(),
        }
        await self.sio.emit("client_message", {"message": message, "fileReferences": None})

    def messages(self) -> list[str]:
        return [
            str(d.get("output", ""))
            for e, d in self.events
            if e in ("new_message", "update_message") and isinstance(d, dict)
        ]

    def actions(self, name: str) -> list[dict[str, Any]]:
        return [d for e, d in self.events if e == "action" and d.get("name") == name]

    async def wait_for(self, predicate: Any, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                tail = "\n".join(m[:300] for m in self.messages()[-8:])
                raise AssertionError(f"timed out; last messages:\n{tail}")
            await asyncio.sleep(0.2)

    async def click(self, action: dict[str, Any]) -> int:
        async with httpx.AsyncClient(base_url=self.server.url, cookies={"access_token": self.token}) as http:
            response = await http.post(
                "/project/action", json={"sessionId": self.session_id, "action": action}
            )
        return response.status_code

    def paywall(self) -> str | None:
        """The paywall message (the progress message above it says "paused" too)."""
        return next(
            (m for m in reversed(self.messages()) if m.startswith("### Paused: out of credits")), None
        )


async def _pause_a_run(server: Server, tab: Tab) -> dict[str, Any]:
    """Start a run that pauses at its dossiers; the paywall's Resume action (its payload names
    the run)."""
    server.leadgen("credits", "set", "3", "--agency", "acme")
    await tab.say("Find 3 dentists in Austin, TX")
    await tab.wait_for(lambda: tab.paywall() is not None and tab.actions("resume_paused"))
    return tab.actions("resume_paused")[-1]


async def test_production_paywall_offers_no_upgrade_and_an_upgrade_click_grants_nothing(
    operator_server: Server,
) -> None:
    server = operator_server
    async with Tab(server, await token_of(server, "ana")) as tab:  # an admin, even
        resume = await _pause_a_run(server, tab)
        wall = tab.paywall()
        assert wall is not None
        assert "Credits are added by your administrator" in wall and "leadgen credits grant" in wall
        assert "Plans:" not in wall and tab.actions("upgrade") == []
        balance = server.balance()
        assert balance == 0

        # The click the UI does not offer (a forged payload): refused, nothing granted.
        forged = resume | {
            "name": "upgrade",
            "id": str(uuid.uuid4()),
            "payload": {"run_id": resume["payload"]["run_id"], "plan": "agency", "pause": "p"},
        }
        assert await tab.click(forged) == 200
        await tab.wait_for(lambda: any("was not applied" in m for m in tab.messages()))
        said = next(m for m in tab.messages() if "was not applied" in m)
        assert "ask your administrator" in said.lower() or "administrator" in said
        assert server.upgrade_grants() == [] and server.balance() == balance
        run = server.leadgen("status", resume["payload"]["run_id"])
        assert run["status"] == "paused_for_upgrade"


async def test_self_serve_paywall_says_free_grants_once_for_admins_and_refuses_members(
    self_serve_server: Server,
) -> None:
    server = self_serve_server
    async with Tab(server, await token_of(server, "ana")) as ana:
        resume = await _pause_a_run(server, ana)
        run_id = resume["payload"]["run_id"]
        wall = ana.paywall()
        assert wall is not None and "Credits are free on this installation" in wall
        upgrades = {a["payload"]["plan"]: a for a in ana.actions("upgrade")}
        assert set(upgrades) == {"starter", "pro", "agency"}
        starter = upgrades["starter"]

        # A member's click on the very same button: refused, the ledger untouched.
        async with Tab(server, await token_of(server, "max")) as max_tab:
            assert await max_tab.click(starter | {"forId": None}) == 200
            await max_tab.wait_for(lambda: any("Only an admin" in m for m in max_tab.messages()))
        assert server.upgrade_grants() == []

        # The admin double-clicks: one grant for this pause, then the run resumes by itself.
        assert [await ana.click(starter) for _ in range(2)] == [200, 200]
        await ana.wait_for(lambda: any("Starter plan applied" in m for m in ana.messages()))
        await ana.wait_for(lambda: server.leadgen("status", run_id)["status"] == "completed", timeout=120)
        grants = server.upgrade_grants()
        assert [(g["kind"], g["credits"]) for g in grants] == [("grant", 100)]
        assert grants[0]["idempotency_key"] == f"upgrade:acme:{run_id}:{starter['payload']['pause']}:starter"


async def test_failed_sign_ins_are_throttled_with_a_clear_answer(operator_server: Server) -> None:
    server = operator_server
    codes = [(await login(server, "cy", f"wrong-{i}")).status_code for i in range(6)]
    assert codes == [401] * 5 + [429]
    throttled = await login(server, "cy")  # the right password, still within the window
    assert throttled.status_code == 429
    assert "Too many failed sign-in attempts" in throttled.json()["detail"]
    assert 0 < int(throttled.headers["Retry-After"]) <= 900
    # Another user from the same address is not locked out by cy's failures.
    assert (await login(server, "ana")).status_code == 200
    # The login page shows the reason (Chainlit looks the status text up in its translations).
    from assistant.cli.chat import APP_ROOT

    translations = json.loads((APP_ROOT / ".chainlit/translations/en-US.json").read_text())
    assert "Too many failed sign-in" in translations["auth"]["login"]["errors"]["Too Many Requests"]
    log = (server.home / "chat.log").read_text()
    assert "sign-in throttled for user 'cy'" in log and "wrong-" not in log
