"""``childlink access`` and ``childlink consent`` through the real CLI."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from childlink.access.policy import shipped_policy_dir
from childlink.audit.service import verify_chain
from childlink.children.models import MasterChild
from childlink.cli.main import app
from childlink.config import Settings

runner = CliRunner()


def test_validate_shipped_and_broken(tmp_path: Path) -> None:
    result = runner.invoke(app, ["access", "validate"])
    assert result.exit_code == 0, result.output
    assert "policy OK" in result.output
    folder = tmp_path / "p"
    folder.mkdir()
    for path in shipped_policy_dir().glob("*.yaml"):
        (folder / path.name).write_text(path.read_text("utf-8"), "utf-8")
    (folder / "x.yaml").write_text("kind: agreement\nid: x\ngrants: []\n", "utf-8")
    (folder / "y.yaml").write_text("kind: nonsense\n", "utf-8")
    result = runner.invoke(app, ["access", "validate", "--dir", str(folder), "--json"])
    assert result.exit_code == 1
    document = json.loads(result.output)
    assert not document["ok"]
    assert len(document["problems"]) == 2


def test_explain() -> None:
    result = runner.invoke(
        app,
        [
            "access",
            "explain",
            "--role",
            "teacher",
            "--purpose",
            "case_work",
            "--source",
            "health.mental_health_screenings",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "nothing visible" in result.output
    result = runner.invoke(
        app,
        [
            "access",
            "explain",
            "--role",
            "doctor",
            "--purpose",
            "case_work",
            "--source",
            "health.mental_health_screenings",
            "--json",
        ],
    )
    document = json.loads(result.output)
    assert document["fields"]["score"] == "full"
    assert document["fields"]["id_number"] == "masked"
    assert document["groups"]["mental_health"][0]["scope"] == "caseload"
    result = runner.invoke(
        app,
        [
            "access",
            "explain",
            "--role",
            "policy_analyst",
            "--purpose",
            "statistics",
            "--source",
            "health.visits",
        ],
    )
    assert "de-identified aggregates" in result.output


def test_consent_add_and_list(
    migrated_settings: Settings, session: Session, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    child = MasterChild(id=uuid.uuid4(), display_name="张小明")
    session.add(child)
    session.commit()
    monkeypatch.setenv("CHILDLINK_DATABASE_URL", migrated_settings.effective_database_url)
    monkeypatch.setenv("CHILDLINK_DATA_DIR", str(tmp_path / "var"))
    result = runner.invoke(
        app,
        [
            "consent",
            "add",
            "--child",
            str(child.id),
            "--basis",
            "guardian_consent",
            "--evidence",
            "监护人知情同意书 No. 42",
            "--from",
            "2020-01-01",
            "--expires",
            "2021-01-01",
            "--by",
            "worker1",
        ],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        [
            "consent",
            "add",
            "--source",
            "health.visits",
            "--basis",
            "statutory_duty",
            "--evidence",
            "《基本医疗卫生与健康促进法》",
        ],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["consent", "list", "--child", str(child.id), "--json"])
    items = json.loads(result.output)["legal_bases"]
    assert {(i["basis"], i["in_force"]) for i in items} == {
        ("guardian_consent", False),
        ("statutory_duty", True),
    }
    result = runner.invoke(
        app, ["consent", "add", "--basis", "guardian_consent", "--evidence", "form 1"]
    )
    assert result.exit_code != 0
    session.expire_all()
    report = verify_chain(session)
    assert report.ok
    assert report.entries == 2
