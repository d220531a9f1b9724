"""The decision matrix at the service level: role x field group x child position x purpose.

The expectations below are written from the domain rules (docs/access.md), not read from the
policy files, so a wrong edit of an agreement fails here.
"""

from __future__ import annotations

import pytest

from childlink.access.choices import FieldGroup, Purpose, Role, Visibility
from childlink.access.service import Action, authorize, group_visibility
from childlink.ingest.mapping import shipped_mappings

from .conftest import World

G = FieldGroup
F, M = Visibility.FULL, Visibility.MASKED

FAMILYISH = (
    "education.student_registry",
    "education.attendance",
    "civil_affairs.welfare_rolls",
    "public_security.household_register",
    "public_security.floating_population",
    "womens_federation.home_visits",
)
PROTECTION = ("public_security.incidents", "procuratorate.mandatory_reports")
HEALTH = ("health.visits", "health.mental_health_screenings")
EDUCATION = ("education.student_registry", "education.attendance")
POLICE_OWN = (
    "public_security.household_register",
    "public_security.floating_population",
    "public_security.incidents",
)


def _levels(full: set[FieldGroup], masked: set[FieldGroup]) -> dict[FieldGroup, Visibility]:
    return {**dict.fromkeys(masked, M), **dict.fromkeys(full, F)}


CHILD_DIRECTOR = _levels(
    {G.IDENTITY, G.CONTACT, G.FAMILY, G.WELFARE, G.EDUCATION, G.RISK}, {G.IDENTIFIERS}
)
SUPERVISOR = _levels(
    {G.IDENTITY, G.FAMILY, G.WELFARE, G.EDUCATION, G.RISK, G.LINKAGE}, {G.IDENTIFIERS, G.CONTACT}
)
SOCIAL_WORKER = _levels(
    {G.IDENTITY, G.FAMILY, G.WELFARE, G.EDUCATION, G.RISK}, {G.IDENTIFIERS, G.CONTACT}
)
CIVIL_CASE = _levels(
    {
        G.IDENTITY,
        G.IDENTIFIERS,
        G.CONTACT,
        G.FAMILY,
        G.WELFARE,
        G.EDUCATION,
        G.PROTECTION,
        G.RISK,
        G.LINKAGE,
    },
    set(),
)
CIVIL_SCREEN = _levels(
    {G.IDENTITY, G.FAMILY, G.WELFARE, G.EDUCATION, G.RISK, G.LINKAGE}, {G.IDENTIFIERS, G.CONTACT}
)
TEACHER = _levels({G.IDENTITY, G.EDUCATION}, {G.IDENTIFIERS})
DOCTOR = _levels({G.IDENTITY, G.HEALTH, G.MENTAL_HEALTH}, {G.IDENTIFIERS, G.CONTACT})
POLICE_ANY = _levels({G.IDENTITY, G.PROTECTION}, {G.IDENTIFIERS})
POLICE_OWN_LEVELS = _levels({G.IDENTITY, G.IDENTIFIERS, G.CONTACT, G.FAMILY, G.PROTECTION}, set())
PROCURATOR = _levels({G.IDENTITY, G.IDENTIFIERS, G.PROTECTION}, set())
WOMENS = _levels({G.IDENTITY, G.FAMILY, G.RISK}, {G.IDENTIFIERS, G.CONTACT})
DATA_OFFICER_HEALTH = _levels(
    {
        G.IDENTITY,
        G.FAMILY,
        G.EDUCATION,
        G.WELFARE,
        G.HEALTH,
        G.MENTAL_HEALTH,
        G.PROTECTION,
        G.RISK,
        G.LINKAGE,
    },
    {G.IDENTIFIERS, G.CONTACT},
)

CASE_AND_SCREEN = (Purpose.CASE_WORK, Purpose.RISK_SCREENING)
EXPECTED: dict[tuple[Role, Purpose], dict[str, dict[FieldGroup, Visibility]]] = {}
for purpose in CASE_AND_SCREEN:
    EXPECTED[(Role.CHILD_DIRECTOR, purpose)] = dict.fromkeys(FAMILYISH, CHILD_DIRECTOR)
    EXPECTED[(Role.SUPERVISOR, purpose)] = dict.fromkeys(FAMILYISH, SUPERVISOR)
    EXPECTED[(Role.TEACHER, purpose)] = dict.fromkeys(EDUCATION, TEACHER)
    EXPECTED[(Role.POLICE, purpose)] = {
        "procuratorate.mandatory_reports": POLICE_ANY,
        **dict.fromkeys(POLICE_OWN, POLICE_OWN_LEVELS),
    }
