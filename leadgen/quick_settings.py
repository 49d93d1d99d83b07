"""The settings a read command needs, read the way `leadgen.settings.Settings` reads them, without
pydantic (whose import alone costs a read command half its time budget).

Same sources, same order: environment variables (names case-insensitive) over `.env` in the
working directory (read with python-dotenv, as pydantic-settings does). `read_quick_settings()`
returns None whenever the full settings might disagree or refuse: a value this module is not
sure pydantic would accept the same way, a placeholder secret in production. The caller then
takes the full path, which gives the full answer (or the full error).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

ENV_FILE = ".env"

_INT = re.compile(r"[0-9]{1,9}")
_FLOAT = re.compile(r"[0-9]{1,9}(\.[0-9]{1,9})?")


def _int_in(low: int, high: int | None = None) -> Callable[[str], bool]:
    return lambda text: (
        bool(_INT.fullmatch(text)) and low <= int(text) and (high is None or int(text) <= high)
    )


def _float_in(low: float, high: float | None = None, *, above: bool = False) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        if not _FLOAT.fullmatch(text):
            return False
        value = float(text)
        return (value > low if above else value >= low) and (high is None or value <= high)

    return check


def _one_of(*allowed: str) -> Callable[[str], bool]:
    return lambda text: text in allowed


# Every field of `Settings` whose validation can fail, with a check that accepts only values
# pydantic surely accepts the same way (tests/cli_reads/test_quick_settings.py keeps this list
# complete). A plain `str` field accepts anything and needs no entry.
CHECKS: dict[str, Callable[[str], bool]] = {
    "leadgen_env": _one_of("development", "test", "production"),
    "leadgen_data_dir": lambda text: "\x00" not in text,
    "leadgen_starting_credits": _int_in(0),
    "leadgen_audit_concurrency": _int_in(1, 64),
    "leadgen_executor": _one_of("inprocess", "queue"),
    "leadgen_lease_seconds": _float_in(0, above=True),
    "leadgen_self_serve_credits": _one_of("true", "false", "1", "0", "yes", "no", "on", "off"),
    "leadgen_signin_window_seconds": _float_in(0, above=True),
    "leadgen_signin_max_failures_per_user": _int_in(1),
    "leadgen_signin_max_failures_per_address": _int_in(1),
    "leadgen_dossier_max_age_days": _float_in(0, 36500),
    "leadgen_report_link_days": _float_in(0, 3650, above=True),
    "leadgen_sqlite_busy_seconds": _float_in(0, above=True),
}
# Secrets the full settings refuse to hold a placeholder in, in production (Settings' validator).
PRODUCTION_SECRETS = ("vapi_webhook_secret", "slack_signing_secret", "chainlit_auth_secret")


@dataclass(frozen=True)
class QuickSettings:
    database_url: str  # as `Settings.resolved_database_url` gives it
    agency: str  # LEADGEN_AGENCY as set ("" when set empty), "default" when unset
    uses_autumn: bool
    executor: str
    busy_seconds: float


def _sources(environ: Mapping[str, str]) -> dict[str, str | None] | None:
    """Lower-cased variables: `.env` first, the environment over it. None when `.env` is not a
    plain file (a FIFO can be read once only: leave it to the full settings)."""
    values: dict[str, str | None] = {}
    env_file = Path(ENV_FILE).expanduser()
    if env_file.exists() and not env_file.is_file():
        return None
    if env_file.is_file():
        from dotenv import dotenv_values

        values.update({k.lower(): v for k, v in dotenv_values(env_file, encoding="utf-8").items()})
    values.update({k.lower(): v for k, v in environ.items()})
    return values


def read_quick_settings(environ: Mapping[str, str] | None = None) -> QuickSettings | None:
    from leadgen.placeholders import is_placeholder

    values = _sources(os.environ if environ is None else environ)
    if values is None:
        return None
    for name, check in CHECKS.items():
        if name in values:
            value = values[name]
            if value is None or not check(value):
                return None
    for name in ("database_url", "leadgen_agency", "autumn_secret_key", *PRODUCTION_SECRETS):
        if name in values and values[name] is None:  # `NAME` alone on a line of `.env`
            return None
    if values.get("leadgen_env") == "production" and any(
        is_placeholder(values.get(name) or "") for name in PRODUCTION_SECRETS
    ):
        return None
    database_url = values.get("database_url") or ""
    if not database_url:
        data_dir = Path(values.get("leadgen_data_dir") or ".leadgen")
        database_url = f"sqlite+aiosqlite:///{(data_dir / 'leadgen.db').resolve()}"
    return QuickSettings(
        database_url=database_url,
        agency=values.get("leadgen_agency", "default") or "",
        uses_autumn=bool(values.get("autumn_secret_key")),
        executor=values.get("leadgen_executor") or "inprocess",
        busy_seconds=float(values.get("leadgen_sqlite_busy_seconds") or 30.0),
    )
