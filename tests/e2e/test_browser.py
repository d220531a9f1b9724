"""The main flows in real headless Chromium against a real server (SQLite)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, Request, expect

from childlink.access.choices import Role
from childlink.identity.service import create_user
from childlink.store.engine import unit_of_work
from e2e.conftest import ID_MASKED, Site, log_in

FULL_ID = re.compile(r"\b\d{17}[\dX]\b")

NO_HORIZONTAL_OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const offenders = [];
  for (const element of document.querySelectorAll('body *')) {
    if (element.closest('.table-wrap')) continue;  // tables scroll inside their own box
    const box = element.getBoundingClientRect();
    if (box.width > 0 && box.right > width + 1) {
      offenders.push(element.tagName + '.' + element.className);
    }
  }
  return {scroll: document.documentElement.scrollWidth, width, offenders: offenders.slice(0, 5)};
}"""


def test_login_with_a_wrong_password_is_refused(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/login")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.fill("#username", "director")
    page.fill("#password", "not-the-password")
    page.click("form[action='/login'] button[type=submit]")
    error = page.locator("#login-error")
    expect(error).to_have_attribute("data-error", "bad_credentials")
    expect(error).to_contain_text("用户名或密码错误")
    assert page.url.startswith(f"{site.url}/login")
    # Nothing behind the login is reachable: the start page sends us back to the form.
    page.goto(f"{site.url}/")
    assert page.url.startswith(f"{site.url}/login")


def test_login_shows_who_and_where_and_the_purpose(page: Page, site: Site) -> None:
    log_in(page, site, "director", purpose="risk_screening")
    whoami = page.locator("#whoami")
    expect(whoami.locator("[data-role]")).to_have_text("儿童主任")
    village = site.accounts["director"].jurisdiction
    assert village is not None
    expect(whoami.locator("[data-jurisdiction]")).to_contain_text(village)
    expect(page.locator("[data-purpose]")).to_have_attribute("data-purpose", "risk_screening")
    expect(page.locator("#purpose")).to_have_value("risk_screening")
    # Changing the purpose is kept for the following pages.
    page.select_option("#purpose", "case_work")
    page.click("form[action='/purpose'] button[type=submit]")
    expect(page.locator("[data-purpose]")).to_have_attribute("data-purpose", "case_work")
    page.goto(f"{site.url}/search")
    expect(page.locator("[data-purpose]")).to_have_attribute("data-purpose", "case_work")
    # Log out ends the session.
    page.click("form[action='/logout'] button")
    page.wait_for_url(re.compile(r".*/login.*"))
    page.goto(f"{site.url}/search?q=abc")
    assert page.url.startswith(f"{site.url}/login")


def test_search_finds_children_only_within_the_jurisdiction(page: Page, site: Site) -> None:
    log_in(page, site, "director")
    own = site.name_of(site.director_child)
    page.goto(f"{site.url}/search")
    # Typing searches through htmx: results appear without a page load.
    page.fill("#q", own)
    hit = page.locator(f"#results [data-child='{site.director_child}'] a")
    expect(hit).to_be_visible()
    expect(hit).to_contain_text(own)
    assert f"q={own}" in page.url or "q=%" in page.url  # pushed to the address bar

    outside = site.name_of(site.outside_child)
    page.goto(f"{site.url}/search?q={outside}")
    expect(page.locator("#result-count")).to_be_visible()
    expect(page.locator(f"#results [data-child='{site.outside_child}']")).to_have_count(0)

    hit = page.goto(f"{site.url}/search?q={own}")
    assert hit is not None
    assert hit.status == 200
    page.click(f"#results [data-child='{site.director_child}'] a")
    page.wait_for_url(f"{site.url}/children/{site.director_child}")


def test_profile_in_chinese_then_english(page: Page, site: Site) -> None:
    log_in(page, site, "director")
    page.goto(f"{site.url}/children/{site.director_child}")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("h2").first).to_have_text("各部门记录")
    expect(page.locator("#child-header h1")).to_contain_text(site.name_of(site.director_child))
    provenance = page.locator(".provenance").first
    expect(provenance).to_contain_text("来源文件")
    expect(provenance).to_contain_text("第几行")

    page.click("a[hreflang='en']")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h2").first).to_have_text("Records by department")
    expect(page.locator(".provenance").first).to_contain_text("Source file")
    expect(page.locator("#child-header [data-sex]")).to_have_text(re.compile("Male|Female|Unknown"))
    # The choice is remembered (cookie) on the next page.
    page.goto(f"{site.url}/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#whoami [data-role]")).to_have_text("Village child director")
    page.goto(f"{site.url}/?lang=zh")
    expect(page.locator("#whoami [data-role]")).to_have_text("儿童主任")


