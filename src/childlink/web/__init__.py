"""The server-rendered web UI: Jinja2 pages with htmx, Chinese by default, all assets local.

:func:`mount` is called by :func:`childlink.api.app.create_app`; it adds the pages, the
``/static`` files and the HTML error pages to the API's application, so pages and API share
one process, one session per request and one policy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'"
)
"""Pages load nothing from elsewhere; inline styles only for the waterfall bars and htmx."""


def build_router() -> APIRouter:
    """Every page route (none of them appears in the API schema)."""
    from childlink.web.views import alerts, auth, children, reports, reviews

    router = APIRouter(include_in_schema=False)
    for module in (auth, children, reviews, alerts, reports):
        router.include_router(module.router)
    return router


def mount(app: FastAPI) -> None:
    """Add the HTML pages, ``/static`` and HTML error pages to ``app``."""
    from childlink.web.errors import install_error_pages

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(build_router())
    install_error_pages(app)

    @app.middleware("http")
    async def content_security_policy(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if not request.url.path.startswith("/api/"):
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response
