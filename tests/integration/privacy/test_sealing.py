"""Sealing sensitive attributes at rest, rotating keys without downtime, child keys."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from childlink.children.models import MasterChild
from childlink.core.id_number import compose
from childlink.privacy.keys import CipherError, FieldCipher, KeyStore, child_key
from childlink.privacy.models import SealedAttributes
from childlink.privacy.sealing import (
    assign_child_keys,
    key_usage,
    open_sealed,
    record_attributes,
    record_raw_row,
    rotate_keys,
    seal_records,
)
from childlink.sources.choices import BatchStatus, RecordStatus
from childlink.sources.models import DataSource, IngestBatch, SourceRecord
from childlink.sources.service import seed_reference_data
from childlink.store.base import utc_now
from childlink.store.engine import create_session_factory, unit_of_work


def add_records(
    session: Session, source_code: str, attributes: list[dict[str, object]], **person: object
) -> list[uuid.UUID]:
    source = session.scalar(sa.select(DataSource).where(DataSource.code == source_code))
    assert source is not None
    batch = IngestBatch(
        source_id=source.id,
        file_name="f.json",
        file_sha256="0" * 64,
        mapping_version="1",
        status=BatchStatus.COMMITTED,
        started_at=utc_now(),
    )
    session.add(batch)
    session.flush()
    ids = []
    for row, values in enumerate(attributes, start=1):
        record = SourceRecord(
            batch_id=batch.id,
            source_id=source.id,
            row_number=row,
            raw_row={k: str(v) for k, v in values.items()},  # health.visits headers = fields
            record_hash=uuid.uuid4().hex,
            status=RecordStatus.ACCEPTED,
            attributes=values,
            **person,
        )
        session.add(record)
        session.flush()
        ids.append(record.id)
    return ids


def test_seal_rotate_and_read_back(engine: sa.Engine, tmp_path: Path) -> None:
    factory: sessionmaker[Session] = create_session_factory(engine)
    store = KeyStore(tmp_path / "secrets", env={})
    with unit_of_work(factory) as session:
        seed_reference_data(session)
        health = add_records(
            session,
            "health.visits",
            [
                {"diagnosis": "头部外伤", "icd10": "S09.9", "facility": "县医院"},
                {"facility": "乡卫生院"},
            ]
            * 6,
        )
        school = add_records(session, "education.student_registry", [{"school_name": "一小"}])
    cipher = FieldCipher(store)
    result = seal_records(factory, cipher, batch_size=5)
    # every record of a source with sensitive fields gets a sealed row (empty if it had none)
    assert result.records_sealed == 13
    assert result.values_sealed == 12
    assert result.batches == 4
    assert seal_records(factory, cipher).records_sealed == 0  # idempotent

    with factory() as session:
        first = session.get(SourceRecord, health[0])
        assert first is not None
        assert first.attributes == {"facility": "县医院"}  # plaintext gone from the table
        assert first.raw_row == {"facility": "县医院", "diagnosis": "[sealed]", "icd10": "[sealed]"}
        assert record_raw_row(session, first, cipher)["icd10"] == "S09.9"
        stored = session.get(SealedAttributes, health[0])
        assert stored is not None
        assert "S09" not in stored.ciphertext
        assert stored.fields == ["diagnosis", "icd10"]
        assert record_attributes(session, first, cipher) == {
            "diagnosis": "头部外伤",
            "icd10": "S09.9",
            "facility": "县医院",
        }
        empty = session.get(SealedAttributes, school[0])
        assert empty is not None
        assert empty.fields == []
        old_key = cipher.active_key_id
        assert key_usage(session) == {old_key: 13}

    rotation = rotate_keys(factory, store, batch_size=5)
    assert rotation.reencrypted == 13
    assert rotation.batches == 3
    with factory() as session:
        assert key_usage(session) == {rotation.new_key_id: 13}
        # the process that loaded keys before rotating still reads everything
        opened = open_sealed(session, health, cipher)
        assert opened[health[0]]["icd10"] == "S09.9"
        assert opened[health[1]] == {}
        # a ciphertext moved to another record does not decrypt
        a = session.get(SealedAttributes, health[0])
        b = session.get(SealedAttributes, health[1])
        assert a is not None
        assert b is not None
        b.ciphertext = a.ciphertext
        with pytest.raises(CipherError):
            open_sealed(session, [health[1]], FieldCipher(store))
        session.rollback()
    store.retire_field_key(old_key)
    with factory() as session:
        assert (
            open_sealed(session, health, FieldCipher(store))[health[0]]["diagnosis"] == "头部外伤"
        )


def test_child_keys_for_masters(engine: sa.Engine, tmp_path: Path) -> None:
    factory = create_session_factory(engine)
    store = KeyStore(tmp_path / "secrets", env={})
    alice_id = compose("522799", dt.date(2015, 3, 2), 124)
    twin_id = compose("522799", dt.date(2015, 3, 2), 126)
    with unit_of_work(factory) as session:
        seed_reference_data(session)
        alice = MasterChild(display_name="甲")
        duplicate_a = MasterChild(display_name="乙")
        duplicate_b = MasterChild(display_name="乙")
        nobody = MasterChild(display_name="丙")
        session.add_all([alice, duplicate_a, duplicate_b, nobody])
        session.flush()
        for master, number in [
            (alice, alice_id),
            (alice, alice_id),
            (alice, "522799201503021231"),  # a mistyped one, outvoted and invalid anyway
            (duplicate_a, twin_id),
            (duplicate_b, twin_id),
        ]:
            add_records(
                session,
                "public_security.household_register",
                [{}],
                id_number=number,
                master_child_id=master.id,
            )
        assigned = assign_child_keys(session, store)
        assert assigned == 1
    with factory() as session:
        keys = dict(
            session.execute(sa.select(MasterChild.display_name, MasterChild.child_key)).all()
        )
        assert keys["甲"] == child_key(alice_id, store)
        assert keys["乙"] is None  # two masters share an ID: left for linkage review
        assert keys["丙"] is None
        assert assign_child_keys(session, store) == 0
