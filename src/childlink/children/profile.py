"""One child's picture: linked records by department with provenance, family, link evidence.

Built only as far as the viewer's policy allows: the policy decides whether the child may be
opened at all (``child.view`` for the purpose, in jurisdiction or caseload or under a
break-glass grant), then every field of every record passes ``field_visibility`` for its
source and is shown in full, masked, or left out. Opening a profile is an audit event that
names the sources and how many fields were shown or masked.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from childlink.access.choices import FieldGroup, Purpose
from childlink.access.principal import Principal
from childlink.access.service import (
    Action,
    ChildScope,
    Visibility,
    field_visibility,
    group_visibility,
)
from childlink.children.models import MasterChild
from childlink.children.schemas import (
    ChildProfile,
    LinkEvidence,
    RecordView,
    SourceGroup,
)
from childlink.children.search import best_visibility, region_name, shown
from childlink.errors import NotFoundError
from childlink.households.service import family_of
from childlink.identity.guard import audit, enforce
from childlink.ingest.schema import PERSON_COLUMNS
from childlink.linkage.models import LinkReview, MasterChildEvent
from childlink.privacy.keys import FieldCipher
from childlink.privacy.sealing import open_sealed
from childlink.sources.choices import RecordStatus
from childlink.sources.models import DataSource, Department, IngestBatch, SourceRecord

MAX_EVIDENCE = 50


def build_profile(
    session: Session,
    principal: Principal,
    purpose: Purpose,
    master_child_id: uuid.UUID,
    *,
    ip: str | None = None,
    cipher: FieldCipher | None = None,
) -> ChildProfile:
    """The profile of one child as ``principal`` may see it for ``purpose``.

    Sensitive attributes sealed at rest (``childlink keys seal``) are opened with ``cipher``
    after the policy check; without a cipher they stay out of the profile.

    Raises:
        NotFoundError: no such master child (also audited, as a denied view).
        AccessDeniedError: the policy refuses; the reason says why.
    """
    child = session.get(MasterChild, master_child_id)
    if child is None:
        audit(
            session,
            principal,
            Action.CHILD_VIEW,
            "deny",
            purpose,
            child_id=master_child_id,
            ip=ip,
            details={"reason": "no such child"},
        )
        session.commit()
        raise NotFoundError(f"no child {master_child_id}")
    scope = ChildScope(master_child_id=child.id, region_code=child.region_code)
    decision = enforce(
        session, principal, Action.CHILD_VIEW, purpose, child=scope, ip=ip, audit_allow=False
    )

    rows = session.execute(
        sa.select(SourceRecord, DataSource, Department.code, IngestBatch)
        .join(DataSource, SourceRecord.source_id == DataSource.id)
        .join(Department, DataSource.department_id == Department.id)
        .join(IngestBatch, SourceRecord.batch_id == IngestBatch.id)
        .where(
            SourceRecord.master_child_id == child.id,
            SourceRecord.status != RecordStatus.QUARANTINED,
        )
        .order_by(DataSource.code, IngestBatch.started_at, SourceRecord.row_number)
    ).all()
    by_source: dict[str, list[tuple[SourceRecord, DataSource, str, IngestBatch]]] = defaultdict(
        list
    )
    for record, source, department_code, batch in rows:
        by_source[source.code].append((record, source, department_code, batch))

    sealed = open_sealed(session, [r.id for r, *_ in rows], cipher) if cipher else {}
    groups: list[SourceGroup] = []
    withheld = 0
    shown_count = masked_count = 0
    evidence_allowed = False
    for code, items in by_source.items():
        visibility = field_visibility(session, principal, purpose, scope, code)
        groups_seen = group_visibility(session, principal, purpose, scope, code)
        evidence_allowed |= groups_seen.get(FieldGroup.LINKAGE) is not Visibility.HIDDEN
        records = []
        for record, _source, _department, batch in items:
            view = _record_view(record, batch, visibility, sealed.get(record.id, {}))
            if view.fields:
                records.append(view)
                shown_count += len(view.fields) - len(view.masked)
                masked_count += len(view.masked)
        if not records:
            withheld += 1
            continue
        _record, source, department_code, _batch = items[0]
        groups.append(
            SourceGroup(
                source_code=code,
                source_name_zh=source.name_zh,
                source_name_en=source.name_en,
                department_code=department_code,
                records=records,
            )
        )

    visible = best_visibility(session, principal, purpose, child)
    region_visible = visible.get("region_code")
    profile = ChildProfile(
        master_child_id=child.id,
        display_name=shown("name", child.display_name, visible.get("name")),
        sex=shown("sex", child.sex, visible.get("sex")),
        birth_date=shown("birth_date", child.birth_date, visible.get("birth_date")),
        region_code=shown("region_code", child.region_code, region_visible),
        region_name=None
        if region_visible in (None, Visibility.HIDDEN)
        else region_name(session, child.region_code),
        status=str(child.status),
        break_glass=decision.break_glass,
        sources=groups,
        withheld_sources=withheld,
        family=_family(session, child.id, visible)
        if visible.get("guardian_name") in (Visibility.FULL, Visibility.MASKED)
        else [],
        link_evidence=_evidence(session, child.id, [r.id for r, *_ in rows])
        if evidence_allowed
        else [],
    )
    audit(
        session,
        principal,
        Action.CHILD_VIEW,
        "allow",
        purpose,
        child_id=child.id,
        ip=ip,
        details={
            "rule": decision.rule,
            "break_glass": decision.break_glass,
            "sources": [group.source_code for group in groups],
            "withheld_sources": withheld,
            "fields_shown": shown_count,
            "fields_masked": masked_count,
        },
    )
    return profile


def _record_view(
    record: SourceRecord,
    batch: IngestBatch,
    visibility: dict[str, Visibility],
    sealed: dict[str, Any],
) -> RecordView:
    values: dict[str, Any] = {name: getattr(record, name) for name in PERSON_COLUMNS}
    values.update(record.attributes or {})
    values.update(sealed)
    fields: dict[str, str | None] = {}
    masked: list[str] = []
    for name, value in values.items():
        level = visibility.get(name)
        if level is None or level is Visibility.HIDDEN or value is None or value == "":
            continue
        fields[name] = shown(name, value, level)
        if level is Visibility.MASKED:
            masked.append(name)
    return RecordView(
        record_id=record.id,
        batch_id=batch.id,
        file_name=batch.file_name,
        sheet=record.sheet,
        row_number=record.row_number,
        ingested_at=batch.started_at,
        status=str(record.status),
        fields=fields,
        masked=sorted(masked),
    )


def _family(
    session: Session, master_child_id: uuid.UUID, visible: dict[str, Visibility]
) -> list[dict[str, Any]]:
    """The child's household as far as the viewer may see it: guardians' names, ID numbers and
    phones and the siblings' names and birth dates are shown, masked or left out by the same
    visibility as the child's own family fields."""
    family = family_of(session, master_child_id)
    if family is None:
        return []
    document = family.model_dump(mode="json")
    document["address"] = shown("address", family.address, visible.get("address"))
    document["guardians"] = [
        {
            **guardian.model_dump(mode="json"),
            "name": shown("guardian_name", guardian.name, visible.get("guardian_name")),
            "id_number": shown(
                "guardian_id_number", guardian.id_number, visible.get("guardian_id_number")
            ),
            "phone": shown("guardian_phone", guardian.phone, visible.get("guardian_phone")),
        }
        for guardian in family.guardians
    ]
    document["members"] = [
        {
            **member.model_dump(mode="json"),
            "display_name": shown("name", member.display_name, visible.get("name")),
            "birth_date": shown("birth_date", member.birth_date, visible.get("birth_date")),
        }
        for member in family.members
    ]
    return [document]


