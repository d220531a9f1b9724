"""Vocabulary of the quality context: manual quarantine actions and record flag issues."""

from __future__ import annotations

from childlink.store.enums import LabelledStrEnum


class ManualRule(LabelledStrEnum):
    """The ``rule`` of a :class:`~childlink.sources.models.RecordFix` written by a person."""

    MANUAL_RELEASE = "manual_release", "人工放行", "released by an officer"
    MANUAL_FIX = "manual_fix", "人工修正", "corrected by an officer"


class FlagIssue(LabelledStrEnum):
    """Issues of record flags (``field:issue``) that are not quarantine reasons.

    Most flags name a :class:`~childlink.ingest.reasons.QuarantineReason` (an invalid optional
    value that was removed); these are the others, plus the two markers quarantine actions add.
    """

    PLACEHOLDER_NEWBORN = "placeholder_newborn", "新生儿待定名", "placeholder name of a newborn"
    FORMULA_LIKE = "formula_like", "疑似表格公式", "looks like a spreadsheet formula"
    CONFLICTING_RECORDS = (
        "conflicting_records",
        "同一身份证号记录冲突",
        "records with this ID number disagree",
    )
    ID_MISMATCH = "id_mismatch", "学籍号与身份证号不符", "student number and ID number differ"


RELEASED_FLAG = "released"
"""Flag prefix of a released record: ``released:<original quarantine reason>``."""

MANUAL_FIX_FLAG = "manual_fix"
"""Flag prefix of a manually fixed record: ``manual_fix:<original quarantine reason>``."""
