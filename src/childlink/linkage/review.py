"""Clerical review of linkage: the queue, reviewer decisions, splits and pair explanations.

Every action is one unit of work and leaves a trace: the review row (status, reviewer, note,
time), a standing :class:`~childlink.linkage.models.LinkDecision` that later runs respect, and
:class:`~childlink.linkage.models.MasterChildEvent` rows for every master child it changes.

* **accept**: the two records are one child. A must-link decision is stored and the two
  masters are merged now (the one with more records absorbs the other).
* **reject**: they are two children. A cannot-link decision is stored; runs never merge the
  clusters that contain them.
* **split**: records wrongly merged into a master move to a new master; cannot-link decisions
  between every moved and every remaining record (and must-links among the moved records) keep
  the next run from merging them again.
* **explain**: the waterfall of any two records under the latest saved model.
"""

from __future__ import annotations

import getpass
import json
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from childlink.children.choices import ChildStatus, Sex
from childlink.children.models import MasterChild
from childlink.errors import ChildLinkError
from childlink.linkage.choices import DecisionKind, MasterEventKind, ReviewStatus
from childlink.linkage.engine import (
    _SPLINK_COLUMNS,
    Constraints,
    _constrained_groups,
    _deterministic_edges,
    _frame,
    _quiet_splink,
    representatives,
    waterfall,
)
from childlink.linkage.models import LinkDecision, LinkReview, MasterChildEvent
from childlink.linkage.prepare import prepare_records
from childlink.regions.models import Region
from childlink.sources.models import SourceRecord
from childlink.store.base import utc_now
from childlink.store.engine import unit_of_work


class ReviewError(ChildLinkError):
    """A review action that cannot be done (unknown id, wrong state, bad split)."""


def default_reviewer() -> str:
    """The OS user, when no reviewer is named."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _actor(reviewer: str) -> str:
    return f"reviewer:{reviewer}"


def _ordered(a: uuid.UUID, b: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    return (a, b) if str(a) <= str(b) else (b, a)


def _parse_id(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value.strip())
    except ValueError as error:
        raise ReviewError(f"{what} {value!r} is not a UUID") from error


# --------------------------------------------------------------------------------------------
# Reading the queue
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewItem:
    """One review row with the two records it concerns (for the CLI and the API)."""

    id: str
    status: str
    rule: str | None
    match_probability: float
    match_weight: float
    left: dict[str, Any]
    right: dict[str, Any]
    waterfall: dict[str, Any]
    reviewer: str | None
    note: str | None
    decided_at: str | None
    created_run_id: str | None

    def as_dict(self, *, with_waterfall: bool = True) -> dict[str, Any]:
        document = dict(self.__dict__)
        if not with_waterfall:
            document.pop("waterfall")
        return document


def _record_summary(session: Session, record_id: uuid.UUID) -> dict[str, Any]:
    record = session.get(SourceRecord, record_id)
    if record is None:
        return {"id": str(record_id)}
    return {
        "id": str(record.id),
        "name": record.name or record.name_pinyin,
        "sex": None if record.sex is None else str(record.sex),
        "birth_date": None if record.birth_date is None else record.birth_date.isoformat(),
        "id_number": record.id_number,
        "region_code": record.region_code,
        "master_child_id": None if record.master_child_id is None else str(record.master_child_id),
    }


def _item(session: Session, review: LinkReview) -> ReviewItem:
    return ReviewItem(
        id=str(review.id),
        status=str(review.status),
        rule=review.rule,
        match_probability=review.match_probability,
        match_weight=review.match_weight,
        left=_record_summary(session, review.left_record_id),
        right=_record_summary(session, review.right_record_id),
        waterfall=review.waterfall,
        reviewer=review.reviewer,
        note=review.note,
        decided_at=None if review.decided_at is None else review.decided_at.isoformat(),
        created_run_id=None if review.created_run_id is None else str(review.created_run_id),
    )


def list_reviews(
    factory: sessionmaker[Session], *, status: ReviewStatus | None = None, limit: int = 100
) -> list[ReviewItem]:
    """Review rows, most probable first."""
    with factory() as session:
        stmt = sa.select(LinkReview).order_by(LinkReview.match_probability.desc(), LinkReview.id)
        if status is not None:
            stmt = stmt.where(LinkReview.status == status)
        return [_item(session, review) for review in session.scalars(stmt.limit(limit))]


def count_reviews(factory: sessionmaker[Session]) -> dict[str, int]:
    """Number of review rows per status."""
    with factory() as session:
        rows = session.execute(
            sa.select(LinkReview.status, sa.func.count()).group_by(LinkReview.status)
        )
        return {str(status): int(count) for status, count in rows}


def get_review(factory: sessionmaker[Session], review_id: str) -> ReviewItem:
    with factory() as session:
        return _item(session, _load_review(session, review_id))


def _load_review(session: Session, review_id: str) -> LinkReview:
    review = session.get(LinkReview, _parse_id(review_id, "review id"))
    if review is None:
        raise ReviewError(f"no review {review_id}")
    return review


# --------------------------------------------------------------------------------------------
# Decisions
# --------------------------------------------------------------------------------------------


def _set_decision(
    session: Session,
    a: uuid.UUID,
    b: uuid.UUID,
    kind: DecisionKind,
    reviewer: str,
    reason: str | None,
    review_id: uuid.UUID | None = None,
) -> None:
    """Store (or replace) the reviewer's standing decision between two records."""
    left, right = _ordered(a, b)
    existing = session.scalar(
        sa.select(LinkDecision).where(
            LinkDecision.left_record_id == left, LinkDecision.right_record_id == right
        )
    )
    if existing is None:
        session.add(
            LinkDecision(
                left_record_id=left,
                right_record_id=right,
                kind=kind,
                reviewer=reviewer,
                reason=reason,
                review_id=review_id,
                created_at=utc_now(),
            )
        )
    else:
        existing.kind = kind
        existing.reviewer = reviewer
        existing.reason = reason
        existing.review_id = review_id
        existing.created_at = utc_now()


