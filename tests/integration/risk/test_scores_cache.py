"""Per-process caches of the re-scoring path: parsed rule files and loaded models are reused,
and a new active model version, a model re-written in place or an edited rule file is picked up
without restarting."""

from __future__ import annotations

import dataclasses
import os
import uuid
from pathlib import Path

import joblib
import pytest
import sqlalchemy as sa

from childlink.children.choices import ChildStatus
from childlink.children.models import MasterChild
from childlink.risk.choices import RiskType
from childlink.risk.registry import Registry
from childlink.risk.rules import load_rules
from childlink.risk.service import load_active_models, rescore_after_link
from childlink.risk.store import RiskScore

from .conftest import RiskCounty

RULE = """
rules:
  - id: test.absent
    version: "{version}"
    risk: dropout
    severity: warning
    label_zh: 缺勤{version}
    label_en: Absent {version}
    all:
      - {{feature: absent_days_30d, op: ">=", value: 10}}
"""


def _touch_later(path: Path) -> None:
    """Move the file's modification time on, as a later edit would (coarse file systems)."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


def test_an_edited_rule_file_is_read_again(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    path = folder / "test.yaml"
    path.write_text(RULE.format(version=1), encoding="utf-8")
    first = load_rules(folder)
    assert load_rules(folder) is first  # unchanged files: the parsed set is reused
    assert first.by_id("test.absent").version == "1"

    path.write_text(RULE.format(version=2), encoding="utf-8")
    _touch_later(path)
    second = load_rules(folder)
    assert second is not first
    assert second.by_id("test.absent").version == "2"
    assert second.by_id("test.absent").label_en == "Absent 2"

    (folder / "more.yaml").write_text(
        RULE.format(version=1).replace("test.absent", "test.more"), encoding="utf-8"
    )
    assert {rule.id for rule in load_rules(folder).rules} == {"test.absent", "test.more"}
    assert load_rules(path).by_id("test.absent").version == "2"


def _child(county: RiskCounty) -> uuid.UUID:
    with county.factory() as session:
        child = session.scalar(
            sa.select(MasterChild.id)
            .where(MasterChild.status == ChildStatus.ACTIVE)
            .order_by(MasterChild.id)
            .limit(1)
        )
    assert child is not None
    return child


def _current(county: RiskCounty, child: uuid.UUID) -> dict[str, RiskScore]:
    with county.factory() as session:
        scores = session.scalars(
            sa.select(RiskScore).where(
                RiskScore.master_child_id == child, RiskScore.is_current.is_(True)
            )
        ).all()
        return {str(score.risk): score for score in scores}


def test_a_new_active_model_version_is_used_without_restarting(risk_county: RiskCounty) -> None:
    data_dir = risk_county.settings.data_dir
    child = _child(risk_county)
    registry = Registry(data_dir, risk_county.factory)
    risk = RiskType.DROPOUT
    old_version = risk_county.versions[risk.value]

    first = rescore_after_link(risk_county.factory, data_dir, [child])
    assert first is not None
    assert first.model_versions[risk.value] == old_version
    loaded = load_active_models(data_dir, risk_county.factory)[risk][1]
    assert load_active_models(data_dir, risk_county.factory)[risk][1] is loaded  # cached
    before = _current(risk_county, child)[risk.value]

    # A new version whose base rate differs: its scores must show it (not the cached model's).
    changed = dataclasses.replace(loaded, train_positives=loaded.train_positives * 2)
    new_version = registry.save(changed, {"note": "cache test"}, {})
    assert new_version != old_version
    second = rescore_after_link(risk_county.factory, data_dir, [child])
    assert second is not None
    assert second.model_versions[risk.value] == new_version
    after = _current(risk_county, child)[risk.value]
    assert after.model_version == new_version
    assert after.explanation["base_rate"] == pytest.approx(
        2 * before.explanation["base_rate"], abs=1e-5
    )
    assert after.probability == before.probability

    # Switching back to the old version is seen too.
    registry.activate(risk, old_version)
    third = rescore_after_link(risk_county.factory, data_dir, [child])
    assert third is not None
    assert third.model_versions[risk.value] == old_version
    back = _current(risk_county, child)[risk.value]
    assert back.explanation["base_rate"] == before.explanation["base_rate"]


def test_a_model_rewritten_in_place_is_loaded_again(risk_county: RiskCounty) -> None:
    data_dir = risk_county.settings.data_dir
    registry = Registry(data_dir)
    risk = RiskType.MENTAL_HEALTH
    version = risk_county.versions[risk.value]
    model = registry.load(risk, version)
    assert registry.load(risk, version) is model
    path = data_dir / "risk" / "models" / risk.value / version / "model.joblib"
    joblib.dump(dataclasses.replace(model, train_rows=model.train_rows + 1), path)
    _touch_later(path)
    try:
        again = registry.load(risk, version)
        assert again is not model
        assert again.train_rows == model.train_rows + 1
    finally:
        joblib.dump(model, path)
        _touch_later(path)
    assert registry.load(risk, version).train_rows == model.train_rows
