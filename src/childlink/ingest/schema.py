"""The canonical schema: every field a department column can be mapped onto, with its type.

Mappings name canonical fields; the schema decides how each is standardised and whether it is
a person identifier or sensitive. Person fields shared by every source (``id_number``, ``name``,
``sex``, ``birth_date``, ``region_code``) become columns of ``source_records``; the rest are
kept in its ``attributes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FieldType(StrEnum):
    """How a canonical field is standardised."""

    ID_NUMBER = "id_number"
    NAME = "name"
    SEX = "sex"
    DATE = "date"
    PHONE = "phone"
    REGION = "region"
    CODE = "code"
    INTEGER = "integer"
    TEXT = "text"
    STUDENT_NUMBER = "student_number"


@dataclass(frozen=True, slots=True)
class CanonicalField:
    """One field of the canonical schema."""

    name: str
    type: FieldType
    label_zh: str
    label_en: str
    sensitive: bool = False


PERSON_COLUMNS = ("id_number", "name", "sex", "birth_date", "region_code")
"""Canonical fields stored as columns of ``source_records`` (what linkage compares)."""

_FIELDS: tuple[CanonicalField, ...] = (
    CanonicalField("id_number", FieldType.ID_NUMBER, "身份证号", "ID number", sensitive=True),
    CanonicalField("name", FieldType.NAME, "姓名", "Name"),
    CanonicalField("sex", FieldType.SEX, "性别", "Sex"),
    CanonicalField("birth_date", FieldType.DATE, "出生日期", "Date of birth"),
    CanonicalField("age", FieldType.INTEGER, "年龄", "Age in years"),
    CanonicalField("region_code", FieldType.REGION, "区划代码", "Region code"),
    CanonicalField("ethnicity", FieldType.TEXT, "民族", "Ethnicity"),
    CanonicalField("address", FieldType.TEXT, "住址", "Address", sensitive=True),
    CanonicalField("township", FieldType.TEXT, "乡镇", "Township"),
    CanonicalField("village", FieldType.TEXT, "村（社区）", "Village or community"),
    CanonicalField("origin_address", FieldType.TEXT, "户籍地址", "Registered address"),
    CanonicalField("phone", FieldType.PHONE, "联系电话", "Phone", sensitive=True),
    CanonicalField("guardian_name", FieldType.NAME, "监护人姓名", "Guardian name"),
    CanonicalField(
        "guardian_id_number", FieldType.ID_NUMBER, "监护人身份证号", "Guardian ID", sensitive=True
    ),
    CanonicalField(
        "guardian_phone", FieldType.PHONE, "监护人电话", "Guardian phone", sensitive=True
    ),
    CanonicalField("household_number", FieldType.TEXT, "户号", "Household number"),
    CanonicalField("relation_to_head", FieldType.TEXT, "与户主关系", "Relation to head"),
    CanonicalField("registered_on", FieldType.DATE, "登记日期", "Registration date"),
    CanonicalField("residence_reason", FieldType.TEXT, "居住事由", "Reason of residence"),
    CanonicalField("student_number", FieldType.STUDENT_NUMBER, "学籍号", "Student number"),
    CanonicalField("school_name", FieldType.TEXT, "学校", "School"),
    CanonicalField("grade", FieldType.CODE, "年级", "Grade"),
    CanonicalField("class_name", FieldType.TEXT, "班级", "Class"),
    CanonicalField("enrolled_on", FieldType.DATE, "入学日期", "Enrolment date"),
    CanonicalField("enrolment_status", FieldType.CODE, "学籍状态", "Enrolment status"),
    CanonicalField("status_changed_on", FieldType.DATE, "变动日期", "Status change date"),
    CanonicalField("month", FieldType.TEXT, "月份", "Month"),
    CanonicalField("school_days", FieldType.INTEGER, "应出勤天数", "School days"),
    CanonicalField("absent_days", FieldType.INTEGER, "缺勤天数", "Absent days"),
    CanonicalField("programme", FieldType.CODE, "救助类别", "Welfare programme"),
    CanonicalField("programme_start", FieldType.DATE, "享受起始日期", "Programme start"),
    CanonicalField("programme_end", FieldType.DATE, "终止日期", "Programme end"),
    CanonicalField("monthly_amount", FieldType.INTEGER, "月救助金额", "Monthly amount (yuan)"),
    CanonicalField("record_number", FieldType.TEXT, "编号", "Record number"),
    CanonicalField("event_time", FieldType.TEXT, "时间", "Event time"),
    CanonicalField("event_date", FieldType.DATE, "日期", "Event date"),
    CanonicalField("event_type", FieldType.CODE, "类别", "Event type"),
    CanonicalField(
        "involved_minors", FieldType.TEXT, "涉及未成年人", "Minors involved", sensitive=True
    ),
    CanonicalField("outcome", FieldType.TEXT, "处置结果", "Outcome"),
    CanonicalField("facility", FieldType.TEXT, "机构", "Facility"),
    CanonicalField("department", FieldType.TEXT, "科室", "Clinical department"),
    CanonicalField("icd10", FieldType.TEXT, "ICD-10", "ICD-10 code", sensitive=True),
    CanonicalField("diagnosis", FieldType.TEXT, "诊断", "Diagnosis", sensitive=True),
    CanonicalField("injury", FieldType.CODE, "外伤", "Injury"),
    CanonicalField("inpatient", FieldType.CODE, "住院", "Inpatient"),
    CanonicalField("instrument", FieldType.TEXT, "量表", "Screening instrument"),
    CanonicalField("score", FieldType.INTEGER, "得分", "Score", sensitive=True),
    CanonicalField(
        "family_situation", FieldType.TEXT, "家庭情况", "Family situation", sensitive=True
    ),
    CanonicalField("risk_noted", FieldType.CODE, "是否存在风险", "Risk noted"),
    CanonicalField("visitor", FieldType.TEXT, "走访人", "Visitor"),
    CanonicalField("reporter_kind", FieldType.TEXT, "报告单位类型", "Reporter"),
    CanonicalField("report_reason", FieldType.TEXT, "报告事由", "Reason reported", sensitive=True),
)

CANONICAL_FIELDS: dict[str, CanonicalField] = {field.name: field for field in _FIELDS}
