"""The API end to end over HTTP: log-in and sessions, CSRF, tokens, reviews, data pushes."""

from __future__ import annotations

import datetime as dt
import uuid
from contextlib import closing

import sqlalchemy as sa

from childlink.audit.models import AuditEntry
from childlink.audit.service import verify_chain
from childlink.children.models import MasterChild
from childlink.core.id_number import compose
from childlink.identity.service import issue_api_key, issue_api_token, revoke_api_key
from childlink.linkage.choices import ReviewStatus
from childlink.linkage.models import LinkReview
from childlink.sources.models import IngestBatch, SourceRecord
from childlink.store.engine import unit_of_work

from .conftest import County


def _entries(county: County, actor: str, action: str) -> list[AuditEntry]:
    with county.factory() as session:
        return list(
            session.scalars(
                sa.select(AuditEntry)
                .where(AuditEntry.actor == actor, AuditEntry.action == action)
                .order_by(AuditEntry.seq)
            )
        )


def test_health_and_docs_are_local(county: County) -> None:
    with county.client() as client:
        health = client.get("/api/v1/health")
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        schema = client.get("/api/v1/openapi.json").json()
        assert "/api/v1/children/{child_id}" in schema["paths"]
        docs = client.get("/api/v1/docs")
        assert docs.status_code == 200
        assert "cdn" not in docs.text.lower()
        assert "/api/v1/docs/assets/swagger-ui-bundle.js" in docs.text
        asset = client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
        assert asset.status_code == 200


def test_login_session_cookie_me_and_logout(county: County) -> None:
    account = county.accounts["supervisor"]
    with county.client() as client:
        wrong = client.post(
            "/api/v1/auth/login", json={"username": "supervisor", "password": "wrong-password"}
        )
        assert wrong.status_code == 401
        assert wrong.json()["error"]["message"] == "invalid username or password"
        response = client.post(
            "/api/v1/auth/login",
            json={"username": account.username, "password": account.password},
        )
        assert response.status_code == 200, response.text
        cookie = response.headers["set-cookie"]
        assert "childlink_session=" in cookie
        assert "HttpOnly" in cookie
        assert "samesite=lax" in cookie.lower()
        csrf = response.json()["csrf_token"]
        me = client.get("/api/v1/auth/me").json()
        assert me["role"] == "supervisor"
        assert me["jurisdiction"] == account.jurisdiction
        assert me["via"] == "session"
        assert me["caseload"] == account.caseload
        # Logging out is a cookie-authenticated POST: it needs the CSRF token.
        refused = client.post("/api/v1/auth/logout")
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "csrf"
        assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
        assert client.get("/api/v1/auth/me").status_code == 401
    logins = _entries(county, "supervisor", "auth.login")
    assert [entry.outcome for entry in logins[-2:]] == ["fail", "ok"]
    assert logins[-2].details["reason"] == "bad_password"


def _in_village_child(county: County) -> MasterChild:
    code = county.accounts["director"].jurisdiction
    assert code is not None
    with county.factory() as session:
        child = session.scalars(
            sa.select(MasterChild)
            .where(MasterChild.region_code == code)
            .order_by(MasterChild.display_name)
        ).first()
        assert child is not None
        session.expunge(child)
        return child


def test_csrf_required_for_cookie_post_not_for_bearer(county: County) -> None:
    child = _in_village_child(county)
    client, csrf = county.login_as("director")
    body = {"reason": "child reported missing by the school today", "minutes": 30}
    with closing(client):
        path = f"/api/v1/children/{child.id}/break-glass"
        no_token = client.post(path, json=body, headers={"X-Purpose": "case_work"})
        assert no_token.status_code == 403
        assert "CSRF" in no_token.json()["error"]["message"]
        wrong = client.post(
            path, json=body, headers={"X-Purpose": "case_work", "X-CSRF-Token": "x" * 43}
        )
        assert wrong.status_code == 403
        ok = client.post(path, json=body, headers={"X-Purpose": "case_work", "X-CSRF-Token": csrf})
        assert ok.status_code == 201, ok.text
        assert ok.json()["master_child_id"] == str(child.id)
        short = client.post(
            path,
            json={"reason": "short", "minutes": 30},
            headers={"X-Purpose": "case_work", "X-CSRF-Token": csrf},
        )
        assert short.status_code == 422
    grants = _entries(county, "director", "break_glass")
    assert grants[-1].outcome == "allow"
    assert grants[-1].details["needs_review"] is True
    # A bearer token is not sent by browsers on their own: no CSRF token needed.
    with unit_of_work(county.factory) as session:
        _row, token = issue_api_token(session, "supervisor", name="test")
    with county.client() as bearer:
        response = bearer.post(
            f"/api/v1/children/{child.id}/break-glass",
            json=body,
            headers={"Authorization": f"Bearer {token}", "X-Purpose": "case_work"},
        )
        assert response.status_code == 201, response.text
        bad = bearer.get("/api/v1/auth/me", headers={"Authorization": "Bearer clt_nonsense"})
        assert bad.status_code == 401