def test_teacher_sees_masked_id_and_no_health_records(page: Page, site: Site) -> None:
    log_in(page, site, "teacher")
    page.goto(f"{site.url}/children/{site.teacher_child}")
    ids = page.locator("[data-field='id_number'] .masked")
    assert ids.count() > 0
    for text in ids.all_text_contents():
        assert ID_MASKED.match(text.strip()), text
    main = page.locator("main").text_content() or ""  # collapsed records included
    assert not FULL_ID.search(main), "a full ID number reached a teacher"
    assert page.locator("[data-department='education']").count() == 1
    assert page.locator("[data-source^='health.']").count() == 0
    assert page.locator("[data-department='health']").count() == 0
    for field in ("icd10", "diagnosis", "score", "instrument"):
        assert page.locator(f"[data-field='{field}']").count() == 0
    # The page says that more sources exist without showing them.
    expect(page.locator("#withheld")).to_be_visible()

    # The same child for the county civil-affairs officer: the ID number in full.
    page.context.clear_cookies()
    log_in(page, site, "civil")
    page.goto(f"{site.url}/children/{site.teacher_child}")
    full = page.locator("[data-field='id_number']").first
    assert FULL_ID.search(full.text_content() or "")
    assert page.locator("[data-field='id_number'] .masked").count() == 0


def test_village_child_director_sees_what_her_policy_allows(page: Page, site: Site) -> None:
    log_in(page, site, "director")
    page.goto(f"{site.url}/children/{site.director_child}")
    # Identifiers masked, identity and contact in full (civil-affairs agreement).
    masked_ids = page.locator("[data-field='id_number'] .masked")
    assert masked_ids.count() > 0
    for text in masked_ids.all_text_contents():
        assert ID_MASKED.match(text.strip()), text
    assert not FULL_ID.search(page.locator("main").text_content() or "")
    names = page.locator("[data-field='name']")
    assert names.count() > 0
    assert names.locator(".masked").count() == 0
    address = page.locator("[data-field='address']")
    if address.count():
        assert address.locator(".masked").count() == 0
    # No health or mental-health data for a child director.
    assert page.locator("[data-source^='health.']").count() == 0


def test_child_outside_the_jurisdiction_is_refused_with_the_reason(page: Page, site: Site) -> None:
    log_in(page, site, "director")
    response = page.goto(f"{site.url}/children/{site.outside_child}")
    assert response is not None
    assert response.status == 403
    expect(page.locator("h1")).to_have_text("无权访问")
    expect(page.locator("#policy-reason")).to_contain_text("outside your jurisdiction")
    expect(page.locator("#reason")).to_contain_text("不在您的管辖范围")
    assert site.name_of(site.outside_child) not in page.locator("main").inner_text()
    expect(page.locator("form.break-glass textarea[name=reason]")).to_have_attribute("required", "")
    page.click("a[hreflang='en']")
    expect(page.locator("h1")).to_have_text("Access denied")
    expect(page.locator("#reason")).to_contain_text("outside your jurisdiction")


def test_break_glass_needs_a_reason_and_then_opens_the_file(page: Page, site: Site) -> None:
    log_in(page, site, "supervisor")
    url = f"{site.url}/children/{site.glass_child}"
    first = page.goto(url)
    assert first is not None
    assert first.status == 403
    # Too short a reason is refused by the service (the browser's minlength is bypassed).
    page.locator("#reason-text").evaluate("el => el.removeAttribute('minlength')")
    page.fill("#reason-text", "urgent")
    page.click("form.break-glass button")
    expect(page.locator("#policy-reason")).to_contain_text("at least 10 characters")
    page.fill("#reason-text", "村委会报告该儿童今晚独自在家且受伤，需立即联系监护人")
    page.click("form.break-glass button")
    page.wait_for_url(url)
    expect(page.locator("#break-glass-active")).to_be_visible()
    expect(page.locator("#child-header h1")).to_contain_text(site.name_of(site.glass_child))


