"""Errors as JSON: ``{"error": {"code": ..., "message": ...}}`` with a fitting 4xx status.

A :class:`~childlink.errors.ChildLinkError` is the caller's problem and says so in one
sentence; anything else is a bug, logged with its traceback and answered with a bare 500.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from childlink.api.deps import CsrfError, NotAuthenticatedError, PurposeRequiredError
from childlink.errors import (
    AccessDeniedError,
    AccountLockedError,
    AuthenticationError,
    ChildLinkError,
    IngestError,
    NotFoundError,
    RateLimitedError,
)
from childlink.linkage.review import ReviewError

logger = logging.getLogger("childlink.api")


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorBody


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in (
        (400, "Bad request (e.g. no purpose named)"),
        (401, "Not logged in, or bad credentials"),
        (403, "Refused by the access policy, or CSRF token missing"),
        (404, "No such object"),
        (422, "Invalid input"),
    )
}


def _code(error: Exception) -> str:
    name = type(error).__name__.removesuffix("Error") or "Error"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def status_for(error: ChildLinkError) -> int:
    """The HTTP status of a domain error."""
    if isinstance(error, RateLimitedError):
        return 429
    if isinstance(error, AccountLockedError):
        return 423
    if isinstance(error, NotAuthenticatedError | AuthenticationError):
        return 401
    if isinstance(error, AccessDeniedError | CsrfError):
        return 403
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, ReviewError):
        return 404 if str(error).startswith("no review") else 409
    if isinstance(error, IngestError):
        return 422
    if isinstance(error, PurposeRequiredError):
        return 400
    return 400


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"error": {"code": code, "message": message, **extra}}, status_code=status, headers=headers
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the JSON error handlers on ``app``."""

    @app.exception_handler(ChildLinkError)
    async def _domain(_request: Request, error: ChildLinkError) -> JSONResponse:
        status = status_for(error)
        code = getattr(error, "code", None) if isinstance(error, IngestError) else None
        response = error_response(status, code or _code(error), str(error))
        if isinstance(error, RateLimitedError):
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(part) for part in item.get('loc', ()))}: {item.get('msg', '')}"
            for item in error.errors()
        ]
        return error_response(422, "invalid_request", "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        return error_response(error.status_code, "http_error", str(error.detail))

    @app.exception_handler(Exception)
    async def _bug(_request: Request, error: Exception) -> JSONResponse:
        logger.exception("unexpected error", exc_info=error)
        return error_response(500, "internal_error", "internal error; it has been logged")
