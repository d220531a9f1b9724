"""Build families from the linked source records, and read a child's family and siblings.

Run after linkage (master children exist). One call reads every linked child record and the
adults of the household register, links master children into households by the rules of
:mod:`childlink.households.evidence` (vectorised polars), then writes families, memberships
(with the evidence: which rule linked which child) and guardians in one transaction.

Family ids are stable across runs: each household inherits the existing family that holds most
of its children (a family is claimed once; the largest claimant wins), and households that
claim none get a new family. A family left without children is marked dissolved, not deleted,
so anything that referred to it still resolves. Guardian rows are matched on a hash of what
identifies the guardian within the family (valid ID number, else name), so they keep their ids
too.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from childlink.children.choices import ChildStatus, GuardianRelation, MembershipRelation
from childlink.children.models import Family, FamilyMembership, Guardian, MasterChild
from childlink.households import evidence as ev
from childlink.households.schemas import FamilyRead, GuardianRead, MemberRead
from childlink.sources.choices import BatchStatus, RecordStatus
from childlink.sources.models import DataSource, IngestBatch, SourceRecord
from childlink.store.base import utc_now
from childlink.store.engine import unit_of_work

#: Rows per ``IN (...)`` list when deleting (well under SQLite's parameter limit).
_CHUNK: Final = 500
_PARENT_GENERATION: Final = ("父亲", "母亲", "公公", "婆婆", "岳父", "岳母")
#: Attributes that carry household evidence; records with none of them (attendance, screenings)
#: are not read.
_HOUSEHOLD_FIELDS: Final = (
    "household_number",
    "guardian_name",
    "guardian_id_number",
    "guardian_phone",
    "address",
    "family_situation",
)


@dataclass(frozen=True)
class HouseholdResult:
    """What one household rebuild did."""

    children: int
    """Master children placed in a family."""
    families: int
    multi_child_families: int
    sibling_pairs: int
    families_created: int
    families_kept: int
    families_dissolved: int
    memberships_added: int
    memberships_removed: int
    guardians: int
    edges_by_rule: dict[str, int] = field(default_factory=dict)
    """Pairs of children each rule linked (a pair may be linked by several rules)."""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _read_records(session: Session) -> pl.DataFrame:
    """Linked records of active master children, and adults of the household register.

    Only records with a household attribute are read (a text match on the JSON keys, the same
    on SQLite and PostgreSQL): attendance rows and screenings carry none.
    """
    attributes = sa.cast(SourceRecord.attributes, sa.Text)
    stmt = (
        sa.select(
            # Ids and enums as plain text: no per-value UUID/enum objects for large reads.
            sa.type_coerce(SourceRecord.id, sa.String).label("rec_id"),
            DataSource.code.label("source"),
            sa.type_coerce(SourceRecord.master_child_id, sa.String).label("master_child_id"),
            SourceRecord.name,
            sa.type_coerce(SourceRecord.sex, sa.String).label("sex"),
            SourceRecord.birth_date,
            SourceRecord.id_number,
            sa.cast(SourceRecord.attributes, sa.Text).label("attributes"),
        )
        .join(IngestBatch, IngestBatch.id == SourceRecord.batch_id)
        .join(DataSource, DataSource.id == SourceRecord.source_id)
        .outerjoin(MasterChild, MasterChild.id == SourceRecord.master_child_id)
        .where(
            IngestBatch.status == BatchStatus.COMMITTED,
            SourceRecord.status != RecordStatus.QUARANTINED,
            sa.or_(*(attributes.like(f'%"{name}"%') for name in _HOUSEHOLD_FIELDS)),
            sa.or_(
                MasterChild.status == ChildStatus.ACTIVE,
                sa.and_(
                    SourceRecord.master_child_id.is_(None),
                    DataSource.code == ev.HOUSEHOLD_REGISTER,
                ),
            ),
        )
        .order_by(SourceRecord.id)
    )
    rows = session.execute(stmt).all()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in ev.RAW_COLUMNS]
    return pl.DataFrame(
        {
            name: pl.Series(
                name,
                [None if v is None else v if isinstance(v, str) else str(v) for v in values],
                dtype=pl.String,
            )
            for name, values in zip(ev.RAW_COLUMNS, columns, strict=True)
        }
    )


def plan_households(
    records: pl.DataFrame, rules: frozenset[str] = ev.DEFAULT_RULES
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(members, edges)`` of prepared household records (no database).

    ``members``: ``master_child_id``, ``component`` (the household, named by its smallest
    master id) for every master child with any household evidence (register number, guardian
    name, ID or phone). ``edges``: ``left``, ``right``, ``rule`` inside those households.
    """
    edges = ev.evidence_edges(records, rules)
    evidenced = (
        records.filter(
            pl.col("master_child_id").is_not_null()
            & pl.any_horizontal(
                pl.col(c).is_not_null()
                for c in ("household_number", "guardian_py", "guardian_id", "guardian_phone")
            )
        )["master_child_id"]
        .unique()
        .sort()
    )
    nodes = pl.concat([evidenced, edges["left"], edges["right"]]).unique()
    members = ev.connected_components(nodes, edges).rename({"node": "master_child_id"})
    return members, edges


