"""The application factory: the JSON API under ``/api/v1`` and, when present, the web pages.

``create_app`` builds everything the requests share (settings, engine, session factory, the
login rate limiter) once and keeps it on ``app.state``; nothing is created at import time.
API documentation is served from files shipped in the environment (no CDN: government
intranets are isolated).
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from childlink import __version__
from childlink.api.deps import ANON_CSRF_COOKIE, SESSION_COOKIE
from childlink.api.errors import install_error_handlers
from childlink.api.routers import (
    alerts,
    auth,
    children,
    health,
    ingest,
    reports,
    reviews,
    risk,
)
from childlink.config import Settings, get_settings
from childlink.identity.service import LoginRateLimiter
from childlink.store.engine import build_engine, create_session_factory

API_PREFIX = "/api/v1"
_DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"

DESCRIPTION = """
ChildLink's JSON API. Every call that touches child data names a **purpose**
(`X-Purpose: case_work | risk_screening | statistics | audit`), is decided by the access
policy and leaves an entry in the hash-chained audit trail, allowed or denied.

Authenticate with the session cookie from `POST /api/v1/auth/login` (then send
`X-CSRF-Token` on POST), a personal token (`Authorization: Bearer clt_...`), or a
department's key for data feeds (`X-API-Key: clk_...`).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ChildLink ASGI application for ``settings`` (default: the process settings)."""
    settings = settings or get_settings()
    engine = build_engine(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(
        title="ChildLink API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = create_session_factory(engine)
    app.state.login_limiter = LoginRateLimiter(
        settings.login_attempts_per_ip, settings.login_window_seconds
    )
    install_error_handlers(app)
    for module in (health, auth, children, reviews, ingest, risk, alerts, reports):
        app.include_router(module.router, prefix=API_PREFIX)
    _mount_docs(app)
    _install_security_headers(app)

    try:
        web = importlib.import_module("childlink.web")
    except ImportError:
        web = None
    mount = getattr(web, "mount", None)
    if callable(mount):
        mount(app)
    return app


def _mount_docs(app: FastAPI) -> None:
    static = f"{API_PREFIX}/docs/assets"
    app.mount(static, StaticFiles(directory=_DOCS_ASSETS), name="api-docs-assets")

    @app.get(f"{API_PREFIX}/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{API_PREFIX}/openapi.json",
            title="ChildLink API",
            swagger_js_url=f"{static}/swagger-ui-bundle.js",
            swagger_css_url=f"{static}/swagger-ui.css",
            swagger_favicon_url=f"{static}/favicon.png",
        )


def _install_security_headers(app: FastAPI) -> None:
    @app.middleware("http")
    async def headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.url.path.startswith(API_PREFIX):
            response.headers.setdefault("Cache-Control", "no-store")
        anon = getattr(request.state, "anon_csrf", None)
        if (
            anon is not None
            and ANON_CSRF_COOKIE not in request.cookies
            and SESSION_COOKIE not in request.cookies
        ):
            response.set_cookie(
                ANON_CSRF_COOKIE,
                anon,
                httponly=True,
                samesite="lax",
                secure=request.url.scheme == "https",
            )
        return response
