"""Rule files: shipped rules are valid, the fixtures pass, bad files are explained, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from childlink.cli.main import app
from childlink.risk.choices import RiskType
from childlink.risk.rules import (
    RuleError,
    load_rule_file,
    load_rules,
    run_fixtures,
    shipped_rules_dir,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "risk_rules"


def test_shipped_rules_cover_every_risk_and_the_issue_examples() -> None:
    rules = load_rules()
    assert {r.risk for r in rules.rules} == set(RiskType)
    ids = {r.id for r in rules.rules}
    assert {
        "dropout.absence_low_income",
        "maltreatment.injury_and_dv",
        "mental_health.screening_high",
    } <= ids
    assert all(r.label_zh and r.label_en and r.version for r in rules.rules)


def test_fixtures_pass_against_the_shipped_rules() -> None:
    results = run_fixtures(load_rules(), FIXTURES)
    assert len(results) >= 3
    failures = [r.as_dict() for r in results if not r.passed]
    assert not failures
    assert sum(len(r.actual) for r in results) >= 4  # the fixtures do expect hits


def test_a_changed_rule_fails_its_fixture(tmp_path: Path) -> None:
    text = (shipped_rules_dir() / "dropout.yaml").read_text(encoding="utf-8")
    loosened = tmp_path / "dropout.yaml"
    loosened.write_text(text.replace("value: 10}", "value: 9}", 1), encoding="utf-8")
    results = run_fixtures(load_rules(loosened), FIXTURES)
    bad = [r for r in results if not r.passed]
    assert [r.name for r in bad] == ["dropout_absence_low_income.yaml"]
    assert bad[0].unexpected == [("few_absences", "dropout.absence_low_income")]


def test_invalid_rule_file_lists_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        """
rules:
  - id: Bad Id
    version: "1"
    risk: boredom
    severity: warning
    label_zh: 坏
    label_en: bad
    all:
      - {feature: shoe_size, op: ">=", value: 3}
      - {feature: absent_days_30d, op: "~", value: 3}
      - events: {kinds: [alien_visit]}
""",
        encoding="utf-8",
    )
    with pytest.raises(RuleError) as caught:
        load_rule_file(path)
    text = " ".join(caught.value.problems)
    for needle in ("id", "risk", "shoe_size", "alien_visit", "op"):
        assert needle in text, needle
    assert len(caught.value.problems) >= 5


def test_rule_ids_must_be_unique_across_files(tmp_path: Path) -> None:
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(
            (shipped_rules_dir() / "mental_health.yaml").read_text(encoding="utf-8"),
            encoding="utf-8",
        )
    with pytest.raises(RuleError, match="several files"):
        load_rules(tmp_path)


def test_cli_validate_and_test(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["rules", "validate"])
    assert ok.exit_code == 0, ok.output
    assert "dropout.absence_low_income" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: []\n", encoding="utf-8")
    refused = runner.invoke(app, ["rules", "validate", str(bad)])
    assert refused.exit_code == 1
    assert "problem" in refused.output

    passed = runner.invoke(
        app, ["rules", "test", str(shipped_rules_dir()), "--fixtures", str(FIXTURES), "--json"]
    )
    assert passed.exit_code == 0, passed.output
    report = json.loads(passed.output)
    assert report["failed"] == 0
    assert report["cases"] >= 3

    wrong = tmp_path / "fixtures"
    wrong.mkdir()
    (wrong / "case.yaml").write_text(
        (FIXTURES / "mental_health_screening.yaml")
        .read_text(encoding="utf-8")
        .replace("master_child_id: high, rule_id", "master_child_id: was_high, rule_id"),
        encoding="utf-8",
    )
    failed = runner.invoke(
        app,
        [
            "rules",
            "test",
            str(shipped_rules_dir() / "mental_health.yaml"),
            "--fixtures",
            str(wrong),
        ],
    )
    assert failed.exit_code == 1
    assert "missing: mental_health.screening_high for was_high" in failed.output
    assert "unexpected: mental_health.screening_high for high" in failed.output


def test_one_fixture_file_runs_and_a_missing_path_is_named() -> None:
    results = run_fixtures(load_rules(), FIXTURES / "mental_health_crisis.yaml")
    assert [(r.name, r.passed, len(r.actual)) for r in results] == [
        ("mental_health_crisis.yaml", True, 2)
    ]
    with pytest.raises(RuleError, match="no such file or folder"):
        run_fixtures(load_rules(), FIXTURES / "missing.yaml")
