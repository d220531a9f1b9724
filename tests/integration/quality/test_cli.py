"""`childlink quality report` and `childlink quarantine ...` against a real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from childlink.cli.main import app
from childlink.quality.errors import StillQuarantinedError
from integration.quality.roll import QUARANTINED_ROWS, ROWS, SCRIPT_NAME, SOURCE, Ingested


@pytest.fixture
def runner(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CHILDLINK_DATABASE_URL", database_url)
    monkeypatch.setenv("CHILDLINK_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


def test_quality_report_text_json_and_html(
    welfare: Ingested, runner: CliRunner, tmp_path: Path
) -> None:
    text = runner.invoke(app, ["quality", "report"])
    assert text.exit_code == 0, text.output
    assert SOURCE in text.output
    assert "all batches reconcile" in text.output

    as_json = runner.invoke(app, ["quality", "report", "--json", "--source", SOURCE])
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.output)
    counts = document["sources"][0]["batches"][0]["summary"]["counts"]
    assert (counts["rows_in"], counts["reconciles"]) == (len(ROWS), True)

    page = tmp_path / "report.html"
    html = runner.invoke(
        app, ["quality", "report", "--batch", welfare.result.batch_id, "--html", str(page)]
    )
    assert html.exit_code == 0, html.output
    written = page.read_text(encoding="utf-8")
    assert written.startswith("<!DOCTYPE html>")
    assert SCRIPT_NAME not in written


def test_quarantine_list_show_release_fix(welfare: Ingested, runner: CliRunner) -> None:
    listed = runner.invoke(app, ["quarantine", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    page = json.loads(listed.output)
    assert page["total"] == len(QUARANTINED_ROWS)
    ids = {item["row_number"]: item["record_id"] for item in page["items"]}
    assert runner.invoke(app, ["quarantine", "list", "--reason", "name_invalid"]).exit_code == 0

    shown = runner.invoke(app, ["quarantine", "show", ids[4], "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["raw_row"]["姓名"] == SCRIPT_NAME
    text = runner.invoke(app, ["quarantine", "show", ids[4]])
    assert text.exit_code == 0, text.output
    assert SCRIPT_NAME in text.output  # Rich prints it as text, not as markup

    released = runner.invoke(
        app, ["quarantine", "release", ids[3], "--note", "checked", "--actor", "officer-li"]
    )
    assert released.exit_code == 0, released.output
    assert "now accepted" in released.output

    fixed = runner.invoke(
        app, ["quarantine", "fix", ids[6], "--set", "姓名=吴敏", "--note", "from school roll"]
    )
    assert fixed.exit_code == 0, fixed.output
    assert "now fixed" in fixed.output
    detail = json.loads(runner.invoke(app, ["quarantine", "show", ids[6], "--json"]).output)
    manual = [f for f in detail["fixes"] if f["rule"] == "manual_fix"]
    assert manual[0]["actor"]  # the OS user by default

    still = runner.invoke(
        app, ["quarantine", "fix", ids[4], "--set", "姓名=<b>x</b>", "--note", "typo"]
    )
    assert still.exit_code != 0
    assert isinstance(still.exception, StillQuarantinedError)

    report = json.loads(runner.invoke(app, ["quality", "report", "--json"]).output)
    assert report["reconciles"] is True
    remaining = json.loads(runner.invoke(app, ["quarantine", "list", "--json"]).output)
    assert remaining["total"] == len(QUARANTINED_ROWS) - 2


def test_usage_errors(welfare: Ingested, runner: CliRunner) -> None:
    some_id = welfare.record_at(3).id
    assert runner.invoke(app, ["quarantine", "release", str(some_id)]).exit_code == 2
    bad_set = runner.invoke(
        app, ["quarantine", "fix", str(some_id), "--set", "no-equals", "--note", "n"]
    )
    assert bad_set.exit_code == 2


@pytest.mark.parametrize(
    "command",
    [["quality"], ["quality", "report"], ["quarantine"], ["quarantine", "list"],
     ["quarantine", "show"], ["quarantine", "release"], ["quarantine", "fix"]],
)  # fmt: skip
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output
