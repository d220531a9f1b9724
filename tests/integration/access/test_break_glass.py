"""Break-glass: reason, limits, time, the audit entry and the supervisor's review."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from childlink.access.choices import Purpose, Role, Visibility
from childlink.access.service import (
    Action,
    BreakGlassError,
    authorize,
    field_visibility,
    pending_break_glass_reviews,
    review_break_glass,
    start_break_glass,
)
from childlink.audit.models import AuditEntry
from childlink.audit.service import verify_chain
from childlink.errors import AccessDeniedError
from childlink.store.base import utc_now

from .conftest import World


def test_break_glass_opens_one_child_for_a_while_and_is_reviewed(world: World) -> None:
    doctor = world.principals[Role.DOCTOR]
    child = world.children["outside"]
    denied = authorize(world.session, doctor, Action.CHILD_VIEW, Purpose.CASE_WORK, child)
    assert not denied.allowed
    with pytest.raises(BreakGlassError, match="reason"):
        start_break_glass(world.session, doctor, child.master_child_id, "urgent", 30)
    with pytest.raises(BreakGlassError, match="minutes"):
        start_break_glass(world.session, doctor, child.master_child_id, "x" * 20, 600)

    grant = start_break_glass(
        world.session,
        doctor,
        child.master_child_id,
        "unconscious child brought to A&E, need allergy history",
        30,
    )
    world.session.commit()
    allowed = authorize(world.session, doctor, Action.CHILD_VIEW, Purpose.CASE_WORK, child)
    assert allowed.allowed
    assert allowed.break_glass
    fields = field_visibility(world.session, doctor, Purpose.CASE_WORK, child, "health.visits")
    assert fields["diagnosis"] is Visibility.FULL
    # the groups stay those of the doctor's agreement: no police data through break-glass
    police = field_visibility(
        world.session, doctor, Purpose.CASE_WORK, child, "public_security.incidents"
    )
    assert set(police.values()) == {Visibility.HIDDEN}
    # only this child, only this user
    other = world.children["jurisdiction"]
    assert not authorize(world.session, doctor, Action.CHILD_VIEW, "case_work", other).allowed
    colleague = world.principal(Role.DOCTOR, username="another_doctor")
    assert not authorize(world.session, colleague, Action.CHILD_VIEW, "case_work", child).allowed
    # expires
    later = utc_now() + timedelta(minutes=31)
    expired = authorize(
        world.session, doctor, Action.CHILD_VIEW, Purpose.CASE_WORK, child, now=later
    )
    assert not expired.allowed

    entry = world.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "break_glass"))
    assert entry is not None
    assert entry.outcome == "allow"
    assert entry.details["needs_review"] is True
    assert "allergy" in entry.details["reason"]
    assert [g.id for g in pending_break_glass_reviews(world.session)] == [grant.id]
    with pytest.raises(BreakGlassError, match="someone else"):
        review_break_glass(world.session, grant.id, doctor.username, "fine")
    review_break_glass(world.session, grant.id, "supervisor1", "justified", end_now=True)
    world.session.commit()
    assert pending_break_glass_reviews(world.session) == []
    assert not authorize(world.session, doctor, Action.CHILD_VIEW, "case_work", child).allowed
    assert verify_chain(world.session).ok


def test_roles_without_break_glass_are_refused_and_audited(world: World) -> None:
    teacher = world.principals[Role.TEACHER]
    child = world.children["outside"]
    with pytest.raises(AccessDeniedError):
        start_break_glass(world.session, teacher, child.master_child_id, "x" * 30)
    entry = world.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "break_glass"))
    assert entry is not None
    assert entry.outcome == "deny"
