"""`childlink synth` writes a county, reports it, and refuses to clobber directories."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from childlink.cli.main import app
from childlink.errors import SynthError

CHILDLINK = Path(sys.executable).with_name("childlink")


def synth(*args: str) -> Result:
    return CliRunner().invoke(app, ["synth", *args])


def run_childlink(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, whose entry point formats user errors as one line."""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "80"}
    env.pop("FORCE_COLOR", None)
    return subprocess.run(
        [str(CHILDLINK), *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def manifest(out: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return result


def test_json_summary_describes_the_files(tmp_path: Path) -> None:
    out = tmp_path / "county"
    result = synth("--children", "120", "--seed", "5", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["children"] == 120
    assert summary["seed"] == 5
    assert summary["out_dir"] == str(out)
    assert summary["households"] > 0
    assert summary["adults"] > summary["households"]
    assert set(summary["outcomes"]) == {"dropout", "maltreatment", "mental_health_crisis"}
    assert summary["truth_records"] > summary["children"]
    assert len(summary["exports"]) == 10
    for item in summary["exports"]:
        path = out / item["path"]
        assert path.stat().st_size == item["bytes"], item["path"]
    written = manifest(out)
    assert written["summary"]["exports"] == summary["exports"]
    assert written["config"]["children"] == 120
    assert written["config"]["noise"]["scale"] == 1.0
    assert (out / "truth" / "records.parquet").is_file()


def test_noise_option_reaches_the_configuration(tmp_path: Path) -> None:
    out = tmp_path / "clean"
    result = synth("--children", "60", "--noise", "0", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert manifest(out)["config"]["noise"]["scale"] == 0.0


def test_rich_summary_without_json(tmp_path: Path) -> None:
    result = synth("--children", "60", "--out", str(tmp_path / "county"))
    assert result.exit_code == 0, result.output
    for expected in ("children", "households", "Department exports", "ground-truth record links"):
        assert expected in result.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)


def test_non_empty_directory_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "county"
    assert synth("--children", "60", "--seed", "1", "--out", str(out), "--json").exit_code == 0
    before = (out / "manifest.json").read_bytes()

    in_process = synth("--children", "60", "--seed", "2", "--out", str(out), "--json")
    assert in_process.exit_code != 0
    assert isinstance(in_process.exception, SynthError)

    refused = run_childlink("synth", "--children", "60", "--seed", "2", "--out", str(out))
    assert refused.returncode == 1
    assert refused.stdout.strip() == ""  # at most the blank line of the vanished progress bar
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert lines[0].startswith("error: output directory ")
    assert lines[0].endswith("is not empty; pass --overwrite to replace it")
    assert "Traceback" not in refused.stderr
    assert (out / "manifest.json").read_bytes() == before


def test_overwrite_replaces_the_county(tmp_path: Path) -> None:
    out = tmp_path / "county"
    assert synth("--children", "60", "--seed", "1", "--out", str(out), "--json").exit_code == 0
    stale = out / "exports" / "stale.csv"
    stale.write_text("left over")
    result = synth("--children", "70", "--seed", "2", "--out", str(out), "--overwrite", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["children"] == 70
    assert manifest(out)["config"]["seed"] == 2
    assert not stale.exists()


def test_overwrite_refuses_a_directory_that_is_no_county(tmp_path: Path) -> None:
    out = tmp_path / "documents"
    out.mkdir()
    (out / "report.docx").write_text("precious")
    refused = run_childlink("synth", "--children", "60", "--out", str(out), "--overwrite")
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert lines[0].startswith("error: refusing to overwrite ")
    assert "Traceback" not in refused.stderr
    assert (out / "report.docx").read_text() == "precious"


@pytest.mark.parametrize(
    ("option", "value"),
    [("--children", "10"), ("--children", "49"), ("--noise", "11"), ("--seed", "-1")],
)
def test_out_of_range_options_are_usage_errors(option: str, value: str, tmp_path: Path) -> None:
    out = tmp_path / "county"
    result = synth(option, value, "--out", str(out))
    assert result.exit_code == 2, result.output
    assert "Usage:" in result.output
    assert option in result.output
    assert not out.exists()
