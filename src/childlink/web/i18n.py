"""Languages of the web UI: Simplified Chinese by default, English on request.

Catalogs are gettext ``.po`` files under ``web/locales/<locale>/LC_MESSAGES/messages.po``,
read with Babel and compiled in memory on first use, so no binary ``.mo`` file lives in git and
no build step is needed. Message ids are English; the English catalog repeats them so that a
test can hold both catalogs complete.

The language is chosen per request: ``?lang=en|zh`` (which the page then keeps in the ``lang``
cookie), else the ``lang`` cookie, else Chinese.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"
LANG_COOKIE = "lang"


@dataclass(frozen=True)
class Language:
    """One UI language: its catalog folder, its ``?lang=`` code and its HTML ``lang``."""

    locale: str
    code: str
    html_lang: str
    name: str


CHINESE = Language(locale="zh_Hans", code="zh", html_lang="zh-CN", name="中文")
ENGLISH = Language(locale="en", code="en", html_lang="en", name="English")
LANGUAGES: tuple[Language, ...] = (CHINESE, ENGLISH)
DEFAULT_LANGUAGE = CHINESE

_ALIASES = {
    "zh": CHINESE,
    "zh_hans": CHINESE,
    "zh-hans": CHINESE,
    "zh-cn": CHINESE,
    "zh_cn": CHINESE,
    "en": ENGLISH,
    "en-us": ENGLISH,
    "en_us": ENGLISH,
    "en-gb": ENGLISH,
}


def language_for(value: str | None) -> Language | None:
    """The language a ``?lang=`` value or cookie names; None if it names none we have."""
    if not value:
        return None
    return _ALIASES.get(value.strip().lower())


def catalog_path(locale: str) -> Path:
    """Where the ``.po`` catalog of ``locale`` lives."""
    return LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=len(LANGUAGES))
def translations_for(locale: str) -> Translations:
    """The compiled catalog of ``locale`` (read from its ``.po`` once per process)."""
    with catalog_path(locale).open("rb") as handle:
        catalog = read_po(handle, locale=locale, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


class Labelled(Protocol):
    """Anything with Chinese and English labels (``LabelledStrEnum`` members, canonical fields)."""

    label_zh: str
    label_en: str


@dataclass(frozen=True)
class Translator:
    """The gettext functions and label picker that templates receive for one request."""

    language: Language

    def gettext(self, message: str, **variables: Any) -> str:
        """Translate ``message`` and fill its ``%(name)s`` placeholders."""
        text = translations_for(self.language.locale).ugettext(message)
        return text % variables if variables else text

    def ngettext(self, singular: str, plural: str, count: int, **variables: Any) -> str:
        """Translate a message that depends on ``count`` (``%(num)d`` is filled with it)."""
        text = translations_for(self.language.locale).ungettext(singular, plural, count)
        return text % {"num": count, **variables}

    def label(self, item: Labelled | str | None) -> str:
        """The label of an enum member or field in this language ("" for None).

        A plain string (a value no enum knows) is shown as it is.
        """
        if item is None:
            return ""
        zh: str | None = getattr(item, "label_zh", None)
        en: str | None = getattr(item, "label_en", None)
        if zh is None or en is None:
            return str(item)
        return zh if self.language is CHINESE else en

    def pick(self, zh: str | None, en: str | None) -> str:
        """Choose between a Chinese and an English text (falling back to the other)."""
        first, second = (zh, en) if self.language is CHINESE else (en, zh)
        return first or second or ""


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark, translate later"
    """Mark a message for extraction without translating it now."""
    return message
