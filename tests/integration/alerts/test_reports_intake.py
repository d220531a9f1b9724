"""Mandatory report intake over real HTTP (API and web form), on SQLite and PostgreSQL.

A report becomes a source record of ``procuratorate.mandatory_reports`` (standardised, with
provenance), finds its child (exact ID number, else incremental linkage, else a provisional
child) and raises a critical alert at once. Hostile and incomplete input gets a clear answer,
and never loses a report that can be used.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from childlink.alerts.choices import AlertSeverity, AlertSource
from childlink.alerts.models import Alert, AlertRecipient, MandatoryReport
from childlink.children.models import MasterChild
from childlink.identity.models import User
from childlink.identity.service import issue_api_key
from childlink.risk.choices import RiskType
from childlink.sources.choices import RecordStatus
from childlink.sources.models import DataSource, SourceRecord
from childlink.store.engine import unit_of_work
from integration.alerts.conftest import AlertCounty
from support import LiveServer

RECEIPT = re.compile(r"^QZBG-\d{8}-[2-9A-HJ-NP-Z]{8}$")
DESCRIPTION = "孩子手臂有多处淤青，自述被父亲用皮带打。"


@pytest.fixture(scope="module")
def server(alert_county: AlertCounty) -> Iterator[LiveServer]:
    with LiveServer(alert_county.settings) as live:
        yield live


def login(county: AlertCounty, server: LiveServer, username: str) -> tuple[httpx.Client, str]:
    account = county.accounts[username]
    client = httpx.Client(base_url=server.url, timeout=120)
    response = client.post(
        "/api/v1/auth/login", json={"username": account.username, "password": account.password}
    )
    assert response.status_code == 200, response.text
    return client, str(response.json()["csrf_token"])


def known_child(county: AlertCounty) -> tuple[uuid.UUID, str, str]:
    """An unused child of the demo village with a valid ID number: (id, name, ID number)."""
    (child,) = county.take(RiskType.MALTREATMENT, source_prefix="public_security.household")
    with county.factory() as session:
        row = session.execute(
            sa.select(MasterChild.display_name, SourceRecord.id_number)
            .join(SourceRecord, SourceRecord.master_child_id == MasterChild.id)
            .where(MasterChild.id == child, SourceRecord.id_number.is_not(None))
            .limit(1)
        ).first()
    assert row is not None
    return child, str(row[0]), str(row[1])


def report(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "child_name": "王小明",
        "child_birth_date": "2015-03-02",
        "harm": "physical_abuse",
        "description": DESCRIPTION,
        "reporter_kind": "school",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def test_report_by_id_number_alerts_the_childs_workers_at_once(
    alert_county: AlertCounty, server: LiveServer
) -> None:
    child, name, id_number = known_child(alert_county)
    client, csrf = login(alert_county, server, "teacher")
    with closing(client):
        filed = client.post(
            "/api/v1/mandatory-reports",
            json=report(child_name=name, child_id_number=id_number, child_birth_date=None),
            headers={"X-CSRF-Token": csrf},
        )
        assert filed.status_code == 201, filed.text
        receipt = filed.json()
        assert RECEIPT.match(receipt["receipt_no"]), receipt["receipt_no"]
        assert receipt["master_child_id"] == str(child)
        assert receipt["provisional_child"] is False
        assert receipt["id_number_flagged"] is False
        shown = client.get(f"/api/v1/mandatory-reports/{receipt['receipt_no']}")
        assert shown.status_code == 200, shown.text
        assert shown.json()["description"] == DESCRIPTION
        assert shown.json()["reporter_kind"] == "school"
    with alert_county.factory() as session:
        alert = session.get(Alert, uuid.UUID(receipt["alert_id"]))
        assert alert is not None
        assert alert.severity is AlertSeverity.CRITICAL
        assert alert.source is AlertSource.MANDATORY_REPORT
        assert alert.risk is RiskType.MALTREATMENT
        assert alert.explanation["reports"][0]["receipt_no"] == receipt["receipt_no"]
        recipients = set(
            session.scalars(
                sa.select(User.username)
                .join(AlertRecipient, AlertRecipient.user_id == User.id)
                .where(AlertRecipient.alert_id == alert.id)
            )
        )
        assert "director" in recipients
        stored = session.scalar(
            sa.select(MandatoryReport).where(MandatoryReport.receipt_no == receipt["receipt_no"])
        )
        assert stored is not None
        teacher = session.scalar(sa.select(User.id).where(User.username == "teacher"))
        assert stored.reporter_user_id == teacher
        record = session.get(SourceRecord, stored.source_record_id)
        assert record is not None
        assert record.master_child_id == child
        assert record.id_number == id_number
        source = session.get(DataSource, record.source_id)
        assert source is not None
        assert source.code == "procuratorate.mandatory_reports"

    director, _ = login(alert_county, server, "director")
    with closing(director):
        mine = director.get("/api/v1/alerts", headers={"X-Purpose": "case_work"})
        assert receipt["alert_id"] in [a["id"] for a in mine.json()]
        seen = director.get(f"/api/v1/mandatory-reports/{receipt['receipt_no']}")
        assert seen.status_code == 200
    analyst, _ = login(alert_county, server, "analyst")
    with closing(analyst):
        assert analyst.get(f"/api/v1/mandatory-reports/{receipt['receipt_no']}").status_code == 404
        refused = analyst.post(
            "/api/v1/mandatory-reports", json=report(), headers={"X-CSRF-Token": "x"}
        )
        assert refused.status_code == 403


def test_unknown_child_becomes_a_provisional_child_in_the_chosen_village(
    alert_county: AlertCounty, server: LiveServer
) -> None:
    village = alert_county.accounts["director"].jurisdiction
    client, csrf = login(alert_county, server, "doctor")
    with closing(client):
        filed = client.post(
            "/api/v1/mandatory-reports",
            json=report(
                child_name="欧阳未知",
                child_birth_date="2016-07-19",
                child_sex="female",
                region_code=village,
                address="3组12号",
                guardian_name="欧阳大山",
                harm="neglect",
                reporter_kind="hospital",
            ),
            headers={"X-CSRF-Token": csrf},
        )
    assert filed.status_code == 201, filed.text
    receipt = filed.json()
    assert receipt["provisional_child"] is True
    with alert_county.factory() as session:
        child = session.get(MasterChild, uuid.UUID(receipt["master_child_id"]))
        assert child is not None
        assert child.display_name == "欧阳未知"
        assert child.region_code == village
        alert = session.get(Alert, uuid.UUID(receipt["alert_id"]))
        assert alert is not None
        assert alert.severity is AlertSeverity.CRITICAL
        assert alert.region_code == village
        assert alert.explanation["reports"][0]["provisional_child"] is True
        # Minors Protection Law art. 11: the report reaches the civil-affairs authority at
        # once (level 0), even though the village's first line may not see a report-only child.
        told_at_once = set(
            session.scalars(
                sa.select(User.username)
                .join(AlertRecipient, AlertRecipient.user_id == User.id)
                .where(AlertRecipient.alert_id == alert.id, AlertRecipient.level == 0)
            )
        )
        assert "civil" in told_at_once


def test_bad_id_number_is_accepted_but_flagged(
    alert_county: AlertCounty, server: LiveServer
) -> None:
    _child, name, id_number = known_child(alert_county)
    wrong = id_number[:-1] + ("0" if id_number[-1] != "0" else "1")
    client, csrf = login(alert_county, server, "teacher")
    with closing(client):
        filed = client.post(
            "/api/v1/mandatory-reports",
            json=report(child_name=name, child_id_number=wrong, child_birth_date=None),
            headers={"X-CSRF-Token": csrf},
        )
    assert filed.status_code == 201, filed.text
    receipt = filed.json()
    assert receipt["id_number_flagged"] is True
    assert receipt["alert_id"]
    with alert_county.factory() as session:
        stored = session.scalar(
            sa.select(MandatoryReport).where(MandatoryReport.receipt_no == receipt["receipt_no"])
        )
        assert stored is not None
        record = session.get(SourceRecord, stored.source_record_id)
        assert record is not None
        assert record.status is not RecordStatus.QUARANTINED
        assert record.id_number is None
        assert "id_number:id_bad_check" in record.flags
        assert record.attributes.get("id_number_as_given") == wrong


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (report(child_name=""), "child_name"),
        (report(child_name=None), "child_name"),
        (report(child_name="<script>alert(1)</script>"), "child_name"),
        (report(child_birth_date=None), "child_id_number"),
        (report(description="太短了"), "description"),
        (report(description="长" * 2001), "description"),
        (report(harm="alien_abduction"), "harm"),
        (report(reporter_kind="journalist"), "reporter_kind"),
        (report(child_birth_date="2001-01-01"), "child_birth_date"),
        (report(region_code="999999999999"), "region_code"),
    ],
)
def test_unusable_reports_are_refused_with_the_field_to_fix(
    alert_county: AlertCounty, server: LiveServer, body: dict[str, Any], field: str
) -> None:
    client, csrf = login(alert_county, server, "teacher")
    with alert_county.factory() as session:
        before = session.scalar(sa.select(sa.func.count()).select_from(MandatoryReport))
    with closing(client):
        refused = client.post(
            "/api/v1/mandatory-reports", json=body, headers={"X-CSRF-Token": csrf}
        )
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert field in error["message"]
    with alert_county.factory() as session:
        after = session.scalar(sa.select(sa.func.count()).select_from(MandatoryReport))
    assert after == before


def test_anonymous_and_department_keys_cannot_file(
    alert_county: AlertCounty, server: LiveServer
) -> None:
    anonymous = httpx.post(f"{server.url}/api/v1/mandatory-reports", json=report())
    assert anonymous.status_code == 401
    with unit_of_work(alert_county.factory) as session:
        _row, key = issue_api_key(session, "procuratorate", name="report test")
    keyed = httpx.post(
        f"{server.url}/api/v1/mandatory-reports", json=report(), headers={"X-API-Key": key}
    )
    assert keyed.status_code == 403, keyed.text
    assert "API keys" in keyed.json()["error"]["message"]
    client, _csrf = login(alert_county, server, "teacher")
    with closing(client):
        no_csrf = client.post("/api/v1/mandatory-reports", json=report())
        assert no_csrf.status_code == 403


def test_web_form_files_a_report_and_escapes_what_it_shows(
    alert_county: AlertCounty, server: LiveServer
) -> None:
    village = alert_county.accounts["director"].jurisdiction
    client, csrf = login(alert_county, server, "teacher")
    hostile = "<script>alert('x')</script> 孩子说晚上不敢回家"
    with closing(client):
        form = client.get("/reports/new")
        assert form.status_code == 200
        assert "强制报告" in form.text
        assert f'value="{village}"' in form.text

        missing = client.post(
            "/reports/new",
            data={"csrf_token": csrf, "child_name": "", "description": hostile, "harm": "x"},
        )
        assert missing.status_code == 422
        assert 'data-problem="harm"' in missing.text
        assert "<script>alert" not in missing.text
        assert "&lt;script&gt;" in missing.text

        too_long = client.post(
            "/reports/new",
            data={
                "csrf_token": csrf,
                "child_name": "李" * 60,
                "child_birth_date": "2014-05-06",
                "harm": "neglect",
                "description": "孩子长期无人照料，经常饿肚子。",
                "reporter_kind": "school",
            },
        )
        assert too_long.status_code == 422
        assert 'data-problem="child_name"' in too_long.text
        assert "最多 50 个字符" in too_long.text

        no_csrf = client.post("/reports/new", data={"child_name": "李雷"})
        assert no_csrf.status_code == 403

        filed = client.post(
            "/reports/new",
            data={
                "csrf_token": csrf,
                "child_name": "李小雷",
                "child_birth_date": "2014-05-06",
                "region_code": village or "",
                "harm": "domestic_violence",
                "description": hostile,
                "reporter_kind": "school",
            },
        )
        assert filed.status_code == 303, filed.text
        location = filed.headers["location"]
        assert re.match(r"^/reports/QZBG-\d{8}-\w{8}$", location)
        page = client.get(location)
        assert page.status_code == 200
        assert "<script>alert" not in page.text
        assert "&lt;script&gt;" in page.text
        assert re.search(r'id="receipt-no">QZBG-', page.text)
        english = client.get(location, params={"lang": "en"})
        assert "Receipt number" in english.text

    police, _ = login(alert_county, server, "analyst")
    with closing(police):
        assert police.get(location).status_code == 404
