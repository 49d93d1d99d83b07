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


# True once the page shows exactly `arg` phases done (one run on the page when used).
PHASES_DONE = "n => document.body.innerText.split('✓ ').length - 1 === n"


async def test_a_second_server_on_the_port_is_refused_and_the_first_unharmed(
    page: Page, server: ChatServer
) -> None:
    port = server.url.rsplit(":", 1)[1]
    second = subprocess.run(
        [LEADGEN, "chat", "--port", port], env=server.env, cwd=server.home, capture_output=True, text=True
    )
    assert second.returncode == 1
    assert f"a chat may already be running at http://127.0.0.1:{port}" in second.stderr
    # The first still serves, and its files folder is its own (the second deleted nothing).
    files = [p for p in (server.home / "data" / "chat-files").iterdir() if p.is_dir()]
    assert len(files) == 1
    await page.goto(server.url)
    await page.locator("#starters").wait_for()
    await shot(page, "00-second-server-refused-first-unharmed")


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

        # 1. Plain words start a run; the phases advance live, with friendly names.
        await ask(page, "Find 5 dentists in Austin, TX")
        await page.get_by_text("Sandbox mode", exact=False).first.wait_for()
        await page.wait_for_function(PHASES_DONE, arg=4, timeout=60_000)  # audits held
        await page.get_by_text("Reading websites").first.wait_for()
        assert "filter_rank" not in await page.locator("body").inner_text()
        await shot(page, "02-run-progressing")
        sandbox.configure(hold=[])
        await page.wait_for_function(PHASES_DONE, arg=6, timeout=60_000)

        # 2. The leads table: sortable, filterable, a dossier button per row, a CSV download.
        table = page.locator("#leads-table").last
        await table.wait_for(timeout=30_000)
        await table.get_by_text("Garcia Dental Care").first.wait_for()
        rows = table.locator(".lead-row")
        assert await rows.count() >= 3
        await page.get_by_text(re.compile(r"leads-[0-9a-f]{8}\.csv")).first.wait_for()
        await table.get_by_label("Sort by").select_option("reviews")
        reviews = [
            int(t) if t.strip().isdigit() else 0
            for t in await table.locator(".lead-row td:nth-child(5)").all_inner_texts()
        ]
        assert reviews == sorted(reviews, reverse=True)
        statuses = await table.get_by_label("Status").locator("option").all_inner_texts()
        if len(statuses) > 2:
            await table.get_by_label("Status").select_option(statuses[1])
            shown = await table.locator(".lead-row td:nth-child(6)").all_inner_texts()
            assert shown and all(s.startswith(statuses[1]) for s in shown)
            await table.get_by_label("Status").select_option("all")
        await shot(page, "03-results-table")

        # 3. A dossier opens from its row, as a card with findings and sources.
        # The first lead with a dossier (a closed or siteless lead gets a brief, not a dossier).
        opener = table.get_by_role("button", name=re.compile(r"^Dossier: ")).first
        researched = (await opener.get_attribute("aria-label") or "").removeprefix("Dossier: ")
        assert researched
        await opener.click()
        await page.get_by_text(f"Dossier · {researched}").first.wait_for()
        card = page.locator("#dossier-card").last
        await card.wait_for()
        await card.get_by_role("button", name="Scraped pages").click()
        await page.get_by_text("Scraped pages ·").first.wait_for()
        await shot(page, "04-dossier")

        # 4. "call <name>" prepares the right lead's call and asks first; the call is followed
        # to its end and its charge.
        await ask(page, f"call {researched}")
        confirm = page.get_by_role("button", name=f"Call {researched}").last
        await confirm.wait_for(timeout=30_000)
        assert "[]" in server.leadgen("calls", "--json")  # nothing dialled before the click
        await shot(page, "05-call-confirmation")
        await confirm.click()
        await page.get_by_text(
            re.compile(rf"The call to {re.escape(researched)} ended .*credits? billed")
        ).first.wait_for(timeout=60_000)
        await shot(page, "06-call-reported")

        # 5. Out of credits: the paywall, an upgrade, the countdown, and the run finishes.
        server.leadgen("credits", "set", "3")
        await ask(page, "Find 5 plumbers in Denver, CO")
        await page.get_by_text("Paused: out of credits · 5 plumbers in Denver, CO").first.wait_for(
            timeout=60_000
        )
        await page.get_by_text("short by").first.wait_for()
        await shot(page, "07-paywall")
        # Reopened while paused: the paywall is there once, with its buttons.
        await page.reload()
        await page.get_by_text("Paused: out of credits · 5 plumbers in Denver, CO").first.wait_for(
            timeout=30_000
        )
        await page.get_by_role("button", name=re.compile(r"^Upgrade: Pro")).last.wait_for(timeout=30_000)
        assert await page.get_by_text("Paused: out of credits · 5 plumbers in Denver, CO").count() == 1
        await shot(page, "08-paywall-after-reopen")
        await page.get_by_role("button", name=re.compile(r"^Upgrade: Pro")).last.click()
        await page.get_by_text("Pro plan applied").first.wait_for(timeout=60_000)
        await page.get_by_text(re.compile(r"Resuming the run in \d s")).first.wait_for(timeout=15_000)
        await page.get_by_text("Run finished · 5 plumbers in Denver, CO").first.wait_for(timeout=60_000)
        await shot(page, "09-resumed-and-finished")
        assert "500" in server.leadgen("credits", "history")

        # 6. Reload mid-run: one current view of the run, still progressing.
        sandbox.configure(hold=["firecrawl"])
        await ask(page, "Find 4 roofers in Phoenix, AZ")
        running = re.compile(r"Run · 4 roofers in Phoenix, AZ · running")
        await page.get_by_text(running).first.wait_for(timeout=30_000)
        await page.reload()
        await page.get_by_text("Find 4 roofers in Phoenix, AZ").first.wait_for()
        await page.get_by_text(running).first.wait_for(timeout=30_000)
        assert await page.get_by_text(re.compile(r"Run · 4 roofers in Phoenix, AZ ·")).count() == 1
        await shot(page, "10-after-reload-one-view")
        sandbox.configure(hold=[])
        await page.get_by_text("Run finished · 4 roofers in Phoenix, AZ").first.wait_for(timeout=180_000)

        # 7. Reopened when complete: the table, its dossier buttons and the CSV are still there.
        await page.reload()
        await page.get_by_text("Run finished · 4 roofers in Phoenix, AZ").first.wait_for(timeout=30_000)
        table = page.locator("#leads-table").last
        await table.wait_for(timeout=30_000)
        csv_link = page.get_by_text(re.compile(r"leads-[0-9a-f]{8}\.csv")).last
        await csv_link.wait_for()
        assert await page.get_by_text(re.compile(r"Run · 4 roofers in Phoenix, AZ ·")).count() == 1
        await table.get_by_role("button", name=re.compile("^Dossier: ")).first.click()
        await page.locator("#dossier-card").last.wait_for(timeout=30_000)
        await shot(page, "11-reopened-completed-thread")

        # 8. At phone width the table becomes cards that fit.
        await page.set_viewport_size({"width": 390, "height": 844})
        await page.reload()
        await page.locator("#leads-table").last.wait_for(timeout=30_000)
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1
        await shot(page, "12-phone-width")
    except Exception:
        await shot(page, "zz-failure")
        (ARTIFACTS / "zz-failure.log").write_text((server.home / "chat.log").read_text()[-20000:])
        raise
    finally:
        sandbox.reset_config()
        await page.set_viewport_size({"width": 1400, "height": 1000})


