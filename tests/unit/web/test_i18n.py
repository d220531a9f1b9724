"""The UI's two languages are complete, and no visible text escapes translation."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from childlink.access.choices import Purpose, Role
from childlink.web.catalog import extract_messages, missing_translations, read_catalog
from childlink.web.i18n import CHINESE, ENGLISH, LANGUAGES, Translator, language_for
from childlink.web.reasons import translate_reason

TEMPLATES = Path(__file__).parents[3] / "src" / "childlink" / "web" / "templates"
JINJA = re.compile(r"{{.*?}}|{%.*?%}|{#.*?#}", re.DOTALL)
VISIBLE_ATTRIBUTES = {"placeholder", "title", "aria-label", "alt"}
BUTTON_INPUTS = {"submit", "button", "reset"}
WORDS = re.compile(r"[A-Za-z\u3400-\u9fff]")


def test_every_message_has_a_translation_in_both_catalogs() -> None:
    messages = extract_messages()
    assert len(messages) > 50  # the extractor found the templates and the views
    assert missing_translations() == {language.locale: [] for language in LANGUAGES}


def test_catalogs_hold_no_stale_messages() -> None:
    used = {m[0] if isinstance(m, tuple) else m for m in extract_messages()}
    for language in LANGUAGES:
        ids = {m.id[0] if isinstance(m.id, tuple) else m.id for m in read_catalog(language.locale)}
        assert ids - {""} == used, language.locale


def test_chinese_catalog_is_chinese() -> None:
    zh = Translator(CHINESE)
    assert zh.gettext("Log in") == "登录"
    assert zh.gettext("Welcome, %(name)s", name="李") == "李，您好"
    assert zh.ngettext("%(num)d child found", "%(num)d children found", 3) == "找到 3 名儿童"
    en = Translator(ENGLISH)
    assert en.ngettext("%(num)d child found", "%(num)d children found", 1) == "1 child found"
    assert en.label(Role.TEACHER) == "Teacher / school"
    assert zh.label(Role.TEACHER) == "教师"


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_data(self, data: str) -> None:
        if WORDS.search(data):
            self.found.append(data.strip())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        shown = set(VISIBLE_ATTRIBUTES)
        if tag == "input" and dict(attrs).get("type") in BUTTON_INPUTS:
            shown.add("value")  # the label of an input button
        for name, value in attrs:
            if name in shown and value and WORDS.search(value):
                self.found.append(f"{tag}[{name}]={value}")


@pytest.mark.parametrize(
    "template", sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html"))
)
def test_templates_show_no_text_outside_gettext(template: str) -> None:
    """Every word a person reads comes from a gettext call or from data, never raw markup."""
    source = JINJA.sub(" ", (TEMPLATES / template).read_text(encoding="utf-8"))
    collector = _TextCollector()
    collector.feed(source)
    assert collector.found == [], collector.found


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("en", ENGLISH),
        ("EN", ENGLISH),
        ("zh", CHINESE),
        ("zh-CN", CHINESE),
        ("fr", None),
        ("", None),
    ],
)
def test_language_codes(value: str, expected: object) -> None:
    assert language_for(value) is expected


def test_policy_reasons_are_translated_by_shape() -> None:
    zh, en = Translator(CHINESE), Translator(ENGLISH)
    outside = translate_reason("child is outside your jurisdiction 522799200207", zh)
    assert outside is not None
    assert "522799200207" in outside
    assert "管辖范围" in outside
    refused = translate_reason("a teacher may not review.decide for case_work", zh)
    assert refused == "教师不得以“个案工作”为目的审核记录关联。"
    english = translate_reason("a teacher may not review.decide for case_work", en)
    assert (
        english == "A Teacher / school may not decide linkage reviews for the purpose “Case work”."
    )
    assert translate_reason("something nobody foresaw", zh) is None
    assert Purpose.CASE_WORK.label_zh in (refused or "")
