"""Models round-trip through both backends with the types the rest of the code relies on."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from childlink.children.choices import ChildStatus, GuardianRelation, MembershipRelation, Sex
from childlink.children.models import Family, FamilyMembership, Guardian, MasterChild
from childlink.regions.service import load_regions
from childlink.sources.choices import BatchStatus, RecordStatus
from childlink.sources.models import DataSource, IngestBatch, SourceRecord
from childlink.sources.service import seed_reference_data

COUNTY_TREE: list[dict[str, str | None]] = [
    {"code": "410000", "parent_code": None, "level": "province", "name": "河南省"},
    {"code": "4105", "parent_code": "410000", "level": "city", "name": "安阳市"},
    {"code": "410523", "parent_code": "410500", "level": "county", "name": "汤阴县"},
    {"code": "410523100", "parent_code": "410523", "level": "township", "name": "城关镇"},
    {
        "code": "410523100201",
        "parent_code": "410523100000",
        "level": "village",
        "name": "南关村",
    },
]
VILLAGE = "410523100201"


def _source(session: Session, code: str = "education.student_registry") -> DataSource:
    seed_reference_data(session)
    return session.scalars(sa.select(DataSource).where(DataSource.code == code)).one()


def _batch(session: Session, source: DataSource) -> IngestBatch:
    batch = IngestBatch(
        source_id=source.id,
        file_name="学籍_2024秋.xlsx",
        file_sha256="ab" * 32,
        mapping_version=source.mapping_version,
        started_at=datetime(2024, 9, 1, 8, 30, tzinfo=timezone(timedelta(hours=8))),
    )
    session.add(batch)
    session.flush()
    return batch


def _record(batch: IngestBatch, row_number: int, **fields: object) -> SourceRecord:
    return SourceRecord(
        batch_id=batch.id,
        source_id=batch.source_id,
        row_number=row_number,
        raw_row={"姓名": "张 三", "身份证号": "41052320150302001X", "出生日期": "2015年3月2日"},
        record_hash=f"{row_number:064d}",
        status=RecordStatus.ACCEPTED,
        **fields,
    )


def test_domain_graph_round_trips(session: Session) -> None:
    load_regions(session, COUNTY_TREE)
    source = _source(session)
    batch = _batch(session, source)
    child = MasterChild(display_name="张三", sex=Sex.MALE, birth_date=date(2015, 3, 2))
    child.region_code = VILLAGE
    family = Family(region_code=VILLAGE, address="南关村3组12号")
    family.guardians.append(
        Guardian(name="张父", relation=GuardianRelation.FATHER, is_migrant_worker=True)
    )
    family.guardians.append(Guardian(name="李奶奶", relation=GuardianRelation.GRANDPARENT))
    family.memberships.append(FamilyMembership(child=child, relation=MembershipRelation.CHILD))
    session.add_all([child, family])
    session.flush()
    session.add(
        _record(
            batch,
            1,
            id_number="41052320150302001X",
            name="张三",
            name_pinyin="zhang san",
            sex=Sex.MALE,
            birth_date=date(2015, 3, 2),
            region_code=VILLAGE,
            attributes={"school": "城关镇中心小学", "grade": 3},
            master_child_id=child.id,
        )
    )
    session.commit()
    session.expunge_all()

    batch_back = session.get(IngestBatch, batch.id)
    assert batch_back is not None
    assert batch_back.status is BatchStatus.PENDING
    assert batch_back.started_at == datetime(2024, 9, 1, 0, 30, tzinfo=UTC)
    assert batch_back.started_at.tzinfo is UTC
    assert batch_back.created_at.tzinfo is UTC
    assert isinstance(batch_back.id, uuid.UUID)
    assert batch_back.source.department.code == "education"

    record = session.scalars(sa.select(SourceRecord)).one()
    assert record.master_child_id == child.id
    assert isinstance(record.master_child_id, uuid.UUID)
    assert record.raw_row["出生日期"] == "2015年3月2日"
    assert record.attributes == {"school": "城关镇中心小学", "grade": 3}
    assert record.sex is Sex.MALE
    assert record.birth_date == date(2015, 3, 2)

    child_back = session.get(MasterChild, child.id)
    assert child_back is not None
    assert child_back.status is ChildStatus.ACTIVE
    assert child_back.child_key is None
    (membership,) = child_back.memberships
    assert membership.family.address == "南关村3组12号"
    assert {g.relation for g in membership.family.guardians} == {
        GuardianRelation.FATHER,
        GuardianRelation.GRANDPARENT,
    }


def test_enums_are_stored_by_value(session: Session) -> None:
    session.add(MasterChild(display_name="王小花", sex=Sex.FEMALE))
    session.commit()
    assert session.execute(sa.text("SELECT sex, status FROM master_children")).one() == (
        "female",
        "active",
    )


def test_row_number_is_unique_within_a_batch(session: Session) -> None:
    batch = _batch(session, _source(session))
    session.add_all([_record(batch, 1), _record(batch, 2)])
    session.commit()

    session.add(_record(batch, 2))
    with pytest.raises(sa.exc.IntegrityError, match=r"(?i)unique|duplicate"):
        session.commit()


def test_same_row_number_in_another_batch_is_fine(session: Session) -> None:
    source = _source(session)
    first, second = _batch(session, source), _batch(session, source)
    session.add_all([_record(first, 1), _record(second, 1)])
    session.commit()
    assert session.scalar(sa.select(sa.func.count()).select_from(SourceRecord)) == 2


def test_foreign_keys_are_enforced(session: Session) -> None:
    session.add(MasterChild(display_name="李四", region_code="999999999999"))
    with pytest.raises(sa.exc.IntegrityError, match=r"(?i)foreign key"):
        session.commit()


def test_naive_datetimes_are_refused(session: Session) -> None:
    source = _source(session)
    session.add(
        IngestBatch(
            source_id=source.id,
            file_name="x.csv",
            file_sha256="0" * 64,
            mapping_version="1",
            started_at=datetime(2024, 9, 1, 8, 30),
        )
    )
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        session.flush()


def test_updated_at_moves_on_update(session: Session) -> None:
    child = MasterChild(display_name="赵六")
    session.add(child)
    session.commit()
    created = child.updated_at
    child.display_name = "赵小六"
    session.commit()
    assert child.updated_at > created
    assert child.created_at <= created