EXPECTED[(Role.SOCIAL_WORKER, Purpose.CASE_WORK)] = dict.fromkeys(FAMILYISH, SOCIAL_WORKER)
EXPECTED[(Role.CIVIL_AFFAIRS_OFFICER, Purpose.CASE_WORK)] = dict.fromkeys(
    FAMILYISH + PROTECTION, CIVIL_CASE
)
EXPECTED[(Role.CIVIL_AFFAIRS_OFFICER, Purpose.RISK_SCREENING)] = dict.fromkeys(
    FAMILYISH, CIVIL_SCREEN
)
EXPECTED[(Role.DOCTOR, Purpose.CASE_WORK)] = dict.fromkeys(HEALTH, DOCTOR)
EXPECTED[(Role.PROCURATOR, Purpose.CASE_WORK)] = dict.fromkeys(PROTECTION, PROCURATOR)
EXPECTED[(Role.WOMENS_FEDERATION, Purpose.CASE_WORK)] = {"womens_federation.home_visits": WOMENS}
EXPECTED[(Role.DATA_OFFICER, Purpose.DATA_QUALITY)] = dict.fromkeys(HEALTH, DATA_OFFICER_HEALTH)

CASELOAD_ONLY = {Role.DOCTOR, Role.SOCIAL_WORKER}
SOURCES = sorted(shipped_mappings())


def expected_level(
    role: Role, purpose: Purpose, position: str, source: str, group: FieldGroup
) -> Visibility:
    if position == "outside" or (position == "jurisdiction" and role in CASELOAD_ONLY):
        return Visibility.HIDDEN
    return EXPECTED.get((role, purpose), {}).get(source, {}).get(group, Visibility.HIDDEN)


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_matrix_role_group_position_purpose(world: World, role: Role) -> None:
    principal = world.principals[role]
    mismatches = []
    cells = 0
    for purpose in Purpose:
        for position, child in world.children.items():
            may_view = any(
                expected_level(role, purpose, position, source, group) is not Visibility.HIDDEN
                for source in SOURCES
                for group in FieldGroup
            )
            decision = authorize(world.session, principal, Action.CHILD_VIEW, purpose, child)
            assert decision.allowed is may_view, (purpose, position, decision)
            assert decision.reason
            for source in SOURCES:
                got = group_visibility(world.session, principal, purpose, child, source)
                for group in FieldGroup:
                    cells += 1
                    want = expected_level(role, purpose, position, source, group)
                    if got[group] is not want:
                        mismatches.append(
                            (
                                purpose.value,
                                position,
                                source,
                                group.value,
                                got[group].value,
                                want.value,
                            )
                        )
    assert cells == len(Purpose) * 3 * len(SOURCES) * len(FieldGroup)
    assert not mismatches, mismatches[:20]


def test_teacher_never_sees_mental_health_or_protection(world: World) -> None:
    teacher = world.principals[Role.TEACHER]
    child = world.children["jurisdiction"]
    for purpose in Purpose:
        for source in SOURCES:
            groups = group_visibility(world.session, teacher, purpose, child, source)
            assert groups[G.MENTAL_HEALTH] is Visibility.HIDDEN
            assert groups[G.PROTECTION] is Visibility.HIDDEN
            assert groups[G.HEALTH] is Visibility.HIDDEN


