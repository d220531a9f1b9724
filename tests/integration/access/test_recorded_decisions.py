"""Decisions written to the trail with record_decision feed the supervision report."""

from __future__ import annotations

from childlink.access.choices import Purpose, Role
from childlink.access.service import Action, authorize, record_decision
from childlink.audit.report import build_supervision_report
from childlink.audit.service import verify_chain

from .conftest import OTHER_VILLAGE, VILLAGE_A2, World, add_child


def test_decisions_feed_the_report(world: World) -> None:
    supervisor = world.principals[Role.SUPERVISOR]
    director = world.principals[Role.CHILD_DIRECTOR]
    session = world.session
    for i in range(10):
        child = add_child(session, f"儿童{i}", VILLAGE_A2)
        decision = authorize(session, supervisor, Action.CHILD_VIEW, Purpose.CASE_WORK, child)
        assert decision.allowed
        record_decision(session, supervisor, Action.CHILD_VIEW, Purpose.CASE_WORK, decision, child)
    for i in range(3):
        child = add_child(session, f"外县{i}", OTHER_VILLAGE)
        decision = authorize(session, director, Action.CHILD_VIEW, Purpose.CASE_WORK, child)
        assert not decision.allowed
        record_decision(
            session, director, Action.CHILD_VIEW, Purpose.CASE_WORK, decision, child, ip="10.0.0.8"
        )
    session.commit()
    # entries carry the wall-clock time: keep the night rule out of this test
    report = build_supervision_report(session, night_bulk_threshold=1_000)
    kinds = {(f.kind, f.actor) for f in report.findings}
    assert kinds == {
        ("outside_caseload", supervisor.username),
        ("repeated_denials", director.username),
    }
    by_actor = {u.actor: u for u in report.users}
    assert by_actor[supervisor.username].agency == supervisor.agency_code
    assert by_actor[supervisor.username].purposes == {"case_work": 10}
    assert verify_chain(session).ok
    only = build_supervision_report(session, agency=director.agency_code)
    assert [u.actor for u in only.users] == [director.username]
