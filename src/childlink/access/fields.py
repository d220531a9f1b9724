"""Which field group each canonical field belongs to, and each source's own domain.

Most fields belong to one group wherever they appear (a name is identity, an ICD-10 code is
health). Event fields (``event_date``, ``event_type``, ``record_number``, ...) take the group of
the source they come from: the date of a mental-health screening is mental-health data, the
date of a police call-out is protection data. A source's *domain group* also guards the record
as a whole: the mere existence of a mental-health screening is mental-health data, so a record
is shown only to someone granted its source's domain group.
"""

from __future__ import annotations

from childlink.access.choices import AgencyKind, FieldGroup

FIELD_GROUPS: dict[str, FieldGroup] = {
    # identity
    "name": FieldGroup.IDENTITY,
    "name_pinyin": FieldGroup.IDENTITY,
    "sex": FieldGroup.IDENTITY,
    "birth_date": FieldGroup.IDENTITY,
    "age": FieldGroup.IDENTITY,
    "ethnicity": FieldGroup.IDENTITY,
    # identifiers
    "id_number": FieldGroup.IDENTIFIERS,
    "student_number": FieldGroup.IDENTIFIERS,
    "guardian_id_number": FieldGroup.IDENTIFIERS,
    "household_number": FieldGroup.IDENTIFIERS,
    # contact and address
    "address": FieldGroup.CONTACT,
    "phone": FieldGroup.CONTACT,
    "guardian_phone": FieldGroup.CONTACT,
    "region_code": FieldGroup.CONTACT,
    "township": FieldGroup.CONTACT,
    "village": FieldGroup.CONTACT,
    "origin_address": FieldGroup.CONTACT,
    # family and guardianship
    "guardian_name": FieldGroup.FAMILY,
    "relation_to_head": FieldGroup.FAMILY,
    "registered_on": FieldGroup.FAMILY,
    "residence_reason": FieldGroup.FAMILY,
    "family_situation": FieldGroup.FAMILY,
    # education
    "school_name": FieldGroup.EDUCATION,
    "grade": FieldGroup.EDUCATION,
    "class_name": FieldGroup.EDUCATION,
    "enrolled_on": FieldGroup.EDUCATION,
    "enrolment_status": FieldGroup.EDUCATION,
    "status_changed_on": FieldGroup.EDUCATION,
    "month": FieldGroup.EDUCATION,
    "school_days": FieldGroup.EDUCATION,
    "absent_days": FieldGroup.EDUCATION,
    # welfare
    "programme": FieldGroup.WELFARE,
    "programme_start": FieldGroup.WELFARE,
    "programme_end": FieldGroup.WELFARE,
    "monthly_amount": FieldGroup.WELFARE,
    # health
    "facility": FieldGroup.HEALTH,
    "department": FieldGroup.HEALTH,
    "icd10": FieldGroup.HEALTH,
    "diagnosis": FieldGroup.HEALTH,
    "injury": FieldGroup.HEALTH,
    "inpatient": FieldGroup.HEALTH,
    # mental health
    "instrument": FieldGroup.MENTAL_HEALTH,
    "score": FieldGroup.MENTAL_HEALTH,
    # protection
    "involved_minors": FieldGroup.PROTECTION,
    "reporter_kind": FieldGroup.PROTECTION,
    "report_reason": FieldGroup.PROTECTION,
    # risk
    "risk_noted": FieldGroup.RISK,
    # event fields: the default group here; the source's domain group wins (see field_group)
    "record_number": FieldGroup.PROTECTION,
    "event_time": FieldGroup.PROTECTION,
    "event_date": FieldGroup.PROTECTION,
    "event_type": FieldGroup.PROTECTION,
    "outcome": FieldGroup.PROTECTION,
    "visitor": FieldGroup.FAMILY,
}
"""Canonical field -> field group (the default, outside any source)."""

SOURCE_CONTEXT_FIELDS: frozenset[str] = frozenset(
    {"record_number", "event_time", "event_date", "event_type", "outcome", "visitor"}
)
"""Fields whose group is the domain group of the source they appear in."""

SOURCE_DOMAINS: dict[str, FieldGroup] = {
    "education.student_registry": FieldGroup.EDUCATION,
    "education.attendance": FieldGroup.EDUCATION,
    "civil_affairs.welfare_rolls": FieldGroup.WELFARE,
    "public_security.household_register": FieldGroup.FAMILY,
    "public_security.floating_population": FieldGroup.FAMILY,
    "public_security.incidents": FieldGroup.PROTECTION,
    "health.visits": FieldGroup.HEALTH,
    "health.mental_health_screenings": FieldGroup.MENTAL_HEALTH,
    "womens_federation.home_visits": FieldGroup.FAMILY,
    "procuratorate.mandatory_reports": FieldGroup.PROTECTION,
}
"""Source -> its domain group. A source missing here is treated as protection (the strictest
common group) until someone classifies it: new department data is never shown by accident."""

DEFAULT_SOURCE_DOMAIN = FieldGroup.PROTECTION

DEPARTMENT_OF_AGENCY_KIND: dict[AgencyKind, str] = {
    AgencyKind.EDUCATION: "education",
    AgencyKind.CIVIL_AFFAIRS: "civil_affairs",
    AgencyKind.PUBLIC_SECURITY: "public_security",
    AgencyKind.HEALTH: "health",
    AgencyKind.WOMENS_FEDERATION: "womens_federation",
    AgencyKind.PROCURATORATE: "procuratorate",
}
"""The department whose sources an agency of this kind owns (``own_department`` in policies)."""


def source_domain(source_code: str) -> FieldGroup:
    """The domain group of a source (protection for a source nobody has classified)."""
    return SOURCE_DOMAINS.get(source_code, DEFAULT_SOURCE_DOMAIN)


def field_group(field: str, source_code: str) -> FieldGroup:
    """The group of ``field`` as it appears in ``source_code``.

    Unknown fields count as the source's domain group, so a new attribute is never more
    visible than the record it sits in.
    """
    if field in SOURCE_CONTEXT_FIELDS or field not in FIELD_GROUPS:
        return source_domain(source_code)
    return FIELD_GROUPS[field]
