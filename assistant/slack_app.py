"""The Slack adapter: the package `assistant.slack`, under the name tests and `leadgen serve`
have always imported."""

from __future__ import annotations

from assistant.slack import *  # noqa: F403
from assistant.slack import __all__ as __all__
