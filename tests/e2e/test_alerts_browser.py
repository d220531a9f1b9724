"""Live alerts and the mandatory-report form in real Chromium.

The village child director keeps "我的预警" open; an alert raised for a child of her village
(a scoring run's rule hits, committed by the test outside the server) appears at the top of
the table without a reload, through the page's EventSource, and the open-alert badge counts
up. A teacher files a mandatory report about a child of that village (known by ID number)
through the form and sees the receipt; the director's open inbox shows the critical alert.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, expect

from childlink.alerts.models import Alert, MandatoryReport
from childlink.alerts.service import raise_alerts_for_run
from childlink.children.choices import ChildStatus
from childlink.children.models import MasterChild
from childlink.risk.choices import RiskType, RuleSeverity
from childlink.sources.models import SourceRecord
from childlink.store.engine import unit_of_work
from e2e.conftest import DESKTOP, Site, log_in
from integration.alerts.conftest import flag_run

LIVE_TIMEOUT_MS = 10_000


@pytest.fixture
def browser_page_pair(browser: Browser) -> Iterator[tuple[Page, Page]]:
    """Two people in two browsers (separate contexts: separate cookies)."""
    contexts = [
        browser.new_context(
            viewport={"width": DESKTOP["width"], "height": DESKTOP["height"]}, locale="zh-CN"
        )
        for _ in range(2)
    ]
    for context in contexts:
        context.set_default_timeout(15_000)
    yield contexts[0].new_page(), contexts[1].new_page()
    for context in contexts:
        context.close()


def _fresh_child(site: Site, risk: RiskType, *, with_id_number: bool = False) -> uuid.UUID:
    """A child of the director's village with no alert of ``risk`` yet."""
    village = site.accounts["director"].jurisdiction
    query = (
        sa.select(MasterChild.id)
        .where(
            MasterChild.status == ChildStatus.ACTIVE,
            MasterChild.region_code == village,
            MasterChild.id.not_in(sa.select(Alert.master_child_id).where(Alert.risk == risk)),
        )
        .order_by(MasterChild.id)
        .limit(1)
    )
    if with_id_number:
        query = query.where(
            MasterChild.id.in_(
                sa.select(SourceRecord.master_child_id).where(SourceRecord.id_number.is_not(None))
            )
        )
    with site.factory() as session:
        found = session.scalar(query)
    assert found is not None, "no child left in the director's village"
    return found


def _known_child(site: Site) -> tuple[uuid.UUID, str, str]:
    """A child of the director's village known by ID number, without a maltreatment alert."""
    child = _fresh_child(site, RiskType.MALTREATMENT, with_id_number=True)
    with site.factory() as session:
        row = session.execute(
            sa.select(MasterChild.display_name, SourceRecord.id_number)
            .join(SourceRecord, SourceRecord.master_child_id == MasterChild.id)
            .where(MasterChild.id == child, SourceRecord.id_number.is_not(None))
            .limit(1)
        ).first()
    assert row is not None
    return child, str(row[0]), str(row[1])


def _alert_of(site: Site, child: uuid.UUID, risk: RiskType) -> uuid.UUID:
    with site.factory() as session:
        found = session.scalar(
            sa.select(Alert.id).where(Alert.master_child_id == child, Alert.risk == risk)
        )
    assert found is not None
    return found


def test_new_alert_appears_in_the_open_inbox_without_reload(page: Page, site: Site) -> None:
    log_in(page, site, "director")
    page.goto(f"{site.url}/alerts")
    expect(page.locator("h1")).to_contain_text("我的预警")
    expect(page.locator("#live-status")).to_have_attribute(
        "data-connected", "true", timeout=LIVE_TIMEOUT_MS
    )
    badge_before = int(page.locator("#alert-badge").inner_text())
    page.evaluate("window.__sameDocument = true")

    child = _fresh_child(site, RiskType.MENTAL_HEALTH)
    with unit_of_work(site.factory) as session:
        run = flag_run(
            session, [(child, RiskType.MENTAL_HEALTH, RuleSeverity.URGENT, "e2e.mental_health")]
        )
        raise_alerts_for_run(session, run)
    alert_id = _alert_of(site, child, RiskType.MENTAL_HEALTH)

    row = page.locator(f"#alerts tbody tr[data-alert-id='{alert_id}']")
    expect(row).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(page.locator("#alerts tbody tr").first).to_have_attribute("data-alert-id", str(alert_id))
    expect(row).to_contain_text("心理健康")
    expect(row.locator("[data-status-label]")).to_have_text("待确认")
    expect(page.locator("#alert-badge")).to_have_text(str(badge_before + 1))
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"

    row.locator("a").click()
    page.wait_for_url(f"**/alerts/{alert_id}")
    expect(page.locator("#alert-explanation")).to_contain_text("测试规则 e2e.mental_health")
    expect(page.locator("#alert-explanation .risk-facts li").first).to_be_visible()
    page.click("#ack-form button")
    page.wait_for_url(re.compile(rf".*/alerts/{alert_id}\?done=acknowledged"))
    expect(page.locator("#alert-title")).to_have_attribute("data-status", "acknowledged")


def test_mandatory_report_form_gives_a_receipt_and_alerts_the_director(
    browser_page_pair: tuple[Page, Page], site: Site
) -> None:
    director, teacher = browser_page_pair
    log_in(director, site, "director")
    director.goto(f"{site.url}/alerts")
    expect(director.locator("#live-status")).to_have_attribute(
        "data-connected", "true", timeout=LIVE_TIMEOUT_MS
    )

    log_in(teacher, site, "teacher")
    teacher.goto(f"{site.url}/reports/new")
    expect(teacher.locator("h1")).to_have_text("强制报告")
    child, name, id_number = _known_child(site)
    teacher.fill("#child_name", name)
    teacher.fill("#child_id_number", id_number)
    teacher.select_option("#harm", "neglect")
    teacher.fill("#description", "<b>孩子</b>连续三天没有吃午饭，衣服单薄，说家里没有大人。")
    teacher.select_option("#reporter_kind", "school")
    teacher.click("#report-submit")
    teacher.wait_for_url(re.compile(r".*/reports/QZBG-\d{8}-\w{8}$"))
    expect(teacher.locator("#receipt-no")).to_have_text(re.compile(r"^QZBG-\d{8}-\w{8}$"))
    expect(teacher.locator("#receipt-description")).to_contain_text("<b>孩子</b>")
    expect(teacher.locator("#receipt-child")).to_have_attribute("data-provisional", "false")

    receipt_no = teacher.locator("#receipt-no").inner_text()
    with site.factory() as session:
        alert_id = session.scalar(
            sa.select(MandatoryReport.alert_id).where(MandatoryReport.receipt_no == receipt_no)
        )
    assert alert_id is not None
    assert _alert_of(site, child, RiskType.MALTREATMENT) == alert_id
    row = director.locator(f"#alerts tbody tr[data-alert-id='{alert_id}']")
    expect(row).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(row).to_have_attribute("data-severity", "critical")
    expect(row).to_contain_text("危急")
