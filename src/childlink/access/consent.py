"""Legal bases for processing a child's data (consent, statutory duty, vital interest).

Which purposes need which bases, stated once (PIPL arts. 13, 28, 31, 33-37):

======================  ==========================================  ==========================
purpose                 state organs and bodies authorised by law    others (social-work orgs)
======================  ==========================================  ==========================
case_work               statutory duty, guardian consent,            guardian consent,
                        vital interest                               vital interest
risk_screening          statutory duty, guardian consent             guardian consent
data_quality            statutory duty (the department's own data)   none
statistics, audit       no identifiable child data at all            no identifiable child data
======================  ==========================================  ==========================

A basis recorded without a child covers every child of its source (a statute applies to the
whole register); a basis for source ``*`` covers every source. Data of a source without a
basis in force is hidden for the purposes that need one (deny by default).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from childlink.access.choices import AgencyKind, LegalBasisKind, Purpose
from childlink.access.models import ALL_SOURCES, LegalBasis
from childlink.errors import ChildLinkError
from childlink.store.base import utc_now

STATE_ORGAN_KINDS: frozenset[AgencyKind] = frozenset(
    {
        AgencyKind.CIVIL_AFFAIRS,
        AgencyKind.TOWNSHIP,
        # Village committees and the women's federation are not state organs, but the law
        # charges them with child-welfare duties (Minors Protection Law arts. 43, 91), which
        # PIPL art. 37 treats alike.
        AgencyKind.VILLAGE,
        AgencyKind.EDUCATION,
        AgencyKind.SCHOOL,
        AgencyKind.HEALTH,
        AgencyKind.PUBLIC_SECURITY,
        AgencyKind.WOMENS_FEDERATION,
        AgencyKind.PROCURATORATE,
        AgencyKind.STATISTICS,
        AgencyKind.AUDIT,
    }
)
"""Agency kinds that process children's data under a statutory duty."""

_ALL = frozenset(LegalBasisKind)
BASES_NEEDED: dict[Purpose, tuple[frozenset[LegalBasisKind], frozenset[LegalBasisKind]]] = {
    Purpose.CASE_WORK: (
        _ALL,
        frozenset({LegalBasisKind.GUARDIAN_CONSENT, LegalBasisKind.VITAL_INTEREST}),
    ),
    Purpose.RISK_SCREENING: (
        frozenset({LegalBasisKind.STATUTORY_DUTY, LegalBasisKind.GUARDIAN_CONSENT}),
        frozenset({LegalBasisKind.GUARDIAN_CONSENT}),
    ),
    Purpose.DATA_QUALITY: (frozenset({LegalBasisKind.STATUTORY_DUTY}), frozenset()),
}
"""Purpose -> (bases that suffice for state organs, bases that suffice for everyone else).
Purposes missing here (statistics, audit) never show identifiable data."""


class LegalBasisError(ChildLinkError):
    """A legal basis cannot be recorded as given."""


def bases_needed(purpose: Purpose, agency_kind: AgencyKind | None) -> frozenset[LegalBasisKind]:
    """The bases of which one must be in force for ``purpose`` at this kind of agency."""
    state, other = BASES_NEEDED.get(purpose, (frozenset(), frozenset()))
    return state if agency_kind in STATE_ORGAN_KINDS else other


def bases_in_force(
    session: Session, master_child_id: uuid.UUID, source_code: str, on: date | None = None
) -> list[LegalBasis]:
    """Bases in force on ``on`` (default today) for this child and source."""
    day = on or utc_now().date()
    query = sa.select(LegalBasis).where(
        sa.or_(LegalBasis.master_child_id == master_child_id, LegalBasis.master_child_id.is_(None)),
        LegalBasis.source_code.in_([source_code, ALL_SOURCES]),
        LegalBasis.valid_from <= day,
        sa.or_(LegalBasis.expires_at.is_(None), LegalBasis.expires_at > day),
        LegalBasis.withdrawn_at.is_(None),
    )
    return list(session.scalars(query))


def basis_covers(
    session: Session,
    master_child_id: uuid.UUID,
    source_code: str,
    purpose: Purpose,
    agency_kind: AgencyKind | None,
    on: date | None = None,
) -> LegalBasis | None:
    """A basis in force that allows ``purpose`` for this agency kind, or None."""
    needed = bases_needed(purpose, agency_kind)
    if not needed:
        return None
    for basis in bases_in_force(session, master_child_id, source_code, on):
        if basis.basis in needed:
            return basis
    return None


def add_legal_basis(
    session: Session,
    *,
    master_child_id: uuid.UUID | None,
    source_code: str,
    basis: LegalBasisKind,
    evidence: str,
    recorded_by: str,
    valid_from: date | None = None,
    expires_at: date | None = None,
) -> LegalBasis:
    """Record a legal basis (flushes; the caller commits and audits).

    Raises:
        LegalBasisError: no evidence, an expiry before the start, or a guardian consent or
            vital interest without a child (those are always about one child).
    """
    if len(evidence.strip()) < 5:
        raise LegalBasisError("evidence is required (the statute, form number or emergency)")
    start = valid_from or utc_now().date()
    if expires_at is not None and expires_at <= start:
        raise LegalBasisError(f"expiry {expires_at} is not after the start {start}")
    if basis is not LegalBasisKind.STATUTORY_DUTY and master_child_id is None:
        raise LegalBasisError(f"{basis.value} concerns one child: give the child")
    if basis is LegalBasisKind.VITAL_INTEREST and expires_at is None:
        expires_at = start + timedelta(days=30)  # an emergency is not a standing basis
    row = LegalBasis(
        master_child_id=master_child_id,
        source_code=source_code,
        basis=basis,
        evidence=evidence.strip(),
        valid_from=start,
        expires_at=expires_at,
        recorded_by=recorded_by,
    )
    session.add(row)
    session.flush()
    return row


