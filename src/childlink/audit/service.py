"""Appending to the hash-chained audit trail and verifying it.

Each entry commits to the previous one: ``entry_hash`` is SHA-256 over a canonical JSON
serialisation of every field of the entry, including ``prev_hash`` (the previous entry's
``entry_hash``). Appends are serialised by updating the single ``audit_chain_head`` row first
(a row lock on PostgreSQL, the database write lock on SQLite), so two writers never chain onto
the same predecessor. The append joins the caller's transaction: the audited change and its
entry commit together or not at all (house style 4).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from childlink.audit.models import GENESIS_HASH, AuditChainHead, AuditEntry
from childlink.store.base import utc_now

OUTCOMES = frozenset({"allow", "deny", "ok", "fail"})
"""``allow``/``deny``: a policy decision; ``ok``/``fail``: the result of an operation."""

HEAD_ID = 1
VERIFY_CHUNK = 5_000
RENUMBER_WINDOW = 64
"""How far from its stored position verification looks for an entry's original position."""


def record_event(
    session: Session,
    *,
    actor: str,
    action: str,
    outcome: str,
    purpose: str | None = None,
    child_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
    ip: str | None = None,
    at: datetime | None = None,
) -> None:
    """Append one entry to the audit trail inside the caller's transaction (flushes, no commit).

    Args:
        actor: who acted (a username, ``system``, or ``apikey:<department>``).
        action: what happened, dotted (``child.view``, ``login``, ``consent.add``).
        outcome: ``allow``, ``deny``, ``ok`` or ``fail``.
        purpose: the declared purpose of the access, if any.
        child_id: the master child concerned, if any.
        details: JSON-serialisable context (reason, agency, role, rule, ...). By convention
            access events carry ``agency``, ``role`` and ``in_caseload`` for the supervision
            report (see :func:`childlink.audit.report.principal_details`).
        ip: the client address, when known.
        at: the event time (default now); tests use it to place events at night.

    Raises:
        ValueError: an unknown outcome.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}, not {outcome!r}")
    session.flush()
    last_seq, last_hash = _lock_head(session)
    moment = (at or utc_now()).astimezone(UTC)
    entry = AuditEntry(
        seq=last_seq + 1,
        created_at=moment,
        actor=actor[:100],
        action=action[:64],
        outcome=outcome,
        purpose=None if purpose is None else str(purpose)[:32],
        child_id=child_id,
        details=_normalised(details or {}),
        ip=ip,
        prev_hash=last_hash,
    )
    entry.entry_hash = entry_hash(entry)
    session.add(entry)
    session.flush()
    session.execute(
        sa.update(AuditChainHead)
        .where(AuditChainHead.id == HEAD_ID)
        .values(last_seq=entry.seq, last_hash=entry.entry_hash, updated_at=utc_now())
    )


def _lock_head(session: Session) -> tuple[int, str]:
    """Take the append lock (update the head row) and return the newest entry's seq and hash.

    The newest entry is read from the table, not trusted from the head: the head only
    serialises and, at verification, tells whether entries were cut off the end.
    """
    touched = session.execute(
        sa.update(AuditChainHead)
        .where(AuditChainHead.id == HEAD_ID)
        .values(updated_at=utc_now())
        .execution_options(synchronize_session=False)
    )
    if touched.rowcount == 0:  # type: ignore[attr-defined]
        # A database built without the migration's seed row (create_all): start the chain.
        session.add(AuditChainHead(id=HEAD_ID, last_seq=0, last_hash=GENESIS_HASH))
        session.flush()
    last = session.execute(
        sa.select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    if last is None:
        return 0, GENESIS_HASH
    return int(last.seq), str(last.entry_hash)


def _normalised(details: dict[str, Any]) -> dict[str, Any]:
    """Details as they will read back from JSON (so the stored hash is reproducible)."""
    loaded: dict[str, Any] = json.loads(json.dumps(details, ensure_ascii=False, default=str))
    return loaded


def canonical_payload(entry: AuditEntry, *, seq: int | None = None) -> bytes:
    """The canonical JSON bytes an entry's hash covers (sorted keys, no spaces, UTF-8)."""
    created = entry.created_at.astimezone(UTC)
    document = {
        "seq": entry.seq if seq is None else seq,
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": entry.actor,
        "action": entry.action,
        "outcome": entry.outcome,
        "purpose": entry.purpose,
        "child_id": None if entry.child_id is None else str(entry.child_id),
        "details": entry.details or {},
        "ip": entry.ip,
        "prev_hash": entry.prev_hash,
    }
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def entry_hash(entry: AuditEntry, *, seq: int | None = None) -> str:
    """SHA-256 (hex) of the entry's canonical payload, optionally as if it had another seq."""
    return hashlib.sha256(canonical_payload(entry, seq=seq)).hexdigest()