def _mode(column: str) -> pl.Expr:
    return pl.col(column).drop_nulls().mode().sort().first().alias(column)


def _membership_relations(records: pl.DataFrame, members: pl.DataFrame) -> pl.DataFrame:
    """``master_child_id`` → relation: grandchild when the register says 孙子/孙女."""
    grand = (
        records.filter(
            pl.col("master_child_id").is_not_null()
            & pl.col("relation_to_head").is_in(ev.GRANDCHILD_OF_HEAD)
        )["master_child_id"]
        .unique()
        .implode()
    )
    return members.select(
        "master_child_id",
        relation=pl.when(pl.col("master_child_id").is_in(grand))
        .then(pl.lit(MembershipRelation.GRANDCHILD.value))
        .otherwise(pl.lit(MembershipRelation.CHILD.value)),
    )


def _register_adults(records: pl.DataFrame, members: pl.DataFrame) -> pl.DataFrame:
    """Adults registered in a household's 户号, with their relation to its children."""
    children = records.filter(pl.col("master_child_id").is_not_null()).join(
        members, on="master_child_id"
    )
    households = (
        children.filter(pl.col("household_number").is_not_null())
        .group_by("household_number")
        .agg(
            pl.col("component").mode().sort().first(),
            pl.col("relation_to_head").is_in(ev.GRANDCHILD_OF_HEAD).any().alias("grand"),
        )
    )
    adults = records.filter(
        pl.col("master_child_id").is_null() & pl.col("household_number").is_not_null()
    ).join(households, on="household_number")
    rel = pl.col("relation_to_head")
    male = pl.coalesce(
        pl.when(pl.col("sex") == "male").then(True).when(pl.col("sex") == "female").then(False),
        pl.col("id_number").str.slice(16, 1).cast(pl.Int32, strict=False) % 2 == 1,
    )
    parent = pl.when(male).then(pl.lit("father")).otherwise(pl.lit("mother"))
    relation = (
        pl.when(~pl.col("grand") & rel.is_in(["户主", "配偶"]))
        .then(parent)
        .when(~pl.col("grand") & rel.is_in(_PARENT_GENERATION))
        .then(pl.lit("grandparent"))
        .when(pl.col("grand") & rel.is_in(["户主", "配偶"]))
        .then(pl.lit("grandparent"))
        .when(pl.col("grand") & rel.is_in(["儿子", "女婿"]))
        .then(pl.lit("father"))
        .when(pl.col("grand") & rel.is_in(["儿媳", "女儿"]))
        .then(pl.lit("mother"))
        .otherwise(pl.lit("other"))
    )
    valid = ev.valid_ids(adults["id_number"])
    return adults.with_columns(id_number=valid).select(
        "component",
        pl.col("name").alias("g_name"),
        pl.col("name_py").alias("g_py"),
        pl.col("id_number").alias("g_id"),
        pl.lit(None, pl.String).alias("g_phone"),
        relation.alias("g_relation"),
    )