def _runs_for(server: ChatServer, vertical: str) -> list[dict[str, object]]:
    import json

    runs = json.loads(server.leadgen("runs", "--json"))
    return [r for r in runs if vertical in json.dumps(r)]


async def test_a_large_run_waits_for_start_and_a_double_click_starts_it_once(
    page: Page, server: ChatServer
) -> None:
    """More than ten leads: the chat asks first (what it may cost, Start / Cancel); Cancel writes
    nothing, and Start, double-clicked, starts one run that finishes."""
    server.leadgen("credits", "set", "200")
    try:
        await page.goto(server.url)
        await page.locator("#starters").wait_for()

        await ask(page, "Find 12 electricians in Tulsa, OK")
        await page.get_by_text("Ready to find 12 electricians in Tulsa, OK").first.wait_for(timeout=60_000)
        await page.get_by_role("button", name="Cancel").last.click()
        await page.get_by_text("Cancelled: nothing was charged.").first.wait_for()
        assert await page.get_by_role("button", name="Start the run").count() == 0
        assert _runs_for(server, "electricians") == []
        assert "200" in server.leadgen("credits")

        await ask(page, "Find 12 locksmiths in Tulsa, OK")
        await page.get_by_text("Ready to find 12 locksmiths in Tulsa, OK").first.wait_for(timeout=60_000)
        await shot(page, "13-large-run-confirmation")
        assert _runs_for(server, "locksmiths") == []  # nothing written before the click
        await page.get_by_role("button", name="Start the run").last.dblclick()
        await page.get_by_text(re.compile(r"Run finished · 12 locksmiths in Tulsa, OK")).first.wait_for(
            timeout=240_000
        )
        assert len(_runs_for(server, "locksmiths")) == 1
        # Answered: its Cancel went with its Start (it would have said nothing was charged).
        assert await page.get_by_role("button", name="Cancel").count() == 0
        assert await page.get_by_text(re.compile(r"Run · 12 locksmiths in Tulsa, OK ·")).count() == 1
        await shot(page, "14-large-run-started-once")
    except Exception:
        await shot(page, "zz-failure-start")
        (ARTIFACTS / "zz-failure-start.log").write_text((server.home / "chat.log").read_text()[-20000:])
        raise
