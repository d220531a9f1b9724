"""The mandatory report form (强制报告) and its receipt page.

Any front-line worker (``report.file``) files a report about a child harmed or at risk; the
form goes through :func:`childlink.alerts.reports.file_report` like the API, so the child is
found or provisionally created and a critical alert is raised at once. The receipt page is
shown to the reporter and to the people who may see the alert, to nobody else.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from pydantic import ValidationError
from starlette.responses import HTMLResponse, RedirectResponse, Response

from childlink.access.service import Action
from childlink.alerts.choices import HarmKind, ReporterKind
from childlink.alerts.reports import (
    ReportIn,
    ReportInvalidError,
    ReportQuarantinedError,
    file_report,
    report_for,
    report_regions,
)
from childlink.api.deps import field_cipher
from childlink.children.choices import Sex
from childlink.errors import AccessDeniedError, NotFoundError
from childlink.identity.guard import enforce
from childlink.web.i18n import N_
from childlink.web.views.common import WebRequest, WebRequestDep

router = APIRouter(include_in_schema=False)

FIELDS = (
    "child_name",
    "child_id_number",
    "child_birth_date",
    "child_sex",
    "region_code",
    "address",
    "guardian_name",
    "harm",
    "description",
    "observed_on",
    "reporter_kind",
    "reporter_phone",
)
LIMITS = {
    "child_name": 50,
    "child_id_number": 32,
    "region_code": 12,
    "address": 200,
    "guardian_name": 50,
    "description": 2000,
    "reporter_phone": 32,
}
# The service's problems (English, as in the API and the audit trail), for the catalogs.
PROBLEMS = (
    N_("the child's name is required"),
    N_("write the name in Chinese characters (or Latin letters), e.g. 王小明 or 阿依古丽·买买提"),
    N_("write the guardian's name in Chinese characters"),
    N_("give the child's ID number or date of birth (or both)"),
    N_("the date of birth is in the future"),
    N_("mandatory reports are about minors (under 18)"),
    N_("describe what you saw in at least 10 characters"),
    N_("the date seen is in the future"),
    N_("choose the township or village from the list"),
)
FORM_PROBLEMS: dict[str, str] = {
    "child_name": N_("the child's name is required"),
    "harm": N_("choose what happened from the list"),
    "reporter_kind": N_("choose who you report for from the list"),
    "child_birth_date": N_("write the date as YYYY-MM-DD"),
    "observed_on": N_("write the date as YYYY-MM-DD"),
    "child_sex": N_("choose the sex from the list"),
    "description": N_("describe what you saw in at least 10 characters"),
}
TOO_LONG = N_("too long: at most %(max)d characters")


def _gate(web: WebRequest) -> Response | None:
    try:
        enforce(web.session, web.principal, Action.REPORT_FILE, None, ip=web.ip, audit_allow=False)
    except AccessDeniedError as denied:
        return web.error(403, str(denied))
    return None


def _form(
    web: WebRequest,
    values: dict[str, str],
    problems: dict[str, str],
    *,
    status_code: int = 200,
    error: str | None = None,
) -> Response:
    return web.render(
        "reports/new.html",
        status_code=status_code,
        values=values,
        problems=problems,
        error=error,
        harms=list(HarmKind),
        reporter_kinds=list(ReporterKind),
        sexes=[Sex.MALE, Sex.FEMALE],
        regions=report_regions(web.session, web.principal),
        limits=LIMITS,
    )


@router.get("/reports/new", response_class=HTMLResponse)
def new(web: WebRequestDep) -> Response:
    """The empty form."""
    refused = _gate(web)
    if refused is not None:
        return refused
    return _form(web, dict.fromkeys(FIELDS, ""), {})


def _validation_problems(error: ValidationError) -> dict[str, str]:
    problems: dict[str, str] = {}
    for item in error.errors():
        field = str(item.get("loc", ("",))[0])
        if item.get("type") == "string_too_long":
            problems[field] = "too_long"
        else:
            problems.setdefault(field, FORM_PROBLEMS.get(field, N_("check this field")))
    return problems


@router.post("/reports/new", response_class=HTMLResponse)
async def submit(
    web: WebRequestDep,
    child_name: Annotated[str, Form()] = "",
    child_id_number: Annotated[str, Form()] = "",
    child_birth_date: Annotated[str, Form()] = "",
    child_sex: Annotated[str, Form()] = "",
    region_code: Annotated[str, Form()] = "",
    address: Annotated[str, Form()] = "",
    guardian_name: Annotated[str, Form()] = "",
    harm: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    observed_on: Annotated[str, Form()] = "",
    reporter_kind: Annotated[str, Form()] = "",
    reporter_phone: Annotated[str, Form()] = "",
) -> Response:
    """File the report; the receipt page, or the form again with what to fix."""
    if not await web.csrf_ok():
        return web.error(403, "missing or wrong CSRF token")
    refused = _gate(web)
    if refused is not None:
        return refused
    values = {
        "child_name": child_name,
        "child_id_number": child_id_number,
        "child_birth_date": child_birth_date,
        "child_sex": child_sex,
        "region_code": region_code,
        "address": address,
        "guardian_name": guardian_name,
        "harm": harm,
        "description": description,
        "observed_on": observed_on,
        "reporter_kind": reporter_kind,
        "reporter_phone": reporter_phone,
    }
    try:
        report_in = ReportIn.model_validate(values)
    except ValidationError as invalid:
        shown = {k: v[:2000] for k, v in values.items()}
        return _form(web, shown, _validation_problems(invalid), status_code=422)
    web.session.commit()  # filing runs its own units of work
    try:
        receipt = file_report(
            web.factory,
            web.request.app.state.settings,
            web.principal,
            report_in,
            cipher=field_cipher(web.request),
            ip=web.ip,
        )
    except ReportInvalidError as invalid:
        return _form(web, values, invalid.problems, status_code=422)
    except ReportQuarantinedError as kept:
        return _form(web, values, {}, status_code=422, error=str(kept))
    return RedirectResponse(f"/reports/{receipt.receipt_no}", status_code=303)


@router.get("/reports/{receipt_no}", response_class=HTMLResponse)
def receipt(receipt_no: str, web: WebRequestDep) -> Response:
    """The receipt: number, time, the alert raised (for the reporter and the alert's people)."""
    try:
        report = report_for(web.session, web.principal, receipt_no[:32])
    except NotFoundError:
        return web.error(404)
    return web.render("reports/receipt.html", report=report.model_dump())
