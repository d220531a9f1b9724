"""Use cases for departments and data sources."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from childlink.sources.models import DataSource, Department
from childlink.sources.reference import DEPARTMENTS, SOURCES


@dataclass(frozen=True, slots=True)
class SeedResult:
    """How many reference rows a seeding run created (zero on a database already seeded)."""

    departments_created: int
    sources_created: int


def seed_reference_data(session: Session) -> SeedResult:
    """Make sure the shipped departments and data sources exist, so a fresh database is usable.

    Idempotent: rows are matched by their stable ``code``; existing rows get the shipped names,
    format and description (a deployment edits sources through their mapping, not here) but
    keep their ids, so batches already pointing at them stay valid. Flushes without committing:
    the caller's unit of work owns the transaction.
    """
    departments = {
        d.code: d
        for d in session.scalars(
            sa.select(Department).where(Department.code.in_([code.value for code in DEPARTMENTS]))
        )
    }
    departments_created = 0
    for code in DEPARTMENTS:
        department = departments.get(code.value)
        if department is None:
            department = Department(code=code.value)
            session.add(department)
            departments[code.value] = department
            departments_created += 1
        department.name_zh = code.label_zh
        department.name_en = code.label_en
    session.flush()

    sources = {
        s.code: s
        for s in session.scalars(
            sa.select(DataSource).where(DataSource.code.in_([spec.code for spec in SOURCES]))
        )
    }
    sources_created = 0
    for spec in SOURCES:
        source = sources.get(spec.code)
        if source is None:
            source = DataSource(code=spec.code, mapping_version=spec.mapping_version)
            session.add(source)
            sources_created += 1
        source.department_id = departments[spec.department.value].id
        source.name_zh = spec.name_zh
        source.name_en = spec.name_en
        source.format = spec.format
        source.description = spec.description
    session.flush()
    return SeedResult(departments_created=departments_created, sources_created=sources_created)
