"""Department data feeds push rows as JSON; they go through the same ingest as files.

The body is written to ``<data_dir>/incoming/api/<source>/<time>-<id>.jsonl`` (kept as the
delivered file, like any export) and ingested with the source's mapping read as JSON lines:
the same standardisation, quarantine with reasons, batch and provenance as a file delivery.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Body, Request

from childlink.access.service import Action
from childlink.api.deps import CallerDep, FactoryDep, SessionDep, SettingsDep
from childlink.api.deps import client_ip as peer
from childlink.api.errors import ERROR_RESPONSES
from childlink.api.schemas import IngestRead
from childlink.errors import AccessDeniedError, NotFoundError
from childlink.identity.guard import audit, enforce
from childlink.ingest.mapping import available_mappings
from childlink.ingest.service import ingest_file
from childlink.sources.choices import RecordStatus
from childlink.sources.models import SourceRecord
from childlink.store.base import utc_now

router = APIRouter(prefix="/ingest", tags=["ingest"], responses=ERROR_RESPONSES)

MAX_ROWS = 10_000
MAX_QUARANTINE_LISTED = 1_000
Cell = str | int | float | bool | None


@router.post("/{source_code}", response_model=IngestRead, status_code=201)
def push_rows(
    source_code: str,
    rows: Annotated[
        list[dict[str, Cell]],
        Body(min_length=1, max_length=MAX_ROWS, description="Rows keyed by the source's headers."),
    ],
    request: Request,
    session: SessionDep,
    factory: FactoryDep,
    settings: SettingsDep,
    caller: CallerDep,
) -> IngestRead:
    """Ingest rows of one source (``X-API-Key`` of the source's department).

    Bad rows are quarantined with a reason, never dropped; the response lists them.
    """
    principal = caller.principal
    ip = peer(request)
    mapping = available_mappings(settings.mappings_dir).get(source_code)
    if mapping is None:
        audit(
            session,
            principal,
            Action.DATA_PUSH,
            "deny",
            None,
            ip=ip,
            details={"source": source_code, "reason": "unknown source"},
        )
        session.commit()
        raise NotFoundError(f"no source {source_code!r}")
    if caller.via == "api_key" and caller.department_code != mapping.department:
        reason = (
            f"this API key belongs to {caller.department_code}, "
            f"not to {mapping.department} which delivers {source_code}"
        )
        audit(
            session,
            principal,
            Action.DATA_PUSH,
            "deny",
            None,
            ip=ip,
            details={"source": source_code, "reason": reason},
        )
        session.commit()
        raise AccessDeniedError(reason)
    enforce(
        session,
        principal,
        Action.DATA_PUSH,
        None,
        ip=ip,
        audit_allow=False,
        details={"source": source_code},
    )

    folder = settings.data_dir / "incoming" / "api" / source_code
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{utc_now():%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}.jsonl"
    path.write_text(
        "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8"
    )
    as_json_lines = mapping.model_copy(
        update={"format": "jsonl", "encoding": "utf-8", "sheets": None, "header_row": None}
    )
    session.commit()  # ingest runs its own unit of work; hold no lock meanwhile
    result = ingest_file(factory, as_json_lines, path)
    quarantine = [
        {"row": row_number, "reason": reason, "message": message}
        for row_number, reason, message in session.execute(
            sa.select(
                SourceRecord.row_number,
                SourceRecord.quarantine_reason,
                SourceRecord.quarantine_message,
            )
            .where(
                SourceRecord.batch_id == uuid.UUID(result.batch_id),
                SourceRecord.status == RecordStatus.QUARANTINED,
            )
            .order_by(SourceRecord.row_number)
            .limit(MAX_QUARANTINE_LISTED)
        )
    ]
    audit(
        session,
        principal,
        Action.DATA_PUSH,
        "allow",
        None,
        ip=ip,
        details={"source": source_code, "file": path.name, **result.to_dict()} | {"notes": None},
    )
    return IngestRead(
        source=result.source,
        batch_id=result.batch_id,
        outcome=result.outcome,
        rows_in=result.rows_in,
        accepted=result.accepted,
        fixed=result.fixed,
        quarantined=result.quarantined,
        duplicate=result.duplicate,
        reconciles=result.reconciles,
        quarantine=quarantine,
    )
