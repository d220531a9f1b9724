"""Mandatory report intake (强制报告, Minors Protection Law art. 11): file, find the child, alert.

A report filed on the web form or the API goes through four steps, in this order:

1. **Validate** the form with the same standardisers the ingest uses (a name the ingest would
   quarantine is refused here with a sentence the reporter can act on). A bad ID-number check
   character is *not* refused: the report is accepted, the number is dropped from the linkage
   keys and the record carries the ``id_number:id_bad_check`` flag (a report is never lost
   because of a typo).
2. **Write the child's details as a source record** of ``procuratorate.mandatory_reports``: a
   JSON-lines file under ``<data_dir>/incoming/reports/`` ingested with that source's mapping,
   exactly as :mod:`childlink.api.routers.ingest` does for a department's push. The record
   gets standardisation, fixes, flags, provenance and (if need be) quarantine like any
   delivery.
3. **Find the child**: first an exact match of the standardised ID number to a record of an
   active master child (fast, no model); otherwise an incremental linkage run
   (:func:`childlink.linkage.service.link_county` with ``incremental=True``), which links the
   record to an existing child or creates a new one. A child created for the report is
   *provisional* (the receipt says so): a worker confirms it later through the review queue.
4. **Store the report and raise a critical alert at once**
   (:func:`childlink.alerts.service.raise_report_alert`), audit, commit. The receipt number
   (``QZBG-YYYYMMDD-XXXXXXXX``, random suffix) is shown to the reporter.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import uuid
from dataclasses import dataclass
from typing import Annotated

import polars as pl
import sqlalchemy as sa
from pydantic import BaseModel, BeforeValidator, Field
from sqlalchemy.orm import Session, sessionmaker

from childlink.access.principal import Principal
from childlink.access.service import Action
from childlink.alerts.choices import HarmKind, ReporterKind
from childlink.alerts.models import MandatoryReport
from childlink.children.choices import ChildStatus, Sex
from childlink.children.models import MasterChild
from childlink.config import Settings
from childlink.errors import ChildLinkError
from childlink.identity.guard import audit, enforce
from childlink.identity.models import User
from childlink.ingest.mapping import available_mappings
from childlink.ingest.service import ingest_file
from childlink.ingest.standardise import standardise_id_numbers, standardise_names
from childlink.linkage.choices import MasterEventKind
from childlink.linkage.exact import link_by_id_number
from childlink.linkage.lock import linkage_lock
from childlink.linkage.models import MasterChildEvent
from childlink.linkage.service import latest_model_path, link_county
from childlink.privacy.keys import FieldCipher
from childlink.regions.choices import RegionLevel
from childlink.regions.models import Region
from childlink.sources.choices import RecordStatus
from childlink.sources.models import SourceRecord
from childlink.store.base import utc_now
from childlink.store.engine import unit_of_work

logger = logging.getLogger(__name__)

SOURCE = "procuratorate.mandatory_reports"
RECEIPT_PREFIX = "QZBG"
RECEIPT_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
"""No 0/O or 1/I: receipts are read out on the phone."""
RECEIPT_SUFFIX_CHARS = 8
ADULT_AGE = 18
MATCH_ACTOR = "rule:mandatory_report_id"


def _clean(text: str) -> str:
    """Surrounding whitespace and NUL characters removed (PostgreSQL text cannot hold NUL)."""
    return text.replace("\x00", "").strip()


def _strip(value: object) -> object:
    return _clean(value) if isinstance(value, str) else value


def _blank_to_none(value: object) -> object:
    if isinstance(value, str):
        return _clean(value) or None
    return value


Text = Annotated[str, BeforeValidator(_strip)]
OptionalText = Annotated[str | None, BeforeValidator(_blank_to_none)]


class ReportIn(BaseModel):
    """A mandatory report as the reporter fills it in (form or JSON)."""

    child_name: Text = Field(max_length=50, description="The child's name (姓名); required.")
    child_id_number: OptionalText = Field(
        default=None, max_length=32, description="Resident ID number, if known."
    )
    child_birth_date: Annotated[dt.date | None, BeforeValidator(_blank_to_none)] = Field(
        default=None, description="Date of birth, if known (this or the ID number is required)."
    )
    child_sex: Annotated[Sex | None, BeforeValidator(_blank_to_none)] = None
    region_code: OptionalText = Field(
        default=None,
        max_length=12,
        description="Village (12 digits) or township (9 digits) where the child lives.",
    )
    address: OptionalText = Field(default=None, max_length=200, description="House and street.")
    guardian_name: OptionalText = Field(default=None, max_length=50)
    harm: HarmKind
    description: Text = Field(max_length=2000, description="What was seen (at least 10 chars).")
    observed_on: Annotated[dt.date | None, BeforeValidator(_blank_to_none)] = None
    reporter_kind: ReporterKind
    reporter_phone: OptionalText = Field(default=None, max_length=32)


class ReportReceipt(BaseModel):
    """What the reporter gets back."""

    receipt_no: str
    alert_id: uuid.UUID | None
    master_child_id: uuid.UUID | None
    provisional_child: bool
    received_at: dt.datetime
    id_number_flagged: bool = Field(
        default=False,
        description="The ID number was not valid (wrong check character, ...): the report "
        "is kept and the child found without it.",
    )


class ReportRead(BaseModel):
    """A filed report as its reporter (or a person who may see its alert) reads it."""

    receipt_no: str
    received_at: dt.datetime
    reporter_name: str
    reporter_organisation: str
    reporter_kind: ReporterKind
    harm: HarmKind
    description: str
    observed_on: dt.date | None
    alert_id: uuid.UUID | None
    master_child_id: uuid.UUID | None
    provisional_child: bool


class ReportInvalidError(ChildLinkError):
    """The report cannot be accepted as filled in; ``problems`` says what to fix, field by field."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {text}" for field, text in problems.items()))
        self.problems = problems


