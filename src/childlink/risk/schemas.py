"""What the risk service returns: scores with their explanation and model version, flags.

A :class:`ScoreRead` cannot be built without ``model_version`` and ``explanation`` (both are
required fields), so neither the API nor the web UI can show a bare number.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field

from childlink.store.enums import LabelledStrEnum


class FlagStatus(LabelledStrEnum):
    """Where a worker's review of a rule flag stands."""

    OPEN = "open", "待核实", "open"
    CONFIRMED = "confirmed", "已确认", "confirmed"
    REJECTED = "rejected", "已否定", "rejected"


class FlagDecision(LabelledStrEnum):
    """A worker's decision on a flag."""

    CONFIRM = "confirm", "确认", "confirm"
    REJECT = "reject", "否定", "reject"


class ScoreTrigger(LabelledStrEnum):
    """Why a scoring run happened."""

    FULL = "full", "全量评分", "full re-score"
    CHILDREN = "children", "指定儿童评分", "chosen children"
    LINK = "link", "关联后增量评分", "re-score after linkage"


class FactRead(BaseModel):
    """One source record behind a factor or a rule hit."""

    record_id: str | None = None
    source: str | None = None
    event_date: str | None = None
    text_zh: str
    text_en: str


class FactorRead(BaseModel):
    """One of the features that pushed a score up most, with the records behind it."""

    feature: str
    label_zh: str
    label_en: str
    value: float | None
    contribution: float = Field(description="Contribution to the log-odds of the score.")
    facts: list[FactRead] = []


class ExplanationRead(BaseModel):
    """Why a score is what it is: the top contributing factors, and the rate it compares with."""

    factors: list[FactorRead]
    base_rate: float | None = Field(
        default=None, description="Share of children with the outcome in the training window."
    )
    relative_risk: float | None = Field(
        default=None, description="Probability divided by the base rate (decides the band)."
    )


class ScoreRead(BaseModel):
    """A calibrated probability for one risk, never without its explanation and model version."""

    id: uuid.UUID
    risk: str
    risk_label_zh: str
    risk_label_en: str
    probability: float
    band: str
    band_label_zh: str
    band_label_en: str
    model_version: str = Field(min_length=1)
    explanation: ExplanationRead
    as_of: date
    scored_at: datetime
    is_current: bool


class ScorePoint(BaseModel):
    """One earlier score, for the history of a risk."""

    risk: str
    probability: float
    band: str
    model_version: str
    as_of: date
    scored_at: datetime


class FlagRead(BaseModel):
    """A rule hit with its triggering facts and the review so far."""

    id: uuid.UUID
    rule_id: str
    rule_version: str
    risk: str
    severity: str
    severity_label_zh: str
    severity_label_en: str
    label_zh: str
    label_en: str
    facts: list[FactRead]
    as_of: date
    is_active: bool
    status: str
    status_label_zh: str
    status_label_en: str
    reviewer: str | None
    reason: str | None
    decided_at: datetime | None
    created_at: datetime


class ChildRisk(BaseModel):
    """Everything the profile shows about a child's risk."""

    master_child_id: uuid.UUID
    scores: list[ScoreRead]
    history: list[ScorePoint]
    flags: list[FlagRead]


class FlagReview(BaseModel):
    """A worker's confirm/reject, with the reason (required)."""

    reason: str = Field(min_length=2, max_length=2000)


class ScoreRunRead(BaseModel):
    """What a scoring run did."""

    run_id: uuid.UUID
    trigger: str
    as_of: date
    children: int
    scores: int
    flags_new: int
    model_versions: dict[str, str]
    bands: dict[str, dict[str, int]]
    seconds: float
