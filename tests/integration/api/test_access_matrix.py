"""Every role x purpose x field group x in/out of jurisdiction, through the real HTTP API.

The expectations are a table written here from the data-sharing agreements as a reader of
``access/policies/*.yaml`` understands them, not computed by the policy engine: if the engine,
the policy files or the API drift apart from it, this test fails. For each role there are two
users, one whose jurisdiction (or caseload) holds the child and one whose does not; each asks
for the child's profile (and searches for it) under every purpose, and each request must
leave exactly one audit entry with the right action, outcome, purpose and child.
"""

from __future__ import annotations

import fnmatch
import uuid
from collections import defaultdict
from dataclasses import dataclass

import httpx
import pytest
import sqlalchemy as sa

from childlink.access.choices import AgencyKind, LegalBasisKind, Purpose, Role
from childlink.access.consent import add_legal_basis, seed_demo_legal_bases
from childlink.access.fields import field_group
from childlink.access.models import ALL_SOURCES
from childlink.access.service import ensure_agency
from childlink.audit.models import AuditEntry
from childlink.children.models import MasterChild
from childlink.identity.service import assign_case, create_user, issue_api_token
from childlink.ingest.schema import PERSON_COLUMNS
from childlink.regions.choices import RegionLevel
from childlink.regions.models import Region
from childlink.sources.choices import RecordStatus
from childlink.sources.models import DataSource, SourceRecord
from childlink.store.engine import unit_of_work

from .conftest import County

ID, IDS, CON, FAM = "identity", "identifiers", "contact", "family"
EDU, WEL, HEA, MEN = "education", "welfare", "health", "mental_health"
PRO, RISK, LNK = "protection", "risk", "linkage"
CW, RS, ST, AU, DQ = (
    Purpose.CASE_WORK,
    Purpose.RISK_SCREENING,
    Purpose.STATISTICS,
    Purpose.AUDIT,
    Purpose.DATA_QUALITY,
)


@dataclass(frozen=True)
class G:
    """One grant as the agreements state it: sources (glob), groups in full, groups masked."""

    sources: tuple[str, ...]
    full: frozenset[str]
    masked: frozenset[str] = frozenset()


def g(sources: str, full: set[str], masked: set[str] | None = None) -> G:
    return G(tuple(sources.split(",")), frozenset(full), frozenset(masked or set()))


DIRECTOR = g("*", {ID, CON, FAM, WEL, EDU, RISK}, {IDS})
SUPERVISOR = g("*", {ID, FAM, WEL, EDU, RISK, LNK}, {IDS, CON})
CIVIL_CW = g("*", {ID, IDS, CON, FAM, WEL, EDU, PRO, RISK, LNK})
CIVIL_RS = g("*", {ID, FAM, WEL, EDU, RISK, LNK}, {IDS, CON})
TEACHER = g("education.*", {ID, EDU}, {IDS})
DOCTOR = g("health.*", {ID, HEA, MEN}, {IDS, CON})
POLICE_ALL = g("*", {ID, PRO}, {IDS})
POLICE_OWN = g("public_security.*", {ID, IDS, CON, FAM, PRO})
PROCURATOR = g("*", {ID, IDS, PRO})
WOMENS_FED = g("womens_federation.*", {ID, FAM, RISK}, {IDS, CON})
DATA_OFFICER = g("civil_affairs.*", {ID, FAM, EDU, WEL, HEA, MEN, PRO, RISK, LNK}, {IDS, CON})
SOCIAL_WORKER = g("*", {ID, FAM, WEL, EDU, RISK}, {IDS, CON})

EXPECTED: dict[tuple[Role, Purpose], list[G]] = {
    (Role.CHILD_DIRECTOR, CW): [DIRECTOR],
    (Role.CHILD_DIRECTOR, RS): [DIRECTOR],
    (Role.SUPERVISOR, CW): [SUPERVISOR],
    (Role.SUPERVISOR, RS): [SUPERVISOR],
    (Role.CIVIL_AFFAIRS_OFFICER, CW): [CIVIL_CW],
    (Role.CIVIL_AFFAIRS_OFFICER, RS): [CIVIL_RS],
    (Role.TEACHER, CW): [TEACHER],
    (Role.TEACHER, RS): [TEACHER],
    (Role.DOCTOR, CW): [DOCTOR],
    (Role.POLICE, CW): [POLICE_ALL, POLICE_OWN],
    (Role.POLICE, RS): [POLICE_ALL, POLICE_OWN],
    (Role.PROCURATOR, CW): [PROCURATOR],
    (Role.WOMENS_FEDERATION, CW): [WOMENS_FED],
    (Role.DATA_OFFICER, DQ): [DATA_OFFICER],
    (Role.SOCIAL_WORKER, CW): [SOCIAL_WORKER],
}
"""(role, purpose) -> grants; a pair not listed may see no child at all."""

