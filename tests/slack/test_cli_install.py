"""`leadgen slack install|installs` against a temporary SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from leadgen.settings import reset_settings


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'l.db'}")
    monkeypatch.setenv("LEADGEN_DATA_DIR", str(tmp_path))
    reset_settings()
    return CliRunner()


def test_install_then_list_then_move(runner: CliRunner) -> None:
    done = runner.invoke(app, ["slack", "install", "T0123ABCD", "--agency", "acme", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {"team_id": "T0123ABCD", "agency_id": "acme", "source": "admin"}
    listed = json.loads(runner.invoke(app, ["slack", "installs", "--agency", "acme", "--json"]).stdout)
    assert [row["team_id"] for row in listed] == ["T0123ABCD"]

    moved = runner.invoke(app, ["slack", "install", "T0123ABCD", "--agency", "beta", "--json"])
    assert moved.exit_code == 0
    assert json.loads(runner.invoke(app, ["slack", "installs", "--agency", "acme", "--json"]).stdout) == []
    assert (
        len(json.loads(runner.invoke(app, ["slack", "installs", "--agency", "beta", "--json"]).stdout)) == 1
    )


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (["slack", "install", "not-a-team", "--agency", "acme"], "team id"),
        (["slack", "install", "T0123ABCD", "--agency", "Bad Agency"], "agency"),
        (["slack", "install", "T0123ABCD", "--bot-token", "xoxp-user"], "xoxb-"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    runner: CliRunner, tmp_path: Path, args: list[str], what: str
) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert what in result.output
    assert not (tmp_path / "l.db").exists()