class ReportQuarantinedError(ChildLinkError):
    """The report's record was quarantined by the ingest checks (kept, with its reason)."""


@dataclass(frozen=True)
class _Found:
    master_child_id: uuid.UUID | None
    provisional: bool
    how: str


def validate_report(session: Session, report_in: ReportIn, *, today: dt.date) -> dict[str, str]:
    """Field problems that make the report unusable (empty: it may be filed)."""
    problems: dict[str, str] = {}
    name = report_in.child_name
    if not name:
        problems["child_name"] = "the child's name is required"
    else:
        result = standardise_names(pl.Series([name], dtype=pl.String))
        if result.error[0] is not None:
            problems["child_name"] = (
                "write the name in Chinese characters (or Latin letters), e.g. 王小明 or "
                "阿依古丽·买买提"
            )
    if report_in.guardian_name:
        result = standardise_names(pl.Series([report_in.guardian_name], dtype=pl.String))
        if result.error[0] is not None:
            problems["guardian_name"] = "write the guardian's name in Chinese characters"
    if report_in.child_id_number is None and report_in.child_birth_date is None:
        problems["child_id_number"] = "give the child's ID number or date of birth (or both)"
    birth = report_in.child_birth_date
    if birth is not None:
        if birth > today:
            problems["child_birth_date"] = "the date of birth is in the future"
        elif today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day)) >= (
            ADULT_AGE
        ):
            problems["child_birth_date"] = "mandatory reports are about minors (under 18)"
    if len(report_in.description) < 10:
        problems["description"] = "describe what you saw in at least 10 characters"
    if report_in.observed_on is not None and report_in.observed_on > today:
        problems["observed_on"] = "the date seen is in the future"
    if report_in.region_code is not None:
        region = session.get(Region, report_in.region_code)
        if region is None or region.level not in (RegionLevel.TOWNSHIP, RegionLevel.VILLAGE):
            problems["region_code"] = "choose the township or village from the list"
    return problems


def _id_number_flagged(id_number: str | None) -> bool:
    if id_number is None:
        return False
    result = standardise_id_numbers(pl.Series([id_number], dtype=pl.String))
    return result.error[0] is not None


def new_receipt_no(session: Session, now: dt.datetime) -> str:
    """``QZBG-YYYYMMDD-XXXXXXXX``: a random suffix (not a counter), unique in the table."""
    while True:
        suffix = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(RECEIPT_SUFFIX_CHARS))
        receipt = f"{RECEIPT_PREFIX}-{now:%Y%m%d}-{suffix}"
        taken = session.scalar(
            sa.select(MandatoryReport.id).where(MandatoryReport.receipt_no == receipt)
        )
        if taken is None:
            return receipt


def _address(session: Session, report_in: ReportIn) -> str | None:
    """County, township and village names, then the street: what linkage reads a place from."""
    parts: list[str] = []
    code = report_in.region_code
    while code:
        region = session.get(Region, code)
        if region is None:
            break
        if region.level in (RegionLevel.COUNTY, RegionLevel.TOWNSHIP, RegionLevel.VILLAGE):
            parts.append(region.name)
        code = region.parent_code
    text = "".join(reversed(parts)) + (report_in.address or "")
    return text or None