def plan_guardians(records: pl.DataFrame, members: pl.DataFrame) -> pl.DataFrame:
    """One row per distinct guardian of each household (``component``).

    A guardian is identified by a valid ID number, else by name (pinyin) within the household;
    a name seen beside an ID number elsewhere in the household takes that number. Relation
    comes from the household register (与户主关系) when the guardian is registered there, else
    ``other``; father and mother are flagged as migrant workers when a home visit says that
    both parents work away (父母均外出务工).
    """
    named = records.filter(
        pl.col("master_child_id").is_not_null()
        & (pl.col("guardian_py").is_not_null() | pl.col("guardian_id").is_not_null())
    ).join(members, on="master_child_id")
    mentions = pl.concat(
        [
            named.select(
                "component",
                pl.col("guardian_name").alias("g_name"),
                pl.col("guardian_py").alias("g_py"),
                pl.col("guardian_id").alias("g_id"),
                pl.col("guardian_phone").alias("g_phone"),
                pl.lit(None, pl.String).alias("g_relation"),
            ),
            _register_adults(records, members),
        ]
    )
    id_by_name = (
        mentions.filter(pl.col("g_id").is_not_null() & pl.col("g_py").is_not_null())
        .group_by("component", "g_py")
        .agg(pl.col("g_id").mode().sort().first().alias("named_id"))
    )
    keyed = mentions.join(id_by_name, on=["component", "g_py"], how="left").with_columns(
        g_id=pl.coalesce("g_id", "named_id"),
    )
    keyed = keyed.with_columns(
        key=pl.when(pl.col("g_id").is_not_null())
        .then("id:" + pl.col("g_id"))
        .otherwise("name:" + pl.col("g_py"))
    ).filter(pl.col("key").is_not_null())
    away = (
        records.filter(pl.col("both_parents_away"))
        .join(members, on="master_child_id")["component"]
        .unique()
        .implode()
    )
    guardians = (
        keyed.group_by("component", "key")
        .agg(
            _mode("g_name"),
            _mode("g_id"),
            _mode("g_phone"),
            pl.col("g_relation")
            .filter(pl.col("g_relation") != "other")
            .drop_nulls()
            .mode()
            .sort()
            .first()
            .alias("g_relation"),
            pl.len().alias("mentions"),
        )
        .with_columns(
            g_name=pl.coalesce("g_name", pl.lit("(未知)")).str.slice(0, 100),
            g_relation=pl.coalesce("g_relation", pl.lit(GuardianRelation.OTHER.value)),
        )
        .with_columns(
            is_migrant_worker=pl.col("component").is_in(away)
            & pl.col("g_relation").is_in(["father", "mother"])
        )
    )
    return guardians.sort("component", "key")


def _evidence(edges: pl.DataFrame) -> dict[str, dict[str, list[str]]]:
    """master id → rule → the other masters that rule linked it with."""
    both = pl.concat(
        [
            edges.select(pl.col("left").alias("m"), pl.col("right").alias("o"), "rule"),
            edges.select(pl.col("right").alias("m"), pl.col("left").alias("o"), "rule"),
        ]
    )
    grouped = both.group_by("m", "rule").agg(pl.col("o").unique().sort())
    result: dict[str, dict[str, list[str]]] = {}
    for master, rule, others in grouped.sort("m", "rule").iter_rows():
        result.setdefault(master, {})[rule] = others
    return result


def _assign_families(members: pl.DataFrame, existing: pl.DataFrame) -> pl.DataFrame:
    """``component`` → ``family_id`` (existing family holding most of its children, else new)."""
    claims = (
        members.join(existing, on="master_child_id")
        .group_by("component", "family_id")
        .len()
        .sort(["len", "family_id", "component"], descending=[True, False, False])
        .unique("family_id", keep="first", maintain_order=True)
        .unique("component", keep="first", maintain_order=True)
        .select("component", "family_id")
    )
    components = members.select("component").unique().sort("component")
    assigned = components.join(claims, on="component", how="left")
    new = assigned.filter(pl.col("family_id").is_null()).height
    fresh = pl.Series("new_id", [str(uuid.uuid4()) for _ in range(new)], dtype=pl.String)
    unassigned = assigned.filter(pl.col("family_id").is_null()).with_columns(
        family_id=fresh, is_new=pl.lit(True)
    )
    return pl.concat(
        [
            assigned.filter(pl.col("family_id").is_not_null()).with_columns(is_new=pl.lit(False)),
            unassigned,
        ]
    )


