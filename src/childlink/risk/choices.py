"""Vocabulary of the risk context: the risks we monitor and the bands a score falls in."""

from __future__ import annotations

from childlink.store.enums import LabelledStrEnum


class RiskType(LabelledStrEnum):
    """A risk the platform monitors; each has its own rules and model."""

    DROPOUT = "dropout", "辍学风险", "dropout risk"
    MALTREATMENT = "maltreatment", "受虐/家暴风险", "maltreatment / domestic-violence risk"
    MENTAL_HEALTH = "mental_health", "心理健康危机风险", "mental-health crisis risk"


class RiskBand(LabelledStrEnum):
    """Where a calibrated probability falls, for display and triage."""

    LOW = "low", "低", "low"
    MEDIUM = "medium", "中", "medium"
    HIGH = "high", "高", "high"


class RuleSeverity(LabelledStrEnum):
    """How urgently a worker should look at an indicator-rule hit."""

    INFO = "info", "提示", "for information"
    WARNING = "warning", "关注", "needs attention"
    URGENT = "urgent", "紧急", "urgent"