def _source_row(
    session: Session, report_in: ReportIn, receipt_no: str, now: dt.datetime
) -> dict[str, str]:
    """The report as a row of the source's own headers (see its mapping)."""
    sex = {Sex.MALE: "男", Sex.FEMALE: "女"}.get(report_in.child_sex or Sex.UNKNOWN, "")
    birth = report_in.child_birth_date
    return {
        "报告编号": receipt_no,
        "报告日期": now.date().isoformat(),
        "报告单位类型": report_in.reporter_kind.label_zh,
        "未成年人姓名": report_in.child_name,
        "性别": sex,
        "出生日期": "" if birth is None else birth.isoformat(),
        "身份证号": report_in.child_id_number or "",
        "监护人": report_in.guardian_name or "",
        "住址": _address(session, report_in) or "",
        "报告事由": report_in.harm.label_zh,
        "处理情况": "已接报",
    }


def _ingest_row(
    factory: sessionmaker[Session], settings: Settings, row: dict[str, str], receipt_no: str
) -> SourceRecord:
    """Write the row as a JSON-lines delivery and ingest it; the stored record."""
    mapping = available_mappings(settings.mappings_dir)[SOURCE]
    folder = settings.data_dir / "incoming" / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{receipt_no}.jsonl"
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    as_json_lines = mapping.model_copy(
        update={"format": "jsonl", "encoding": "utf-8", "sheets": None, "header_row": None}
    )
    result = ingest_file(factory, as_json_lines, path)
    with factory() as session:
        record = session.scalars(
            sa.select(SourceRecord).where(SourceRecord.batch_id == uuid.UUID(result.batch_id))
        ).first()
        if record is None:  # pragma: no cover - a one-row file always gives one record
            raise ReportQuarantinedError("the report could not be stored; try again")
        session.expunge(record)
    return record


def _provisional_child(session: Session, record: SourceRecord, now: dt.datetime) -> uuid.UUID:
    """A new child from the report's record alone (no model to link with)."""
    region = None
    if record.region_code is not None and session.get(Region, record.region_code) is not None:
        region = record.region_code
    child = MasterChild(
        display_name=(record.name or "(unnamed)")[:100],
        sex=record.sex or Sex.UNKNOWN,
        birth_date=record.birth_date,
        region_code=region,
        status=ChildStatus.ACTIVE,
    )
    session.add(child)
    session.flush()
    session.execute(
        sa.update(SourceRecord).where(SourceRecord.id == record.id).values(master_child_id=child.id)
    )
    session.add(
        MasterChildEvent(
            master_child_id=child.id,
            kind=MasterEventKind.CREATED,
            actor=MATCH_ACTOR,
            details={"records": 1, "record_ids": [str(record.id)], "provisional": True},
            created_at=now,
        )
    )
    return child.id


def find_child(
    factory: sessionmaker[Session],
    settings: Settings,
    record: SourceRecord,
    region_code: str | None,
    now: dt.datetime,
) -> _Found:
    """Link the report's record to a child: exact ID number, else incremental linkage.

    Under the linkage lock, so the worker's pipeline cannot place the same record meanwhile.
    """
    with linkage_lock(factory, settings.data_dir):
        return _find_child(factory, settings, record, region_code, now)


def _find_child(
    factory: sessionmaker[Session],
    settings: Settings,
    record: SourceRecord,
    region_code: str | None,
    now: dt.datetime,
) -> _Found:
    with factory() as session:
        # The worker's pipeline may have linked the committed record before the lock was ours.
        linked = session.scalar(
            sa.select(SourceRecord.master_child_id).where(SourceRecord.id == record.id)
        )
        if linked is not None:
            others = session.scalar(
                sa.select(sa.func.count())
                .select_from(SourceRecord)
                .where(SourceRecord.master_child_id == linked, SourceRecord.id != record.id)
            )
            return _Found(linked, not others, "pipeline")
    with unit_of_work(factory) as session:
        exact = link_by_id_number(session, [record.batch_id])
        if exact.children:
            return _Found(exact.children[0], False, "id_number")
        has_model = latest_model_path(session) is not None
    if has_model:
        result = link_county(factory, data_dir=settings.data_dir, incremental=True)
        with factory() as session:
            master = session.scalar(
                sa.select(SourceRecord.master_child_id).where(SourceRecord.id == record.id)
            )
            if master is not None:
                created = session.scalar(
                    sa.select(MasterChildEvent.id).where(
                        MasterChildEvent.master_child_id == master,
                        MasterChildEvent.run_id == uuid.UUID(result.run_id),
                        MasterChildEvent.kind == MasterEventKind.CREATED,
                    )
                )
                child = session.get(MasterChild, master)
                if child is not None and child.region_code is None and region_code:
                    child.region_code = region_code
                    session.commit()
                return _Found(master, created is not None, "linkage")
    with unit_of_work(factory) as session:
        stored = session.get(SourceRecord, record.id)
        assert stored is not None
        if region_code and stored.region_code is None:
            stored.region_code = region_code
        return _Found(_provisional_child(session, stored, now), True, "provisional")


