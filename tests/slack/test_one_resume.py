"""One paused run, watched by three faces in three processes at once: the web chat (a real
`leadgen chat` subprocess over socket.io), Slack (this process: `leadgen serve`'s app with the
Slack adapter) and the CLI (`leadgen resume` as a real subprocess). Credits arrive; every face
asks the run service to resume it (the chat's and Slack's auto-resume, their Resume buttons, and
the CLI) and the service resumes it once: each paused audit's billing gate runs again exactly
once, every other step runs once, and the ledger charges each metered step once.

The processes share one SQLite file and count node executions in one node log
(LEADGEN_NODE_LOG), as the crash tests do.
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
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from assistant.slack_blocks import RESUME_RUN

pytestmark = pytest.mark.slow

LEADGEN = str(Path(sys.executable).parent / "leadgen")
PASSWORD = "ana-password-long-enough"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ChatTab:
    """One browser tab of the web chat, over socket.io (as tests/chat/test_chainlit_app.py)."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.session_id = str(uuid.uuid4())
        self.sio = socketio.AsyncClient()
        self.events: list[tuple[str, Any]] = []

        @self.sio.on("*")
        async def record(event: str, data: Any = None) -> None:
            self.events.append((event, data))

    async def open(self) -> None:
        await self.sio.connect(
            self.url,
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

    def messages(self) -> list[str]:
        return [
            str(d.get("output", ""))
            for e, d in self.events
            if e in ("new_message", "update_message") and isinstance(d, dict)
        ]

    async def click(self, name: str, payload: dict[str, Any]) -> int:
        async with httpx.AsyncClient(base_url=self.url, cookies={"access_token": self.token}) as http:
            response = await http.post(
                "/project/action",
                json={"sessionId": self.session_id, "action": {"name": name, "payload": payload}},
            )
        return response.status_code

    async def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                tail = "\n".join(m[:200] for m in self.messages()[-8:])
                raise AssertionError(f"timed out waiting for {what}; last messages:\n{tail}")
            await asyncio.sleep(0.2)


def _node_runs(path: Path) -> Counter[str]:
    return Counter(path.read_text().splitlines()) if path.exists() else Counter()


async def test_chat_slack_and_the_cli_resume_one_paused_run_once(
    slack: Any,
    channel: str,
    slack_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    leadgen_argv: Callable[..., list[str]],
) -> None:
    node_log = tmp_path / "nodes.log"
    monkeypatch.setenv("LEADGEN_NODE_LOG", str(node_log))  # this process: the Slack face
    env = {**os.environ, "LEADGEN_NODE_LOG": str(node_log), "CHAINLIT_AUTH_SECRET": uuid.uuid4().hex * 2}

    # A run that pauses for credits at its dossiers: 1 for the search, one dossier (2), then short.
    await slack.install("TALPHA", "acme")
    runs = slack.adapter.services.runs
    await runs.ensure_agency("acme")
    await runs.billing.set_balance("acme", 3)
    flow = await runs.start("acme", num_leads=3, vertical="dentists", geography="Austin, TX")
    assert (await runs.execute("acme", flow.id)).status == "paused_for_upgrade"
    run_id = str(flow.id)
    at_pause = _node_runs(node_log)
    paused_jobs = [k.split(":", 1)[1] for k in at_pause if k.startswith("billing_gate:")]
    paused_jobs = [j for j in paused_jobs if at_pause[f"map_urls:{j}"] == 0]
    assert paused_jobs, at_pause  # some audits wait at their gate

    # The web chat, in a process of its own on the same database.
    subprocess.run(
        [LEADGEN, "user", "add", "ana", "--agency", "acme", "--password-stdin"],
        input=f"{PASSWORD}\n",
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    chat_log = tmp_path / "chat.log"
    with chat_log.open("wb") as out:
        chat = subprocess.Popen(
            [LEADGEN, "chat", "--port", str(port)], env=env, cwd=tmp_path, stdout=out, stderr=out
        )
    cli: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if chat.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"leadgen chat did not start:\n{chat_log.read_text()[-3000:]}")
            await asyncio.sleep(0.3)
        async with httpx.AsyncClient(base_url=url) as http:
            login = await http.post("/login", data={"username": "ana", "password": PASSWORD})
        token = login.cookies.get("access_token")
        assert token, login.text

        # Both faces open the paused run (its Resume button, still short): each shows its paywall
        # and watches the balance.
        tab = ChatTab(url, token)
        await tab.open()
        try:
            assert await tab.click("resume_paused", {"run_id": run_id}) == 200
            await tab.wait_for(
                lambda: any(m.startswith("### Paused: out of credits") for m in tab.messages()),
                "the chat's paywall",
            )
            assert any("Still paused" in m for m in tab.messages())
            assert (await slack.action(RESUME_RUN, {"r": run_id}, channel=channel)).status_code == 200

            async def slack_paywall() -> bool:
                return any(
                    "paused: out of credits" in json.dumps(m.get("blocks"))
                    for m in await slack.bot_messages(channel)
                )

            await slack.wait_for(slack_paywall, timeout=60, what="Slack's paywall")

            # Credits arrive; at once the CLI resumes, and both faces' buttons are pressed, while
            # both faces' watchers resume by themselves once their countdown ends.
            await runs.billing.grant("acme", 50, key=f"one-resume-{run_id}")
            cli = subprocess.Popen(
                leadgen_argv("resume", run_id, "--agency", "acme", "--json"),
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            clicks = await asyncio.gather(
                tab.click("resume_paused", {"run_id": run_id}),
                slack.action(RESUME_RUN, {"r": run_id}, channel=channel),
            )
            assert clicks[0] == 200 and clicks[1].status_code == 200

            async def completed() -> bool:
                return (await runs.get("acme", run_id)).status == "completed"

            await slack.wait_for(completed, timeout=180, what="the resumed run to complete")
            stdout, stderr = await asyncio.to_thread(cli.communicate, timeout=120)
            # The CLI resumed it (0) or was told another face had (1): never a second execution.
            assert cli.returncode in (0, 1), stderr
            if cli.returncode == 0:
                assert json.loads(stdout)["status"] == "completed"
            else:
                assert "already" in stderr, stderr
            # Let the faces' watchers see the end (and try nothing more).
            await asyncio.sleep(AUTO_RESUME_SETTLE)
        finally:
            await tab.sio.disconnect()
    finally:
        if cli is not None and cli.poll() is None:
            cli.kill()
        chat.terminate()
        try:
            chat.wait(timeout=15)
        except subprocess.TimeoutExpired:
            chat.kill()

    # One resume: each paused audit's gate ran once more (the one answer to its interrupt), and
    # its paid work ran once; the steps finished before the pause never ran again.
    nodes = _node_runs(node_log)
    for job in paused_jobs:
        assert nodes[f"billing_gate:{job}"] == 2, (job, nodes)
        assert nodes[f"map_urls:{job}"] <= 1, (job, nodes)
        assert nodes[f"generate_dossier:{job}"] + nodes[f"audit_failed:{job}"] == 1, (job, nodes)
    assert nodes[f"source:{run_id}"] == 1, nodes
    assert nodes[f"finalize_rank:{run_id}"] == 1, nodes
    assert nodes[f"generate_dossier:{run_id}"] <= 2, nodes  # at the pause, and once resumed

    # The ledger: each metered step charged once: 1 (search) + 2 per dossier.
    ready = [o for o in await runs.opportunities("acme", run_id) if o.status == "READY"]
    charges = [e for e in await runs.billing.history("acme") if e.kind == "charge"]
    assert sum(c.credits for c in charges) == 1 + 2 * len(ready)
    assert len({c.idempotency_key for c in charges}) == len(charges)
    assert await runs.billing.balance("acme") == 3 + 50 - (1 + 2 * len(ready))


# The shared auto-resume countdown (graphs/auto_resume.py) plus a poll: by then every watcher
# that was counting down has asked the service.
AUTO_RESUME_SETTLE = 7.0
