"""The Chainlit app end to end over its own protocol: a real `leadgen chat` subprocess with
password login, driven over HTTP and socket.io (Chainlit 2.12's own socket.io protocol).

History is asserted from the database rows, because Chainlit's data layer only logs its errors.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import socket
import sqlite3
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
)
# cy's agency is the large run's own: its 25 credits must not drain acme's balance, which the other
# tests (in any order) spend.
USERS = {
    "ana": ("acme", "ana-password"),
    "bo": ("bravo", "bo-password"),
    "cy": ("charlie", "cy-password"),
    "di": ("delta", "di-password"),  # the shared-report test's own agency (its own credits too)
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, url: str, db_path: Path, process: subprocess.Popen[bytes], log: Path) -> None:
        self.url, self.db_path, self.process, self.log = url, db_path, process, log

    def rows(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db_path) as conn:
            return conn.execute(query, args).fetchall()


@pytest.fixture(scope="module")
def server(sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`leadgen chat` with CHAINLIT_AUTH_SECRET set (password login), two users of two agencies."""
    home = tmp_path_factory.mktemp("chat-server")
    db_path = home / "leadgen.db"
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env |= {
        "LEADGEN_SANDBOX_URL": sandbox.url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{db_path}",
        "LEADGEN_DATA_DIR": str(home / "data"),
        "CHAINLIT_AUTH_SECRET": uuid.uuid4().hex * 2,
    }
    for username, (agency, password) in USERS.items():
        subprocess.run(
            [LEADGEN, "user", "add", username, "--agency", agency, "--password-stdin"],
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
    try:
        yield Server(url, db_path, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


async def login(server: Server, username: str, password: str | None = None) -> str | None:
    password = password if password is not None else USERS[username][1]
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post("/login", data={"username": username, "password": password})
    return response.cookies.get("access_token") if response.status_code == 200 else None


class Session:
    """One browser tab, spoken over socket.io: send messages, click buttons, read what arrived."""

    def __init__(self, server: Server, token: str, thread_id: str | None = None) -> None:
        self.server, self.token, self.thread_id = server, token, thread_id
        self.session_id = str(uuid.uuid4())
        self.sio = socketio.AsyncClient()
        self.events: list[tuple[str, Any]] = []

        @self.sio.on("*")
        async def record(event: str, data: Any = None) -> None:
            self.events.append((event, data))

    async def __aenter__(self) -> Session:
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
                "threadId": self.thread_id,
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

    def elements(self, name: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        return [
            d
            for e, d in self.events
            if e == "element"
            and isinstance(d, dict)
            and (name is None or d.get("name") == name)
            and (kind is None or d.get("type") == kind)
        ]

    def lead_rows(self) -> list[dict[str, Any]]:
        """The rows of the latest leads table (the LeadsTable custom element's props)."""
        tables = self.elements("LeadsTable")
        return list(tables[-1]["props"]["rows"]) if tables else []

    def results(self) -> dict[str, str]:
        """The latest text of each "run finished" message, by message id (one per run)."""
        shown: dict[str, str] = {}
        for e, d in self.events:
            if e in ("new_message", "update_message") and str(d.get("output", "")).startswith(
                "**Run finished"
            ):
                shown[str(d["id"])] = str(d["output"])
        return shown

    async def wait_for(self, predicate: Any, timeout: float = 45) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                tail = "\n".join(m[:200] for m in self.messages()[-8:])
                raise AssertionError(f"timed out; last messages:\n{tail}")
            await asyncio.sleep(0.2)

    def thread(self) -> str:
        ids = [d["thread_id"] for e, d in self.events if e == "first_interaction"]
        return str(ids[-1]) if ids else str(self.thread_id)

    async def open_dossier(self, row: dict[str, Any]) -> int:
        """What a row's Dossier button in LeadsTable.jsx posts (`callAction`, no message id)."""
        return await self.click({"name": "open_dossier", "payload": {"opportunity_id": row["id"]}})

    def dossiers(self) -> list[str]:
        return [m for m in self.messages() if m.startswith("### Dossier")]

    async def click(self, action: dict[str, Any]) -> int:
        async with httpx.AsyncClient(base_url=self.server.url, cookies={"access_token": self.token}) as http:
            response = await http.post(
                "/project/action", json={"sessionId": self.session_id, "action": action}
            )
        return response.status_code


async def test_login_is_by_password_only(server: Server) -> None:
    assert await login(server, "ana") is not None
    assert await login(server, "ana", "wrong-password") is None
    assert await login(server, "nobody", "whatever-pass") is None
    async with httpx.AsyncClient(base_url=server.url) as http:
        config = (await http.get("/auth/config")).json()
        assert config["passwordAuth"] is True and config["headerAuth"] is False
        assert (await http.post("/auth/header")).status_code >= 400


async def test_a_conversation_runs_and_is_written_to_history(server: Server) -> None:
    token = await login(server, "ana")
    assert token
    async with Session(server, token) as tab:
        await tab.say("Find 3 dentists in Austin, TX")

        def files() -> list[dict[str, Any]]:
            return tab.elements(kind="file")

        # The result message, its leads table and its CSV arrive as separate events, in no
        # promised order.
        await tab.wait_for(lambda: tab.results() and any(r["dossier"] for r in tab.lead_rows()) and files())
        assert files()[-1]["name"].endswith(".csv")
        table = tab.elements("LeadsTable")[-1]
        assert table["forId"] in tab.results(), "the table belongs to the run's result message"
        rows = tab.lead_rows()
        assert 1 <= len(rows) <= 3 and [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
        thread_id = tab.thread()

        # A row's dossier button opens that lead's dossier, with its sources as links.
        row = next(r for r in rows if r["dossier"])
        assert await tab.open_dossier(row) == 200
        await tab.wait_for(lambda: bool(tab.dossiers() and tab.elements("DossierCard")))
        dossier = tab.dossiers()[-1]
        assert dossier.startswith(f"### Dossier · {row['name']}")
        assert "Sources: " in dossier and "](http" in dossier
        card = tab.elements("DossierCard")[-1]["props"]
        assert card["opportunity_id"] == row["id"] and card["sources"]
        assert all(str(s["url"]).startswith("http") for s in card["sources"])

    # Chainlit's data layer wrote the thread, its user and the steps (it only logs failures).
    assert server.rows('SELECT "userIdentifier" FROM threads WHERE id = ?', thread_id) == [("ana",)]
    assert server.rows("SELECT identifier FROM users WHERE identifier = 'ana'")
    outputs = [r[0] or "" for r in server.rows('SELECT output FROM steps WHERE "threadId" = ?', thread_id)]
    assert any("Find 3 dentists" in o for o in outputs), outputs
    assert any(o.startswith("**Run finished") for o in outputs) and any(
        "(sandbox model)" in o for o in outputs
    )
    # ... and the table, its CSV and the dossier card are kept with the thread (a reload shows them).
    # (Chainlit writes elements in tasks of their own: give the last one a moment.)
    deadline = time.monotonic() + 10
    while True:
        kept = server.rows('SELECT name, "forId" FROM elements WHERE "threadId" = ?', thread_id)
        if any(n == "DossierCard" for n, _ in kept) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert ("LeadsTable", table["forId"]) in kept, kept
    assert any(name.endswith(".csv") for name, _ in kept) and any(n == "DossierCard" for n, _ in kept)


async def test_another_agency_sees_no_threads_runs_or_dossiers(server: Server) -> None:
    ana, bo = await login(server, "ana"), await login(server, "bo")
    assert ana and bo
    async with Session(server, ana) as tab:
        await tab.say("Find 2 dentists in Austin, TX")
        await tab.wait_for(lambda: tab.results() and any(r["dossier"] for r in tab.lead_rows()))
        ana_thread = tab.thread()
        ana_lead = next(r for r in tab.lead_rows() if r["dossier"])
    run_id = server.rows("SELECT id FROM lead_gen_flows WHERE agency_id = 'acme' ORDER BY created_at DESC")[
        0
    ][0]

    async with httpx.AsyncClient(base_url=server.url, cookies={"access_token": bo}) as http:
        listed = await http.post("/project/threads", json={"pagination": {"first": 50}, "filter": {}})
        assert listed.status_code == 200
        assert ana_thread not in {t["id"] for t in listed.json()["data"]}
        assert (await http.get(f"/project/thread/{ana_thread}")).status_code in (401, 403, 404)

    # Reopening ana's thread with bo's cookie is refused at connect ("authorization failed").
    with pytest.raises(socketio.exceptions.ConnectionError):
        async with Session(server, bo, thread_id=ana_thread):
            pass

    async with Session(server, bo) as tab:
        await tab.say(f"status of run {run_id}")
        await tab.wait_for(lambda: any("not_found" in m or "No run" in m for m in tab.messages()))
        # A forged button payload (ana's lead) reads as not found for bo's agency.
        assert await tab.open_dossier(ana_lead) == 200
        await tab.wait_for(lambda: any("not available" in m for m in tab.messages()))
        assert not tab.dossiers() and not tab.elements("DossierCard")


async def test_a_second_run_of_a_campaign_says_it_reused_dossiers(server: Server) -> None:
    token = await login(server, "ana")
    assert token
    async with Session(server, token) as tab:
        for _ in range(2):  # the second run finds the same businesses a moment later
            finished = len(tab.results())
            await tab.say("Find 3 florists in Omaha, NE")
            await tab.wait_for(lambda n=finished: len(tab.results()) > n and tab.elements("LeadsTable"))
            await tab.wait_for(lambda: tab.elements("LeadsTable")[-1]["forId"] == list(tab.results())[-1])
        result = list(tab.results().values())[-1]
        assert "reused a recent dossier" in result
        reused = [r for r in tab.lead_rows() if r["reused"]]
        assert reused and all(r["dossier"] for r in reused)
        progress = [m for m in tab.messages() if m.startswith("**Run · ")]
        assert any("reused a recent dossier" in m for m in progress)
        # A reused row's dossier button opens the dossier the first run wrote.
        assert await tab.open_dossier(reused[0]) == 200
        await tab.wait_for(
            lambda: any(m.startswith(f"### Dossier · {reused[0]['name']}") for m in tab.dossiers())
        )
    kept = server.rows("SELECT COUNT(*) FROM lead_gen_flow_leads WHERE dossier_reused")
    assert kept[0][0] >= 1


async def test_a_large_run_waits_for_its_button_and_a_double_click_starts_it_once(server: Server) -> None:
    token = await login(server, "cy")
    assert token
    before = server.rows("SELECT COUNT(*) FROM lead_gen_flows")[0][0]
    async with Session(server, token) as tab:
        await tab.say("Find 12 plumbers in Denver, CO")
        await tab.wait_for(lambda: bool(tab.actions("confirm_run")))
        asked = next(m for m in tab.messages() if "Start the run" in m)
        assert "up to 25 credits" in asked
        assert server.rows("SELECT COUNT(*) FROM lead_gen_flows")[0][0] == before, "nothing before the click"

        start = tab.actions("confirm_run")[-1]
        run_id = start["payload"]["run_id"]
        assert await asyncio.gather(tab.click(start), tab.click(start)) == [200, 200]
        await tab.wait_for(
            lambda: any(m.startswith("**Run · 12 plumbers in Denver, CO") for m in tab.messages())
        )
        await tab.wait_for(lambda: any("already started" in m for m in tab.messages()))
    assert server.rows("SELECT COUNT(*) FROM lead_gen_flows")[0][0] == before + 1
    assert server.rows("SELECT num_leads_requested FROM lead_gen_flows WHERE id = ?", run_id) == [(12,)]


async def test_a_dossier_shares_its_report_as_a_link_and_a_pdf_and_another_agency_is_refused(
    server: Server,
) -> None:
    di, bo = await login(server, "di"), await login(server, "bo")
    assert di and bo
    from pypdf import PdfReader

    def shared() -> list[str]:
        return [m for m in tab.messages() if m.startswith("**Report for")]

    def pdfs() -> list[dict[str, Any]]:
        return [e for e in tab.elements(kind="file") if str(e.get("name", "")).endswith(".pdf")]

    async def pdf_text(element: dict[str, Any]) -> str:
        async with httpx.AsyncClient(base_url=server.url, cookies={"access_token": di}) as http:
            got = await http.get(
                f"/project/file/{element['chainlitKey']}", params={"session_id": tab.session_id}
            )
        assert got.status_code == 200 and got.content.startswith(b"%PDF"), got.status_code
        return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(got.content)).pages)

    async with Session(server, di) as tab:
        await tab.say("Find 2 dentists in Austin, TX")
        await tab.wait_for(lambda: tab.results() and any(r["dossier"] for r in tab.lead_rows()))
        row = next(r for r in tab.lead_rows() if r["dossier"])
        assert await tab.open_dossier(row) == 200
        await tab.wait_for(lambda: bool(tab.actions("share_report")))
        button = tab.actions("share_report")[-1]
        assert button["label"] == "Share report" and button["payload"] == {"opportunity_id": row["id"]}
        dossier_message = next(
            str(d["id"])
            for e, d in tab.events
            if e == "new_message" and str(d.get("output", "")).startswith("### Dossier")
        )
        assert button["forId"] == dossier_message, "the button belongs to the dossier message"

        # The button makes a link and attaches the report as a PDF naming the business.
        assert await tab.click(button) == 200
        await tab.wait_for(lambda: bool(shared() and pdfs()))
        link = re.search(r"\((http[^)]*/r/[A-Za-z0-9_-]{40,})\)", shared()[-1])
        assert link and row["name"] in shared()[-1]
        assert pdfs()[-1]["forId"] in {str(d["id"]) for e, d in tab.events if e == "new_message"}
        assert row["name"] in await pdf_text(pdfs()[-1])

        # The agent's share_report, by the lead's name, does the same.
        await tab.say(f"Share the report for {row['name']}")
        await tab.wait_for(lambda: len(shared()) >= 2 and len(pdfs()) >= 2)
        second = re.search(r"\((http[^)]*/r/[A-Za-z0-9_-]{40,})\)", shared()[-1])
        assert second and second[1] != link[1], "each share is a new link"
        assert row["name"] in await pdf_text(pdfs()[-1])

    links = server.rows("SELECT agency_id, revoked_at FROM report_links WHERE opportunity_id = ?", row["id"])
    assert links == [("delta", None), ("delta", None)]

    # Another agency's forged click on the same lead: refused, nothing made, nothing attached.
    async with Session(server, bo) as tab:
        assert await tab.click({"name": "share_report", "payload": {"opportunity_id": row["id"]}}) == 200
        await tab.wait_for(lambda: any("not available" in m for m in tab.messages()))
        await asyncio.sleep(0.5)
        assert not shared() and not pdfs()
    assert len(server.rows("SELECT id FROM report_links WHERE opportunity_id = ?", row["id"])) == 2
    assert server.rows("SELECT COUNT(*) FROM report_links WHERE agency_id = 'bravo'") == [(0,)]