def _event(
    session: Session,
    master: uuid.UUID,
    kind: MasterEventKind,
    reviewer: str,
    details: dict[str, Any],
) -> None:
    session.add(
        MasterChildEvent(
            master_child_id=master,
            kind=kind,
            actor=_actor(reviewer),
            details=details,
            created_at=utc_now(),
        )
    )


def _own_ids(records: list[SourceRecord]) -> set[str]:
    """Valid ID numbers that are the records' own (their birth date agrees), as linkage uses."""
    ids = set()
    for record in records:
        number = record.id_number
        if number is None:
            continue
        if record.birth_date is None or number[6:14] == record.birth_date.strftime("%Y%m%d"):
            ids.add(number)
    return ids


def _records_of(session: Session, master: uuid.UUID) -> list[SourceRecord]:
    return list(
        session.scalars(
            sa.select(SourceRecord)
            .where(SourceRecord.master_child_id == master)
            .order_by(SourceRecord.id)
        )
    )


def accept_review(
    factory: sessionmaker[Session], review_id: str, *, reviewer: str, note: str | None = None
) -> dict[str, Any]:
    """The two records are one child: must-link, and merge their masters now."""
    with unit_of_work(factory) as session:
        review = _load_review(session, review_id)
        if review.status == ReviewStatus.ACCEPTED:
            raise ReviewError(f"review {review_id} is already accepted")
        left = session.get(SourceRecord, review.left_record_id)
        right = session.get(SourceRecord, review.right_record_id)
        assert left is not None  # foreign keys cascade
        assert right is not None
        merged: dict[str, Any] = {}
        a, b = left.master_child_id, right.master_child_id
        if a is not None and b is not None and a != b:
            records_a, records_b = _records_of(session, a), _records_of(session, b)
            if len(_own_ids(records_a) | _own_ids(records_b)) > 1:
                raise ReviewError(
                    "the two children carry different valid ID numbers; correct the record "
                    "or split the master first"
                )
            if (len(records_b), str(a)) > (len(records_a), str(b)):
                a, b, records_a, records_b = b, a, records_b, records_a
            merged = _merge_masters(session, into=a, absorbed=b, records=records_b)
            details = {"review_id": review_id, "note": note}
            _event(
                session,
                a,
                MasterEventKind.RECORDS_ADDED,
                reviewer,
                details | {"from_masters": [str(b)], "records": len(records_b)},
            )
            _event(session, b, MasterEventKind.MERGED, reviewer, details | {"into": str(a)})
        _set_decision(
            session,
            review.left_record_id,
            review.right_record_id,
            DecisionKind.MUST_LINK,
            reviewer,
            note,
            review.id,
        )
        review.status = ReviewStatus.ACCEPTED
        review.reviewer = reviewer
        review.note = note
        review.decided_at = utc_now()
        return {"review_id": review_id, "status": "accepted", **merged}


