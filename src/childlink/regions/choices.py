"""Vocabulary of the region tree."""

from __future__ import annotations

from childlink.store.enums import LabelledStrEnum


class RegionLevel(LabelledStrEnum):
    """Level in the administrative tree; jurisdiction (who sees what) follows these levels."""

    PROVINCE = "province", "省级", "Province"
    CITY = "city", "地级", "City / prefecture"
    COUNTY = "county", "县级", "County / district"
    TOWNSHIP = "township", "乡级", "Township / town / subdistrict"
    VILLAGE = "village", "村级", "Village / community"

    @property
    def depth(self) -> int:
        """0 for province ... 4 for village; parents always have a smaller depth."""
        return list(RegionLevel).index(self)

    @property
    def code_digits(self) -> int:
        """Significant leading digits of a code at this level (the rest are zero padding)."""
        return (2, 4, 6, 9, 12)[self.depth]
