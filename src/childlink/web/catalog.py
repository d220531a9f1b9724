"""Keep the translation catalogs complete: extract every message the UI shows.

Messages come from the templates (``_("...")`` and ``ngettext(...)`` calls, read with Jinja2's
Babel extractor) and from the web package's Python modules (``_``, ``N_``, ``gettext``,
``ngettext`` calls). ``python -m childlink.web.catalog`` adds new message ids to both ``.po``
files (with empty translations for a person to fill) and drops ones no longer used;
``--check`` exits non-zero if any message lacks a translation, which a test also asserts.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract
from babel.messages.pofile import read_po, write_po
from jinja2.ext import babel_extract

from childlink.web.i18n import DOMAIN, LANGUAGES, catalog_path

WEB_DIR = Path(__file__).parent
KEYWORDS: dict[str, tuple[int, ...] | None] = {
    "_": None,
    "N_": None,
    "gettext": None,
    "ngettext": (1, 2),
}
Message = str | tuple[str, str]
"""A message id, or (singular, plural) for a message that depends on a count."""


def _template_messages(path: Path) -> Iterator[tuple[int, Message]]:
    with path.open("rb") as handle:
        for line, _function, message, _comments in babel_extract(
            handle, list(KEYWORDS), [], {"trim_blocks": "true", "lstrip_blocks": "true"}
        ):
            found = _as_message(message)
            if found is not None:
                yield line, found


def _python_messages(path: Path) -> Iterator[tuple[int, Message]]:
    with path.open("rb") as handle:
        for line, message, _comments, _context in extract("python", handle, KEYWORDS):
            found = _as_message(message)
            if found is not None:
                yield line, found


def _as_message(message: object) -> Message | None:
    """A literal message id (or singular/plural pair); None for a call on a variable."""
    if isinstance(message, tuple | list):
        parts = [part for part in message if isinstance(part, str)]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else (parts[0], parts[1])
    return message if isinstance(message, str) else None


def extract_messages() -> dict[Message, list[str]]:
    """Every message the web UI can show, with where it appears (``path:line``)."""
    found: dict[Message, list[str]] = {}
    for path in sorted((WEB_DIR / "templates").rglob("*.html")):
        for line, message in _template_messages(path):
            found.setdefault(message, []).append(f"{path.relative_to(WEB_DIR)}:{line}")
    for path in sorted(WEB_DIR.rglob("*.py")):
        if path.name == "catalog.py":
            continue
        for line, message in _python_messages(path):
            found.setdefault(message, []).append(f"{path.relative_to(WEB_DIR)}:{line}")
    return found


def read_catalog(locale: str) -> Catalog:
    """The ``.po`` catalog of ``locale``."""
    with catalog_path(locale).open("rb") as handle:
        return read_po(handle, locale=locale, domain=DOMAIN)


def missing_translations() -> dict[str, list[str]]:
    """Per locale, the message ids without a (complete) translation."""
    messages = extract_messages()
    result: dict[str, list[str]] = {}
    for language in LANGUAGES:
        catalog = read_catalog(language.locale)
        missing = []
        for message in messages:
            entry = catalog.get(message[0] if isinstance(message, tuple) else message)
            strings = entry.string if entry is not None else None
            texts = list(strings) if isinstance(strings, tuple | list) else [strings]
            if entry is None or not all(texts):
                missing.append(message[0] if isinstance(message, tuple) else message)
        result[language.locale] = missing
    return result


def update_catalogs() -> None:
    """Add new message ids to every catalog and drop unused ones, keeping translations."""
    messages = extract_messages()
    for language in LANGUAGES:
        old = read_catalog(language.locale)
        new = Catalog(locale=language.locale, domain=DOMAIN, project="childlink")
        new.fuzzy = False
        for message, places in messages.items():
            key = message[0] if isinstance(message, tuple) else message
            entry = old.get(key)
            default: str | tuple[str, str] = "" if isinstance(message, str) else ("", "")
            string = entry.string if entry is not None else default
            locations = [
                (place.rsplit(":", 1)[0], int(place.rsplit(":", 1)[1])) for place in places
            ]
            new.add(message, string, locations=locations)
        with catalog_path(language.locale).open("wb") as handle:
            write_po(handle, new, width=100, sort_output=True, omit_header=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report missing translations")
    args = parser.parse_args(argv)
    if not args.check:
        update_catalogs()
    missing = missing_translations()
    for locale, ids in missing.items():
        for message in ids:
            print(f"{locale}: untranslated: {message!r}")
    return 1 if any(missing.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
