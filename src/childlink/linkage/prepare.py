"""Pull the linkable child records into one polars frame with the keys linkage compares.

One SQL query reads every non-quarantined record of committed batches; everything else is
vectorised polars (names go through :func:`~childlink.ingest.standardise.standardise_names`,
which maps each distinct value once). Adults are left out: a record is linkable when its birth
year (own birth date, else the ID number's, else event year minus age) is within
:data:`ADULT_AGE` + :data:`AGE_MARGIN` years of the reference date, or when the birth year is
unknown and the source only ever records children.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from childlink.core import id_number as idn
from childlink.ingest.standardise import standardise_names
from childlink.regions.models import Region
from childlink.sources.choices import BatchStatus, RecordStatus
from childlink.sources.models import DataSource, IngestBatch, SourceRecord

ADULT_AGE: Final = 18
#: Extra years kept so a young adult with a wrong birth year is not silently dropped.
AGE_MARGIN: Final = 3
#: Sources whose subject is always a child: their records stay even without any birth year.
CHILD_ONLY_SOURCES: Final[frozenset[str]] = frozenset(
    {
        "education.student_registry",
        "education.attendance",
        "health.mental_health_screenings",
        "health.visits",
        "procuratorate.mandatory_reports",
        "womens_federation.home_visits",
        "civil_affairs.welfare_rolls",
    }
)
_ID18: Final = r"^[0-9]{17}[0-9X]$"
#: ``...县南寨乡南江村5组2号`` → township ``南寨乡``, village ``南江村``.
_ADDRESS: Final = r"(?:县|市|区)([^省州县市区]{1,12}?(?:乡|镇|街道))([^乡镇]{1,12}?(?:村|社区))"

#: Columns of the prepared frame, in order (what engine, service and evaluate rely on).
COLUMNS: Final[tuple[str, ...]] = (
    "rec_id",
    "source",
    "file_name",
    "sheet",
    "row_number",
    "master_child_id",
    "name",
    "pinyin",
    "surname",
    "given_name",
    "surname_py",
    "given_py",
    "dob",
    "dob_year",
    "dob_md",
    "sex",
    "id_number",
    "id_key",
    "id_any",
    "student_number",
    "guardian_name",
    "guardian_py",
    "guardian_id",
    "township",
    "village",
    "region_code",
)


#: Columns of the stored source records :func:`prepare_frame` reads.
RAW_COLUMNS: Final[tuple[str, ...]] = (
    "rec_id",
    "source",
    "file_name",
    "sheet",
    "row_number",
    "master_child_id",
    "name",
    "name_pinyin",
    "sex",
    "birth_date",
    "region_code",
    "id_number",
    "attributes",
)


def _records(session: Session) -> pl.DataFrame:
    stmt = (
        sa.select(
            SourceRecord.id.label("rec_id"),
            DataSource.code.label("source"),
            IngestBatch.file_name,
            SourceRecord.sheet,
            SourceRecord.row_number,
            SourceRecord.master_child_id,
            SourceRecord.name,
            SourceRecord.name_pinyin,
            SourceRecord.sex,
            SourceRecord.birth_date,
            SourceRecord.region_code,
            SourceRecord.id_number,
            sa.cast(SourceRecord.attributes, sa.Text).label("attributes"),
        )
        .join(IngestBatch, IngestBatch.id == SourceRecord.batch_id)
        .join(DataSource, DataSource.id == SourceRecord.source_id)
        .where(
            IngestBatch.status == BatchStatus.COMMITTED,
            SourceRecord.status != RecordStatus.QUARANTINED,
        )
        .order_by(SourceRecord.id)
    )
    result = session.execute(stmt)
    names = list(result.keys())
    rows = result.all()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    data: dict[str, pl.Series] = {}
    for name, values in zip(names, columns, strict=True):
        if name == "row_number":
            data[name] = pl.Series(name, values, dtype=pl.Int64)
        elif name == "attributes":
            data[name] = pl.Series(name, values, dtype=pl.String)
        else:  # UUIDs, enums and dates become their text form
            data[name] = pl.Series(
                name, [None if v is None else str(v) for v in values], dtype=pl.String
            )
    return pl.DataFrame(data)


def _regions(session: Session) -> pl.DataFrame:
    rows = session.execute(sa.select(Region.code, Region.parent_code, Region.level, Region.name))
    frame = pl.DataFrame(
        [(code, parent, str(level), name) for code, parent, level, name in rows],
        schema={"code": pl.String, "parent": pl.String, "level": pl.String, "name": pl.String},
        orient="row",
    )
    return frame.with_columns(pl.col("level").str.to_lowercase())


def _json(field: str) -> pl.Expr:
    return pl.col("attributes").str.json_path_match(f"$.{field}")


def _region_codes(frame: pl.DataFrame, regions: pl.DataFrame) -> pl.Series:
    """12-digit code of the record's village (or township) from the names it gives."""
    townships = regions.filter(pl.col("level") == "township").select(
        pl.col("name").alias("township"), pl.col("code").alias("township_code")
    )
    townships = townships.unique("township", keep="none")
    villages = regions.filter(pl.col("level") == "village").select(
        pl.col("parent").alias("township_code"),
        pl.col("name").alias("village"),
        pl.col("code").alias("village_code"),
    )
    villages_by_name = (
        villages.unique("village", keep="none")
        .select("village", pl.col("village_code").alias("village_only_code"))
        .lazy()
    )
    return (
        frame.lazy()
        .select("township", "village", "region_code")
        .with_row_index("_i")
        .join(townships.lazy(), on="township", how="left")
        .join(villages.lazy(), on=["township_code", "village"], how="left")
        .join(villages_by_name, on="village", how="left")
        .sort("_i")
        .select(
            pl.coalesce(
                pl.when(pl.col("region_code").str.len_chars() == 12).then("region_code"),
                "village_code",
                "village_only_code",
                "township_code",
            ).alias("region_code")
        )
        .collect()
        .to_series()
    )