@dataclass(frozen=True)
class ChainProblem:
    """One finding: ``kind`` is edited, inserted, reordered, renumbered, deleted or anchor."""

    kind: str
    seq: int
    message: str


@dataclass
class ChainReport:
    """The result of verifying the trail."""

    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    problems: list[ChainProblem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (for ``--json``)."""
        return asdict(self)

    def kinds_at(self) -> set[tuple[str, int]]:
        """``(kind, seq)`` of every problem (what tests assert on)."""
        return {(p.kind, p.seq) for p in self.problems}


def _entries(session: Session) -> Iterator[AuditEntry]:
    after = None
    while True:
        query = sa.select(AuditEntry).order_by(AuditEntry.seq).limit(VERIFY_CHUNK)
        if after is not None:
            query = query.where(AuditEntry.seq > after)
        chunk = list(session.scalars(query))
        if not chunk:
            return
        yield from chunk
        after = chunk[-1].seq
        for item in chunk:  # keep the identity map small on long trails
            session.expunge(item)


def verify_chain(session: Session, *, anchor: tuple[int, str] | None = None) -> ChainReport:
    """Recompute every hash and link and say which entries were tampered with, and how.

    Findings (each names the sequence number where it shows):

    * ``edited`` - the entry's content no longer matches its hash;
    * ``inserted`` - an entry sits between two entries that were chained to each other, or
      after the newest entry the writer recorded;
    * ``reordered`` - an intact entry whose hash shows it was written at another position;
    * ``renumbered`` - a run of intact entries shifted by an insertion or deletion;
    * ``deleted`` - a gap in the sequence numbers, an entry chained to a predecessor that no
      longer exists, or entries cut off the end (the head records more than the table holds);
    * ``anchor`` - the entry at an externally recorded ``(seq, hash)`` anchor differs.

    A writer who recomputes every later hash after a change leaves a self-consistent chain;
    the externally written-down head hash (``childlink audit verify`` prints it) is what
    catches that, hence ``anchor``.
    """
    problems: list[ChainProblem] = []
    hashes_by_seq: dict[int, str] = {}
    all_hashes: set[str] = set()
    rows: list[tuple[int, str, str, int | None]] = []  # seq, entry_hash, prev_hash, orig seq
    for entry in _entries(session):
        original = _original_seq(entry)
        rows.append((entry.seq, entry.entry_hash, entry.prev_hash, original))
        hashes_by_seq[entry.seq] = entry.entry_hash
        all_hashes.add(entry.entry_hash)

    expected_prev = GENESIS_HASH
    expected_seq = 1
    prev_prev_hash: str | None = None
    run: list[int] = []
    run_delta = 0

    def close_run() -> None:
        nonlocal run, run_delta
        if run:
            problems.append(
                ChainProblem(
                    "renumbered",
                    run[0],
                    f"entries {run[0]}..{run[-1]} were renumbered by {run_delta:+d} "
                    "(entries were inserted or deleted before them)",
                )
            )
        run, run_delta = [], 0

    for index, (seq, stored_hash, prev_hash, original) in enumerate(rows):
        gap = seq > expected_seq
        link_kind: str | None = None
        if gap:
            missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}..{seq - 1}"
            problems.append(
                ChainProblem("deleted", seq, f"entries {missing} are missing before {seq}")
            )
            link_kind = "deleted"
        elif prev_hash != expected_prev:
            previous = rows[index - 1] if index else None
            previous_in_place = previous is not None and previous[3] in (previous[0], None)
            if previous_in_place and prev_hash == prev_prev_hash:
                link_kind = "inserted"
                problems.append(
                    ChainProblem(
                        "inserted",
                        seq - 1,
                        f"entry {seq - 1} was inserted: entry {seq} is chained to the entry "
                        "before it",
                    )
                )
            elif prev_hash in all_hashes:
                link_kind = "reordered"
            elif original is not None and original != seq:
                link_kind = "deleted"
                problems.append(
                    ChainProblem(
                        "deleted",
                        seq,
                        f"an entry before {seq} was deleted (its successor is chained to an "
                        "entry that no longer exists)",
                    )
                )
            elif index > 0:
                link_kind = "edited"
                problems.append(
                    ChainProblem(
                        "edited",
                        seq - 1,
                        f"entry {seq - 1} was replaced or rewritten: entry {seq} is chained to "
                        "a different entry",
                    )
                )
            else:
                link_kind = "deleted"
                problems.append(ChainProblem("deleted", seq, f"entries before {seq} were deleted"))
        if original is None:
            close_run()
            problems.append(
                ChainProblem("edited", seq, f"entry {seq} does not match its hash: it was edited")
            )
        elif original != seq:
            delta = seq - original
            if run and delta == run_delta and link_kind is None:
                run.append(seq)
            elif link_kind in ("inserted", "deleted"):
                close_run()
                run, run_delta = [seq], delta
            else:
                close_run()
                problems.append(
                    ChainProblem(
                        "reordered",
                        seq,
                        f"entry {seq} was written as entry {original}: entries were reordered",
                    )
                )
        else:
            close_run()
        prev_prev_hash = expected_prev
        expected_prev = stored_hash
        expected_seq = seq + 1
    close_run()

    last_seq = rows[-1][0] if rows else 0
    last_hash = rows[-1][1] if rows else GENESIS_HASH
    problems.extend(_head_problems(session, rows, all_hashes))
    if anchor is not None:
        anchor_seq, anchor_hash = anchor
        found = hashes_by_seq.get(anchor_seq)
        if found != anchor_hash.lower():
            problems.append(
                ChainProblem(
                    "anchor",
                    anchor_seq,
                    f"entry {anchor_seq} is "
                    + ("missing" if found is None else f"{found[:16]}…")
                    + f", but the anchor written down says {anchor_hash[:16]}…: the trail "
                    "was rewritten",
                )
            )
    problems.sort(key=lambda p: (p.seq, p.kind))
    return ChainReport(not problems, len(rows), last_seq, last_hash, problems)


def _head_problems(
    session: Session, rows: list[tuple[int, str, str, int | None]], all_hashes: set[str]
) -> list[ChainProblem]:
    """Compare the end of the chain with the head the writer recorded."""
    recorded = session.get(AuditChainHead, HEAD_ID)
    if recorded is None or (recorded.last_seq == 0 and not rows):
        return []
    if recorded.last_hash in all_hashes:
        position = next(i for i, row in enumerate(rows) if row[1] == recorded.last_hash)
        appended = [row[0] for row in rows[position + 1 :] if row[3] == row[0]]
        if appended:
            return [
                ChainProblem(
                    "inserted",
                    appended[0],
                    f"entries {appended[0]}..{appended[-1]} were added outside the audit "
                    f"writer (it recorded entry {recorded.last_seq} as the newest)",
                )
            ]
        return []
    last_original = (
        rows[-1][3] if rows and rows[-1][3] is not None else (rows[-1][0] if rows else 0)
    )
    if recorded.last_seq > last_original:
        first = last_original + 1
        return [
            ChainProblem(
                "deleted",
                first,
                f"entries {first}..{recorded.last_seq} were cut off the end (the writer "
                f"recorded {recorded.last_seq} entries)",
            )
        ]
    return [
        ChainProblem(
            "edited",
            recorded.last_seq,
            f"entry {recorded.last_seq}, the newest the writer recorded, was changed",
        )
    ]


def _original_seq(entry: AuditEntry) -> int | None:
    """The position the entry was written at (its own seq if intact), or None if edited."""
    if entry_hash(entry) == entry.entry_hash:
        return entry.seq
    for distance in range(1, RENUMBER_WINDOW + 1):
        for candidate in (entry.seq - distance, entry.seq + distance):
            if candidate >= 1 and entry_hash(entry, seq=candidate) == entry.entry_hash:
                return candidate
    return None


def head(session: Session) -> tuple[int, str]:
    """The newest entry's ``(seq, entry_hash)``: the anchor to write down elsewhere."""
    last = session.execute(
        sa.select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    return (0, GENESIS_HASH) if last is None else (int(last.seq), str(last.entry_hash))
