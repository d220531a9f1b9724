"""Sealing sensitive record attributes, key rotation, and child keys for master children.

Ingest and linkage are left exactly as they are: they write plaintext attributes, and the
*seal* step (``childlink keys seal``) runs afterwards, in batches of its own transactions. For
each source record of a source with sensitive attribute fields (the canonical schema's
``sensitive`` flag plus the mapping's own ``sensitive`` list: diagnoses, ICD-10 codes,
screening scores, report reasons, family situations, ...), those values are encrypted into one
:class:`~childlink.privacy.models.SealedAttributes` row and removed from
``source_records.attributes``. Readers get them back through :func:`open_sealed`.

The cells of ``raw_row`` (the verbatim delivery) that those fields were read from are sealed
with them and replaced by :data:`SEALED_MARK`; :func:`record_raw_row` restores them.

Not sealed: the person columns linkage compares (``id_number``, ``name``, ``birth_date``, ...)
and their raw cells. See docs/access.md.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from childlink.children.models import MasterChild
from childlink.errors import InvalidIdNumberError
from childlink.ingest.mapping import SourceMapping, available_mappings
from childlink.ingest.schema import CANONICAL_FIELDS, PERSON_COLUMNS
from childlink.privacy.keys import FieldCipher, KeyStore, child_key, key_id_of
from childlink.privacy.models import SealedAttributes
from childlink.sources.models import DataSource, IngestBatch, SourceRecord
from childlink.store.engine import unit_of_work

BATCH_SIZE = 500
SEALED_MARK = "[sealed]"
"""What a sealed cell of ``raw_row`` reads while sealed."""


def sealed_context(record_id: uuid.UUID) -> str:
    """The associated data binding a sealed ciphertext to its record."""
    return f"sealed_attributes:{record_id}"


def sensitive_attribute_fields(mapping: SourceMapping | None, source_code: str) -> frozenset[str]:
    """Attribute fields of a source that are sealed (sensitive and not a person column)."""
    if mapping is None:
        names: Iterable[str] = (n for n, f in CANONICAL_FIELDS.items() if f.sensitive)
    else:
        names = (n for n in mapping.fields if mapping.is_sensitive(n))
    return frozenset(n for n in names if n not in PERSON_COLUMNS)


@dataclass(frozen=True)
class SealResult:
    """What one seal run did."""

    records_sealed: int
    values_sealed: int
    batches: int


def seal_records(
    factory: sessionmaker[Session],
    cipher: FieldCipher,
    *,
    batch_size: int = BATCH_SIZE,
    mappings: dict[str, SourceMapping] | None = None,
    batch_ids: Sequence[uuid.UUID] | None = None,
) -> SealResult:
    """Encrypt the sensitive attributes of every record not sealed yet (idempotent).

    ``batch_ids`` limits the pass to the records of those ingest batches (continuous
    processing seals each new batch as it is linked, without scanning the whole store).

    Each batch commits on its own, so the web app keeps serving (a record is either still
    plaintext or sealed, never half), and an interrupted run resumes where it stopped.
    """
    known = mappings if mappings is not None else available_mappings()
    with factory() as session:
        sources = {
            code: sid for sid, code in session.execute(sa.select(DataSource.id, DataSource.code))
        }
    plan = {
        sid: (fields, _raw_headers(known.get(code), fields))
        for code, sid in sources.items()
        if (fields := sensitive_attribute_fields(known.get(code), code))
    }
    records = values = batches = 0
    for source_id, (fields, headers) in sorted(plan.items(), key=lambda item: str(item[0])):
        while True:
            with unit_of_work(factory) as session:
                rows = session.execute(
                    sa.select(SourceRecord.id, SourceRecord.attributes, SourceRecord.raw_row)
                    .where(
                        _of_source(source_id, batch_ids),
                        ~sa.exists().where(SealedAttributes.record_id == SourceRecord.id),
                    )
                    .order_by(SourceRecord.id)
                    .limit(batch_size)
                ).all()
                if not rows:
                    break
                sealed_rows = []
                updates = []
                for record_id, attributes, raw_row in rows:
                    attributes = dict(attributes or {})
                    raw = dict(raw_row or {})
                    secret = {k: attributes.pop(k) for k in sorted(fields) if k in attributes}
                    raw_secret = {h: raw[h] for h in headers if raw.get(h) not in (None, "")}
                    raw.update(dict.fromkeys(raw_secret, SEALED_MARK))
                    payload = {"attributes": secret, "raw": raw_secret}
                    sealed_rows.append(
                        {
                            "record_id": record_id,
                            "key_id": cipher.active_key_id,
                            "ciphertext": cipher.encrypt(
                                json.dumps(payload, ensure_ascii=False, sort_keys=True),
                                context=sealed_context(record_id),
                            ),
                            "fields": sorted(secret),
                        }
                    )
                    if secret or raw_secret:
                        updates.append({"id": record_id, "attributes": attributes, "raw_row": raw})
                        values += len(secret)
                session.execute(sa.insert(SealedAttributes), sealed_rows)
                if updates:
                    session.execute(sa.update(SourceRecord), updates)
                records += len(rows)
                batches += 1
    return SealResult(records, values, batches)


def _of_source(
    source_id: uuid.UUID, batch_ids: Sequence[uuid.UUID] | None
) -> sa.ColumnElement[bool]:
    """Records of one source, or of those of ``batch_ids`` that belong to it (a batch holds
    one source's rows; filtering on the batch lets the database use the batch index)."""
    if batch_ids is None:
        return SourceRecord.source_id == source_id
    return SourceRecord.batch_id.in_(
        sa.select(IngestBatch.id).where(
            IngestBatch.id.in_(batch_ids), IngestBatch.source_id == source_id
        )
    )


def _raw_headers(mapping: SourceMapping | None, fields: frozenset[str]) -> tuple[str, ...]:
    if mapping is None:
        return ()
    return tuple(
        h for name in sorted(fields) if name in mapping.fields for h in mapping.fields[name].headers
    )


def open_sealed(
    session: Session, record_ids: Iterable[uuid.UUID], cipher: FieldCipher
) -> dict[uuid.UUID, dict[str, Any]]:
    """The decrypted sensitive attributes of records (only those that were sealed)."""
    return {key: value["attributes"] for key, value in _open(session, record_ids, cipher).items()}


def _open(
    session: Session, record_ids: Iterable[uuid.UUID], cipher: FieldCipher
) -> dict[uuid.UUID, dict[str, Any]]:
    ids = list(record_ids)
    result: dict[uuid.UUID, dict[str, Any]] = {}
    for start in range(0, len(ids), BATCH_SIZE):
        chunk = ids[start : start + BATCH_SIZE]
        for row in session.scalars(
            sa.select(SealedAttributes).where(SealedAttributes.record_id.in_(chunk))
        ):
            plain = cipher.decrypt(row.ciphertext, context=sealed_context(row.record_id))
            result[row.record_id] = json.loads(plain)
    return result


def record_attributes(
    session: Session, record: SourceRecord, cipher: FieldCipher
) -> dict[str, Any]:
    """A record's attributes with its sealed ones put back (for display after policy checks)."""
    merged = dict(record.attributes or {})
    merged.update(open_sealed(session, [record.id], cipher).get(record.id, {}))
    return merged


def record_raw_row(session: Session, record: SourceRecord, cipher: FieldCipher) -> dict[str, Any]:
    """A record's verbatim row with its sealed cells put back (for provenance views)."""
    merged = dict(record.raw_row or {})
    merged.update(_open(session, [record.id], cipher).get(record.id, {}).get("raw", {}))
    return merged


def key_usage(session: Session) -> dict[str, int]:
    """Sealed rows per key id."""
    return {
        str(key): int(count)
        for key, count in session.execute(
            sa.select(SealedAttributes.key_id, sa.func.count()).group_by(SealedAttributes.key_id)
        )
    }


@dataclass(frozen=True)
class RotationResult:
    """What a rotation did."""

    new_key_id: str
    reencrypted: int
    batches: int


def reencrypt(
    factory: sessionmaker[Session], cipher: FieldCipher, *, batch_size: int = BATCH_SIZE
) -> tuple[int, int]:
    """Re-encrypt every sealed row not under the active key, one committed batch at a time.

    Readers keep working throughout: every row is readable with the old or the new key, both
    of which stay in the key file until :meth:`KeyStore.retire_field_key`.
    """
    count = batches = 0
    while True:
        with unit_of_work(factory) as session:
            rows = list(
                session.scalars(
                    sa.select(SealedAttributes)
                    .where(SealedAttributes.key_id != cipher.active_key_id)
                    .order_by(SealedAttributes.record_id)
                    .limit(batch_size)
                    .with_for_update(skip_locked=True)
                )
            )
            if not rows:
                return count, batches
            for row in rows:
                context = sealed_context(row.record_id)
                plain = cipher.decrypt(row.ciphertext, context=context)
                row.ciphertext = cipher.encrypt(plain, context=context)
                row.key_id = key_id_of(row.ciphertext)
            count += len(rows)
            batches += 1


def rotate_keys(
    factory: sessionmaker[Session], store: KeyStore, *, batch_size: int = BATCH_SIZE
) -> RotationResult:
    """New active key, then re-encrypt everything under it (old keys remain until retired)."""
    new_id = store.add_field_key()
    cipher = FieldCipher(store)
    count, batches = reencrypt(factory, cipher, batch_size=batch_size)
    return RotationResult(new_id, count, batches)


def assign_child_keys(session: Session, keys: KeyStore | None = None) -> int:
    """Fill ``master_children.child_key`` from the ID numbers of each master's records.

    A master gets the key of its most frequent valid ID number. Masters whose ID number
    another master already holds (an unresolved duplicate for linkage review) are left
    empty. Flushes; the caller commits.

    Returns:
        The number of masters that received a key.
    """
    store = keys or KeyStore.from_settings()
    rows = session.execute(
        sa.select(SourceRecord.master_child_id, SourceRecord.id_number, sa.func.count())
        .join(MasterChild, MasterChild.id == SourceRecord.master_child_id)
        .where(MasterChild.child_key.is_(None), SourceRecord.id_number.is_not(None))
        .group_by(SourceRecord.master_child_id, SourceRecord.id_number)
    ).all()
    votes: dict[uuid.UUID, Counter[str]] = defaultdict(Counter)
    for master_id, id_number, count in rows:
        if master_id is None or id_number is None:
            continue
        votes[master_id][id_number] += int(count)
    taken = set(
        session.scalars(sa.select(MasterChild.child_key).where(MasterChild.child_key.is_not(None)))
    )
    proposed: dict[str, list[uuid.UUID]] = defaultdict(list)
    for master_id, counter in votes.items():
        for id_number, _count in counter.most_common():
            try:
                key = child_key(id_number, store)
            except InvalidIdNumberError:
                continue
            proposed[key].append(master_id)
            break
    updates = [
        {"id": masters[0], "child_key": key}
        for key, masters in proposed.items()
        if len(masters) == 1 and key not in taken
    ]
    if updates:
        session.execute(sa.update(MasterChild), updates)
        session.flush()
    return len(updates)
