"""The web chat in a real browser: Playwright driving Debian's Chromium against a `leadgen chat`
subprocess on the sandbox, in the no-login local mode (header auth signs the page in).

One story, in order (each step leaves a screenshot in tests/artifacts/browser/):
ask for 5 leads in plain words and watch the phases advance; see the leads table with the
sandbox's businesses; open a dossier; run out of credits, see the paywall, upgrade, watch the
countdown and the run finish; reload the page mid-run and find the run still progressing.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from playwright.async_api import Page

    from tools.sandbox.server import SandboxHandle

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is absent: install Debian's chromium (apt-get install chromium)", allow_module_level=True
    )

LEADGEN = str(Path(sys.executable).parent / "leadgen")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "browser"
CLEARED = (
    "DATABASE_URL",
    "AUTUMN_SECRET_KEY",
    "OPENAI_API_KEY",
    "GOOGLE_PLACES_API_KEY",
    "FIRECRAWL_API_KEY",
    "CHAINLIT_AUTH_SECRET",
    "LEADGEN_AGENCY",
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ChatServer:
    def __init__(self, url: str, env: dict[str, str], home: Path) -> None:
        self.url, self.env, self.home = url, env, home

    def leadgen(self, *args: str) -> str:
        done = subprocess.run(
            [LEADGEN, *args], env=self.env, cwd=self.home, capture_output=True, text=True, check=True
        )
        return done.stdout


@pytest.fixture(scope="module")
def server(sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatServer]:
    home = tmp_path_factory.mktemp("browser-chat")
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env |= {
        "LEADGEN_SANDBOX_URL": sandbox.url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{home / 'leadgen.db'}",
        "LEADGEN_DATA_DIR": str(home / "data"),
    }
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
        yield ChatServer(url, env, home)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
async def page(server: ChatServer) -> AsyncIterator[Page]:
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1400, "height": 1000})
        tab = await context.new_page()
        tab.set_default_timeout(30_000)
        yield tab
        await browser.close()


async def shot(page: Page, name: str) -> None:
    """A full-page screenshot under tests/artifacts/browser/."""
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def ask(page: Page, text: str) -> None:
    box = page.locator("#chat-input")
    await box.fill(text)
    # Chainlit keeps the send button disabled until its socket is connected and ignores Enter
    # until then; the welcome page can be drawn before that, so wait for the button.
    await page.locator("#chat-submit:not([disabled])").wait_for()
    await page.locator("#chat-submit").click()


# True once the page marks exactly `arg` phases complete (✅; one run on the page when used).
PHASES_DONE = "n => document.body.innerText.split('✅').length - 1 === n"


async def test_leads_dossier_paywall_and_reload(
    page: Page, server: ChatServer, sandbox: SandboxHandle
) -> None:
    # Audits wait at the sandbox's Firecrawl until the test has seen the run mid-way: the
    # intermediate state is a place the run is held at, not a moment the test hopes to catch.
    sandbox.configure(hold=["firecrawl"])
    try:
        await page.goto(server.url)
        await page.locator("#starters").wait_for()
        await shot(page, "01-welcome")

        # 1. Plain words start a run; the phases advance live.
        await ask(page, "Find 5 dentists in Austin, TX")
        await page.get_by_text("Sandbox mode", exact=False).first.wait_for()
        await page.wait_for_function(PHASES_DONE, arg=4, timeout=60_000)  # audits held
        await shot(page, "02-run-progressing")
        sandbox.configure(hold=[])
        await page.wait_for_function(PHASES_DONE, arg=6, timeout=60_000)

        # 2. The results table lists the sandbox's businesses, with a CSV download.
        table = page.locator("table").last
        await table.wait_for()
        await page.get_by_text("Garcia Dental Care").first.wait_for()
        assert await table.locator("tr").count() >= 3
        await page.get_by_text(re.compile(r"leads-[0-9a-f]{8}\.csv")).first.wait_for()
        await shot(page, "03-results-table")

        # 3. A dossier opens from its button, with its sources as links.
        await page.get_by_role("button", name=re.compile("^Dossier: Garcia Dental Care")).first.click()
        await page.get_by_text("Dossier · Garcia Dental Care").first.wait_for()
        await page.get_by_text("Talking points").first.wait_for()
        await page.get_by_role("button", name="Scraped pages").last.click()
        await page.get_by_text("Scraped pages · audit").first.wait_for()
        await shot(page, "04-dossier")

        # 4. Out of credits: the paywall, an upgrade, the countdown, and the run finishes.
        server.leadgen("credits", "set", "3")
        await ask(page, "Find 5 plumbers in Denver, CO")
        await page.get_by_text(re.compile(r"Run [0-9a-f]{8} paused: out of credits")).first.wait_for(
            timeout=60_000
        )
        await page.get_by_text("short by").first.wait_for()
        await shot(page, "05-paywall")
        # One click: a click the UI loses fails this test (the button is enabled by now, and the
        # paywall is not redrawn while the run stays paused).
        await page.get_by_role("button", name=re.compile(r"^Upgrade: Pro")).last.click()
        await page.get_by_text("Pro plan applied").first.wait_for(timeout=60_000)
        await page.get_by_text(re.compile(r"Resuming run [0-9a-f]{8} in \d s")).first.wait_for(timeout=15_000)
        await shot(page, "06-countdown")
        await page.get_by_text(re.compile(r"Run [0-9a-f]{8} finished")).nth(1).wait_for(timeout=60_000)
        await shot(page, "07-resumed-and-finished")
        assert "500" in server.leadgen("credits", "history")

        # 5. Reload mid-run: the conversation comes back and the run is still progressing.
        # Its audits are held until the reloaded page shows the run running again.
        sandbox.configure(hold=["firecrawl"])
        await ask(page, "Find 4 roofers in Phoenix, AZ")
        await page.get_by_text(re.compile(r"4 roofers in Phoenix, AZ · running")).first.wait_for(
            timeout=30_000
        )
        await page.reload()
        if "/thread/" not in page.url:  # still on the home route: open the thread from the sidebar
            await page.locator("#thread-history").get_by_text("Find 4 roofers in Phoenix, AZ").first.click()
        await page.get_by_text("Find 4 roofers in Phoenix, AZ").first.wait_for()
        # A new live view attaches (on_chat_resume) and keeps advancing.
        live = page.get_by_text(re.compile(r"4 roofers in Phoenix, AZ · running")).last
        await live.wait_for(timeout=30_000)
        await shot(page, "08-after-reload-still-running")
        sandbox.configure(hold=[])
        # It finishes in the reloaded page: the run went on, and the new view reports its end.
        await page.get_by_text(re.compile(r"Run [0-9a-f]{8} finished")).last.wait_for(timeout=180_000)
        await page.get_by_text("Roofing").first.wait_for()
        await shot(page, "09-reloaded-run-finished")
    finally:
        sandbox.reset_config()
