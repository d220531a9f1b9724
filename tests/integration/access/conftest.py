"""A small county for access tests: regions, agencies, children, legal bases, principals."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from sqlalchemy.orm import Session

from childlink.access.choices import AgencyKind, LegalBasisKind, Role
from childlink.access.consent import add_legal_basis
from childlink.access.models import ALL_SOURCES
from childlink.access.principal import Principal
from childlink.access.service import ChildScope, ensure_agency
from childlink.children.models import MasterChild
from childlink.ingest.mapping import shipped_mappings
from childlink.regions.service import load_regions

COUNTY = "522799000000"
TOWNSHIP_A = "522799001000"
VILLAGE_A1 = "522799001001"
VILLAGE_A2 = "522799001002"
TOWNSHIP_B = "522799002000"
VILLAGE_B1 = "522799002001"
OTHER_COUNTY = "522798000000"
OTHER_VILLAGE = "522798001001"

REGIONS: list[dict[str, Any]] = [
    {"code": "52", "parent_code": None, "level": "province", "name": "省"},
    {"code": "5227", "parent_code": "52", "level": "city", "name": "州"},
    {"code": "522799", "parent_code": "5227", "level": "county", "name": "演示县"},
    {"code": TOWNSHIP_A, "parent_code": COUNTY, "level": "township", "name": "甲镇"},
    {"code": VILLAGE_A1, "parent_code": TOWNSHIP_A, "level": "village", "name": "甲一村"},
    {"code": VILLAGE_A2, "parent_code": TOWNSHIP_A, "level": "village", "name": "甲二村"},
    {"code": TOWNSHIP_B, "parent_code": COUNTY, "level": "township", "name": "乙乡"},
    {"code": VILLAGE_B1, "parent_code": TOWNSHIP_B, "level": "village", "name": "乙一村"},
    {"code": "522798", "parent_code": "5227", "level": "county", "name": "邻县"},
    {"code": "522798001000", "parent_code": OTHER_COUNTY, "level": "township", "name": "丙镇"},
    {"code": OTHER_VILLAGE, "parent_code": "522798001000", "level": "village", "name": "丙一村"},
]

AGENCY_OF_ROLE: dict[Role, tuple[AgencyKind, str]] = {
    Role.CHILD_DIRECTOR: (AgencyKind.VILLAGE, VILLAGE_A1),
    Role.SUPERVISOR: (AgencyKind.TOWNSHIP, TOWNSHIP_A),
    Role.SOCIAL_WORKER: (AgencyKind.SOCIAL_WORK_ORG, COUNTY),
    Role.CIVIL_AFFAIRS_OFFICER: (AgencyKind.CIVIL_AFFAIRS, COUNTY),
    Role.TEACHER: (AgencyKind.SCHOOL, TOWNSHIP_A),
    Role.DOCTOR: (AgencyKind.HEALTH, COUNTY),
    Role.POLICE: (AgencyKind.PUBLIC_SECURITY, COUNTY),
    Role.WOMENS_FEDERATION: (AgencyKind.WOMENS_FEDERATION, COUNTY),
    Role.PROCURATOR: (AgencyKind.PROCURATORATE, COUNTY),
    Role.DATA_OFFICER: (AgencyKind.HEALTH, COUNTY),
    Role.POLICY_ANALYST: (AgencyKind.STATISTICS, COUNTY),
    Role.AUDITOR: (AgencyKind.AUDIT, COUNTY),
    Role.ADMINISTRATOR: (AgencyKind.CIVIL_AFFAIRS, COUNTY),
}


@dataclass
class World:
    """What a test needs: children by position, principals by role."""

    session: Session
    children: dict[str, ChildScope] = field(default_factory=dict)
    principals: dict[Role, Principal] = field(default_factory=dict)

    def principal(self, role: Role, **changes: object) -> Principal:
        base = self.principals[role]
        values = {**base.__dict__, **changes}
        return Principal(**values)


def add_child(session: Session, name: str, region: str) -> ChildScope:
    child = MasterChild(id=uuid.uuid4(), display_name=name, region_code=region)
    session.add(child)
    session.flush()
    return ChildScope(child.id, region)


@pytest.fixture
def world(session: Session) -> World:
    """Regions, one agency per role, three children and statutory bases for every source.

    ``caseload``: in village A1 and in every principal's caseload; ``jurisdiction``: in village
    A1 but nobody's caseload; ``outside``: in the neighbouring county.
    """
    load_regions(session, REGIONS)
    result = World(session)
    result.children = {
        "caseload": add_child(session, "张小明", VILLAGE_A1),
        "jurisdiction": add_child(session, "李小红", VILLAGE_A1),
        "outside": add_child(session, "王小刚", OTHER_VILLAGE),
    }
    for role, (kind, region) in AGENCY_OF_ROLE.items():
        code = f"{kind.value}-{role.value}"
        ensure_agency(session, code, name_zh=code, name_en=code, kind=kind, region_code=region)
        result.principals[role] = Principal(
            user_id=uuid.uuid4(),
            username=f"u_{role.value}",
            role=role,
            agency_code=code,
            jurisdiction=None if role is Role.ADMINISTRATOR else region,
            caseload=frozenset({result.children["caseload"].master_child_id}),
        )
    for code in shipped_mappings():
        add_legal_basis(
            session,
            master_child_id=None,
            source_code=code,
            basis=LegalBasisKind.STATUTORY_DUTY,
            evidence="statute for the test",
            recorded_by="test",
            valid_from=date(2020, 1, 1),
        )
    add_legal_basis(
        session,
        master_child_id=result.children["caseload"].master_child_id,
        source_code=ALL_SOURCES,
        basis=LegalBasisKind.GUARDIAN_CONSENT,
        evidence="consent form 123",
        recorded_by="test",
        valid_from=date(2020, 1, 1),
    )
    session.commit()
    return result
