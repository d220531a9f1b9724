"""Vocabulary of the alerts context: where an alert comes from, its state, channels, outcomes."""

from __future__ import annotations

from childlink.store.enums import LabelledStrEnum


class AlertSource(LabelledStrEnum):
    """What raised the alert."""

    RULE = "rule", "指标规则", "indicator rule"
    SCORE = "score", "风险模型", "risk model"
    MANDATORY_REPORT = "mandatory_report", "强制报告", "mandatory report"


class AlertSeverity(LabelledStrEnum):
    """How fast someone must act; mandatory reports are always critical."""

    MEDIUM = "medium", "关注", "needs attention"
    HIGH = "high", "紧急", "urgent"
    CRITICAL = "critical", "危急", "critical"


class AlertStatus(LabelledStrEnum):
    """Where the response to an alert stands (only ``open`` alerts escalate)."""

    OPEN = "open", "待确认", "awaiting acknowledgement"
    ACKNOWLEDGED = "acknowledged", "已确认收到", "acknowledged"
    ASSIGNED = "assigned", "已指派", "assigned"
    CLOSED = "closed", "已关闭", "closed"


class AlertOutcome(LabelledStrEnum):
    """How an alert was closed."""

    CASE_OPENED = "case_opened", "已立案", "case opened"
    FALSE_ALARM = "false_alarm", "误报", "false alarm"
    REFERRED = "referred", "已转介", "referred"


class Channel(LabelledStrEnum):
    """How a recipient is told. The inbox is the database itself; the others go via the outbox."""

    INBOX = "inbox", "站内消息", "in-app inbox"
    WEBHOOK = "webhook", "部门系统推送", "department webhook"
    EMAIL = "email", "电子邮件", "e-mail"
    SMS = "sms", "短信", "SMS"


class DeliveryStatus(LabelledStrEnum):
    """Where one outbox message stands."""

    PENDING = "pending", "待发送", "pending"
    SENT = "sent", "已送达", "sent"
    DEAD = "dead", "发送失败", "gave up"


class AlertEventKind(LabelledStrEnum):
    """An entry in an alert's history (the response-time view reads these)."""

    CREATED = "created", "生成", "created"
    UPDATED = "updated", "更新", "updated"
    ROUTED = "routed", "推送", "routed"
    ROUTE_REFUSED = "route_refused", "因权限未推送", "not routed (access policy)"
    ACKNOWLEDGED = "acknowledged", "确认收到", "acknowledged"
    ASSIGNED = "assigned", "指派", "assigned"
    ESCALATED = "escalated", "升级", "escalated"
    CLOSED = "closed", "关闭", "closed"


class ReporterKind(LabelledStrEnum):
    """Who files a mandatory report (Minors Protection Law art. 11)."""

    SCHOOL = "school", "学校", "school"
    HOSPITAL = "hospital", "医疗机构", "hospital"
    POLICE = "police", "公安机关", "police"
    WELFARE = "welfare", "救助机构", "welfare institution"
    COMMUNITY = "community", "村（居）委会", "village / community committee"
    OTHER = "other", "其他", "other"


class HarmKind(LabelledStrEnum):
    """What the reporter saw."""

    PHYSICAL_ABUSE = "physical_abuse", "身体伤害", "physical abuse"
    SEXUAL_ABUSE = "sexual_abuse", "性侵害", "sexual abuse"
    NEGLECT = "neglect", "疏于照料", "neglect"
    DOMESTIC_VIOLENCE = "domestic_violence", "家庭暴力", "domestic violence"
    ABANDONMENT = "abandonment", "遗弃", "abandonment"
    OTHER = "other", "其他侵害或危险", "other harm or danger"
