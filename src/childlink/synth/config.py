"""Parameters of the synthetic county: its size, time line, category shares and noise rates.

Defaults follow published orders of magnitude for a rural county in south-west China (shares
of left-behind, low-income and minority children) so that later stages face realistic class
balance; every rate can be overridden for experiments.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, model_validator


class CategoryRates(BaseModel):
    """Share of households (h) or children (c) in each policy category."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    both_parents_migrated: float = Field(0.11, ge=0, le=1, description="h: left-behind, both away")
    one_parent_migrated: float = Field(0.16, ge=0, le=1, description="h: one parent away")
    single_parent: float = Field(0.06, ge=0, le=1, description="h: divorced or separated")
    one_parent_deceased: float = Field(0.015, ge=0, le=1, description="h: widowed parent")
    orphaned: float = Field(0.003, ge=0, le=1, description="h: both parents deceased")
    de_facto_unsupported: float = Field(
        0.005, ge=0, le=1, description="h: parents alive but unable (prison, missing, disability)"
    )
    low_income: float = Field(0.07, ge=0, le=1, description="h: on the minimum living allowance")
    migrant: float = Field(0.06, ge=0, le=1, description="h: registered in another province")
    minority: float = Field(0.12, ge=0, le=1, description="h: ethnic minority household")
    disability: float = Field(0.015, ge=0, le=1, description="c: child with a disability")
    unregistered: float = Field(0.004, ge=0, le=1, description="c: no household registration")
    street: float = Field(0.0008, ge=0, le=1, description="c: street child episodes")
    household_moves_per_year: float = Field(0.03, ge=0, le=1, description="h: moves village")

    @model_validator(mode="after")
    def _parent_situations_fit(self) -> CategoryRates:
        total = (
            self.both_parents_migrated
            + self.one_parent_migrated
            + self.single_parent
            + self.one_parent_deceased
            + self.orphaned
            + self.de_facto_unsupported
        )
        if total >= 1:
            raise ValueError(f"parent situation shares add up to {total:.3f}, must stay below 1")
        return self


class NoiseRates(BaseModel):
    """Per-row probabilities of each defect in the department exports.

    Rates apply to the rows of every export where the field exists; ``scale`` multiplies all of
    them at once (0 gives clean exports, useful to test that a pipeline is exact on clean data).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    scale: float = Field(1.0, ge=0, le=10)
    name_homophone: float = Field(0.02, ge=0, le=1)
    name_traditional: float = Field(0.01, ge=0, le=1)
    name_space: float = Field(0.015, ge=0, le=1)
    middle_dot_variant: float = Field(0.3, ge=0, le=1, description="of names with a middle dot")
    id_missing: float = Field(0.03, ge=0, le=1)
    id_fullwidth: float = Field(0.01, ge=0, le=1)
    id_lowercase_x: float = Field(0.3, ge=0, le=1, description="of IDs ending in X")
    id_wrong_check: float = Field(0.008, ge=0, le=1)
    id_digit_typo: float = Field(0.008, ge=0, le=1)
    id_transposition: float = Field(0.004, ge=0, le=1)
    id_legacy15: float = Field(0.25, ge=0, le=1, description="of adult IDs born before 2000")
    dob_swapped_day_month: float = Field(0.01, ge=0, le=1)
    dob_wrong: float = Field(0.005, ge=0, le=1, description="contradicts the ID number")
    sex_contradiction: float = Field(0.004, ge=0, le=1)
    field_missing: float = Field(0.02, ge=0, le=1)
    duplicate_row: float = Field(0.01, ge=0, le=1)
    stale_address: float = Field(0.5, ge=0, le=1, description="of moved households, per source")

    def rate(self, name: str) -> float:
        """The effective rate of one defect after ``scale``, capped at 1."""
        value: float = getattr(self, name)
        return min(1.0, value * self.scale)


class SynthConfig(BaseModel):
    """Everything that determines a synthetic county; same config and seed, same bytes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    children: int = Field(10_000, ge=50, le=5_000_000)
    seed: int = Field(42, ge=0)
    start: dt.date = Field(
        dt.date(2023, 9, 1), description="First day of the three school years of events."
    )
    months: int = Field(36, ge=12, le=60, description="Length of the event time line in months.")
    province_code: str = Field("52", pattern=r"^\d{2}$")
    county_code: str = Field("522799", pattern=r"^\d{6}$", description="GB/T 2260-style code")
    county_name: str = "青山县"
    province_name: str = "贵州省"
    prefecture_name: str = "示范自治州"
    categories: CategoryRates = CategoryRates()
    noise: NoiseRates = NoiseRates()

    @model_validator(mode="after")
    def _county_in_province(self) -> SynthConfig:
        if not self.county_code.startswith(self.province_code):
            raise ValueError("county_code must start with province_code")
        return self

    @property
    def end(self) -> dt.date:
        """The day after the last day of the time line."""
        year = self.start.year + (self.start.month - 1 + self.months) // 12
        month = (self.start.month - 1 + self.months) % 12 + 1
        return dt.date(year, month, 1)
