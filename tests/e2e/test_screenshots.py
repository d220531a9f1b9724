"""The walkthrough of docs/web.md, screen by screen.

Every run takes the screenshots (into a temporary folder) so the walkthrough cannot silently
rot; ``CHILDLINK_SCREENSHOTS=docs/img`` writes them into the docs instead::

    CHILDLINK_SCREENSHOTS=docs/img .venv/bin/pytest tests/e2e/test_screenshots.py

The screenshots show the synthetic county only.
"""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Browser, Page, expect
from pypinyin import lazy_pinyin

from e2e.conftest import DESKTOP, PHONE, Site, log_in

MAX_BYTES = 200_000


def _folder(tmp_path: Path) -> Path:
    target = os.environ.get("CHILDLINK_SCREENSHOTS")
    folder = Path(target) if target else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _shot(page: Page, folder: Path, name: str) -> None:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    assert path.stat().st_size < MAX_BYTES, f"{path} is {path.stat().st_size} bytes"


def test_walkthrough_screens(browser: Browser, site: Site, tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()

    page.goto(f"{site.url}/login")
    page.fill("#username", "director")
    _shot(page, folder, "login")

    log_in(page, site, "director")
    _shot(page, folder, "home")
    surname = lazy_pinyin(site.name_of(site.director_child)[:1])[0]
    page.goto(f"{site.url}/search?q={surname}")
    expect(page.locator("#result-count")).to_be_visible()
    _shot(page, folder, "search")

    page.goto(f"{site.url}/children/{site.director_child}")
    expect(page.locator("#child-header")).to_be_visible()
    _shot(page, folder, "profile-zh")
    page.goto(f"{site.url}/children/{site.director_child}?lang=en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    _shot(page, folder, "profile-en")
    page.goto(f"{site.url}/children/{site.outside_child}?lang=zh")
    expect(page.locator("#policy-reason")).to_be_visible()
    _shot(page, folder, "denied-403")
    context.close()

    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    log_in(page, site, "teacher")
    page.goto(f"{site.url}/children/{site.teacher_child}")
    registry = page.locator("[data-source='education.student_registry'] summary").first
    registry.click()
    registry.scroll_into_view_if_needed()
    expect(page.locator("[data-field='id_number'] .masked").first).to_be_visible()
    _shot(page, folder, "teacher-masked")
    context.close()

    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    log_in(page, site, "civil")
    page.goto(f"{site.url}/reviews")
    _shot(page, folder, "review-queue")
    page.click("#queue li[data-review] a >> nth=0")
    expect(page.locator("table.waterfall")).to_be_visible()
    _shot(page, folder, "review-pair")
    context.close()

    context = browser.new_context(
        viewport=PHONE, device_scale_factor=1, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    page = context.new_page()
    log_in(page, site, "director")
    page.goto(f"{site.url}/children/{site.director_child}")
    _shot(page, folder, "phone-profile")
    context.close()
