"""Find a child by name, pinyin, ID number or student number, within one's jurisdiction.

The policy decides whether the person may search at all (``child.search`` for the purpose);
the rows are restricted to the person's jurisdiction subtree in the query itself; what each hit
shows passes ``field_visibility`` like the profile does. One audit entry records the search
(the kind of query, never its text, which may be an ID number) and the children returned.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from childlink.access.choices import Purpose
from childlink.access.principal import Principal
from childlink.access.service import (
    Action,
    ChildScope,
    Visibility,
    field_visibility,
    jurisdiction_prefix,
    mask,
)
from childlink.children.choices import ChildStatus
from childlink.children.models import MasterChild
from childlink.children.schemas import ChildSummary
from childlink.errors import ChildLinkError
from childlink.identity.guard import audit, enforce
from childlink.regions.models import Region
from childlink.sources.models import DataSource, SourceRecord

MAX_LIMIT = 100
_ID_NUMBER = re.compile(r"^(\d{17}[\dXx]|\d{15})$")
_STUDENT_NUMBER = re.compile(r"^[GLgl][0-9A-Za-z]{6,30}$")
_HAN = re.compile(r"[\u3400-\u9fff]")
SUMMARY_FIELDS = ("name", "sex", "birth_date", "region_code")
_RANK = {Visibility.HIDDEN: 0, Visibility.MASKED: 1, Visibility.FULL: 2}


class SearchQueryError(ChildLinkError):
    """The search text is empty or too short to search responsibly."""


def classify_query(query: str) -> str:
    """``id_number``, ``student_number``, ``name`` (Chinese characters) or ``pinyin``."""
    text = query.strip()
    if _ID_NUMBER.match(text):
        return "id_number"
    if _STUDENT_NUMBER.match(text) and any(ch.isdigit() for ch in text):
        return "student_number"
    if _HAN.search(text):
        return "name"
    return "pinyin"


def _attribute_text(session: Session, key: str) -> sa.ColumnElement[Any]:
    expression: sa.ColumnElement[Any]
    if session.get_bind().dialect.name == "postgresql":
        expression = sa.cast(SourceRecord.attributes, postgresql.JSONB)[key].astext
    else:
        expression = sa.func.json_extract(SourceRecord.attributes, f"$.{key}")
    return expression


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_children(
    session: Session,
    principal: Principal,
    purpose: Purpose,
    query: str,
    limit: int = 20,
    *,
    ip: str | None = None,
) -> list[ChildSummary]:
    """Children matching ``query`` in the principal's jurisdiction, best matches first.

    Raises:
        AccessDeniedError: the principal may not search for this purpose.
        SearchQueryError: the query is empty, or a name or pinyin query is one character.
    """
    text = " ".join(query.split())
    kind = classify_query(text) if text else "empty"
    enforce(session, principal, Action.CHILD_SEARCH, purpose, ip=ip, audit_allow=False)
    if not text or (kind == "pinyin" and len(text) < 2):
        raise SearchQueryError(
            "give a name (at least one character, or two letters of pinyin), or an ID or "
            "student number"
        )
    limit = max(1, min(limit, MAX_LIMIT))

    if kind == "id_number":
        condition: sa.ColumnElement[bool] = SourceRecord.id_number == text.upper()
    elif kind == "student_number":
        condition = _attribute_text(session, "student_number") == text.upper()
    elif kind == "name":
        condition = SourceRecord.name.like(f"%{_like_escape(text)}%", escape="\\")
    else:
        squashed = _like_escape(text.lower().replace(" ", ""))
        condition = sa.func.replace(sa.func.lower(SourceRecord.name_pinyin), " ", "").like(
            f"%{squashed}%", escape="\\"
        )
    stmt = (
        sa.select(MasterChild)
        .where(
            MasterChild.status == ChildStatus.ACTIVE,
            MasterChild.id.in_(
                sa.select(SourceRecord.master_child_id).where(
                    condition, SourceRecord.master_child_id.is_not(None)
                )
            ),
        )
        .order_by(MasterChild.display_name, MasterChild.id)
        .limit(limit)
    )
    prefix = jurisdiction_prefix(principal)
    if prefix is not None:
        stmt = stmt.where(MasterChild.region_code.like(f"{_like_escape(prefix)}%", escape="\\"))
    children = list(session.scalars(stmt))
    hits = [_summary(session, principal, purpose, child, kind) for child in children]
    audit(
        session,
        principal,
        Action.CHILD_SEARCH,
        "allow",
        purpose,
        ip=ip,
        details={
            "query_kind": kind,
            "results": len(hits),
            "children": [str(child.id) for child in children],
        },
    )
    return hits


def best_visibility(
    session: Session, principal: Principal, purpose: Purpose, child: MasterChild
) -> dict[str, Visibility]:
    """Per field, the most open visibility over the sources that hold records of the child.

    The master child's own name, sex, birth date and region are derived from its records, so
    a viewer may see them as far as at least one source lets them.
    """
    sources = session.scalars(
        sa.select(DataSource.code)
        .join(SourceRecord, SourceRecord.source_id == DataSource.id)
        .where(SourceRecord.master_child_id == child.id)
        .distinct()
    )
    scope = ChildScope(master_child_id=child.id, region_code=child.region_code)
    best: dict[str, Visibility] = defaultdict(lambda: Visibility.HIDDEN)
    for code in sources:
        for name, visibility in field_visibility(session, principal, purpose, scope, code).items():
            if _RANK[visibility] > _RANK[best[name]]:
                best[name] = visibility
    return dict(best)


def shown(field: str, value: object, visibility: Visibility | None) -> str | None:
    """A value as the viewer may see it: itself, masked, or None."""
    if value is None or visibility is None or visibility is Visibility.HIDDEN:
        return None
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    if visibility is Visibility.MASKED:
        return mask(field, text)
    return text


def region_name(session: Session, code: str | None) -> str | None:
    if code is None:
        return None
    region = session.get(Region, code)
    return None if region is None else region.name


def _summary(
    session: Session, principal: Principal, purpose: Purpose, child: MasterChild, kind: str
) -> ChildSummary:
    visible = best_visibility(session, principal, purpose, child)
    region_visible = visible.get("region_code")
    return ChildSummary(
        master_child_id=child.id,
        display_name=shown("name", child.display_name, visible.get("name")),
        sex=shown("sex", child.sex, visible.get("sex")),
        birth_date=shown("birth_date", child.birth_date, visible.get("birth_date")),
        region_code=shown("region_code", child.region_code, region_visible),
        region_name=None
        if region_visible is None or region_visible is Visibility.HIDDEN
        else region_name(session, child.region_code),
        matched_by=kind,
    )


def child_scope(session: Session, master_child_id: uuid.UUID) -> ChildScope | None:
    """The policy's view of a child (its region), or None when there is no such child."""
    child = session.get(MasterChild, master_child_id)
    if child is None:
        return None
    return ChildScope(master_child_id=child.id, region_code=child.region_code)
