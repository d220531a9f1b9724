"""The profile page shows each risk with its explanation and model version (real Chromium).

Models are registered in the shared site's data directory and every child is scored (adds
rows, changes nothing the other tests look at). A child director (risk granted) sees the risk
section; a teacher (no risk grant) opening a child of her township does not.
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from playwright.sync_api import Page, expect

from childlink.children.models import MasterChild
from childlink.risk.schemas import FlagStatus
from childlink.risk.service import score_children
from childlink.risk.store import RiskFlag
from e2e.conftest import Site, log_in
from risk_support import register_models

PERCENT = re.compile(r"^\d+\.\d%$")


def test_profile_shows_each_risk_with_its_explanation(
    page: Page, site: Site, e2e_county_files: Path
) -> None:
    versions = register_models(site.factory, site.settings.data_dir, e2e_county_files)
    score_children(site.factory, data_dir=site.settings.data_dir, known_from="event")

    log_in(page, site, "director")
    page.goto(f"{site.url}/children/{site.director_child}")
    section = page.locator("#risk")
    expect(section).to_be_visible()
    scores = section.locator(".risk-score")
    expect(scores).to_have_count(3)
    for index in range(3):
        score = scores.nth(index)
        risk = score.get_attribute("data-risk")
        assert risk in versions
        expect(score.locator("[data-model-version]")).to_have_text(versions[risk])
        expect(score.locator("[data-probability]")).to_have_text(PERCENT)
        factors = score.locator(".risk-factors > li[data-feature]")
        assert factors.count() >= 1, f"{risk}: a score without its explanation"
    expect(page.locator("body")).to_contain_text("风险监测")
    expect(page.locator("body")).to_contain_text("推高该评分最多的因素")

    page.click("a[hreflang='en']")
    expect(page.locator("#risk")).to_contain_text("Factors that raised this score most")

    page.click("form[action='/logout'] button")
    log_in(page, site, "civil")
    county_code = str(site.accounts["civil"].jurisdiction)[:6]
    with site.factory() as session:
        flag = session.scalars(
            sa.select(RiskFlag)
            .join(MasterChild, RiskFlag.master_child_id == MasterChild.id)
            .where(
                RiskFlag.is_active.is_(True),
                RiskFlag.status == FlagStatus.OPEN,
                MasterChild.region_code.like(f"{county_code}%"),
            )
            .order_by(RiskFlag.id)
        ).first()
    assert flag is not None, "no open rule flag in the county"
    page.goto(f"{site.url}/children/{flag.master_child_id}")
    card = page.locator(f"[data-flag='{flag.id}']")
    expect(card.locator(".risk-facts li").first).to_be_visible()
    card.locator("textarea[name=reason]").fill("家访核实属实")
    card.locator("button[value=confirm]").click()
    page.wait_for_url(f"**/children/{flag.master_child_id}*")
    expect(page.locator(f"[data-flag='{flag.id}']")).to_have_attribute("data-status", "confirmed")
    with site.factory() as session:
        stored = session.get(RiskFlag, flag.id)
        assert stored is not None
        assert stored.reason == "家访核实属实"
        assert stored.reviewer == "civil"

    page.click("form[action='/logout'] button")
    log_in(page, site, "teacher")
    response = page.goto(f"{site.url}/children/{site.teacher_child}")
    assert response is not None
    assert response.status == 200
    expect(page.locator("#risk")).to_have_count(0)