def withdraw_legal_basis(session: Session, basis_id: uuid.UUID, at: datetime | None = None) -> None:
    """Mark a basis withdrawn (a guardian revokes consent); kept for the record."""
    row = session.get(LegalBasis, basis_id)
    if row is None:
        raise LegalBasisError(f"no legal basis {basis_id}")
    row.withdrawn_at = at or utc_now()
    session.flush()


def list_legal_bases(
    session: Session,
    *,
    master_child_id: uuid.UUID | None = None,
    source_code: str | None = None,
    limit: int = 200,
) -> list[LegalBasis]:
    """Bases, newest first, optionally for one child (with the source-wide ones) or source."""
    query = sa.select(LegalBasis).order_by(LegalBasis.created_at.desc()).limit(limit)
    if master_child_id is not None:
        query = query.where(
            sa.or_(
                LegalBasis.master_child_id == master_child_id,
                LegalBasis.master_child_id.is_(None),
            )
        )
    if source_code is not None:
        query = query.where(LegalBasis.source_code.in_([source_code, ALL_SOURCES]))
    return list(session.scalars(query))


STATUTES: dict[str, str] = {
    "education": "《义务教育法》第十四条、《未成年人保护法》第三十九条：学籍与控辍保学",
    "civil_affairs": "《未成年人保护法》第九十二条、《社会救助暂行办法》：困境儿童保障",
    "public_security": "《户口登记条例》、《未成年人保护法》第十一条：强制报告与处置",
    "health": "《基本医疗卫生与健康促进法》、《未成年人保护法》第十一条：强制报告",
    "womens_federation": "《未成年人保护法》第十一条、《反家庭暴力法》：家庭走访与报告",
    "procuratorate": "《未成年人保护法》第一百零五条：检察监督",
}


@dataclass(frozen=True)
class LegalBasisSeed:
    """What :func:`seed_demo_legal_bases` added."""

    statutory: int
    consents: int
    consents_expired: int
    expired_child_ids: tuple[uuid.UUID, ...]


def seed_demo_legal_bases(
    session: Session,
    *,
    source_codes: Iterable[str] | None = None,
    consent_children: int = 200,
    expired_share: float = 0.25,
    seed: int = 42,
    recorded_by: str = "demo",
    today: date | None = None,
) -> LegalBasisSeed:
    """The demo county's legal bases: statutory duty for every source (records come from state
    bodies), and guardian consent for some children, a share of it expired.

    Idempotent for the statutory part (a source that already has a source-wide basis keeps
    it). Flushes; the caller commits.
    """
    from childlink.children.models import MasterChild
    from childlink.sources.models import DataSource

    day = today or utc_now().date()
    codes = set(source_codes or [])
    if source_codes is None:
        codes = set(session.scalars(sa.select(DataSource.code)))
        from childlink.ingest.mapping import available_mappings

        codes |= set(available_mappings())
    existing = set(
        session.scalars(
            sa.select(LegalBasis.source_code).where(
                LegalBasis.master_child_id.is_(None),
                LegalBasis.basis == LegalBasisKind.STATUTORY_DUTY,
            )
        )
    )
    statutory = 0
    for code in sorted(codes - existing):
        department = code.split(".", 1)[0]
        evidence = STATUTES.get(department, "《未成年人保护法》：国家机关法定职责")
        add_legal_basis(
            session,
            master_child_id=None,
            source_code=code,
            basis=LegalBasisKind.STATUTORY_DUTY,
            evidence=evidence,
            recorded_by=recorded_by,
            valid_from=date(2020, 1, 1),
        )
        statutory += 1
    children = list(
        session.scalars(sa.select(MasterChild.id).order_by(MasterChild.id).limit(consent_children))
    )
    rng = random.Random(seed)
    expired: list[uuid.UUID] = []
    for child_id in children:
        lapsed = rng.random() < expired_share
        start = day - timedelta(days=rng.randint(400, 900) if lapsed else rng.randint(10, 300))
        end = start + timedelta(days=365)
        if lapsed:
            expired.append(child_id)
        add_legal_basis(
            session,
            master_child_id=child_id,
            source_code=ALL_SOURCES,
            basis=LegalBasisKind.GUARDIAN_CONSENT,
            evidence=f"监护人知情同意书 No. {rng.randint(100000, 999999)}（社工机构个案服务）",
            recorded_by=recorded_by,
            valid_from=start,
            expires_at=end,
        )
    return LegalBasisSeed(statutory, len(children), len(expired), tuple(expired))
