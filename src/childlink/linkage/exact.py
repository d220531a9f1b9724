"""Link new records by an exact, valid ID number: the fast path of continuous linking.

When a department pushes a few rows for children the platform already knows, running the
probabilistic model over the whole county to place them costs seconds; a record whose
standardised ID number (stored only when its check digit is valid) is carried by the records
of exactly one active master child belongs to that child, as the linkage model would decide
anyway (an exact valid ID number is a deterministic edge there too). Records whose ID number
matches no child, or more than one (an unresolved duplicate waiting for review), are left to
the incremental model run (:func:`childlink.linkage.service.link_county`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from childlink.children.choices import ChildStatus
from childlink.children.models import MasterChild
from childlink.linkage.choices import MasterEventKind
from childlink.linkage.models import LinkRun, MasterChildEvent
from childlink.sources.choices import BatchStatus, RecordStatus
from childlink.sources.models import IngestBatch, SourceRecord
from childlink.store.base import utc_now

EXACT_ACTOR = "rule:linkage.exact_id"
BATCH_CHUNK = 500


@dataclass(frozen=True)
class ExactLinkResult:
    """What one exact-ID pass linked."""

    run_id: uuid.UUID | None
    records: int
    children: list[uuid.UUID] = field(default_factory=list)


def link_by_id_number(session: Session, batch_ids: Collection[uuid.UUID]) -> ExactLinkResult:
    """Give unlinked records of ``batch_ids`` the master child that carries their ID number.

    One set-based query finds, per unlinked record, the active masters whose records share its
    ID number; only records with exactly one such master are linked. Writes a link run and a
    ``records_added`` event per child (flushes; the caller commits).
    """
    if not batch_ids:
        return ExactLinkResult(None, 0)
    new = aliased(SourceRecord)
    known = aliased(SourceRecord)
    matches: dict[uuid.UUID, set[uuid.UUID]] = {}
    ids = list(batch_ids)
    for start in range(0, len(ids), BATCH_CHUNK):
        rows = session.execute(
            sa.select(new.id, known.master_child_id)
            .join(IngestBatch, IngestBatch.id == new.batch_id)
            .join(known, known.id_number == new.id_number)
            .join(MasterChild, MasterChild.id == known.master_child_id)
            .where(
                new.batch_id.in_(ids[start : start + BATCH_CHUNK]),
                IngestBatch.status == BatchStatus.COMMITTED,
                new.status != RecordStatus.QUARANTINED,
                new.master_child_id.is_(None),
                new.id_number.is_not(None),
                known.master_child_id.is_not(None),
                MasterChild.status == ChildStatus.ACTIVE,
            )
            .distinct()
        ).all()
        for record_id, master_id in rows:
            if master_id is not None:
                matches.setdefault(record_id, set()).add(master_id)
    chosen = {rec: next(iter(masters)) for rec, masters in matches.items() if len(masters) == 1}
    if not chosen:
        return ExactLinkResult(None, 0)
    now = utc_now()
    run = LinkRun(
        created_at=now,
        upper_threshold=1.0,
        lower_threshold=1.0,
        summary={"exact_id": True, "records_linked": len(chosen), "children": 0},
    )
    session.add(run)
    session.flush()
    session.execute(
        sa.update(SourceRecord),
        [{"id": rec, "master_child_id": master} for rec, master in chosen.items()],
    )
    by_child: dict[uuid.UUID, list[str]] = {}
    for rec, master in chosen.items():
        by_child.setdefault(master, []).append(str(rec))
    session.execute(
        sa.insert(MasterChildEvent),
        [
            {
                "master_child_id": master,
                "kind": MasterEventKind.RECORDS_ADDED,
                "actor": EXACT_ACTOR,
                "run_id": run.id,
                "details": {"records": len(records), "record_ids": sorted(records)[:50]},
                "created_at": now,
            }
            for master, records in sorted(by_child.items())
        ],
    )
    run.summary = {**run.summary, "children": len(by_child)}
    session.flush()
    return ExactLinkResult(run.id, len(chosen), sorted(by_child))
