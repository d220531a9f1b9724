"""Error pages for people: HTML in the visitor's language for everything outside the API.

The API answers errors as JSON (``childlink.api.errors``); these handlers wrap the API's and
hand every ``/api/`` request back to them, so only page requests get HTML.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from childlink.api.deps import SESSION_COOKIE, Caller, NotAuthenticatedError, csrf_token
from childlink.api.errors import status_for
from childlink.errors import ChildLinkError
from childlink.identity.service import principal_for, resolve_web_session
from childlink.web.templating import PageContext
from childlink.web.views.common import (
    LoginRequiredError,
    error_page,
    login_redirect,
    purpose_of,
    viewer_for,
)

logger = logging.getLogger("childlink.web")
API_PATH = "/api/"
Handler = Callable[[Request, Any], Response | Awaitable[Response]]


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PATH)


def _page_for(request: Request) -> PageContext:
    """The header of an error page: the viewer when a live session cookie is present."""
    viewer = None
    caller = getattr(request.state, "caller", None)
    try:
        factory = request.app.state.session_factory
        with factory() as session:
            principal = caller.principal if isinstance(caller, Caller) else None
            if principal is None:
                cookie = request.cookies.get(SESSION_COOKIE)
                row = None if not cookie else resolve_web_session(session, cookie)
                principal = None if row is None else principal_for(session, row.user)
            if principal is not None:
                viewer = viewer_for(request, session, principal)
    except Exception:  # an error page must render even when the database is the problem
        logger.debug("no viewer for the error page", exc_info=True)
    try:
        csrf = csrf_token(request)
    except Exception:
        csrf = ""
    return PageContext(viewer=viewer, csrf=csrf, purpose=purpose_of(request) if viewer else None)


async def _call(handler: Handler, request: Request, error: Exception) -> Response:
    result = handler(request, error)
    return await result if inspect.isawaitable(result) else result


def install_error_pages(app: FastAPI) -> None:
    """Render HTML error pages for page requests; keep the API's JSON handlers for ``/api/``."""
    previous_http: Handler | None = app.exception_handlers.get(StarletteHTTPException)
    previous_domain: Handler | None = app.exception_handlers.get(ChildLinkError)
    previous_bug: Handler | None = app.exception_handlers.get(Exception)

    async def login_required(request: Request, error: Exception) -> Response:
        return login_redirect(request)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        if _is_api(request) and previous_http is not None:
            return await _call(previous_http, request, error)
        status = error.status_code if error.status_code >= 400 else 500
        return error_page(request, _page_for(request), status)

    async def domain_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, ChildLinkError)
        if _is_api(request) and previous_domain is not None:
            return await _call(previous_domain, request, error)
        if isinstance(error, NotAuthenticatedError):
            return login_redirect(request)
        return error_page(request, _page_for(request), status_for(error), str(error))

    async def bug(request: Request, error: Exception) -> Response:
        if _is_api(request) and previous_bug is not None:
            return await _call(previous_bug, request, error)
        logger.exception("unexpected error on a page", exc_info=error)
        return error_page(request, PageContext(viewer=None, csrf="", purpose=None), 500)

    app.add_exception_handler(LoginRequiredError, login_required)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(ChildLinkError, domain_error)
    app.add_exception_handler(Exception, bug)
