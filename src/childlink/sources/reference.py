"""Reference data shipped with ChildLink: the six departments and the sources they deliver.

Kept as plain data so docs and tests can read it without a database.
"""

from __future__ import annotations

from dataclasses import dataclass

from childlink.sources.choices import DepartmentCode, SourceFormat

INITIAL_MAPPING_VERSION = "1"


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A data source as shipped: its stable code, owner, names, format and description."""

    code: str
    department: DepartmentCode
    name_zh: str
    name_en: str
    format: SourceFormat
    description: str
    mapping_version: str = INITIAL_MAPPING_VERSION


DEPARTMENTS: tuple[DepartmentCode, ...] = tuple(DepartmentCode)

SOURCES: tuple[SourceSpec, ...] = (
    SourceSpec(
        "education.student_registry",
        DepartmentCode.EDUCATION,
        "学籍信息",
        "Student registry",
        SourceFormat.EXCEL,
        "Enrolment by school and grade, national student number, transfers and dropout flags.",
    ),
    SourceSpec(
        "education.attendance",
        DepartmentCode.EDUCATION,
        "学生考勤",
        "School attendance",
        SourceFormat.EXCEL,
        "Absence days per student and term: the first sign of dropout.",
    ),
    SourceSpec(
        "civil_affairs.welfare_rolls",
        DepartmentCode.CIVIL_AFFAIRS,
        "救助保障名册",
        "Welfare rolls",
        SourceFormat.CSV,
        "Minimum living allowance, extreme-poverty support, orphans, de-facto unsupported and "
        "left-behind children, disability subsidies (often GBK-encoded CSV).",
    ),
    SourceSpec(
        "public_security.household_register",
        DepartmentCode.PUBLIC_SECURITY,
        "户籍信息",
        "Household register",
        SourceFormat.DATABASE_EXTRACT,
        "Registered residents with ID number, sex, birth date, address and household members.",
    ),
    SourceSpec(
        "public_security.incidents",
        DepartmentCode.PUBLIC_SECURITY,
        "警情记录",
        "Police incidents",
        SourceFormat.CSV,
        "Domestic-violence call-outs, street-children encounters and missing-person reports.",
    ),
    SourceSpec(
        "health.visits",
        DepartmentCode.HEALTH,
        "就诊记录",
        "Health visits",
        SourceFormat.JSON,
        "Hospital and clinic visits with ICD-10 codes, injuries and mental-health screenings.",
    ),
    SourceSpec(
        "womens_federation.home_visits",
        DepartmentCode.WOMENS_FEDERATION,
        "入户走访记录",
        "Home visits",
        SourceFormat.EXCEL,
        "Family situation and guardianship notes from home visits, often typed by hand.",
    ),
    SourceSpec(
        "procuratorate.mandatory_reports",
        DepartmentCode.PROCURATORATE,
        "强制报告",
        "Mandatory reports",
        SourceFormat.CSV,
        "Reports under art. 11 of the Minors Protection Law, protection orders and "
        "guardianship revocations.",
    ),
)