def _reporter(session: Session, principal: Principal) -> tuple[str, str]:
    """The reporter's name and organisation, from the logged-in account."""
    from childlink.access.models import Agency

    user = None if principal.user_id is None else session.get(User, principal.user_id)
    name = principal.username if user is None else user.display_name
    organisation = ""
    if user is not None and user.agency_id is not None:
        agency = session.get(Agency, user.agency_id)
        if agency is not None:
            organisation = agency.name_zh
    return name, organisation or principal.agency_code or ""


def file_report(
    factory: sessionmaker[Session],
    settings: Settings,
    principal: Principal,
    report_in: ReportIn,
    *,
    cipher: FieldCipher | None = None,
    now: dt.datetime | None = None,
    ip: str | None = None,
) -> ReportReceipt:
    """File a mandatory report: store it, find (or provisionally create) the child, alert.

    Args:
        cipher: passed to the re-scoring of the child after the report is committed.
        now: the reception time (default: now).

    Raises:
        AccessDeniedError: the principal may not file reports (``report.file``).
        ReportInvalidError: the form is incomplete or wrong; nothing is stored.
        ReportQuarantinedError: the ingest checks quarantined the record (kept with its reason).
    """
    from childlink.alerts.service import raise_report_alert

    moment = now or utc_now()
    with factory() as session:
        enforce(
            session,
            principal,
            Action.REPORT_FILE,
            None,
            ip=ip,
            audit_allow=False,
            details={"harm": report_in.harm.value},
        )
        problems = validate_report(session, report_in, today=moment.date())
        if problems:
            audit(
                session,
                principal,
                Action.REPORT_FILE,
                "fail",
                None,
                ip=ip,
                details={"operation": "file", "problems": sorted(problems)},
            )
            session.commit()
            raise ReportInvalidError(problems)
        receipt_no = new_receipt_no(session, moment)
        row = _source_row(session, report_in, receipt_no, moment)
        reporter_name, organisation = _reporter(session, principal)
    record = _ingest_row(factory, settings, row, receipt_no)
    flagged = _id_number_flagged(report_in.child_id_number)
    if record.status is RecordStatus.QUARANTINED:
        with unit_of_work(factory) as session:
            audit(
                session,
                principal,
                Action.REPORT_FILE,
                "fail",
                None,
                ip=ip,
                details={
                    "operation": "file",
                    "receipt_no": receipt_no,
                    "quarantined": record.quarantine_reason,
                },
            )
        raise ReportQuarantinedError(
            f"the report {receipt_no} was kept but could not be linked to a child: "
            f"{record.quarantine_message or record.quarantine_reason}"
        )
    found = find_child(factory, settings, record, report_in.region_code, moment)

    with unit_of_work(factory) as session:
        report = MandatoryReport(
            receipt_no=receipt_no,
            reporter_user_id=principal.user_id,
            reporter_name=reporter_name[:100],
            reporter_organisation=organisation[:200],
            reporter_kind=report_in.reporter_kind,
            reporter_phone=report_in.reporter_phone,
            harm=report_in.harm,
            description=report_in.description,
            observed_on=None
            if report_in.observed_on is None
            else dt.datetime.combine(report_in.observed_on, dt.time(), tzinfo=dt.UTC),
            received_at=moment,
            source_record_id=record.id,
            master_child_id=found.master_child_id,
            provisional_child=found.provisional,
        )
        session.add(report)
        session.flush()
        alert = raise_report_alert(session, report, now=moment)
        report.alert_id = alert.id
        audit(
            session,
            principal,
            Action.REPORT_FILE,
            "allow",
            None,
            child_id=found.master_child_id,
            ip=ip,
            details={
                "operation": "file",
                "receipt_no": receipt_no,
                "harm": report_in.harm.value,
                "alert_id": str(alert.id),
                "provisional_child": found.provisional,
                "found_by": found.how,
                "id_number_flagged": flagged,
            },
        )
        receipt = ReportReceipt(
            receipt_no=receipt_no,
            alert_id=alert.id,
            master_child_id=found.master_child_id,
            provisional_child=found.provisional,
            received_at=moment,
            id_number_flagged=flagged,
        )
    _after_commit(factory, settings, found.master_child_id, cipher)
    return receipt


