"""Seeding and region loading are idempotent, so `childlink db upgrade` can run every deploy."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from childlink.regions.choices import RegionLevel
from childlink.regions.models import Region
from childlink.regions.service import count_regions, load_regions, pad_region_code
from childlink.sources.choices import DepartmentCode
from childlink.sources.models import DataSource, Department
from childlink.sources.reference import SOURCES
from childlink.sources.service import SeedResult, seed_reference_data

REGIONS: list[dict[str, str | None]] = [
    # Deliberately children first: the loader must order parents before children.
    {"code": "410523100201", "parent_code": "410523100", "level": "village", "name": "南关村"},
    {"code": "410523100", "parent_code": "410523", "level": "township", "name": "城关镇"},
    {"code": "410523", "parent_code": "4105", "level": "county", "name": "汤阴县"},
    {"code": "4105", "parent_code": "41", "level": "city", "name": "安阳市"},
    {"code": "41", "parent_code": None, "level": "province", "name": "河南省"},
]


def _count(session: Session, model: type[Department] | type[DataSource]) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def test_seed_creates_six_departments_and_their_sources_once(session: Session) -> None:
    assert seed_reference_data(session) == SeedResult(departments_created=6, sources_created=8)
    session.commit()
    assert seed_reference_data(session) == SeedResult(departments_created=0, sources_created=0)
    session.commit()

    assert _count(session, Department) == len(DepartmentCode) == 6
    assert _count(session, DataSource) == len(SOURCES) == 8
    query = sa.select(DataSource.code, Department.code).join(Department)
    owners = {row[0]: row[1] for row in session.execute(query)}
    assert owners["procuratorate.mandatory_reports"] == "procuratorate"
    assert set(owners.values()) == {code.value for code in DepartmentCode}


def test_seed_keeps_ids_and_restores_shipped_names(session: Session) -> None:
    seed_reference_data(session)
    department = session.scalars(sa.select(Department).where(Department.code == "health")).one()
    original_id, department.name_zh = department.id, "改错的名字"
    session.commit()

    seed_reference_data(session)
    session.commit()
    again = session.scalars(sa.select(Department).where(Department.code == "health")).one()
    assert (again.id, again.name_zh) == (original_id, "卫生健康委员会")


def test_load_regions_is_idempotent_and_pads_codes(session: Session) -> None:
    assert load_regions(session, REGIONS) == 5
    session.commit()
    assert load_regions(session, REGIONS) == 5
    session.commit()

    assert count_regions(session) == 5
    village = session.get(Region, "410523100201")
    assert village is not None
    assert village.parent_code == "410523100000"
    assert village.level is RegionLevel.VILLAGE
    assert session.get(Region, "410000000000") is not None


def test_load_regions_updates_names_in_place(session: Session) -> None:
    load_regions(session, REGIONS)
    session.commit()
    renamed = [dict(REGIONS[0], name="南关社区")]
    load_regions(session, renamed)
    session.commit()
    session.expire_all()
    village = session.get(Region, "410523100201")
    assert village is not None
    assert village.name == "南关社区"
    assert count_regions(session) == 5


def test_load_regions_rejects_unknown_parent(session: Session) -> None:
    orphan: list[dict[str, str | None]] = [
        {"code": "410523100201", "parent_code": "410523100", "level": "village", "name": "x"}
    ]
    with pytest.raises(sa.exc.IntegrityError):
        load_regions(session, orphan)


@pytest.mark.parametrize("code", ["", "41052a", "4105231002011"])
def test_pad_region_code_rejects_malformed_codes(code: str) -> None:
    with pytest.raises(ValueError, match="region code"):
        pad_region_code(code)


def test_load_regions_rejects_unknown_level(session: Session) -> None:
    with pytest.raises(ValueError, match="hamlet"):
        load_regions(session, [{"code": "41", "parent_code": None, "level": "hamlet", "name": "x"}])
