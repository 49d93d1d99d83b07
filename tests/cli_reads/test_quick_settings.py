"""leadgen/quick_settings.py reads what `Settings` reads, and never accepts what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from leadgen.quick_settings import CHECKS, read_quick_settings
from leadgen.settings import Settings, UnsafeSetting

_CLEARED = ("DATABASE_URL", "LEADGEN_AGENCY", "LEADGEN_DATA_DIR", "AUTUMN_SECRET_KEY", "LEADGEN_ENV")


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (*_CLEARED, *(name.upper() for name in CHECKS)):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no developer `.env`


def test_every_field_that_can_fail_validation_is_checked() -> None:
    can_fail = {
        name
        for name, info in Settings.model_fields.items()
        if info.annotation is not str or info.metadata  # Literal, Path, numbers, bool; constrained str
    }
    assert can_fail == set(CHECKS)


SAMPLES = ["", " ", "0", "1", "-1", "2", "64", "65", "1.5", "0.0", "30", "1e3", "36500", "36501", "abc",
           "true", "True", "false", "yes", "off", "none", "development", "test", "production",
           "Production", "inprocess", "queue", " 5", "5 ", "1_000", "999999999", "0x10", "nan", "inf"]  # fmt: skip


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_a_value_the_quick_check_accepts_is_one_settings_accept(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    accepted = 0
    for value in SAMPLES:
        if not CHECKS[name](value):
            continue
        accepted += 1
        monkeypatch.setenv(name.upper(), value)
        Settings()  # raises when the full settings refuse what the quick check accepted
    assert accepted >= 1


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"DATABASE_URL": "sqlite:///x.db", "LEADGEN_AGENCY": "acme"},
        {
            "LEADGEN_DATA_DIR": "elsewhere",
            "AUTUMN_SECRET_KEY": "am_sk_x",
            "LEADGEN_SQLITE_BUSY_SECONDS": "2.5",
        },
        {"leadgen_agency": "", "LEADGEN_EXECUTOR": "queue"},
        {"LEADGEN_ENV": "production", "SLACK_SIGNING_SECRET": "0123456789abcdef"},
    ],
)
def test_quick_settings_agree_with_settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    full = Settings()
    quick = read_quick_settings()
    assert quick is not None
    assert quick.database_url == full.resolved_database_url
    assert quick.agency == full.leadgen_agency
    assert quick.uses_autumn == full.uses_autumn
    assert quick.executor == full.leadgen_executor
    assert quick.busy_seconds == full.leadgen_sqlite_busy_seconds


def test_dotenv_under_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "DATABASE_URL=sqlite:///from-dotenv.db\nleadgen_agency=dotenv\nAUTUMN_SECRET_KEY=\n", encoding="utf-8"
    )
    monkeypatch.setenv("LEADGEN_AGENCY", "environment")
    quick, full = read_quick_settings(), Settings()
    assert quick is not None
    assert (
        (quick.database_url, quick.agency, quick.uses_autumn)
        == (
            full.resolved_database_url,
            full.leadgen_agency,
            full.uses_autumn,
        )
        == ("sqlite:///from-dotenv.db", "environment", False)
    )


def test_a_placeholder_secret_in_production_is_left_to_the_full_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEADGEN_ENV", "production")
    monkeypatch.setenv("VAPI_WEBHOOK_SECRET", "changeme")
    with pytest.raises(UnsafeSetting):
        Settings()
    assert read_quick_settings() is None


def test_a_refused_value_is_left_to_the_full_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADGEN_AUDIT_CONCURRENCY", "65")
    with pytest.raises(ValidationError):
        Settings()
    assert read_quick_settings() is None


def test_a_blank_self_serve_setting_reads_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADGEN_SELF_SERVE_CREDITS", "")
    assert Settings().leadgen_self_serve_credits is None
    monkeypatch.setenv("LEADGEN_SELF_SERVE_CREDITS", "false")
    assert Settings().leadgen_self_serve_credits is False


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("LEADGEN_SELF_SERVE_CREDITS", "maybe", "valid boolean"),
        ("LEADGEN_AUDIT_CONCURRENCY", "500", "less than or equal to 64"),
        ("LEADGEN_EXECUTOR", "threads", "'inprocess' or 'queue'"),
    ],
)
def test_a_bad_setting_is_named_with_what_is_allowed(
    name: str, value: str, allowed: str, tmp_path: Path
) -> None:
    """As a whole process: the quick path hands a value it is unsure of to the full CLI, which
    must answer with the variable, its value and the rule, exit 2, and write no database."""
    import os
    import subprocess
    import sys

    env = {**os.environ, name: value, "LEADGEN_DATA_DIR": str(tmp_path / "data")}
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [str(Path(sys.executable).with_name("leadgen")), "credits"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert f"{name} = {value!r}" in done.stderr and allowed in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert not (tmp_path / "data").exists()
