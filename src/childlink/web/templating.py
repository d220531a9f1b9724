"""Rendering pages: one Jinja2 environment, a per-request translator and the common context.

Every page gets the same context (language, viewer, CSRF token, purpose), so a template never
reaches into the request. The language asked for with ``?lang=`` is remembered in the ``lang``
cookie on the response that renders it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from childlink.access.choices import Purpose
from childlink.web.i18n import (
    DEFAULT_LANGUAGE,
    LANG_COOKIE,
    LANGUAGES,
    Language,
    Translator,
    language_for,
)
from childlink.web.viewmodels import COMPARISON_LABELS, Viewer

TEMPLATES_DIR = Path(__file__).parent / "templates"
LANG_COOKIE_SECONDS = 365 * 24 * 3600


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The template environment (autoescaping on; undefined names are errors, not blanks)."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def request_language(request: Request) -> Language:
    """``?lang=`` first, then the ``lang`` cookie, then Chinese."""
    return (
        language_for(request.query_params.get("lang"))
        or language_for(request.cookies.get(LANG_COOKIE))
        or DEFAULT_LANGUAGE
    )


def translator(request: Request) -> Translator:
    """The translator for the request's language."""
    return Translator(request_language(request))


def _lang_url(request: Request, language: Language) -> str:
    query = [(key, value) for key, value in request.query_params.multi_items() if key != "lang"]
    query.append(("lang", language.code))
    return f"{request.url.path}?{urlencode(query)}"


@dataclass(frozen=True)
class PageContext:
    """What every page knows about the request besides its own data."""

    viewer: Viewer | None
    csrf: str
    purpose: Purpose | None


def render(
    request: Request,
    template: str,
    page: PageContext,
    status_code: int = 200,
    **data: Any,
) -> HTMLResponse:
    """Render ``template`` in the request's language with the common context and ``data``."""
    tr = translator(request)
    headers: dict[str, str] = {"X-CSRF-Token": page.csrf}
    if page.purpose is not None:
        headers["X-Purpose"] = page.purpose.value
    context: dict[str, Any] = {
        "_": tr.gettext,
        "gettext": tr.gettext,
        "ngettext": tr.ngettext,
        "label": tr.label,
        "pick": tr.pick,
        "lang": tr.language,
        "languages": LANGUAGES,
        "lang_url": lambda language: _lang_url(request, language),
        "viewer": page.viewer,
        "csrf": page.csrf,
        "purpose": page.purpose,
        "purposes": list(Purpose),
        "hx_headers": json.dumps(headers),
        "comparison_labels": COMPARISON_LABELS,
        **data,
    }
    html = environment().get_template(template).render(context)
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Content-Language"] = tr.language.html_lang
    response.headers["Cache-Control"] = "no-store"
    asked = language_for(request.query_params.get("lang"))
    if asked is not None and request.cookies.get(LANG_COOKIE) != asked.code:
        response.set_cookie(
            LANG_COOKIE,
            asked.code,
            max_age=LANG_COOKIE_SECONDS,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return response
