"""Vocabulary of linkage review: review states, reviewer decisions and master-child events."""

from __future__ import annotations

from childlink.store.enums import LabelledStrEnum


class ReviewStatus(LabelledStrEnum):
    """Where a scored pair stands: waiting for a reviewer, or decided (by a reviewer or a rule)."""

    PENDING = "pending", "待审核", "Pending"
    ACCEPTED = "accepted", "已确认同一人", "Accepted"
    REJECTED = "rejected", "已确认不同人", "Rejected"
    SUPERSEDED = "superseded", "已失效", "Superseded (a later run no longer queues it)"


class RejectRule(LabelledStrEnum):
    """The rule that refused a scored pair without a reviewer."""

    TWO_VALID_IDS = "two_valid_ids", "两个不同的有效身份证号", "Two different valid ID numbers"
    TWINS = "twins", "双胞胎(同生日同监护人不同名)", "Twins (same birth date and guardian)"
    CANNOT_LINK = "cannot_link", "审核员禁止合并", "A reviewer's cannot-link decision"


class DecisionKind(LabelledStrEnum):
    """A reviewer's standing constraint between two source records."""

    MUST_LINK = "must_link", "必须合并", "Must link"
    CANNOT_LINK = "cannot_link", "禁止合并", "Cannot link"


class MasterEventKind(LabelledStrEnum):
    """A change to a master child."""

    CREATED = "created", "新建", "Created"
    RECORDS_ADDED = "records_added", "加入记录", "Records added"
    RECORDS_REMOVED = "records_removed", "移出记录", "Records removed"
    MERGED = "merged", "合并", "Merged into another child"
    SPLIT = "split", "拆分", "Split"