def _merge_masters(
    session: Session, *, into: uuid.UUID, absorbed: uuid.UUID, records: list[SourceRecord]
) -> dict[str, Any]:
    for record in records:
        record.master_child_id = into
    master = session.get(MasterChild, absorbed)
    assert master is not None
    master.status = ChildStatus.MERGED
    master.merged_into_id = into
    session.flush()
    _refresh_profile(session, into)
    return {"merged_into": str(into), "merged": str(absorbed), "records_moved": len(records)}


def reject_review(
    factory: sessionmaker[Session], review_id: str, *, reviewer: str, note: str | None = None
) -> dict[str, Any]:
    """The two records are different children: cannot-link (masters stay as they are)."""
    with unit_of_work(factory) as session:
        review = _load_review(session, review_id)
        if review.status == ReviewStatus.REJECTED and review.reviewer is not None:
            raise ReviewError(f"review {review_id} is already rejected by {review.reviewer}")
        _set_decision(
            session,
            review.left_record_id,
            review.right_record_id,
            DecisionKind.CANNOT_LINK,
            reviewer,
            note,
            review.id,
        )
        review.status = ReviewStatus.REJECTED
        review.reviewer = reviewer
        review.note = note
        review.decided_at = utc_now()
        return {"review_id": review_id, "status": "rejected"}


# --------------------------------------------------------------------------------------------
# Split
# --------------------------------------------------------------------------------------------


def _mode(values: list[Any]) -> Any:
    present = [value for value in values if value is not None and value != ""]
    if not present:
        return None
    counts = Counter(present)
    return sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))[0][0]


def _profile(session: Session, records: list[SourceRecord]) -> dict[str, Any]:
    """Display name, sex, birth date and known region: the most frequent values."""
    name = _mode([r.name for r in records]) or _mode([r.name_pinyin for r in records])
    sex = _mode([r.sex for r in records if r.sex != Sex.UNKNOWN])
    birth: date | None = _mode([r.birth_date for r in records])
    region = _mode([r.region_code for r in records])
    if region is not None and session.get(Region, region) is None:
        region = None
    return {
        "display_name": (name or "(unnamed)")[:100],
        "sex": sex or Sex.UNKNOWN,
        "birth_date": birth,
        "region_code": region,
    }


def _refresh_profile(session: Session, master_id: uuid.UUID) -> None:
    master = session.get(MasterChild, master_id)
    records = _records_of(session, master_id)
    if master is None or not records:
        return
    for key, value in _profile(session, records).items():
        setattr(master, key, value)


def split_master(
    factory: sessionmaker[Session],
    master_id: str,
    record_ids: list[str],
    *,
    reviewer: str,
    note: str | None = None,
) -> dict[str, Any]:
    """Move ``record_ids`` out of a master into a new master and keep them apart from now on."""
    master_uuid = _parse_id(master_id, "master id")
    moving = {_parse_id(value, "record id") for value in record_ids if value.strip()}
    if not moving:
        raise ReviewError("name at least one record to move (--records)")
    with unit_of_work(factory) as session:
        master = session.get(MasterChild, master_uuid)
        if master is None:
            raise ReviewError(f"no master child {master_id}")
        if master.status != ChildStatus.ACTIVE:
            raise ReviewError(f"master child {master_id} is {master.status}, not active")
        records = _records_of(session, master_uuid)
        own = {record.id for record in records}
        unknown = sorted(str(value) for value in moving - own)
        if unknown:
            raise ReviewError(f"not records of master {master_id}: {', '.join(unknown)}")
        moved = [record for record in records if record.id in moving]
        staying = [record for record in records if record.id not in moving]
        if not staying:
            raise ReviewError("a split must leave at least one record in the master")
        now = utc_now()
        new_master = MasterChild(
            id=uuid.uuid4(),
            status=ChildStatus.ACTIVE,
            created_at=now,
            updated_at=now,
            **_profile(session, moved),
        )
        session.add(new_master)
        session.flush()
        for record in moved:
            record.master_child_id = new_master.id
        session.flush()
        _refresh_profile(session, master_uuid)
        for a in moved:
            for b in staying:
                _set_decision(session, a.id, b.id, DecisionKind.CANNOT_LINK, reviewer, note)
        for record in moved[1:]:
            _set_decision(session, moved[0].id, record.id, DecisionKind.MUST_LINK, reviewer, note)
        moved_ids = sorted(str(record.id) for record in moved)
        _event(
            session,
            master_uuid,
            MasterEventKind.SPLIT,
            reviewer,
            {"new_master": str(new_master.id), "record_ids": moved_ids, "note": note},
        )
        _event(
            session,
            new_master.id,
            MasterEventKind.CREATED,
            reviewer,
            {"split_from": master_id, "record_ids": moved_ids, "note": note},
        )
        return {
            "master_id": master_id,
            "new_master_id": str(new_master.id),
            "records_moved": len(moved),
            "records_kept": len(staying),
            "cannot_link_decisions": len(moved) * len(staying),
        }


