"""Supervision report: per-user activity, and the unusual patterns it must flag."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from childlink.audit.report import build_supervision_report, is_night
from childlink.audit.service import record_event
from childlink.cli.main import app
from childlink.config import Settings

# 2026-12-03 23:30 in Asia/Shanghai is 15:30 UTC.
NIGHT = datetime(2026, 12, 3, 15, 30, tzinfo=UTC)
DAY = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)  # 10:00 local


def view(
    session: Session,
    actor: str,
    at: datetime,
    *,
    agency: str = "village-1",
    in_caseload: bool = True,
    outcome: str = "allow",
    child: uuid.UUID | None = None,
) -> None:
    record_event(
        session,
        actor=actor,
        action="child.view",
        outcome=outcome,
        purpose="case_work",
        child_id=child or uuid.uuid4(),
        details={"agency": agency, "role": "child_director", "in_caseload": in_caseload},
        at=at,
    )


def test_night_is_local_time() -> None:
    assert is_night(NIGHT)
    assert not is_night(DAY)
    assert is_night(datetime(2026, 12, 3, 21, 59, tzinfo=UTC))  # 05:59 local
    assert not is_night(datetime(2026, 12, 3, 22, 0, tzinfo=UTC))  # 06:00 local


def test_patterns_are_flagged(session: Session) -> None:
    for i in range(6):  # night-time bulk: six children in one night
        view(session, "owl", NIGHT + timedelta(minutes=i))
    for _ in range(12):  # many children outside the caseload, in daytime
        view(session, "roamer", DAY, in_caseload=False, agency="township-1")
    for _ in range(3):
        view(session, "pusher", DAY, outcome="deny")
    for _ in range(4):  # an ordinary worker: same child, daytime, own caseload
        view(session, "steady", DAY, child=uuid.UUID(int=7))
    record_event(
        session,
        actor="medic",
        action="break_glass",
        outcome="allow",
        purpose="case_work",
        child_id=uuid.uuid4(),
        details={"reason": "unconscious child", "agency": "hospital-1"},
        at=DAY,
    )
    session.commit()
    report = build_supervision_report(session)
    kinds = {(f.kind, f.actor) for f in report.findings}
    assert kinds == {
        ("night_bulk", "owl"),
        ("outside_caseload", "roamer"),
        ("repeated_denials", "pusher"),
        ("break_glass", "medic"),
    }
    by_actor = {u.actor: u for u in report.users}
    assert len(by_actor["owl"].children) == 6
    assert len(by_actor["steady"].children) == 1
    assert by_actor["steady"].views == 4
    assert by_actor["pusher"].denials == 3
    assert by_actor["pusher"].views == 0

    only_township = build_supervision_report(session, agency="township-1")
    assert {u.actor for u in only_township.users} == {"roamer"}
    only_owl = build_supervision_report(session, user="owl")
    assert [f.kind for f in only_owl.findings] == ["night_bulk"]
    after = build_supervision_report(session, since=NIGHT - timedelta(hours=1))
    assert {u.actor for u in after.users} == {"owl"}


def test_below_thresholds_nothing_is_flagged(session: Session) -> None:
    for i in range(4):
        view(session, "owl", NIGHT + timedelta(minutes=i))
    for _ in range(2):
        view(session, "pusher", DAY, outcome="deny")
    session.commit()
    assert build_supervision_report(session).findings == []


def test_cli_report_and_verify(
    migrated_settings: Settings, session: Session, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for i in range(6):
        view(session, "owl", NIGHT + timedelta(minutes=i))
    session.commit()
    monkeypatch.setenv("CHILDLINK_DATABASE_URL", migrated_settings.effective_database_url)
    monkeypatch.setenv("CHILDLINK_DATA_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    result = runner.invoke(app, ["audit", "report", "--json", "--since", "2026-12-03"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["findings"][0]["kind"] == "night_bulk"
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "intact" in result.output
    assert "head (write this down): 6:" in result.output
    anchor = result.output.split("head (write this down): ")[1].split()[0]
    result = runner.invoke(app, ["audit", "verify", "--anchor", anchor, "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output)["ok"]
    result = runner.invoke(app, ["audit", "verify", "--anchor", "6:" + "a" * 64])
    assert result.exit_code == 1
    assert "anchor" in result.output


def test_role_and_agency_come_from_access_events_after_a_login(session: Session) -> None:
    record_event(session, actor="li", action="auth.login", outcome="ok", details={}, at=DAY)
    view(session, "li", DAY + timedelta(minutes=1), agency="village-7")
    report = build_supervision_report(session)
    (activity,) = [a for a in report.users if a.actor == "li"]
    assert (activity.agency, activity.role) == ("village-7", "child_director")