def _valid_ids(values: pl.Series) -> pl.Expr:
    distinct = values.drop_nulls().unique()
    valid = distinct.filter(distinct.map_elements(idn.is_valid, return_dtype=pl.Boolean))
    return pl.when(values.is_in(valid.implode())).then(values).otherwise(None)


def prepare_records(session: Session, *, reference_date: dt.date | None = None) -> pl.DataFrame:
    """The linkable child records with their comparison keys (see :data:`COLUMNS`)."""
    raw = _records(session)
    regions = _regions(session) if not raw.is_empty() else pl.DataFrame()
    return prepare_frame(raw, regions, reference_date=reference_date)


def prepare_frame(
    raw: pl.DataFrame, regions: pl.DataFrame, *, reference_date: dt.date | None = None
) -> pl.DataFrame:
    """:func:`prepare_records` without the database.

    ``raw`` has the columns of :data:`RAW_COLUMNS` (source records as stored: birth date as ISO
    text, sex as ``male``/``female``, non-person fields as a JSON ``attributes`` object);
    ``regions`` has ``code``, ``parent``, ``level`` (lower case) and ``name``.
    """
    today = reference_date or dt.date.today()
    if raw.is_empty():
        return pl.DataFrame(schema=dict.fromkeys(COLUMNS, pl.String)).with_columns(
            pl.col("row_number").cast(pl.Int64), pl.col("dob_year").cast(pl.Int32)
        )
    address = _json("address")
    frame = raw.with_columns(
        student_number=_json("student_number").str.to_uppercase(),
        id_as_given=_json("id_number_as_given").str.to_uppercase().str.replace_all(r"\s", ""),
        guardian_name=_json("guardian_name"),
        guardian_id=_json("guardian_id_number"),
        township=pl.coalesce(_json("township"), address.str.extract(_ADDRESS, 1)),
        village=pl.coalesce(_json("village"), address.str.extract(_ADDRESS, 2)),
        age=_json("age").cast(pl.Int32, strict=False),
        event_year=_json("event_date").str.slice(0, 4).cast(pl.Int32, strict=False),
    )
    student_id = pl.col("student_number").str.slice(1)
    frame = frame.with_columns(
        id_from_student=pl.when(
            pl.col("student_number").str.starts_with("G") & student_id.str.contains(_ID18)
        ).then(student_id),
    )
    frame = frame.with_columns(id_from_student=_valid_ids(frame["id_from_student"]))
    id_any = pl.coalesce("id_number", "id_from_student", "id_as_given")
    dob_from_id = (
        pl.when(id_any.str.contains(_ID18)).then(id_any.str.slice(6, 8)).otherwise(None)
    ).str.to_date("%Y%m%d", strict=False)
    own_dob = pl.col("birth_date").str.to_date("%Y-%m-%d", strict=False)
    frame = frame.with_columns(
        id_any=id_any,
        dob_date=pl.coalesce(own_dob, pl.when(pl.col("id_number").is_null()).then(dob_from_id)),
        id_dob=dob_from_id,
    ).with_columns(
        birth_year=pl.coalesce(
            pl.col("dob_date").dt.year(),
            pl.col("id_dob").dt.year(),
            pl.col("event_year") - pl.col("age"),
        )
    )
    earliest = today.year - ADULT_AGE - AGE_MARGIN
    frame = frame.filter(
        pl.when(pl.col("birth_year").is_not_null())
        .then(pl.col("birth_year") >= earliest)
        .otherwise(pl.col("source").is_in(list(CHILD_ONLY_SOURCES)))
    )
    names = standardise_names(frame["name"])
    guardians = standardise_names(frame["guardian_name"])
    spaced = names.pinyin_spaced.str.split(" ")
    frame = frame.with_columns(
        name=names.value,
        pinyin=pl.coalesce(names.pinyin, pl.col("name_pinyin")),
        surname=names.surname,
        given_name=names.given_name,
        surname_py=pl.when(spaced.list.len() > 1).then(spaced.list.first()),
        given_py=pl.when(names.is_placeholder.not_())
        .then(
            pl.when(spaced.list.len() > 1)
            .then(spaced.list.slice(1).list.join(""))
            .otherwise(spaced.list.first())
        )
        .otherwise(None),
        guardian_py=guardians.pinyin,
    )
    region_code = _region_codes(frame, regions)
    # A valid ID number is a deterministic key only when it is the record's own: its embedded
    # birth date must agree with the record's birth date (else it is likely a guardian's).
    own_id = pl.coalesce("id_number", "id_from_student")
    id_key = pl.when(
        own_id.is_not_null()
        & (pl.col("dob_date").is_null() | (pl.col("dob_date") == pl.col("id_dob")))
    ).then(own_id)
    return (
        frame.with_columns(region_code=region_code)
        .with_columns(
            id_number=own_id,
            id_key=id_key,
            dob=pl.col("dob_date").dt.strftime("%Y%m%d"),
            dob_year=pl.col("dob_date").dt.year().cast(pl.Int32),
            dob_md=pl.col("dob_date").dt.strftime("%m%d"),
            region_code=pl.coalesce(
                "region_code",
                pl.when(pl.col("id_any").str.contains(r"^[0-9]{6}"))
                .then(pl.col("id_any").str.slice(0, 6) + "000000")
                .otherwise(None),
            ),
        )
        .select(COLUMNS)
    )
