"""The policy's reasons in the reader's language.

The access policy states every decision's reason as a short English sentence (it goes into
the audit trail as is). Pages show the reason translated when it has a known shape, with the
policy's own words beneath it, so a village child director reads why in Chinese and an
auditor can still match the page to the audit entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from childlink.access.choices import Purpose, Role
from childlink.web.i18n import N_, Translator

ACTION_LABELS: dict[str, str] = {
    "child.search": N_("search for children"),
    "child.view": N_("open a child's file"),
    "record.export": N_("export records"),
    "review.decide": N_("decide linkage reviews"),
    "audit.read": N_("read the audit trail"),
    "users.manage": N_("manage accounts"),
    "stats.read": N_("read statistics"),
    "data.push": N_("push department data"),
    "break_glass": N_("use emergency access"),
}


@dataclass(frozen=True)
class _Shape:
    pattern: re.Pattern[str]
    message: str


_SHAPES: tuple[_Shape, ...] = (
    _Shape(
        re.compile(r"^child is outside your jurisdiction (?P<code>\S+)$"),
        N_("The child lives outside your jurisdiction (%(code)s) and is not in your caseload."),
    ),
    _Shape(
        re.compile(r"^a (?P<role>\w+) may not export records for (?P<purpose>\w+)$"),
        N_("A %(role)s may not export records for the purpose “%(purpose)s”."),
    ),
    _Shape(
        re.compile(r"^a (?P<role>\w+) may not (?P<action>[\w.]+) for (?P<purpose>\w+)$"),
        N_("A %(role)s may not %(action)s for the purpose “%(purpose)s”."),
    ),
    _Shape(
        re.compile(r"^a (?P<role>\w+) may not (?P<action>[\w.]+)$"),
        N_("A %(role)s may not %(action)s."),
    ),
    _Shape(
        re.compile(
            r"^no data-sharing agreement lets a (?P<role>\w+) \((?P<where>[^)]*)\) "
            r"see children's data for (?P<purpose>\w+)$"
        ),
        N_(
            "No data-sharing agreement lets a %(role)s see children's data "
            "for the purpose “%(purpose)s”."
        ),
    ),
    _Shape(
        re.compile(r"^a (?P<role>\w+) has no data grant for (?P<purpose>\w+)$"),
        N_("A %(role)s has no data grant for the purpose “%(purpose)s”."),
    ),
    _Shape(
        re.compile(r"^(?P<purpose>\w+) uses de-identified aggregates only: .*$"),
        N_("The purpose “%(purpose)s” uses de-identified aggregates only, never a child's data."),
    ),
    _Shape(
        re.compile(r"^break-glass needs a reason of at least (?P<num>\d+) characters$"),
        N_("Emergency access needs a reason of at least %(num)s characters."),
    ),
    _Shape(
        re.compile(r"^missing or wrong CSRF token.*$"),
        N_("The form has expired. Go back, reload the page and try again."),
    ),
)


def _label(translator: Translator, enum_cls: type[Role] | type[Purpose], value: str) -> str:
    try:
        return translator.label(enum_cls(value))
    except ValueError:
        return value


def _fill(translator: Translator, key: str, value: str) -> str:
    if key == "role":
        return _label(translator, Role, value)
    if key == "purpose":
        return _label(translator, Purpose, value)
    if key == "action":
        return translator.gettext(ACTION_LABELS.get(value, value))
    return value


def translate_reason(reason: str, translator: Translator) -> str | None:
    """The reason in the translator's language, or None when its shape is not known."""
    for shape in _SHAPES:
        found = shape.pattern.match(reason.strip())
        if found is None:
            continue
        values = found.groupdict()
        filled = {
            key: _fill(translator, key, value) for key, value in values.items() if key != "where"
        }
        return translator.gettext(shape.message, **filled)
    return None