def _plain(value: object) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _evidence(
    session: Session, master_child_id: uuid.UUID, record_ids: list[uuid.UUID]
) -> list[LinkEvidence]:
    """Master-child events and decided or pending reviews between the child's records."""
    evidence = [
        LinkEvidence(
            kind=str(event.kind),
            at=event.created_at,
            actor=event.actor,
            details={k: _plain(v) for k, v in (event.details or {}).items()},
        )
        for event in session.scalars(
            sa.select(MasterChildEvent)
            .where(MasterChildEvent.master_child_id == master_child_id)
            .order_by(MasterChildEvent.created_at)
            .limit(MAX_EVIDENCE)
        )
    ]
    if record_ids:
        reviews = session.scalars(
            sa.select(LinkReview)
            .where(
                sa.or_(
                    LinkReview.left_record_id.in_(record_ids),
                    LinkReview.right_record_id.in_(record_ids),
                )
            )
            .limit(MAX_EVIDENCE)
        )
        for review in reviews:
            evidence.append(
                LinkEvidence(
                    kind=f"review_{review.status}",
                    at=review.decided_at or review.created_at,
                    actor=review.reviewer,
                    details={
                        "review_id": str(review.id),
                        "match_probability": round(review.match_probability, 4),
                        "rule": review.rule,
                    },
                )
            )
    return evidence