def _after_commit(
    factory: sessionmaker[Session],
    settings: Settings,
    master_child_id: uuid.UUID | None,
    cipher: FieldCipher | None,
) -> None:
    """Best effort, after the commit: seal the new record and re-score the child.

    The same steps as the record pipeline (:mod:`childlink.alerts.pipeline`) takes for any new
    record; the report and its alert are committed already, so a failure here is logged.
    """
    if master_child_id is None:
        return
    from childlink.privacy.keys import KeyStore
    from childlink.privacy.models import SealedAttributes
    from childlink.privacy.sealing import assign_child_keys, seal_records
    from childlink.risk.service import rescore_after_link

    try:
        with factory() as session:
            sealing = session.scalar(sa.select(SealedAttributes.record_id).limit(1)) is not None
        if sealing:
            cipher = cipher or FieldCipher(KeyStore.from_settings(settings))
            with unit_of_work(factory) as session:
                assign_child_keys(session, cipher.store)
            seal_records(factory, cipher)
        rescore_after_link(factory, settings.data_dir, [master_child_id], cipher=cipher)
    except ChildLinkError as problem:
        logger.warning("sealing or re-scoring after a mandatory report failed: %s", problem)


def report_for(session: Session, principal: Principal, receipt_no: str) -> ReportRead:
    """A report by receipt number, for its reporter or a person who may see its alert.

    Raises:
        NotFoundError: no such receipt, or the principal may see neither (same answer, so a
            receipt number cannot be probed).
    """
    from childlink.alerts.service import alert_for
    from childlink.errors import AccessDeniedError, NotFoundError

    report = session.scalar(
        sa.select(MandatoryReport).where(MandatoryReport.receipt_no == receipt_no)
    )
    if report is None:
        raise NotFoundError(f"no report {receipt_no!r}")
    allowed = principal.user_id is not None and report.reporter_user_id == principal.user_id
    if not allowed and report.alert_id is not None:
        try:
            alert_for(session, principal, report.alert_id)
            allowed = True
        except (AccessDeniedError, NotFoundError):
            allowed = False
    if not allowed:
        raise NotFoundError(f"no report {receipt_no!r}")
    audit(
        session,
        principal,
        Action.REPORT_FILE,
        "allow",
        None,
        child_id=report.master_child_id,
        details={"operation": "read", "receipt_no": receipt_no},
    )
    return ReportRead(
        receipt_no=report.receipt_no,
        received_at=report.received_at,
        reporter_name=report.reporter_name,
        reporter_organisation=report.reporter_organisation,
        reporter_kind=report.reporter_kind,
        harm=report.harm,
        description=report.description,
        observed_on=None if report.observed_on is None else report.observed_on.date(),
        alert_id=report.alert_id,
        master_child_id=report.master_child_id,
        provisional_child=report.provisional_child,
    )


def report_regions(session: Session, principal: Principal) -> list[tuple[str, str]]:
    """Townships and villages of the reporter's county for the form's place list."""
    code = (principal.jurisdiction or "").ljust(12, "0")[:6]
    rows = session.execute(
        sa.select(Region.code, Region.name, Region.level, Region.parent_code)
        .where(
            Region.code.like(f"{code}%"),
            Region.level.in_([RegionLevel.TOWNSHIP, RegionLevel.VILLAGE]),
        )
        .order_by(Region.code)
    ).all()
    townships = {c: n for c, n, level, _p in rows if level is RegionLevel.TOWNSHIP}
    out: list[tuple[str, str]] = []
    for region_code, name, level, parent in rows:
        if level is RegionLevel.TOWNSHIP:
            out.append((region_code, name))
        else:
            out.append((region_code, f"{townships.get(parent or '', '')} {name}".strip()))
    return out
