"""Legal bases: what lapses when, for whom, and the demo seed."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from childlink.access.choices import FieldGroup, LegalBasisKind, Purpose, Role, Visibility
from childlink.access.consent import (
    LegalBasisError,
    add_legal_basis,
    seed_demo_legal_bases,
    withdraw_legal_basis,
)
from childlink.access.models import LegalBasis
from childlink.access.service import ChildScope, field_visibility, group_visibility

from .conftest import VILLAGE_A1, World, add_child

SOURCE = "civil_affairs.welfare_rolls"


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def visible(world: World, role: Role, child: ChildScope, when: date, source: str = SOURCE) -> bool:
    groups = group_visibility(
        world.session,
        world.principals[role],
        Purpose.CASE_WORK,
        child,
        source,
        now=at(when),
    )
    return groups[FieldGroup.IDENTITY] is not Visibility.HIDDEN


def test_guardian_consent_expiry_hides_data_from_a_social_worker(world: World) -> None:
    child = add_child(world.session, "陈小雨", VILLAGE_A1)
    worker = world.principal(Role.SOCIAL_WORKER, caseload=frozenset({child.master_child_id}))
    world.principals[Role.SOCIAL_WORKER] = worker
    assert not visible(world, Role.SOCIAL_WORKER, child, date(2026, 6, 1))  # no consent yet
    add_legal_basis(
        world.session,
        master_child_id=child.master_child_id,
        source_code="*",
        basis=LegalBasisKind.GUARDIAN_CONSENT,
        evidence="consent form 456",
        recorded_by="test",
        valid_from=date(2026, 1, 1),
        expires_at=date(2027, 1, 1),
    )
    assert not visible(world, Role.SOCIAL_WORKER, child, date(2025, 12, 31))  # before it starts
    assert visible(world, Role.SOCIAL_WORKER, child, date(2026, 6, 1))
    assert visible(world, Role.SOCIAL_WORKER, child, date(2026, 12, 31))
    assert not visible(world, Role.SOCIAL_WORKER, child, date(2027, 1, 1))  # lapsed
    # A state organ keeps its statutory duty whatever the consent says.
    assert visible(world, Role.CHILD_DIRECTOR, child, date(2027, 1, 1))


def test_withdrawn_consent_hides_at_once(world: World) -> None:
    child = world.children["caseload"]
    today = date.today()
    assert visible(world, Role.SOCIAL_WORKER, child, today)
    consent = world.session.scalar(
        sa.select(LegalBasis).where(LegalBasis.master_child_id == child.master_child_id)
    )
    assert consent is not None
    withdraw_legal_basis(world.session, consent.id)
    assert not visible(world, Role.SOCIAL_WORKER, child, today)


def test_state_organs_need_their_statutory_basis(world: World) -> None:
    child = world.children["jurisdiction"]
    today = date.today()
    assert visible(world, Role.CHILD_DIRECTOR, child, today)
    world.session.execute(
        sa.update(LegalBasis)
        .where(LegalBasis.source_code == SOURCE, LegalBasis.master_child_id.is_(None))
        .values(expires_at=date(2021, 1, 1))
    )
    world.session.expire_all()
    assert not visible(world, Role.CHILD_DIRECTOR, child, today)
    # other sources keep theirs
    assert visible(world, Role.CHILD_DIRECTOR, child, today, "education.student_registry")


def test_vital_interest_covers_case_work_but_not_data_quality(world: World) -> None:
    child = add_child(world.session, "周小兰", VILLAGE_A1)
    world.session.execute(sa.delete(LegalBasis))  # nothing but the emergency below
    add_legal_basis(
        world.session,
        master_child_id=child.master_child_id,
        source_code="health.visits",
        basis=LegalBasisKind.VITAL_INTEREST,
        evidence="child found injured, hospital emergency",
        recorded_by="test",
    )
    doctor = world.principal(Role.DOCTOR, caseload=frozenset({child.master_child_id}))
    officer = world.principals[Role.DATA_OFFICER]
    seen = field_visibility(world.session, doctor, Purpose.CASE_WORK, child, "health.visits")
    assert seen["diagnosis"] is Visibility.FULL
    quality = field_visibility(world.session, officer, Purpose.DATA_QUALITY, child, "health.visits")
    assert set(quality.values()) == {Visibility.HIDDEN}


def test_invalid_bases_are_refused(world: World) -> None:
    with pytest.raises(LegalBasisError, match="evidence"):
        add_legal_basis(
            world.session,
            master_child_id=None,
            source_code="*",
            basis=LegalBasisKind.STATUTORY_DUTY,
            evidence="",
            recorded_by="t",
        )
    with pytest.raises(LegalBasisError, match="one child"):
        add_legal_basis(
            world.session,
            master_child_id=None,
            source_code="*",
            basis=LegalBasisKind.GUARDIAN_CONSENT,
            evidence="form 1",
            recorded_by="t",
        )
    with pytest.raises(LegalBasisError, match="not after"):
        add_legal_basis(
            world.session,
            master_child_id=uuid.uuid4(),
            source_code="*",
            basis=LegalBasisKind.GUARDIAN_CONSENT,
            evidence="form 1",
            recorded_by="t",
            valid_from=date(2026, 1, 1),
            expires_at=date(2025, 1, 1),
        )


def test_demo_seed(world: World) -> None:
    world.session.execute(sa.delete(LegalBasis))
    children = [add_child(world.session, f"儿童{i}", VILLAGE_A1) for i in range(40)]
    result = seed_demo_legal_bases(world.session, expired_share=0.3, seed=7)
    assert result.statutory == 10  # every shipped source
    assert result.consents == 43
    assert 0 < result.consents_expired < 43
    again = seed_demo_legal_bases(world.session, consent_children=0)
    assert again.statutory == 0  # idempotent for the statutory part
    expired = set(result.expired_child_ids)
    today = date.today()
    for child in children:
        worker = world.principal(Role.SOCIAL_WORKER, caseload=frozenset({child.master_child_id}))
        world.principals[Role.SOCIAL_WORKER] = worker
        assert visible(world, Role.SOCIAL_WORKER, child, today) is (
            child.master_child_id not in expired
        )
        assert visible(world, Role.CHILD_DIRECTOR, child, today)
