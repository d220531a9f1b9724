"""One browser pass on PostgreSQL: log in and open a profile (the rest runs on SQLite)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from e2e.conftest import ID_MASKED, Site, log_in

pytestmark = pytest.mark.postgres


def test_login_and_profile_on_postgres(page: Page, postgres_site: Site) -> None:
    site = postgres_site
    log_in(page, site, "director")
    expect(page.locator("#whoami [data-role]")).to_have_text("儿童主任")
    response = page.goto(f"{site.url}/children/{site.director_child}")
    assert response is not None
    assert response.status == 200
    expect(page.locator("#child-header h1")).to_contain_text(site.name_of(site.director_child))
    masked = page.locator("[data-field='id_number'] .masked")
    assert masked.count() > 0
    assert all(ID_MASKED.match(text.strip()) for text in masked.all_text_contents())
    denied = page.goto(f"{site.url}/children/{site.outside_child}")
    assert denied is not None
    assert denied.status == 403
