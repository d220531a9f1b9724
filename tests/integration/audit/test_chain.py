"""The hash-chained audit trail: appends, verification, and tampering of every kind.

Tampering needs the append-only triggers out of the way, as an attacker with database-owner
rights would do; :func:`drop_guard` does that, and one test checks the guard itself.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from childlink.audit.models import AuditEntry
from childlink.audit.service import entry_hash, head, record_event, verify_chain


def drop_guard(session: Session) -> None:
    """Remove the append-only triggers, as a database owner could."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
    else:
        session.execute(sa.text("DROP TRIGGER audit_entries_no_update"))
        session.execute(sa.text("DROP TRIGGER audit_entries_no_delete"))


def write_entries(session: Session, n: int = 8) -> list[uuid.UUID]:
    children = [uuid.uuid4() for _ in range(n)]
    for i, child in enumerate(children):
        record_event(
            session,
            actor=f"user{i % 3}",
            action="child.view",
            outcome="allow" if i % 4 else "deny",
            purpose="case_work",
            child_id=child,
            details={"agency": "village-1", "role": "child_director", "n": i, "名": "张三"},
            ip="127.0.0.1",
        )
    session.commit()
    return children


def problems(session: Session) -> set[tuple[str, int]]:
    session.expire_all()
    return verify_chain(session).kinds_at()


def test_appends_chain_and_verify(session: Session) -> None:
    assert verify_chain(session).ok
    write_entries(session)
    report = verify_chain(session)
    assert report.ok, report.problems
    assert report.entries == 8
    assert (report.head_seq, report.head_hash) == head(session)
    entries = list(session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq)))
    assert [e.seq for e in entries] == list(range(1, 9))
    assert entries[0].prev_hash == "0" * 64
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.entry_hash
        assert entry_hash(after) == after.entry_hash


def test_refuses_unknown_outcome(session: Session) -> None:
    with pytest.raises(ValueError, match="outcome"):
        record_event(session, actor="x", action="login", outcome="maybe")


def test_rolled_back_append_leaves_no_trace(session: Session) -> None:
    write_entries(session, 3)
    record_event(session, actor="x", action="login", outcome="ok")
    session.rollback()
    record_event(session, actor="y", action="login", outcome="ok")
    session.commit()
    report = verify_chain(session)
    assert report.ok
    assert report.head_seq == 4


def test_trigger_rejects_update_and_delete(session: Session) -> None:
    write_entries(session, 3)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        session.execute(sa.text("UPDATE audit_entries SET actor = 'mallory' WHERE seq = 2"))
    session.rollback()
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        session.execute(sa.text("DELETE FROM audit_entries WHERE seq = 2"))
    session.rollback()
    assert verify_chain(session).ok


def test_edit_is_detected_and_located(session: Session) -> None:
    write_entries(session)
    drop_guard(session)
    session.execute(sa.text("UPDATE audit_entries SET actor = 'mallory' WHERE seq = 4"))
    session.commit()
    assert problems(session) == {("edited", 4)}


def test_edit_with_recomputed_hash_is_detected(session: Session) -> None:
    write_entries(session)
    drop_guard(session)
    entry = session.get(AuditEntry, 4)
    assert entry is not None
    entry.purpose = "statistics"
    entry.entry_hash = entry_hash(entry)
    session.commit()
    assert problems(session) == {("edited", 4)}


def test_deletion_is_detected_and_located(session: Session) -> None:
    write_entries(session)
    drop_guard(session)
    session.execute(sa.text("DELETE FROM audit_entries WHERE seq = 5"))
    session.commit()
    assert problems(session) == {("deleted", 6)}


def test_deletion_with_renumbering_is_detected(session: Session) -> None:
    write_entries(session)
    drop_guard(session)
    session.execute(sa.text("DELETE FROM audit_entries WHERE seq = 5"))
    session.execute(sa.text("UPDATE audit_entries SET seq = seq + 1000 WHERE seq > 5"))
    session.execute(sa.text("UPDATE audit_entries SET seq = seq - 1001 WHERE seq > 1000"))
    session.commit()
    found = problems(session)
    assert ("deleted", 5) in found
    assert ("renumbered", 5) in found
    assert {kind for kind, _ in found} <= {"deleted", "renumbered"}


