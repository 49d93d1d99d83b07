"""One browser session's binding to its user and agency, which every callback checks first."""

from __future__ import annotations

import chainlit as cl

from assistant.agent import ChatContext
from assistant.chainlit_ui.lifecycle import STATE
from graphs.identity import agency_of
from leadgen.settings import get_settings


def session_user() -> str:
    user = cl.context.session.user
    if user is None:
        raise PermissionError("not signed in")
    return user.identifier


async def bind_session() -> str | None:
    """Look the user's agency up now (not from the token: a removed user loses access)."""
    username = session_user()
    agency = await agency_of(STATE.chat.database, username, local_agency=get_settings().leadgen_agency)
    if agency is None:
        await cl.Message(content="Your account no longer exists; ask an admin to add you again.").send()
        return None
    cl.user_session.set("agency_id", agency)
    cl.user_session.set("username", username)
    cl.user_session.set("views", {})
    return agency


async def ensure_bound() -> bool:
    """Bind the session if on_chat_start (a task of its own) has not finished yet: a message or
    a click can arrive first."""
    if cl.user_session.get("agency_id"):
        return True
    return await bind_session() is not None


def session_agency() -> str:
    agency = cl.user_session.get("agency_id")
    if not agency:
        raise PermissionError("this session has no agency")
    return str(agency)


def chat_context() -> ChatContext:
    return STATE.chat.context(
        session_agency(), user_id=cl.user_session.get("username"), thread_id=cl.context.session.thread_id
    )
