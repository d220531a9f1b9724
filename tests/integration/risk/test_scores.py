"""Scores in the product, on SQLite and PostgreSQL: stored with model version and explanation,
history kept, only affected children re-scored after a new batch, flags reviewed and audited."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from childlink.access.choices import Purpose
from childlink.audit.models import AuditEntry
from childlink.children.choices import ChildStatus
from childlink.children.models import MasterChild
from childlink.cli.main import app
from childlink.errors import AccessDeniedError
from childlink.identity.models import User
from childlink.identity.service import principal_for
from childlink.risk.choices import RiskType
from childlink.risk.schemas import FlagStatus, ScoreTrigger
from childlink.risk.service import (
    FlagReviewError,
    affected_children,
    band_of,
    child_risk,
    feedback_labels,
    review_flag_as,
    score_children,
)
from childlink.risk.store import RiskFlag, RiskScore, RiskScoreRun
from childlink.sources.models import SourceRecord

from .conftest import RiskCounty, ingest_exports


def _active(county: RiskCounty) -> set[uuid.UUID]:
    with county.factory() as session:
        return set(
            session.scalars(
                sa.select(MasterChild.id).where(MasterChild.status == ChildStatus.ACTIVE)
            )
        )


def test_every_score_names_its_model_version_and_explains_itself(risk_county: RiskCounty) -> None:
    run = score_children(
        risk_county.factory, data_dir=risk_county.settings.data_dir, known_from="event"
    )
    active = _active(risk_county)
    assert run.children == len(active)
    assert run.scores == len(active) * len(RiskType)
    assert run.model_versions == risk_county.versions
    with risk_county.factory() as session:
        scores = session.scalars(sa.select(RiskScore).where(RiskScore.run_id == run.run_id)).all()
        assert {s.master_child_id for s in scores} == active
        with_facts = 0
        for score in scores:
            assert score.is_current
            assert score.model_version == risk_county.versions[str(score.risk)]
            assert 0.0 <= score.probability <= 1.0
            assert score.band == band_of(score.probability, score.explanation["base_rate"])
            factors = score.explanation["factors"]
            assert 1 <= len(factors) <= 3
            contributions = [f["contribution"] for f in factors]
            assert contributions == sorted(contributions, reverse=True)
            for factor in factors:
                assert factor["label_zh"]
                assert factor["label_en"]
                for fact in factor["facts"]:
                    with_facts += 1
                    record = session.get(SourceRecord, uuid.UUID(fact["record_id"]))
                    assert record is not None
                    assert record.master_child_id == score.master_child_id
                    assert fact["text_zh"]
                    assert fact["text_en"]
        assert with_facts > 0, "no factor named the records behind it"
        child = next(iter(active))
        shown = child_risk(session, child)
        assert {s.risk for s in shown.scores} == {r.value for r in RiskType}
        assert all(s.model_version and s.explanation.factors for s in shown.scores)


def test_rescoring_keeps_history(risk_county: RiskCounty) -> None:
    data_dir = risk_county.settings.data_dir
    first = score_children(risk_county.factory, data_dir=data_dir, known_from="event")
    second = score_children(risk_county.factory, data_dir=data_dir)
    assert second.as_of == first.as_of  # the latest full run's date and provenance are reused
    with risk_county.factory() as session:
        old = session.scalars(sa.select(RiskScore).where(RiskScore.run_id == first.run_id)).all()
        assert len(old) == first.scores
        assert not any(s.is_current for s in old)
        current = session.scalars(sa.select(RiskScore).where(RiskScore.is_current.is_(True))).all()
        assert {s.run_id for s in current} == {second.run_id}
        child = old[0].master_child_id
        history = child_risk(session, child).history
        assert len(history) >= 2 * len(RiskType)
        same = [s for s in old if s.master_child_id == child]
        again = [s for s in current if s.master_child_id == child]
        assert sorted(s.probability for s in same) == pytest.approx(
            sorted(s.probability for s in again)
        )


def test_flag_review_is_stored_audited_and_becomes_a_label(risk_county: RiskCounty) -> None:
    score_children(risk_county.factory, data_dir=risk_county.settings.data_dir, known_from="event")
    with risk_county.factory() as session:
        county_code = str(risk_county.accounts["civil"].jurisdiction)[:6]
        flag = session.scalars(
            sa.select(RiskFlag)
            .join(MasterChild, RiskFlag.master_child_id == MasterChild.id)
            .where(
                RiskFlag.is_active.is_(True),
                RiskFlag.status == FlagStatus.OPEN,
                MasterChild.region_code.like(f"{county_code}%"),
            )
            .order_by(RiskFlag.id)
        ).first()
        assert flag is not None, "no indicator rule hit in the test county"
        assert flag.facts["facts"], "a flag without the facts that triggered it"
        civil = session.scalar(sa.select(User).where(User.username == "civil"))
        teacher = session.scalar(sa.select(User).where(User.username == "teacher"))
        assert civil is not None
        assert teacher is not None
        with pytest.raises(AccessDeniedError):
            review_flag_as(
                session,
                principal_for(session, teacher),
                Purpose.CASE_WORK,
                flag.id,
                "confirm",
                "looks right",
            )
        with pytest.raises(FlagReviewError):
            review_flag_as(
                session, principal_for(session, civil), Purpose.CASE_WORK, flag.id, "confirm", " "
            )
        read = review_flag_as(
            session,
            principal_for(session, civil),
            Purpose.CASE_WORK,
            flag.id,
            "reject",
            "家访核实：缺勤因病，已返校",
        )
        session.commit()
        assert read.status == "rejected"
        assert read.reviewer == "civil"
    with risk_county.factory() as session:
        stored = session.get(RiskFlag, flag.id)
        assert stored is not None
        assert stored.status == FlagStatus.REJECTED
        assert stored.reason == "家访核实：缺勤因病，已返校"
        assert stored.decided_at is not None
        entries = session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "risk.review")
        ).all()
        outcomes = {(e.actor, e.outcome) for e in entries}
        assert ("civil", "allow") in outcomes
        refused = session.scalars(
            sa.select(AuditEntry).where(
                AuditEntry.actor == "teacher",
                AuditEntry.outcome == "deny",
                AuditEntry.child_id == flag.master_child_id,
            )
        ).all()
        assert refused, "the teacher's refused review left no audit entry"
        allowed = [e for e in entries if e.outcome == "allow"][-1]
        assert allowed.details["before"] == "open"
        assert allowed.details["after"] == "rejected"
        labels = feedback_labels(session)
        row = labels.filter(labels["master_child_id"] == str(flag.master_child_id))
        assert row["label"].to_list()[-1] == 0
    # A later scoring run that hits the same rule on the same facts keeps the decision.
    score_children(risk_county.factory, data_dir=risk_county.settings.data_dir)
    with risk_county.factory() as session:
        again = session.get(RiskFlag, flag.id)
        assert again is not None
        assert again.status == FlagStatus.REJECTED


def test_a_new_batch_rescores_only_the_children_it_touched(
    risk_county: RiskCounty, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`childlink link run --incremental` re-scores the children the run changed, no others."""
    data_dir = risk_county.settings.data_dir
    base = score_children(risk_county.factory, data_dir=data_dir)
    active = _active(risk_county)
    ingest_exports(risk_county.factory, risk_county.county_dir, late=True)
    monkeypatch.setenv("CHILDLINK_DATABASE_URL", str(risk_county.settings.database_url))
    monkeypatch.setenv("CHILDLINK_DATA_DIR", str(data_dir))
    monkeypatch.setenv("CHILDLINK_ENVIRONMENT", "test")
    result = CliRunner().invoke(app, ["link", "run", "--incremental", "--json"])
    assert result.exit_code == 0, result.output
    linked = json.loads(result.output.strip().splitlines()[-1])
    with risk_county.factory() as session:
        changed = set(affected_children(session, linked["run_id"]))
        run = session.scalars(
            sa.select(RiskScoreRun).where(RiskScoreRun.link_run_id == uuid.UUID(linked["run_id"]))
        ).one()
    assert 0 < len(changed) < len(active) / 2
    still_active = _active(risk_county)
    assert linked["rescored_children"] == len(changed & still_active)
    assert run.trigger == ScoreTrigger.LINK
    assert run.as_of == base.as_of
    with risk_county.factory() as session:
        rescored = set(
            session.scalars(sa.select(RiskScore.master_child_id).where(RiskScore.run_id == run.id))
        )
        assert rescored == changed & still_active
        current = session.execute(
            sa.select(RiskScore.master_child_id, RiskScore.run_id).where(
                RiskScore.is_current.is_(True)
            )
        ).all()
        for child, run_id in current:
            assert run_id == (run.id if child in changed else base.run_id)