def test_cutting_off_the_end_is_detected(session: Session) -> None:
    write_entries(session)
    drop_guard(session)
    session.execute(sa.text("DELETE FROM audit_entries WHERE seq >= 7"))
    session.commit()
    assert problems(session) == {("deleted", 7)}


def test_insertion_is_detected_and_located(session: Session) -> None:
    write_entries(session)
    drop_guard(session)
    session.execute(sa.text("UPDATE audit_entries SET seq = seq + 1000 WHERE seq >= 5"))
    session.execute(sa.text("UPDATE audit_entries SET seq = seq - 999 WHERE seq > 1000"))
    fourth = session.get(AuditEntry, 4)
    assert fourth is not None
    forged = AuditEntry(
        seq=5,
        created_at=datetime.now(UTC),
        actor="mallory",
        action="child.view",
        outcome="allow",
        purpose="case_work",
        child_id=None,
        details={},
        ip=None,
        prev_hash=fourth.entry_hash,
    )
    forged.entry_hash = entry_hash(forged)
    session.add(forged)
    session.commit()
    found = problems(session)
    assert ("inserted", 5) in found
    assert ("renumbered", 6) in found
    assert {kind for kind, _ in found} <= {"inserted", "renumbered"}


def test_appending_outside_the_writer_is_detected(session: Session) -> None:
    write_entries(session)
    last = session.get(AuditEntry, 8)
    assert last is not None
    forged = AuditEntry(
        seq=9,
        created_at=datetime.now(UTC),
        actor="mallory",
        action="login",
        outcome="ok",
        purpose=None,
        child_id=None,
        details={},
        ip=None,
        prev_hash=last.entry_hash,
    )
    forged.entry_hash = entry_hash(forged)
    session.add(forged)  # a plain INSERT: the trigger allows inserts, the head is not updated
    session.commit()
    assert problems(session) == {("inserted", 9)}


def test_reordering_is_detected_and_located(session: Session) -> None:
    write_entries(session)
    drop_guard(session)
    session.execute(sa.text("UPDATE audit_entries SET seq = 1003 WHERE seq = 3"))
    session.execute(sa.text("UPDATE audit_entries SET seq = 3 WHERE seq = 4"))
    session.execute(sa.text("UPDATE audit_entries SET seq = 4 WHERE seq = 1003"))
    session.commit()
    assert problems(session) == {("reordered", 3), ("reordered", 4)}


def test_full_rewrite_is_caught_by_the_anchor(session: Session) -> None:
    write_entries(session)
    anchor = head(session)
    drop_guard(session)
    session.execute(sa.text("DELETE FROM audit_entries"))
    session.execute(
        sa.text("UPDATE audit_chain_head SET last_seq = 0, last_hash = :h"), {"h": "0" * 64}
    )
    session.commit()
    write_entries(session)  # a self-consistent forged trail of the same length
    report = verify_chain(session)
    assert report.ok  # consistent in itself...
    anchored = verify_chain(session, anchor=anchor)
    assert ("anchor", anchor[0]) in anchored.kinds_at()  # ...but not with what was written down


def test_created_at_and_details_survive_the_round_trip(session: Session) -> None:
    moment = datetime(2026, 12, 4, 15, 30, 1, 123456, tzinfo=UTC) - timedelta(days=1)
    record_event(
        session,
        actor="u",
        action="child.view",
        outcome="allow",
        details={"float": 0.1, "nested": {"b": [1, 2], "a": None}, "text": "阿依古丽·买买提"},
        at=moment,
    )
    session.commit()
    session.expire_all()
    assert verify_chain(session).ok


def test_concurrent_appends_stay_one_chain(engine: sa.Engine) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from childlink.store.engine import create_session_factory, unit_of_work

    factory = create_session_factory(engine)

    def append(worker: int) -> None:
        for i in range(15):
            with unit_of_work(factory) as session:
                record_event(
                    session, actor=f"w{worker}", action="login", outcome="ok", details={"i": i}
                )

    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(append, range(3)))
    with factory() as session:
        report = verify_chain(session)
    assert report.ok, report.problems
    assert report.entries == 45
