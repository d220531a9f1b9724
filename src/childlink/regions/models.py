"""The region table: one row per division, keyed by its 12-digit statistical code."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from childlink.regions.choices import RegionLevel
from childlink.store.base import Base, TimestampMixin

REGION_CODE_LENGTH = 12


class Region(TimestampMixin, Base):
    """A province, city, county, township or village.

    The code is the natural key (it is what every department's data carries, and what an ID
    number's first six digits point to). Province, city and county codes are their six-digit
    GB/T 2260 codes right-padded with zeros to twelve digits, e.g. ``410523`` -> ``410523000000``.
    """

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(sa.String(REGION_CODE_LENGTH), primary_key=True)
    parent_code: Mapped[str | None] = mapped_column(
        sa.String(REGION_CODE_LENGTH), sa.ForeignKey("regions.code"), index=True
    )
    level: Mapped[RegionLevel] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(sa.String(100))

    def __repr__(self) -> str:
        return f"Region({self.code!r}, {self.level.value}, {self.name!r})"
