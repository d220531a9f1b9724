"""The quarantine workflow: list, show, release and fix, keeping every report reconciled."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.orm import Session

from childlink.quality.errors import (
    InvalidCorrectionError,
    RecordNotQuarantinedError,
    StillQuarantinedError,
    UnknownRecordError,
    UnknownSourceError,
)
from childlink.quality.quarantine import fix, list_quarantined, release, show_record
from childlink.quality.report import build_report
from integration.quality.roll import (
    AS_OF,
    QUARANTINED_ROWS,
    SOURCE,
    Ingested,
    assert_matches_direct_counts,
    batch_counts,
)


def test_list_filters_and_pages(welfare: Ingested, db_session: Session) -> None:
    page = list_quarantined(db_session)
    assert page.total == len(QUARANTINED_ROWS)
    assert {item.row_number: item.reason for item in page.items} == QUARANTINED_ROWS
    assert all(item.source == SOURCE for item in page.items)

    [dob] = list_quarantined(db_session, reason="dob_contradicts_id").items
    assert dob.row_number == 3
    assert dob.label_zh == "出生日期与身份证号不符"
    assert list_quarantined(db_session, source=SOURCE, batch_id=welfare.batch_id).total == 4

    first = list_quarantined(db_session, limit=2)
    rest = list_quarantined(db_session, limit=2, offset=2)
    assert (first.total, len(first.items), len(rest.items)) == (4, 2, 2)
    assert [i.row_number for i in [*first.items, *rest.items]] == sorted(QUARANTINED_ROWS)

    with pytest.raises(UnknownSourceError):
        list_quarantined(db_session, source="no.such_source")
    with pytest.raises(InvalidCorrectionError, match="unknown quarantine reason"):
        list_quarantined(db_session, reason="no_such_reason")


def test_show_record_has_row_reason_fixes_and_provenance(
    welfare: Ingested, db_session: Session
) -> None:
    duplicated = show_record(db_session, welfare.record_at(1).id)
    assert [p.row_number for p in duplicated.provenance] == [1, 2]
    assert duplicated.raw_row["家庭住址"] == "=1+2"
    assert "address:formula_like" in duplicated.flags

    fixed = show_record(db_session, str(welfare.record_at(7).id))
    assert fixed.status == "fixed"
    assert "id_lowercase_x" in {f.rule for f in fixed.fixes}

    quarantined = show_record(db_session, welfare.record_at(3).id)
    assert (quarantined.status, quarantined.reason) == ("quarantined", "dob_contradicts_id")
    assert quarantined.message

    with pytest.raises(UnknownRecordError):
        show_record(db_session, uuid.uuid4())
    with pytest.raises(UnknownRecordError):
        show_record(db_session, "not-an-id")


def test_release_accepts_as_is_and_keeps_reconciliation(
    welfare: Ingested, db_session: Session
) -> None:
    record = welfare.record_at(3)
    before = welfare.batch()

    detail = release(
        db_session, record.id, actor="officer-li", note="birth certificate seen: ID is wrong"
    )

    assert detail.status == "accepted"
    assert detail.reason is None
    assert "released:dob_contradicts_id" in detail.flags
    [manual] = [f for f in detail.fixes if f.rule == "manual_release"]
    assert (manual.actor, manual.note) == ("officer-li", "birth certificate seen: ID is wrong")
    assert (manual.old_value, manual.new_value) == ("quarantined", "accepted")
    after = welfare.batch()
    assert after.rows_quarantined == before.rows_quarantined - 1
    assert after.rows_accepted == before.rows_accepted + 1
    assert after.rows_in == before.rows_in
    # Row 9 has the same ID number and the ID's own birth date: both now carry the conflict.
    assert "id_number:conflicting_records" in welfare.record_at(9).flags
    assert "id_number:conflicting_records" in welfare.record_at(3).flags

    report = build_report(db_session)
    assert report.reconciles
    summary = report.sources[0].batches[0].summary
    assert summary.contradictions.conflicting_records == 2
    assert "released:dob_contradicts_id" in {f.flag for f in summary.flags}
    assert "dob_contradicts_id" not in {c.code for c in summary.quarantine_reasons}
    assert_matches_direct_counts(db_session, report)
    assert list_quarantined(db_session).total == len(QUARANTINED_ROWS) - 1

    with pytest.raises(RecordNotQuarantinedError):
        release(db_session, record.id, actor="officer-li", note="again")


def test_release_needs_a_note_and_a_quarantined_record(
    welfare: Ingested, db_session: Session
) -> None:
    before = batch_counts(welfare.batch())
    with pytest.raises(InvalidCorrectionError, match="note"):
        release(db_session, welfare.record_at(3).id, actor="officer-li", note="  ")
    with pytest.raises(RecordNotQuarantinedError):
        release(db_session, welfare.record_at(1).id, actor="officer-li", note="fine")
    with pytest.raises(UnknownRecordError):
        release(db_session, uuid.uuid4(), actor="officer-li", note="fine")
    assert batch_counts(welfare.batch()) == before
    assert welfare.record_at(3).status.value == "quarantined"


def test_fix_with_a_corrected_value_moves_the_record(
    welfare: Ingested, db_session: Session
) -> None:
    record = welfare.record_at(3)
    before = welfare.batch()

    detail = fix(
        db_session,
        record.id,
        field_values={"出生日期": "２０１２-０５-０１"},
        actor="officer-wu",
        note="date of birth checked against the household register",
        as_of=AS_OF,
    )

    assert detail.status == "fixed"
    assert detail.birth_date is not None
    assert detail.birth_date.isoformat() == "2012-05-01"
    assert detail.reason is None
    assert "manual_fix:dob_contradicts_id" in detail.flags
    assert detail.raw_row["出生日期"] == "2013-07-09"  # the delivered row stays verbatim
    [manual] = [f for f in detail.fixes if f.rule == "manual_fix"]
    assert (manual.field, manual.old_value, manual.new_value) == (
        "出生日期",
        "2013-07-09",
        "２０１２-０５-０１",
    )
    assert (manual.actor, manual.note) == (
        "officer-wu",
        "date of birth checked against the household register",
    )
    # The full-width digits are fixed by the same automatic rule as at ingest.
    [automatic] = [f for f in detail.fixes if f.rule == "fullwidth_to_halfwidth"]
    assert (automatic.field, automatic.new_value, automatic.actor) == (
        "birth_date",
        "2012-05-01",
        None,
    )
    after = welfare.batch()
    assert after.rows_quarantined == before.rows_quarantined - 1
    assert after.rows_fixed == before.rows_fixed + 1
    report = build_report(db_session)
    assert report.reconciles
    assert_matches_direct_counts(db_session, report)


def test_fix_of_a_missing_required_value(welfare: Ingested, db_session: Session) -> None:
    detail = fix(
        db_session,
        welfare.record_at(6).id,
        field_values={"姓名": "吴敏"},
        actor="officer-wu",
        note="name from the school roll",
        as_of=AS_OF,
    )
    assert (detail.status, detail.name) == ("fixed", "吴敏")
    assert detail.name_pinyin
    assert detail.attributes.get("programme") == "low_income"
    [manual] = [f for f in detail.fixes if f.rule == "manual_fix"]
    assert (manual.field, manual.new_value) == ("姓名", "吴敏")
    assert manual.old_value in (None, "")


def test_fix_that_still_fails_raises_and_changes_nothing(
    welfare: Ingested, db_session: Session
) -> None:
    record = welfare.record_at(4)
    before = batch_counts(welfare.batch())

    with pytest.raises(StillQuarantinedError) as raised:
        fix(
            db_session,
            record.id,
            field_values={"姓名": "<b>x</b>"},
            actor="officer-wu",
            note="typo",
            as_of=AS_OF,
        )

    assert raised.value.reason == "name_invalid"
    assert "name_invalid" in str(raised.value)
    after = welfare.record_at(4)
    assert after.status.value == "quarantined"
    assert after.quarantine_reason == "name_invalid"
    assert after.flags == record.flags
    assert after.name == record.name
    assert welfare.fixes_of(record.id) == []
    assert batch_counts(welfare.batch()) == before
    assert build_report(db_session).reconciles


def test_fix_refuses_bad_requests(welfare: Ingested, db_session: Session) -> None:
    record = welfare.record_at(4)
    with pytest.raises(InvalidCorrectionError, match="unknown column"):
        fix(db_session, record.id, field_values={"不存在": "x"}, actor="a", note="n")
    with pytest.raises(InvalidCorrectionError, match="equal"):
        fix(db_session, record.id, field_values={"性别": "女"}, actor="a", note="n")
    with pytest.raises(InvalidCorrectionError):
        fix(db_session, record.id, field_values={}, actor="a", note="n")
    with pytest.raises(InvalidCorrectionError, match="note"):
        fix(db_session, record.id, field_values={"姓名": "张三"}, actor="a", note="")
    with pytest.raises(RecordNotQuarantinedError):
        fix(db_session, welfare.record_at(8).id, field_values={"姓名": "张三"}, actor="a", note="n")
    assert welfare.fixes_of(record.id) == []
