"""Fixtures for the chat agent tests: the real agent, run service and ledger on a fresh SQLite
file, talking to the session sandbox's scripted model over HTTP.

`chat` is an open `assistant.agent.ChatServices`; `say(text, agency=..., thread=..., user=...)`
runs one user turn (as the local admin unless `user` names another) and returns the `AgentTurn`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from leadgen.settings import reset_settings

if TYPE_CHECKING:
    from assistant.agent import AgentTurn, ChatServices
    from tools.sandbox.server import SandboxHandle

# Variables that would leak the developer's own setup (real keys, another database) into a test.
CLEARED = (
    "DATABASE_URL",
    "LEADGEN_AGENCY",
    "LEADGEN_STARTING_CREDITS",
    "AUTUMN_SECRET_KEY",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "GOOGLE_PLACES_API_KEY",
    "FIRECRAWL_API_KEY",
    "FIRECRAWL_API_URL",
    "CHAINLIT_AUTH_SECRET",
)

Say = Callable[..., Awaitable["AgentTurn"]]


@pytest.fixture
def chat_env(
    tmp_path: Path, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    env = {
        "LEADGEN_SANDBOX_URL": sandbox.url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}",
        "LEADGEN_DATA_DIR": str(tmp_path / "data"),
        "LEADGEN_LEASE_SECONDS": "5",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no developer `.env`
    reset_settings()
    yield env
    reset_settings()


@pytest.fixture
async def chat(chat_env: dict[str, str]) -> AsyncIterator[ChatServices]:
    from assistant.agent import open_chat

    async with open_chat() as services:
        yield services


@pytest.fixture
def say(chat: ChatServices) -> Say:
    async def run(
        text: str, *, agency: str = "acme", thread: str = "thread-acme", user: str = "local", **extra: Any
    ) -> AgentTurn:
        # By default the web chat's no-login local user: the operator at the machine, an admin.
        context = chat.context(agency, user_id=user, thread_id=thread)
        return await chat.agent.reply(text, thread_id=thread, context=context, **extra)

    return run
