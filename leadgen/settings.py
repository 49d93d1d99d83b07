"""One settings class for the whole product, read from the environment and `.env`, built lazily.

`get_settings()` builds it on first use, so importing a module never reads the environment and
tests can change variables and call `reset_settings()`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from leadgen.placeholders import is_placeholder

ProviderName = Literal["places", "firecrawl", "openai", "autumn", "vapi", "slack"]

# Where each provider lives below the sandbox's base URL (README, "The sandbox").
SANDBOX_PREFIXES: dict[str, str] = {
    "places": "/places",
    "firecrawl": "",
    "openai": "/openai/v1",
    "autumn": "/autumn",
    "vapi": "/vapi",
    "slack": "/slack/api/",
}
REAL_BASE_URLS: dict[str, str] = {
    "places": "https://places.googleapis.com",
    "firecrawl": "https://api.firecrawl.dev",
    "openai": "https://api.openai.com/v1",
    "autumn": "https://api.useautumn.com",
    "vapi": "https://api.vapi.ai",
    "slack": "https://slack.com/api/",
}
# The sandbox accepts any key of the right shape; these are what clients send when the user set none.
SANDBOX_KEYS: dict[str, str] = {
    "places": "AIzaSandboxKey",
    "firecrawl": "fc-sandbox",
    "openai": "sk-sandbox",
    "autumn": "am_sk_test_sandbox",
    "vapi": "vapi-sandbox",
    "slack": "xoxb-sandbox",
}
KEY_VARIABLES: dict[str, str] = {
    "places": "GOOGLE_PLACES_API_KEY",
    "firecrawl": "FIRECRAWL_API_KEY",
    "openai": "OPENAI_API_KEY",
    "autumn": "AUTUMN_SECRET_KEY",
    "vapi": "VAPI_API_KEY",
    "slack": "SLACK_BOT_TOKEN",
}


class MissingProviderKey(RuntimeError):
    """A provider is needed, but neither its key nor the sandbox is configured."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.variable = KEY_VARIABLES[provider]
        super().__init__(
            f"{self.variable} is not set: set it to use the real service, or set LEADGEN_SANDBOX_URL "
            f"(start one with `leadgen sandbox`) to use the built-in sandbox instead."
        )


class UnsafeSetting(RuntimeError):
    """A secret still holds a placeholder outside development."""


@dataclass(frozen=True)
class ProviderEndpoint:
    """Where a client should send its requests and with which credential."""

    provider: str
    base_url: str
    api_key: str
    sandbox: bool


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    leadgen_env: Literal["development", "test", "production"] = "development"
    leadgen_data_dir: Path = Path(".leadgen")
    database_url: str = ""
    leadgen_agency: str = "default"
    leadgen_starting_credits: int = Field(default=20, ge=0)
    leadgen_audit_concurrency: int = Field(default=4, ge=1, le=64)
    leadgen_executor: Literal["inprocess", "queue"] = "inprocess"
    leadgen_sandbox_url: str = ""
    leadgen_public_url: str = ""
    leadgen_lease_seconds: float = Field(default=15.0, gt=0)
    # Who may add credits without paying (graphs/accounts.py): unset = only in development or
    # test against the sandbox; true/false decides explicitly. The local ledger only.
    leadgen_self_serve_credits: bool | None = None

    @field_validator("leadgen_self_serve_credits", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `LEADGEN_SELF_SERVE_CREDITS=` in a .env reads as "not decided", like leaving it out.
        return None if isinstance(value, str) and not value.strip() else value

    # Password sign-in throttle (graphs/identity.py): failures counted in a sliding window.
    leadgen_signin_window_seconds: float = Field(default=900.0, gt=0)
    leadgen_signin_max_failures_per_user: int = Field(default=5, ge=1)
    leadgen_signin_max_failures_per_address: int = Field(default=20, ge=1)
    # A lead whose dossier is younger than this is not audited (or charged) again; 0 = always.
    leadgen_dossier_max_age_days: float = Field(default=30, ge=0, le=36500)
    # A report's share link answers for this long after it was made (graphs/reports.py).
    leadgen_report_link_days: float = Field(default=30, gt=0, le=3650)
    # How long a SQLite writer waits for another process's write to end before giving up.
    leadgen_sqlite_busy_seconds: float = Field(default=30.0, gt=0)

    google_places_api_key: str = ""
    firecrawl_api_key: str = ""
    firecrawl_api_url: str = ""
    openai_api_key: str = ""
    openai_base_url: str = ""
    openai_model: str = "gpt-4o-mini"
    autumn_secret_key: str = ""
    autumn_api_url: str = ""
    vapi_api_key: str = ""
    vapi_assistant_id: str = ""
    vapi_phone_number_id: str = ""
    vapi_webhook_secret: str = ""
    slack_bot_token: str = ""
    slack_signing_secret: str = ""
    slack_app_token: str = ""
    chainlit_auth_secret: str = ""

    @model_validator(mode="after")
    def _refuse_placeholders_outside_development(self) -> Settings:
        if self.leadgen_env != "production":
            return self
        for name in ("vapi_webhook_secret", "slack_signing_secret", "chainlit_auth_secret"):
            value = getattr(self, name)
            if is_placeholder(value):
                raise UnsafeSetting(
                    f"{name.upper()} holds the placeholder {value!r}; set a real secret "
                    f"(e.g. `openssl rand -hex 32`) before running with LEADGEN_ENV=production."
                )
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.leadgen_data_dir / 'leadgen.db').resolve()}"

    @property
    def uses_autumn(self) -> bool:
        return bool(self.autumn_secret_key)

    def endpoint(self, provider: ProviderName) -> ProviderEndpoint:
        """Base URL and key for `provider`: the real service when its key is set, else the sandbox."""
        key = str(getattr(self, KEY_VARIABLES[provider].lower()))
        override = {
            "firecrawl": self.firecrawl_api_url,
            "openai": self.openai_base_url,
            "autumn": self.autumn_api_url,
        }.get(provider, "")
        if key and not self.leadgen_sandbox_url:
            return ProviderEndpoint(provider, override or REAL_BASE_URLS[provider], key, sandbox=False)
        if self.leadgen_sandbox_url:
            base = self.leadgen_sandbox_url.rstrip("/") + SANDBOX_PREFIXES[provider]
            return ProviderEndpoint(provider, base, key or SANDBOX_KEYS[provider], sandbox=True)
        raise MissingProviderKey(provider)

    def missing_provider_keys(self) -> list[str]:
        """Variables of providers that would need the sandbox (empty when the sandbox is set)."""
        if self.leadgen_sandbox_url:
            return []
        return [var for var in KEY_VARIABLES.values() if not getattr(self, var.lower())]


@functools.cache
def get_settings() -> Settings:
    return Settings()


def settings_problems(exc: ValidationError) -> str:
    """A refused setting in the words of its environment variable: which one, what it held, and
    what is allowed (pydantic's message)."""
    problems = []
    for error in exc.errors():
        name = "_".join(str(part) for part in error["loc"]).upper() or "settings"
        given = error.get("input")
        shown = f" = {given!r}" if isinstance(given, str | int | float) else ""
        problems.append(f"{name}{shown}: {error['msg']}")
    return "; ".join(problems)


def reset_settings() -> None:
    """Forget the cached settings (tests and the CLI call this after changing the environment)."""
    get_settings.cache_clear()