def _chunks(values: Sequence[uuid.UUID]) -> Iterable[Sequence[uuid.UUID]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _frame(rows: Iterable[tuple[Any, ...]], names: list[str]) -> pl.DataFrame:
    data = [tuple(None if v is None else str(v) for v in row) for row in rows]
    return pl.DataFrame(data, schema=dict.fromkeys(names, pl.String), orient="row")


def build_households(
    factory: sessionmaker[Session], *, rules: frozenset[str] = ev.DEFAULT_RULES
) -> HouseholdResult:
    """Build or refresh every family from the linked records (one transaction)."""
    started = time.perf_counter()
    with factory() as session:
        raw = _read_records(session)
    records = ev.prepare_household_records(raw)
    members, edges = plan_households(records, rules)
    guardians = plan_guardians(records, members)
    relations = _membership_relations(records, members)
    evidence = _evidence(edges)
    member_records = records.filter(pl.col("master_child_id").is_not_null()).join(
        members, on="master_child_id"
    )
    family_facts = member_records.group_by("component").agg(
        _mode("household_number"), _mode("address")
    )
    now = utc_now()
    with unit_of_work(factory) as session:
        existing = _frame(
            session.execute(
                sa.select(FamilyMembership.master_child_id, FamilyMembership.family_id)
                .join(Family, Family.id == FamilyMembership.family_id)
                .where(Family.dissolved_at.is_(None))
            ),
            ["master_child_id", "family_id"],
        )
        regions = _frame(
            session.execute(
                sa.select(MasterChild.id, MasterChild.region_code).where(
                    MasterChild.region_code.is_not(None)
                )
            ),
            ["master_child_id", "region_code"],
        )
        families = _assign_families(members, existing)
        region_of = (
            members.join(regions, on="master_child_id")
            .group_by("component")
            .agg(_mode("region_code"))
        )
        families = (
            families.join(family_facts, on="component", how="left")
            .join(region_of, on="component", how="left")
            .sort("component")
        )
        active = {
            str(i)
            for i in session.scalars(sa.select(Family.id).where(Family.dissolved_at.is_(None)))
        }
        kept_ids = set(families.filter(~pl.col("is_new"))["family_id"].to_list())
        dissolved = sorted(uuid.UUID(i) for i in active - kept_ids)

        def family_row(row: dict[str, Any]) -> dict[str, Any]:
            return {
                "id": uuid.UUID(row["family_id"]),
                "region_code": row["region_code"],
                "address": row["address"][:255] if row["address"] else None,
                "household_key": row["household_number"],
                "dissolved_at": None,
                "updated_at": now,
            }

        created = [
            family_row(r) | {"created_at": now}
            for r in families.filter(pl.col("is_new")).iter_rows(named=True)
        ]
        if created:
            session.execute(sa.insert(Family), created)
        kept = [family_row(r) for r in families.filter(~pl.col("is_new")).iter_rows(named=True)]
        if kept:
            session.execute(sa.update(Family), kept)
        if dissolved:
            session.execute(
                sa.update(Family),
                [{"id": i, "dissolved_at": now, "updated_at": now} for i in dissolved],
            )
            for chunk in _chunks(dissolved):
                session.execute(sa.delete(Guardian).where(Guardian.family_id.in_(chunk)))

        # Memberships: the wanted (family, child) rows against the stored ones.
        wanted = (
            members.join(families.select("component", "family_id"), on="component")
            .join(relations, on="master_child_id")
            .select("family_id", "master_child_id", "relation")
        )
        stored = _frame(
            session.execute(
                sa.select(
                    FamilyMembership.id,
                    FamilyMembership.family_id,
                    FamilyMembership.master_child_id,
                )
            ),
            ["id", "family_id", "master_child_id"],
        )
        keys = ["family_id", "master_child_id"]
        gone = stored.join(wanted, on=keys, how="anti")["id"].to_list()
        for chunk in _chunks([uuid.UUID(i) for i in gone]):
            session.execute(sa.delete(FamilyMembership).where(FamilyMembership.id.in_(chunk)))
        matched = wanted.join(stored, on=keys, how="left")
        inserts = [
            {
                "id": uuid.uuid4(),
                "family_id": uuid.UUID(r["family_id"]),
                "master_child_id": uuid.UUID(r["master_child_id"]),
                "relation": MembershipRelation(r["relation"]),
                "evidence": evidence.get(r["master_child_id"], {}),
                "created_at": now,
                "updated_at": now,
            }
            for r in matched.filter(pl.col("id").is_null()).iter_rows(named=True)
        ]
        if inserts:
            session.execute(sa.insert(FamilyMembership), inserts)
        updates = [
            {
                "id": uuid.UUID(r["id"]),
                "relation": MembershipRelation(r["relation"]),
                "evidence": evidence.get(r["master_child_id"], {}),
                "updated_at": now,
            }
            for r in matched.filter(pl.col("id").is_not_null()).iter_rows(named=True)
        ]
        if updates:
            session.execute(sa.update(FamilyMembership), updates)

        guardian_count = _write_guardians(session, guardians, families, now)

    sizes = members.group_by("component").len()
    return HouseholdResult(
        children=members.height,
        families=families.height,
        multi_child_families=sizes.filter(pl.col("len") > 1).height,
        sibling_pairs=int(sizes.select((pl.col("len") * (pl.col("len") - 1) // 2).sum()).item()),
        families_created=len(created),
        families_kept=len(kept),
        families_dissolved=len(dissolved),
        memberships_added=len(inserts),
        memberships_removed=len(gone),
        guardians=guardian_count,
        edges_by_rule=dict(edges.group_by("rule").len().sort("rule").iter_rows()),
        seconds=round(time.perf_counter() - started, 2),
    )


def _write_guardians(
    session: Session, guardians: pl.DataFrame, families: pl.DataFrame, now: Any
) -> int:
    """Insert, update and delete guardian rows to match ``guardians``; returns the count."""
    wanted = guardians.join(families.select("component", "family_id"), on="component").with_columns(
        guardian_key=pl.col("key").map_elements(ev.guardian_key, return_dtype=pl.String)
    )
    stored = _frame(
        session.execute(
            sa.select(Guardian.id, Guardian.family_id, Guardian.guardian_key)
            .join(Family, Family.id == Guardian.family_id)
            .where(Family.dissolved_at.is_(None))
        ),
        ["id", "family_id", "guardian_key"],
    )
    keys = ["family_id", "guardian_key"]
    gone = stored.join(wanted, on=keys, how="anti")["id"].to_list()
    for chunk in _chunks([uuid.UUID(i) for i in gone]):
        session.execute(sa.delete(Guardian).where(Guardian.id.in_(chunk)))
    matched = wanted.join(stored.unique(keys, keep="first"), on=keys, how="left")

    def values(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": row["g_name"],
            "id_number": row["g_id"],
            "relation": GuardianRelation(row["g_relation"]),
            "phone": row["g_phone"],
            "is_migrant_worker": bool(row["is_migrant_worker"]),
            "updated_at": now,
        }

    inserts = [
        values(r)
        | {
            "id": uuid.uuid4(),
            "family_id": uuid.UUID(r["family_id"]),
            "guardian_key": r["guardian_key"],
            "created_at": now,
        }
        for r in matched.filter(pl.col("id").is_null()).iter_rows(named=True)
    ]
    if inserts:
        session.execute(sa.insert(Guardian), inserts)
    updates = [
        values(r) | {"id": uuid.UUID(r["id"])}
        for r in matched.filter(pl.col("id").is_not_null()).iter_rows(named=True)
    ]
    if updates:
        session.execute(sa.update(Guardian), updates)
    return wanted.height


def _family_id(session: Session, master_child_id: uuid.UUID) -> uuid.UUID | None:
    return session.scalars(
        sa.select(FamilyMembership.family_id)
        .join(Family, Family.id == FamilyMembership.family_id)
        .where(FamilyMembership.master_child_id == master_child_id, Family.dissolved_at.is_(None))
        .order_by(Family.created_at, Family.id)
        .limit(1)
    ).first()


def _members(session: Session, family_id: uuid.UUID) -> list[MemberRead]:
    rows = session.execute(
        sa.select(FamilyMembership, MasterChild)
        .join(MasterChild, MasterChild.id == FamilyMembership.master_child_id)
        .where(FamilyMembership.family_id == family_id)
        .order_by(MasterChild.birth_date, MasterChild.id)
    ).all()
    return [
        MemberRead(
            master_child_id=child.id,
            display_name=child.display_name,
            sex=child.sex,
            birth_date=child.birth_date,
            relation=membership.relation,
            evidence=membership.evidence or {},
        )
        for membership, child in rows
    ]


def family_of(session: Session, master_child_id: uuid.UUID | str) -> FamilyRead | None:
    """The child's current family with its children and guardians, or None."""
    child_id = uuid.UUID(str(master_child_id))
    family_id = _family_id(session, child_id)
    if family_id is None:
        return None
    family = session.get_one(Family, family_id)
    guardians = session.scalars(
        sa.select(Guardian).where(Guardian.family_id == family_id).order_by(Guardian.name)
    ).all()
    return FamilyRead(
        id=family.id,
        household_key=family.household_key,
        region_code=family.region_code,
        address=family.address,
        members=_members(session, family_id),
        guardians=[
            GuardianRead(
                id=g.id,
                name=g.name,
                id_number=g.id_number,
                relation=g.relation,
                phone=g.phone,
                is_migrant_worker=g.is_migrant_worker,
            )
            for g in guardians
        ],
    )


def siblings(session: Session, master_child_id: uuid.UUID | str) -> list[MemberRead]:
    """The other children of the child's current family (twins included), eldest first."""
    child_id = uuid.UUID(str(master_child_id))
    family_id = _family_id(session, child_id)
    if family_id is None:
        return []
    return [m for m in _members(session, family_id) if m.master_child_id != child_id]
