"""Vocabulary of children, families and guardians."""

from __future__ import annotations

from childlink.store.enums import LabelledStrEnum


class Sex(LabelledStrEnum):
    """Sex as recorded by a source (GB/T 2261.1 distinguishes unknown from not stated)."""

    MALE = "male", "男", "Male"
    FEMALE = "female", "女", "Female"
    UNKNOWN = "unknown", "未知", "Unknown"


class ChildStatus(LabelledStrEnum):
    """Whether a master child is current or was merged into / split off by linkage review."""

    ACTIVE = "active", "有效", "Active"
    MERGED = "merged", "已合并", "Merged"
    SPLIT = "split", "已拆分", "Split"


class GuardianRelation(LabelledStrEnum):
    """How a guardian or other household member relates to the family's children."""

    FATHER = "father", "父亲", "Father"
    MOTHER = "mother", "母亲", "Mother"
    GRANDPARENT = "grandparent", "祖父母/外祖父母", "Grandparent"
    OTHER = "other", "其他", "Other"


class MembershipRelation(LabelledStrEnum):
    """A child's place in a household (a child may belong to more than one over time)."""

    CHILD = "child", "子女", "Child"
    GRANDCHILD = "grandchild", "孙子女/外孙子女", "Grandchild"
    OTHER_RELATIVE = "other_relative", "其他亲属", "Other relative"
    FOSTER = "foster", "寄养", "Foster placement"
    OTHER = "other", "其他", "Other"
