"""The outreach part of the dossier model's answer (its schema; the rules are in graphs/outreach.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from graphs.outreach import MAX_EMAIL_WORDS


class OutreachDraft(BaseModel):
    """Outreach to the business's owner, from the agency."""

    email_subject: str = Field(description="Email subject line naming the business")
    email_body: str = Field(description=f"Email body, under {MAX_EMAIL_WORDS} words, citing findings")
    call_opener: str = Field(description="One or two sentences to open a phone call")
