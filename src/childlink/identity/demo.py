"""Demo accounts: one per role, each with a jurisdiction at its level of the county's tree.

Passwords are generated at demo time and printed once; the repository holds none. Running the
demo again gives every demo account a new password and re-points it at the new county.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from childlink.access.choices import AgencyKind, Role
from childlink.access.service import ensure_agency
from childlink.children.choices import ChildStatus
from childlink.children.models import MasterChild
from childlink.errors import IdentityError
from childlink.identity import service
from childlink.identity.models import CaseAssignment, User
from childlink.regions.choices import RegionLevel
from childlink.regions.models import Region

CASELOAD_SIZE = 8


@dataclass(frozen=True)
class DemoAccount:
    """What the demo prints for one role."""

    username: str
    password: str
    role: Role
    agency_code: str
    jurisdiction: str | None
    jurisdiction_name: str | None
    caseload: int


# role -> (username, agency kind, level of the jurisdiction, agency name zh/en, caseload?)
DEMO_ROLES: tuple[tuple[Role, str, AgencyKind, RegionLevel | None, bool], ...] = (
    (Role.CHILD_DIRECTOR, "director", AgencyKind.VILLAGE, RegionLevel.VILLAGE, True),
    (Role.SUPERVISOR, "supervisor", AgencyKind.TOWNSHIP, RegionLevel.TOWNSHIP, True),
    (Role.SOCIAL_WORKER, "socialworker", AgencyKind.SOCIAL_WORK_ORG, RegionLevel.TOWNSHIP, True),
    (Role.CIVIL_AFFAIRS_OFFICER, "civil", AgencyKind.CIVIL_AFFAIRS, RegionLevel.COUNTY, False),
    (Role.TEACHER, "teacher", AgencyKind.SCHOOL, RegionLevel.TOWNSHIP, True),
    (Role.DOCTOR, "doctor", AgencyKind.HEALTH, RegionLevel.COUNTY, True),
    (Role.POLICE, "police", AgencyKind.PUBLIC_SECURITY, RegionLevel.COUNTY, False),
    (Role.WOMENS_FEDERATION, "womensfed", AgencyKind.WOMENS_FEDERATION, RegionLevel.COUNTY, False),
    (Role.PROCURATOR, "procurator", AgencyKind.PROCURATORATE, RegionLevel.COUNTY, False),
    (Role.DATA_OFFICER, "dataofficer", AgencyKind.CIVIL_AFFAIRS, RegionLevel.COUNTY, False),
    (Role.POLICY_ANALYST, "analyst", AgencyKind.STATISTICS, RegionLevel.COUNTY, False),
    (Role.AUDITOR, "auditor", AgencyKind.AUDIT, RegionLevel.COUNTY, False),
    (Role.ADMINISTRATOR, "admin", AgencyKind.CIVIL_AFFAIRS, None, False),
)


@dataclass(frozen=True)
class DemoArea:
    """The regions the demo accounts serve: a county, one township in it, one village in that."""

    county: Region
    township: Region
    village: Region

    def at(self, level: RegionLevel | None) -> Region | None:
        if level is None:
            return None
        return {
            RegionLevel.COUNTY: self.county,
            RegionLevel.TOWNSHIP: self.township,
            RegionLevel.VILLAGE: self.village,
        }[level]


def demo_area(session: Session) -> DemoArea:
    """The county, and its township and village with the most children (so caseloads fill).

    Raises:
        IdentityError: the region tree has no county, township or village.
    """

    def busiest(level: RegionLevel, parent: str) -> Region | None:
        digits = level.code_digits
        child_area = sa.func.substr(MasterChild.region_code, 1, digits)
        counted = session.execute(
            sa.select(Region.code, sa.func.count(MasterChild.id))
            .outerjoin(MasterChild, child_area == sa.func.substr(Region.code, 1, digits))
            .where(Region.level == level, Region.parent_code == parent)
            .group_by(Region.code)
            .order_by(sa.func.count(MasterChild.id).desc(), Region.code)
        ).first()
        return None if counted is None else session.get(Region, counted[0])

    county = session.scalar(
        sa.select(Region).where(Region.level == RegionLevel.COUNTY).order_by(Region.code)
    )
    if county is None:
        raise IdentityError("no county in the region tree: load the county's regions first")
    township = busiest(RegionLevel.TOWNSHIP, county.code)
    if township is None:
        raise IdentityError(f"county {county.code} has no townships")
    village = busiest(RegionLevel.VILLAGE, township.code)
    if village is None:
        raise IdentityError(f"township {township.code} has no villages")
    return DemoArea(county=county, township=township, village=village)


def seed_demo_accounts(session: Session) -> list[DemoAccount]:
    """One account per role (new passwords each run), agencies, and small caseloads."""
    area = demo_area(session)
    accounts = []
    for role, username, kind, level, with_caseload in DEMO_ROLES:
        region = area.at(level)
        place = area.county if region is None else region
        agency = ensure_agency(
            session,
            f"demo.{kind.value}.{place.code}",
            name_zh=f"{place.name}{kind.label_zh}",
            name_en=f"{kind.label_en}, {place.name}",
            kind=kind,
            region_code=place.code,
        )
        user = session.scalar(sa.select(User).where(User.username == username))
        if user is None:
            user, password = service.create_user(
                session,
                username=username,
                role=role,
                display_name=f"{role.label_zh}（演示）",
                agency_code=agency.code,
                jurisdiction_code=None if region is None else region.code,
                actor="demo",
            )
        else:
            password = service.reset_password(session, username, actor="demo")
            user.role = role
            user.agency_id = agency.id
            user.jurisdiction_code = None if region is None else region.code
            user.is_active = True
        caseload = _assign_caseload(session, user, region) if with_caseload else 0
        accounts.append(
            DemoAccount(
                username=username,
                password=password,
                role=role,
                agency_code=agency.code,
                jurisdiction=None if region is None else region.code,
                jurisdiction_name=None if region is None else region.name,
                caseload=caseload,
            )
        )
    session.flush()
    return accounts


def _assign_caseload(session: Session, user: User, region: Region | None) -> int:
    """Replace the user's caseload with a few active children of their area."""
    session.execute(sa.delete(CaseAssignment).where(CaseAssignment.user_id == user.id))
    if region is None:
        return 0
    digits = region.level.code_digits
    children: list[uuid.UUID] = list(
        session.scalars(
            sa.select(MasterChild.id)
            .where(
                MasterChild.status == ChildStatus.ACTIVE,
                MasterChild.region_code.like(f"{region.code[:digits]}%"),
            )
            .order_by(MasterChild.id)
            .limit(CASELOAD_SIZE)
        )
    )
    for child_id in children:
        session.add(CaseAssignment(user_id=user.id, master_child_id=child_id, assigned_by="demo"))
    session.flush()
    return len(children)