def test_break_glass_opens_a_child_outside_the_area(county: County) -> None:
    director = county.accounts["director"]
    assert director.jurisdiction is not None
    with county.factory() as session:
        outside = session.scalars(
            sa.select(MasterChild)
            .where(
                MasterChild.region_code.is_not(None),
                sa.not_(MasterChild.region_code.like(f"{director.jurisdiction[:9]}%")),
            )
            .order_by(MasterChild.id)
        ).first()
        assert outside is not None
    client, csrf = county.login_as("director")
    headers = {"X-Purpose": "case_work", "X-CSRF-Token": csrf}
    with closing(client):
        before = client.get(f"/api/v1/children/{outside.id}", headers=headers)
        assert before.status_code == 403
        assert "outside your jurisdiction" in before.json()["error"]["message"]
        opened = client.post(
            f"/api/v1/children/{outside.id}/break-glass",
            json={"reason": "police called: child found alone at the bus station"},
            headers=headers,
        )
        assert opened.status_code == 201, opened.text
        after = client.get(f"/api/v1/children/{outside.id}", headers=headers)
        assert after.status_code == 200
        assert after.json()["break_glass"] is True
    views = [e for e in _entries(county, "director", "child.view") if e.child_id == outside.id]
    assert [entry.outcome for entry in views[-2:]] == ["deny", "allow"]
    assert views[-1].details["break_glass"] is True


def test_search_is_limited_to_the_jurisdiction(county: County) -> None:
    child = _in_village_child(county)
    director, _ = county.login_as("director")
    civil, _ = county.login_as("civil")
    with closing(director), closing(civil):
        params = {"q": child.display_name, "purpose": "case_work"}
        found = director.get("/api/v1/children", params=params)
        assert found.status_code == 200
        assert str(child.id) in {hit["master_child_id"] for hit in found.json()}
        # A child of another township, by name: the county officer finds it, the director not.
        with county.factory() as session:
            other = session.scalars(
                sa.select(MasterChild)
                .where(
                    MasterChild.region_code.is_not(None),
                    sa.not_(MasterChild.region_code.like(f"{str(child.region_code)[:9]}%")),
                )
                .order_by(MasterChild.id)
            ).first()
            assert other is not None
        params = {"q": other.display_name, "purpose": "case_work"}
        assert str(other.id) in {
            hit["master_child_id"] for hit in civil.get("/api/v1/children", params=params).json()
        }
        assert str(other.id) not in {
            hit["master_child_id"] for hit in director.get("/api/v1/children", params=params).json()
        }
        teacher, _ = county.login_as("teacher")
        with closing(teacher):
            refused = teacher.get(
                "/api/v1/children", params={"q": child.display_name, "purpose": "statistics"}
            )
            assert refused.status_code == 403


def test_review_queue_over_http(county: County) -> None:
    with county.factory() as session:
        pending = session.scalars(
            sa.select(LinkReview)
            .where(LinkReview.status == ReviewStatus.PENDING)
            .order_by(LinkReview.match_probability)
        ).all()
    assert pending, "the test county should leave pairs in the review queue"
    civil, csrf = county.login_as("civil")
    director, director_csrf = county.login_as("director")
    with closing(civil), closing(director):
        headers = {"X-Purpose": "case_work", "X-CSRF-Token": csrf}
        listed = civil.get("/api/v1/reviews", headers=headers)
        assert listed.status_code == 200, listed.text
        ids = [item["id"] for item in listed.json()["items"]]
        assert str(pending[0].id) in ids
        shown = civil.get(f"/api/v1/reviews/{pending[0].id}", headers=headers)
        assert shown.status_code == 200
        assert "comparisons" in shown.json()["waterfall"]
        refused = director.get(
            "/api/v1/reviews", headers={"X-Purpose": "case_work", "X-CSRF-Token": director_csrf}
        )
        assert refused.status_code == 403
        rejected = civil.post(
            f"/api/v1/reviews/{pending[0].id}/reject",
            json={"note": "different children: twins"},
            headers=headers,
        )
        assert rejected.status_code == 200, rejected.text
        again = civil.post(f"/api/v1/reviews/{pending[0].id}/reject", headers=headers)
        assert again.status_code == 409
        missing = civil.get(f"/api/v1/reviews/{uuid.uuid4()}", headers=headers)
        assert missing.status_code == 404
    with county.factory() as session:
        review = session.get(LinkReview, pending[0].id)
        assert review is not None
        assert review.status == ReviewStatus.REJECTED
        assert review.reviewer == "civil"
    decisions = _entries(county, "civil", "review.decide")
    assert any(e.details.get("operation") == "reject" for e in decisions)
    assert _entries(county, "director", "review.decide")[-1].outcome == "deny"