SOURCE_DOMAIN = {
    "education.student_registry": EDU,
    "education.attendance": EDU,
    "civil_affairs.welfare_rolls": WEL,
    "public_security.household_register": FAM,
    "public_security.floating_population": FAM,
    "public_security.incidents": PRO,
    "health.visits": HEA,
    "health.mental_health_screenings": MEN,
    "womens_federation.home_visits": FAM,
    "procuratorate.mandatory_reports": PRO,
}
"""A record is shown only to someone granted its source's domain group."""

# role -> (agency kind, level of its jurisdiction, caseload-scoped)
ROLES: dict[Role, tuple[AgencyKind, RegionLevel, bool]] = {
    Role.CHILD_DIRECTOR: (AgencyKind.VILLAGE, RegionLevel.VILLAGE, False),
    Role.SUPERVISOR: (AgencyKind.TOWNSHIP, RegionLevel.TOWNSHIP, False),
    Role.SOCIAL_WORKER: (AgencyKind.SOCIAL_WORK_ORG, RegionLevel.TOWNSHIP, True),
    Role.CIVIL_AFFAIRS_OFFICER: (AgencyKind.CIVIL_AFFAIRS, RegionLevel.COUNTY, False),
    Role.TEACHER: (AgencyKind.SCHOOL, RegionLevel.TOWNSHIP, False),
    Role.DOCTOR: (AgencyKind.HEALTH, RegionLevel.COUNTY, True),
    Role.POLICE: (AgencyKind.PUBLIC_SECURITY, RegionLevel.COUNTY, False),
    Role.WOMENS_FEDERATION: (AgencyKind.WOMENS_FEDERATION, RegionLevel.COUNTY, False),
    Role.PROCURATOR: (AgencyKind.PROCURATORATE, RegionLevel.COUNTY, False),
    Role.DATA_OFFICER: (AgencyKind.CIVIL_AFFAIRS, RegionLevel.COUNTY, False),
    Role.POLICY_ANALYST: (AgencyKind.STATISTICS, RegionLevel.COUNTY, False),
    Role.AUDITOR: (AgencyKind.AUDIT, RegionLevel.COUNTY, False),
    Role.ADMINISTRATOR: (AgencyKind.CIVIL_AFFAIRS, RegionLevel.COUNTY, False),
}


def expected_level(role: Role, purpose: Purpose, source: str, group: str) -> str | None:
    """ "full", "masked" or None (absent) per the table above."""
    grants = [
        grant
        for grant in EXPECTED.get((role, purpose), [])
        if any(fnmatch.fnmatchcase(source, pattern) for pattern in grant.sources)
    ]

    def level(of: str) -> str | None:
        if any(of in grant.full for grant in grants):
            return "full"
        if any(of in grant.masked for grant in grants):
            return "masked"
        return None

    if level(SOURCE_DOMAIN[source]) is None:
        return None
    return level(group)


@dataclass
class Matrix:
    county: County
    child: uuid.UUID
    child_name: str
    tokens: dict[tuple[Role, bool], str]
    universe: dict[str, set[str]]  # source -> groups with a value in the child's records


def _child_with_most_sources(county: County) -> MasterChild:
    with county.factory() as session:
        counts = (
            sa.select(
                SourceRecord.master_child_id,
                sa.func.count(sa.distinct(SourceRecord.source_id)).label("n"),
            )
            .where(SourceRecord.master_child_id.is_not(None))
            .group_by(SourceRecord.master_child_id)
            .subquery()
        )
        child = session.scalars(
            sa.select(MasterChild)
            .join(counts, counts.c.master_child_id == MasterChild.id)
            .where(
                MasterChild.region_code.is_not(None),
                sa.func.substr(MasterChild.region_code, 10, 3) != "000",
            )
            .order_by(counts.c.n.desc(), MasterChild.id)
            .limit(1)
        ).one()
        session.expunge(child)
        return child


