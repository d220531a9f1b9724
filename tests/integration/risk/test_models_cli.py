"""``childlink risk train`` and ``childlink risk evaluate --json`` on a generated county."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from childlink.cli.main import app
from childlink.synth.config import SynthConfig
from childlink.synth.service import generate_county


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CHILDLINK_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


def test_train_then_evaluate_json(runner: CliRunner, tmp_path: Path) -> None:
    county = tmp_path / "county"
    generate_county(SynthConfig(children=3_000, seed=7), county)
    assert runner.invoke(app, ["db", "upgrade", "--no-seed"]).exit_code == 0

    missing = runner.invoke(app, ["risk", "evaluate", "--county", str(county), "--json"])
    assert missing.exit_code != 0

    trained = runner.invoke(app, ["risk", "train", "--county", str(county), "--json"])
    assert trained.exit_code == 0, trained.output
    versions = json.loads(trained.output)["versions"]
    assert set(versions) == {"dropout", "maltreatment", "mental_health"}

    evaluated = runner.invoke(app, ["risk", "evaluate", "--county", str(county), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    document = json.loads(evaluated.output)
    assert Path(document["report_html"]).is_file()
    for risk, block in document["risks"].items():
        assert block["version"] == versions[risk][block["selected"]]
        for kind, metrics in block["models"].items():
            assert metrics["version"] == versions[risk][kind]
            for key in ("auc", "ceiling_auc", "pr_auc", "brier", "ece"):
                assert isinstance(metrics[key], float), (risk, kind, key)
            assert 0.0 <= metrics["ece"] < 0.05