WELFARE_HEADER = ["姓名", "身份证号码", "性别", "出生日期", "救助类别", "享受起始日期"]


def test_api_key_push_ingests_rows_and_quarantines_bad_ones(county: County) -> None:
    with unit_of_work(county.factory) as session:
        _row, key = issue_api_key(session, "civil_affairs", name="test feed")
        _row, other_key = issue_api_key(session, "education", name="school feed")
        revoked_row, revoked = issue_api_key(session, "civil_affairs", name="old")
        revoke_api_key(session, revoked_row.prefix)
    rows = [
        {
            "姓名": "测试童",
            "身份证号码": compose("522799", dt.date(2015, 3, 1), 1),
            "性别": "男",
            "出生日期": "2015-03-01",
            "救助类别": "低保",
            "享受起始日期": "2026-01-01",
        },
        {
            "姓名": "测试囡",
            "身份证号码": "",
            "性别": "女",
            "出生日期": "2016年5月2日",
            "救助类别": "孤儿基本生活费",
            "享受起始日期": "2026-02-01",
        },
        {
            "姓名": "坏日期",
            "身份证号码": "",
            "性别": "女",
            "出生日期": "2016-13-45",
            "救助类别": "低保",
            "享受起始日期": "2026-02-01",
        },
        {
            "姓名": "",
            "身份证号码": "",
            "性别": "男",
            "出生日期": "2014-01-01",
            "救助类别": "低保",
            "享受起始日期": "2026-02-01",
        },
        {
            "姓名": "怪类别",
            "身份证号码": "",
            "性别": "男",
            "出生日期": "2014-01-01",
            "救助类别": "不存在的类别",
            "享受起始日期": "2026-02-01",
        },
    ]
    path = "/api/v1/ingest/civil_affairs.welfare_rolls"
    with county.client() as client:
        assert client.post(path, json=rows).status_code == 401
        assert client.post(path, json=rows, headers={"X-API-Key": revoked}).status_code == 401
        wrong = client.post(path, json=rows, headers={"X-API-Key": other_key})
        assert wrong.status_code == 403
        assert "education" in wrong.json()["error"]["message"]
        unknown = client.post(
            "/api/v1/ingest/no.such_source", json=rows, headers={"X-API-Key": key}
        )
        assert unknown.status_code == 404
        empty = client.post(path, json=[], headers={"X-API-Key": key})
        assert empty.status_code == 422
        # An API key may push, never read.
        read = client.get(
            "/api/v1/children",
            params={"q": "测试"},
            headers={"X-API-Key": key, "X-Purpose": "case_work"},
        )
        assert read.status_code == 403
        response = client.post(path, json=rows, headers={"X-API-Key": key})
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["rows_in"] == 5
    assert result["reconciles"] is True
    # An impossible birth date is removed and flagged (fixed); no name or an unknown
    # programme code cannot be repaired: those rows are quarantined with their reason.
    assert result["accepted"] + result["fixed"] == 3
    assert result["quarantined"] == 2
    reasons = {item["row"]: item["reason"] for item in result["quarantine"]}
    assert set(reasons) == {4, 5}
    assert reasons[4] == "required_missing"
    assert reasons[5] == "code_unknown"
    assert all(item["message"] for item in result["quarantine"])
    with county.factory() as session:
        batch = session.get(IngestBatch, uuid.UUID(result["batch_id"]))
        assert batch is not None
        assert batch.file_name.endswith(".jsonl")
        names = set(
            session.scalars(sa.select(SourceRecord.name).where(SourceRecord.batch_id == batch.id))
        )
        assert {"测试童", "测试囡", "坏日期"} <= names
    pushes = list(_entries(county, f"apikey:civil_affairs:{key[:12]}", "data.push"))
    assert [e.outcome for e in pushes][-1] == "allow"
    assert any(
        e.outcome == "deny"
        for e in _entries(county, f"apikey:education:{other_key[:12]}", "data.push")
    )


def test_audit_chain_verifies_after_api_traffic(county: County) -> None:
    with county.factory() as session:
        report = verify_chain(session)
    assert report.ok, report