def _universe(county: County, child_id: uuid.UUID) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = defaultdict(set)
    with county.factory() as session:
        rows = session.execute(
            sa.select(SourceRecord, DataSource.code)
            .join(DataSource, SourceRecord.source_id == DataSource.id)
            .where(
                SourceRecord.master_child_id == child_id,
                SourceRecord.status != RecordStatus.QUARANTINED,
            )
        ).all()
        for record, source in rows:
            values = {name: getattr(record, name) for name in PERSON_COLUMNS}
            values.update(record.attributes or {})
            for name, value in values.items():
                if value is not None and value != "":
                    groups[source].add(str(field_group(name, source)))
    return dict(groups)


@pytest.fixture(scope="module")
def matrix(county: County) -> Matrix:
    """Two users per role (child inside / outside their area), with API tokens."""
    child = _child_with_most_sources(county)
    assert child.region_code is not None
    code = child.region_code
    tokens: dict[tuple[Role, bool], str] = {}
    with unit_of_work(county.factory) as session:
        seed_demo_legal_bases(session, consent_children=0)
        add_legal_basis(
            session,
            master_child_id=child.id,
            source_code=ALL_SOURCES,
            basis=LegalBasisKind.GUARDIAN_CONSENT,
            evidence="监护人知情同意书 No. TEST-1",
            recorded_by="test",
        )
        village = session.get(Region, code)
        assert village is not None
        assert village.parent_code is not None
        township = session.get(Region, village.parent_code)
        assert township is not None
        assert township.parent_code is not None
        county_region = session.get(Region, township.parent_code)
        assert county_region is not None
        other_county = session.get(Region, "529999000000")
        if other_county is None:
            other_county = Region(
                code="529999000000",
                parent_code=county_region.parent_code,
                level=RegionLevel.COUNTY,
                name="邻县（测试）",
            )
            session.add(other_county)
            session.flush()
        other_township = session.scalars(
            sa.select(Region).where(
                Region.parent_code == county_region.code, Region.code != township.code
            )
        ).first()
        other_village = session.scalars(
            sa.select(Region).where(
                Region.level == RegionLevel.VILLAGE,
                Region.code != village.code,
                Region.parent_code == township.code,
            )
        ).first()
        assert other_township is not None
        assert other_village is not None
        inside = {
            RegionLevel.VILLAGE: village,
            RegionLevel.TOWNSHIP: township,
            RegionLevel.COUNTY: county_region,
        }
        outside = {
            RegionLevel.VILLAGE: other_village,
            RegionLevel.TOWNSHIP: other_township,
            RegionLevel.COUNTY: other_county,
        }
        for role, (kind, level, caseload) in ROLES.items():
            for is_in in (True, False):
                region = (inside if is_in else outside)[level]
                if caseload:
                    region = inside[level]  # caseload roles: the caseload decides, not the area
                agency = ensure_agency(
                    session,
                    f"m.{kind.value}.{region.code}",
                    name_zh=region.name,
                    name_en=region.name,
                    kind=kind,
                    region_code=region.code,
                )
                username = f"m_{role.value}_{'in' if is_in else 'out'}"
                create_user(
                    session,
                    username=username,
                    role=role,
                    agency_code=agency.code,
                    jurisdiction_code=region.code,
                )
                if caseload and is_in:
                    assign_case(session, username, child.id, assigned_by="test")
                _row, secret = issue_api_token(session, username, name="matrix")
                tokens[(role, is_in)] = secret
    return Matrix(county, child.id, child.display_name, tokens, _universe(county, child.id))


def _observed(profile: dict[str, object]) -> dict[str, dict[str, str]]:
    """source -> group -> "full" / "masked" as the profile shows it."""
    seen: dict[str, dict[str, str]] = defaultdict(dict)
    for group in profile["sources"]:  # type: ignore[attr-defined]
        source = group["source_code"]
        for record in group["records"]:
            for name in record["fields"]:
                field_grp = str(field_group(name, source))
                level = "masked" if name in record["masked"] else "full"
                if seen[source].get(field_grp) != "full":
                    seen[source][field_grp] = level
    return seen


def _last_entry(county: County, actor: str) -> tuple[int, AuditEntry | None]:
    with county.factory() as session:
        count = session.scalar(
            sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.actor == actor)
        )
        entry = session.scalars(
            sa.select(AuditEntry).where(AuditEntry.actor == actor).order_by(AuditEntry.seq.desc())
        ).first()
        return int(count or 0), entry


PURPOSES = [CW, RS, ST, AU, DQ]