def test_review_queue_shows_a_pair_and_records_a_decision(page: Page, site: Site) -> None:
    log_in(page, site, "civil")
    page.click("nav a[href='/reviews']")
    first = page.locator("#queue li[data-review] a").first
    expect(first).to_be_visible()
    review_id = first.locator("xpath=..").get_attribute("data-review")
    first.click()
    page.wait_for_url(f"{site.url}/reviews/{review_id}")
    expect(page.locator(".pair section")).to_have_count(2)
    expect(page.locator("table.waterfall tbody tr").first).to_be_visible()
    expect(page.locator("#review-status")).to_have_attribute("data-status", "pending")
    # A forged form post without the CSRF token is refused.
    forged = page.request.post(
        f"{site.url}/reviews/{review_id}/decide", form={"decision": "reject"}
    )
    assert forged.status == 403
    page.fill("#note", "不同儿童：出生日期不同")
    page.click("button[value=reject]")
    expect(page.locator("#review-status")).to_have_attribute("data-status", "rejected")
    expect(page.locator("#review-status")).to_have_text("已确认不同人")
    page.goto(f"{site.url}/reviews")
    expect(page.locator(f"#queue li[data-review='{review_id}']")).to_have_count(0)


def test_roles_without_review_duty_get_no_queue(page: Page, site: Site) -> None:
    log_in(page, site, "teacher")
    assert page.locator("nav a[href='/reviews']").count() == 0
    response = page.goto(f"{site.url}/reviews")
    assert response is not None
    assert response.status == 403
    expect(page.locator("#policy-reason")).to_contain_text("review.decide")


@pytest.mark.parametrize("path", ["/", "/search?q={name}", "/children/{child}", "/login"])
def test_phone_viewport_has_no_horizontal_scroll(phone: Page, site: Site, path: str) -> None:
    if path != "/login":
        log_in(phone, site, "director")
    target = path.format(name=site.name_of(site.director_child)[:2], child=site.director_child)
    phone.goto(f"{site.url}{target}")
    result = phone.evaluate(NO_HORIZONTAL_OVERFLOW)
    assert result["scroll"] <= result["width"], result
    assert not result["offenders"], result


def test_pages_load_nothing_from_other_hosts(page: Page, site: Site) -> None:
    requested: list[str] = []

    def note(request: Request) -> None:
        requested.append(request.url)

    page.on("request", note)
    log_in(page, site, "director")
    page.goto(f"{site.url}/search?q={site.name_of(site.director_child)}")
    page.goto(f"{site.url}/children/{site.director_child}")
    page.goto(f"{site.url}/children/{site.outside_child}")
    assert requested
    foreign = [url for url in requested if not url.startswith((site.url, "data:"))]
    assert not foreign, foreign
    html = page.content()
    assert not re.findall(r"https?://(?!127\.0\.0\.1)", html)
    # htmx and the stylesheet came from /static.
    assert f"{site.url}/static/htmx.min.js" in requested
    assert f"{site.url}/static/childlink.css" in requested


def test_repeated_wrong_passwords_lock_the_account(page: Page, site: Site) -> None:
    with unit_of_work(site.factory) as session:
        create_user(
            session, username="e2e-lockout", role=Role.TEACHER, password="right-password-123"
        )
    page.goto(f"{site.url}/login")
    for _ in range(site.settings.login_max_failures):
        page.fill("#username", "e2e-lockout")
        page.fill("#password", "wrong-password-000")
        page.click("form[action='/login'] button[type=submit]")
        expect(page.locator("#login-error")).to_be_visible()
    # Now even the right password is refused, and the page says the account is locked.
    page.fill("#username", "e2e-lockout")
    page.fill("#password", "right-password-123")
    page.click("form[action='/login'] button[type=submit]")
    error = page.locator("#login-error")
    expect(error).to_have_attribute("data-error", "locked")
    expect(error).to_contain_text("锁定")
    expect(error).to_contain_text("UTC")  # when it opens again
    assert page.url.startswith(f"{site.url}/login")
