"""`childlink db ...` drives migrations and reports problems as one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from childlink.cli.db import app
from childlink.errors import DatabaseError

CHILDLINK = Path(sys.executable).with_name("childlink")


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"CHILDLINK_DATABASE_URL": database_url, "CHILDLINK_DATA_DIR": str(tmp_path / "var")}


def test_upgrade_current_check_downgrade(cli_env: dict[str, str]) -> None:
    runner = CliRunner()

    before = runner.invoke(app, ["current", "--json"], env=cli_env)
    assert before.exit_code == 0, before.output
    assert json.loads(before.output)["revision"] is None

    upgraded = runner.invoke(app, ["upgrade"], env=cli_env)
    assert upgraded.exit_code == 0, upgraded.output
    assert "(head)" in upgraded.output
    assert "6 department(s) and 8 data source(s) added" in upgraded.output

    again = runner.invoke(app, ["upgrade"], env=cli_env)
    assert "0 department(s) and 0 data source(s) added" in again.output

    now = runner.invoke(app, ["current", "--json"], env=cli_env)
    assert json.loads(now.output)["up_to_date"] is True
    assert "(head)" in runner.invoke(app, ["current"], env=cli_env).output

    checked = runner.invoke(app, ["check"], env=cli_env)
    assert checked.exit_code == 0, checked.output
    assert "schema matches" in checked.output

    down = runner.invoke(app, ["downgrade", "base", "--yes"], env=cli_env)
    assert down.exit_code == 0, down.output
    assert "none (empty database" in down.output


def test_downgrade_asks_first(cli_env: dict[str, str]) -> None:
    runner = CliRunner()
    runner.invoke(app, ["upgrade", "--no-seed"], env=cli_env)
    refused = runner.invoke(app, ["downgrade", "base"], env=cli_env, input="n\n")
    assert refused.exit_code != 0
    current = runner.invoke(app, ["current", "--json"], env=cli_env)
    assert json.loads(current.output)["up_to_date"] is True


def test_unreachable_database_raises_database_error(tmp_path: Path) -> None:
    env = {"CHILDLINK_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"}
    result = CliRunner().invoke(app, ["current"], env=env)
    assert isinstance(result.exception, DatabaseError)


@pytest.mark.parametrize("command", [[], ["upgrade"], ["downgrade"], ["current"], ["check"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


@pytest.mark.parametrize(
    "url",
    ["postgresql+psycopg://postgres:s3cret@127.0.0.1:1/none", "not a url", "mysql://x@y/z"],
)
def test_entry_point_prints_one_line_without_traceback(url: str, tmp_path: Path) -> None:
    env = {**os.environ, "CHILDLINK_DATABASE_URL": url, "NO_COLOR": "1", "COLUMNS": "200"}
    result = subprocess.run(
        [str(CHILDLINK), "db", "current"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    assert "s3cret" not in result.stderr
