"""Vocabulary of access control: roles, purposes, field groups, agency kinds."""

from __future__ import annotations

from childlink.store.enums import LabelledStrEnum


class Role(LabelledStrEnum):
    """What a person does in child protection; each role needs a different slice of the data."""

    CHILD_DIRECTOR = "child_director", "儿童主任", "Village child director"
    SUPERVISOR = "supervisor", "儿童督导员", "Township child-welfare supervisor"
    SOCIAL_WORKER = "social_worker", "社会工作者", "Social worker"
    CIVIL_AFFAIRS_OFFICER = "civil_affairs_officer", "民政干部", "Civil affairs officer"
    TEACHER = "teacher", "教师", "Teacher / school"
    DOCTOR = "doctor", "医生", "Doctor"
    POLICE = "police", "民警", "Police officer"
    WOMENS_FEDERATION = "womens_federation", "妇联工作人员", "Women's federation staff"
    PROCURATOR = "procurator", "检察官", "Procurator"
    DATA_OFFICER = "data_officer", "数据管理员", "Department data officer"
    POLICY_ANALYST = "policy_analyst", "政策分析员", "Policy analyst"
    AUDITOR = "auditor", "审计员", "Auditor"
    ADMINISTRATOR = "administrator", "系统管理员", "Administrator"


class Purpose(LabelledStrEnum):
    """Why data is processed (PIPL purpose limitation): every access names one."""

    CASE_WORK = "case_work", "个案工作", "Case work"
    RISK_SCREENING = "risk_screening", "风险筛查", "Risk screening"
    STATISTICS = "statistics", "统计分析", "Statistics"
    AUDIT = "audit", "审计监督", "Audit"
    DATA_QUALITY = "data_quality", "数据质量", "Data quality (a department checks its own data)"


class FieldGroup(LabelledStrEnum):
    """Groups of canonical fields that data-sharing agreements grant or withhold together."""

    IDENTITY = "identity", "身份信息", "Identity (name, sex, birth date)"
    IDENTIFIERS = "identifiers", "证件号码", "Identifiers (ID and student numbers)"
    CONTACT = "contact", "联系方式与住址", "Contact and address"
    FAMILY = "family", "家庭与监护", "Family and guardianship"
    EDUCATION = "education", "教育", "Education"
    WELFARE = "welfare", "社会救助", "Welfare and assistance"
    HEALTH = "health", "健康", "Physical health"
    MENTAL_HEALTH = "mental_health", "心理健康", "Mental health"
    PROTECTION = "protection", "保护与司法", "Protection, police and court"
    RISK = "risk", "风险评估", "Risk scores and alerts"
    LINKAGE = "linkage", "关联证据", "Link evidence"


class AgencyKind(LabelledStrEnum):
    """The kind of organisation a user works for."""

    CIVIL_AFFAIRS = "civil_affairs", "民政部门", "Civil affairs"
    TOWNSHIP = "township", "乡镇（街道）", "Township government"
    VILLAGE = "village", "村（居）委会", "Village / community committee"
    EDUCATION = "education", "教育部门", "Education"
    SCHOOL = "school", "学校", "School"
    HEALTH = "health", "卫生健康部门", "Health"
    PUBLIC_SECURITY = "public_security", "公安机关", "Public security"
    WOMENS_FEDERATION = "womens_federation", "妇联", "Women's federation"
    PROCURATORATE = "procuratorate", "检察院", "Procuratorate"
    SOCIAL_WORK_ORG = "social_work_org", "社工机构", "Social-work organisation"
    STATISTICS = "statistics", "统计与政策研究", "Statistics and policy"
    AUDIT = "audit", "审计与监督", "Audit and supervision"


class LegalBasisKind(LabelledStrEnum):
    """Lawful bases for processing a child's personal information (PIPL arts. 13, 28, 31)."""

    STATUTORY_DUTY = "statutory_duty", "履行法定职责", "Statutory duty"
    GUARDIAN_CONSENT = "guardian_consent", "监护人同意", "Guardian consent"
    VITAL_INTEREST = "vital_interest", "紧急情况下保护生命健康", "Vital interest (emergency)"


class Visibility(LabelledStrEnum):
    """How one field is shown to one person: in full, masked, or not at all."""

    FULL = "full", "完整", "Full"
    MASKED = "masked", "脱敏", "Masked"
    HIDDEN = "hidden", "隐藏", "Hidden"