def master_events(factory: sessionmaker[Session], master_id: str) -> list[dict[str, Any]]:
    """The change log of one master child, oldest first."""
    with factory() as session:
        rows = session.scalars(
            sa.select(MasterChildEvent)
            .where(MasterChildEvent.master_child_id == _parse_id(master_id, "master id"))
            .order_by(MasterChildEvent.created_at, MasterChildEvent.id)
        )
        return [
            {
                "kind": str(row.kind),
                "actor": row.actor,
                "run_id": None if row.run_id is None else str(row.run_id),
                "details": row.details,
                "at": row.created_at.isoformat(),
            }
            for row in rows
        ]


# --------------------------------------------------------------------------------------------
# Explain
# --------------------------------------------------------------------------------------------


def latest_model(data_dir: Path) -> tuple[Path, dict[str, Any]]:
    """The newest saved model of ``childlink link run`` and its Splink settings."""
    models = sorted((data_dir / "linkage").glob("model-*.json"))
    for path in reversed(models):
        document = json.loads(path.read_text("utf-8"))
        if document.get("model") == "childlink" and document.get("splink_settings"):
            return path, dict(document["splink_settings"])
    raise ReviewError(
        f"no trained linkage model under {data_dir / 'linkage'}: run `childlink link run`"
    )


def explain_pair(
    factory: sessionmaker[Session], data_dir: Path, record_a: str, record_b: str
) -> dict[str, Any]:
    """Score two records with the latest saved model and return the waterfall and context.

    Uses Splink's ``score_pair`` on the current records (term frequencies from the current
    linkable records, one per distinct content as in a run), so the weights are what a run
    with that model would give the pair today.
    """
    from splink import DuckDBAPI, Linker

    a, b = _parse_id(record_a, "record id"), _parse_id(record_b, "record id")
    model_path, settings = latest_model(data_dir)
    with factory() as session:
        frame = prepare_records(session).sort("rec_id")
        left, right = _ordered(a, b)
        decision = session.scalar(
            sa.select(LinkDecision).where(
                LinkDecision.left_record_id == left, LinkDecision.right_record_id == right
            )
        )
        review = session.scalar(
            sa.select(LinkReview).where(
                LinkReview.left_record_id == left, LinkReview.right_record_id == right
            )
        )
        summaries = [_record_summary(session, a), _record_summary(session, b)]
    pair = frame.filter(pl.col("rec_id").is_in([str(a), str(b)]))
    missing = {str(a), str(b)} - set(pair["rec_id"].to_list())
    if missing:
        raise ReviewError(
            "not a linkable child record (unknown, adult or quarantined): "
            + ", ".join(sorted(missing))
        )
    groups, _applied, _refused = _constrained_groups(
        frame, _deterministic_edges(frame), Constraints()
    )
    reps = representatives(frame, groups.roots()).select(_SPLINK_COLUMNS)
    _quiet_splink()
    db_api = DuckDBAPI()
    table = db_api.register(reps.to_arrow(), dataset_display_name="child_records")
    linker = Linker(table, settings)
    rows = {row["rec_id"]: row for row in pair.select(_SPLINK_COLUMNS).to_dicts()}
    scored = _frame(linker.inference.score_pair(rows[str(a)], rows[str(b)])).to_dicts()[0]
    twins = (
        scored.get("dob_l") is not None
        and scored.get("dob_l") == scored.get("dob_r")
        and scored.get("guardian_py_l") is not None
        and scored.get("guardian_py_l") == scored.get("guardian_py_r")
        and rows[str(a)]["given_py"] is not None
        and rows[str(b)]["given_py"] is not None
        and rows[str(a)]["given_py"] != rows[str(b)]["given_py"]
    )
    return {
        "model_path": str(model_path),
        "records": summaries,
        "same_master": summaries[0].get("master_child_id") is not None
        and summaries[0].get("master_child_id") == summaries[1].get("master_child_id"),
        "twins_rule": bool(twins),
        "decision": None
        if decision is None
        else {
            "kind": str(decision.kind),
            "reviewer": decision.reviewer,
            "reason": decision.reason,
            "at": decision.created_at.isoformat(),
        },
        "review": None
        if review is None
        else {
            "id": str(review.id),
            "status": str(review.status),
            "rule": review.rule,
            "reviewer": review.reviewer,
        },
        "waterfall": waterfall(scored, settings),
    }