@pytest.mark.parametrize("role", list(ROLES), ids=[r.value for r in ROLES])
def test_profile_matrix(matrix: Matrix, role: Role) -> None:
    """Each purpose x in/out: allow or deny, the field groups per source, one audit entry."""
    county = matrix.county
    assert len(matrix.universe) >= 3, f"the chosen child has too few sources: {matrix.universe}"
    problems: list[str] = []
    with county.client() as client:
        for purpose in PURPOSES:
            for is_in in (True, False):
                username = f"m_{role.value}_{'in' if is_in else 'out'}"
                before, _ = _last_entry(county, username)
                response = client.get(
                    f"/api/v1/children/{matrix.child}",
                    headers={
                        "Authorization": f"Bearer {matrix.tokens[(role, is_in)]}",
                        "X-Purpose": purpose.value,
                    },
                )
                granted = (role, purpose) in EXPECTED
                allowed = granted and is_in
                where = f"{role.value} {'in' if is_in else 'out'} {purpose.value}"
                if response.status_code != (200 if allowed else 403):
                    problems.append(f"{where}: HTTP {response.status_code} {response.text[:200]}")
                    continue
                after, entry = _last_entry(county, username)
                assert entry is not None, where
                assert after == before + 1, f"{where}: {after - before} audit entries"
                assert (entry.action, entry.outcome, entry.purpose, entry.child_id) == (
                    "child.view",
                    "allow" if allowed else "deny",
                    purpose.value,
                    matrix.child,
                ), where
                if not allowed:
                    assert response.json()["error"]["code"] == "access_denied"
                    assert entry.details.get("reason") == response.json()["error"]["message"]
                    continue
                seen = _observed(response.json())
                for source, groups in sorted(matrix.universe.items()):
                    for group in sorted(groups):
                        want = expected_level(role, purpose, source, group)
                        got = seen.get(source, {}).get(group)
                        if want != got:
                            problems.append(f"{where}: {source} {group}: want {want}, got {got}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", list(ROLES), ids=[r.value for r in ROLES])
def test_search_matrix(matrix: Matrix, role: Role) -> None:
    """Searching by the child's name: allowed per the table, and only inside one's area."""
    county = matrix.county
    problems: list[str] = []
    with county.client() as client:
        for purpose in PURPOSES:
            for is_in in (True, False):
                username = f"m_{role.value}_{'in' if is_in else 'out'}"
                before, _ = _last_entry(county, username)
                response = client.get(
                    "/api/v1/children",
                    params={"q": matrix.child_name},
                    headers={
                        "Authorization": f"Bearer {matrix.tokens[(role, is_in)]}",
                        "X-Purpose": purpose.value,
                    },
                )
                where = f"{role.value} {'in' if is_in else 'out'} {purpose.value}"
                granted = (role, purpose) in EXPECTED
                if response.status_code != (200 if granted else 403):
                    problems.append(f"{where}: HTTP {response.status_code} {response.text[:200]}")
                    continue
                after, entry = _last_entry(county, username)
                assert after == before + 1, where
                assert entry is not None
                assert (entry.action, entry.outcome, entry.purpose) == (
                    "child.search",
                    "allow" if granted else "deny",
                    purpose.value,
                ), where
                if not granted:
                    continue
                ids = {uuid.UUID(hit["master_child_id"]) for hit in response.json()}
                caseload_only = ROLES[role][2]
                # Searches are limited to one's area (caseload roles: their own area too).
                should_find = is_in or caseload_only
                if (matrix.child in ids) != should_find:
                    problems.append(f"{where}: child found={matrix.child in ids}")
                assert {str(c) for c in entry.details["children"]} == {str(i) for i in ids}
    assert not problems, "\n".join(problems)


def test_anonymous_and_unknown_child(matrix: Matrix) -> None:
    county = matrix.county
    with httpx.Client(base_url=county.url) as client:
        anonymous = client.get(
            f"/api/v1/children/{matrix.child}", headers={"X-Purpose": "case_work"}
        )
        assert anonymous.status_code == 401
        headers = {"Authorization": f"Bearer {matrix.tokens[(Role.CIVIL_AFFAIRS_OFFICER, True)]}"}
        no_purpose = client.get(f"/api/v1/children/{matrix.child}", headers=headers)
        assert no_purpose.status_code == 400
        assert "purpose" in no_purpose.json()["error"]["message"]
        unknown = client.get(
            f"/api/v1/children/{uuid.uuid4()}", headers=headers | {"X-Purpose": "case_work"}
        )
        assert unknown.status_code == 404