@pytest.mark.parametrize(
    ("role", "action", "purpose", "allowed"),
    [
        (Role.POLICY_ANALYST, Action.STATS_READ, Purpose.STATISTICS, True),
        (Role.POLICY_ANALYST, Action.CHILD_SEARCH, Purpose.STATISTICS, False),
        (Role.POLICY_ANALYST, Action.CHILD_SEARCH, Purpose.CASE_WORK, False),
        (Role.AUDITOR, Action.AUDIT_READ, Purpose.AUDIT, True),
        (Role.AUDITOR, Action.CHILD_VIEW, Purpose.AUDIT, False),
        (Role.TEACHER, Action.AUDIT_READ, Purpose.AUDIT, False),
        (Role.ADMINISTRATOR, Action.USERS_MANAGE, None, True),
        (Role.ADMINISTRATOR, Action.CHILD_SEARCH, Purpose.CASE_WORK, False),
        (Role.CHILD_DIRECTOR, Action.USERS_MANAGE, None, False),
        (Role.CHILD_DIRECTOR, Action.CHILD_SEARCH, Purpose.CASE_WORK, True),
        (Role.CHILD_DIRECTOR, Action.CHILD_SEARCH, Purpose.STATISTICS, False),
        (Role.CHILD_DIRECTOR, Action.CHILD_SEARCH, None, False),
        (Role.CHILD_DIRECTOR, Action.RECORD_EXPORT, Purpose.CASE_WORK, False),
        (Role.CIVIL_AFFAIRS_OFFICER, Action.RECORD_EXPORT, Purpose.CASE_WORK, True),
        (Role.CIVIL_AFFAIRS_OFFICER, Action.REVIEW_DECIDE, Purpose.CASE_WORK, True),
        (Role.DATA_OFFICER, Action.REVIEW_DECIDE, Purpose.DATA_QUALITY, True),
        (Role.DATA_OFFICER, Action.CHILD_SEARCH, Purpose.CASE_WORK, False),
        (Role.DATA_OFFICER, Action.DATA_PUSH, None, True),
        (Role.TEACHER, Action.DATA_PUSH, None, False),
        (Role.TEACHER, Action.BREAK_GLASS, Purpose.CASE_WORK, False),
        (Role.DOCTOR, Action.BREAK_GLASS, Purpose.CASE_WORK, True),
        (Role.SUPERVISOR, Action.STATS_READ, Purpose.STATISTICS, True),
        (Role.TEACHER, Action.STATS_READ, Purpose.STATISTICS, False),
    ],
)
def test_actions(
    world: World, role: Role, action: Action, purpose: Purpose | None, allowed: bool
) -> None:
    decision = authorize(world.session, world.principals[role], action, purpose)
    assert decision.allowed is allowed, decision
    assert decision.reason


def test_deny_reasons_name_the_jurisdiction(world: World) -> None:
    director = world.principals[Role.CHILD_DIRECTOR]
    decision = authorize(
        world.session, director, Action.CHILD_VIEW, Purpose.CASE_WORK, world.children["outside"]
    )
    assert not decision.allowed
    assert decision.reason == f"child is outside your jurisdiction {director.jurisdiction}"
    doctor = world.principals[Role.DOCTOR]
    decision = authorize(
        world.session, doctor, Action.CHILD_VIEW, Purpose.CASE_WORK, world.children["jurisdiction"]
    )
    assert decision.reason == "child is not in your caseload"


def test_village_director_does_not_see_the_next_village(world: World) -> None:
    from .conftest import VILLAGE_A2, add_child

    neighbour = add_child(world.session, "赵小花", VILLAGE_A2)
    director = world.principals[Role.CHILD_DIRECTOR]
    supervisor = world.principals[Role.SUPERVISOR]
    assert not authorize(world.session, director, Action.CHILD_VIEW, "case_work", neighbour).allowed
    assert authorize(world.session, supervisor, Action.CHILD_VIEW, "case_work", neighbour).allowed


def test_api_keys_only_push(world: World) -> None:
    key = world.principal(Role.DATA_OFFICER, is_api_key=True)
    assert authorize(world.session, key, Action.DATA_PUSH, None).allowed
    assert not authorize(world.session, key, Action.CHILD_SEARCH, Purpose.DATA_QUALITY).allowed


def test_principal_without_agency_gets_nothing(world: World) -> None:
    orphan = world.principal(Role.CIVIL_AFFAIRS_OFFICER, agency_code=None)
    decision = authorize(
        world.session, orphan, Action.CHILD_VIEW, Purpose.CASE_WORK, world.children["caseload"]
    )
    assert not decision.allowed
