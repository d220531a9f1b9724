"""Mandatory reports (强制报告) over HTTP: file one, read its receipt.

The reporter is the logged-in person (session cookie with CSRF, or a personal bearer token):
``report.file`` is granted to every front-line role. Department keys (``X-API-Key``) may only
push data; a department system that collects reports delivers them as rows of
``procuratorate.mandatory_reports`` (``POST /ingest/...``), which the record pipeline links and
scores like any delivery. Filing runs :func:`childlink.alerts.reports.file_report`: the child
is found or provisionally created and a critical alert is raised at once.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from childlink.alerts.reports import (
    ReportIn,
    ReportInvalidError,
    ReportQuarantinedError,
    ReportRead,
    ReportReceipt,
    file_report,
    report_for,
)
from childlink.api.deps import (
    CsrfDep,
    FactoryDep,
    PrincipalDep,
    SessionDep,
    SettingsDep,
    client_ip,
    field_cipher,
)
from childlink.api.errors import ERROR_RESPONSES, error_response

router = APIRouter(
    prefix="/mandatory-reports", tags=["mandatory reports"], responses=ERROR_RESPONSES
)


@router.post("", response_model=ReportReceipt, status_code=201)
def file(
    body: ReportIn,
    request: Request,
    session: SessionDep,
    factory: FactoryDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    _csrf: CsrfDep,
) -> ReportReceipt | JSONResponse:
    """File a mandatory report; the receipt names the alert raised and the child found.

    A wrong ID-number check character does not refuse the report (``id_number_flagged``);
    missing or unusable fields give 422 with ``problems`` per field.
    """
    session.commit()  # filing runs its own units of work; hold no lock meanwhile
    try:
        return file_report(
            factory,
            settings,
            principal,
            body,
            cipher=field_cipher(request),
            ip=client_ip(request),
        )
    except ReportInvalidError as invalid:
        return error_response(422, "report_invalid", str(invalid), problems=invalid.problems)
    except ReportQuarantinedError as kept:
        return error_response(422, "report_quarantined", str(kept))


@router.get("/{receipt_no}", response_model=ReportRead)
def show(receipt_no: str, session: SessionDep, principal: PrincipalDep) -> ReportRead:
    """A filed report, for its reporter and the people who may see its alert (else 404)."""
    return report_for(session, principal, receipt_no[:32])
