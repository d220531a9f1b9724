"""The alerts API over real HTTP (uvicorn + httpx), on SQLite and PostgreSQL.

Alerts are raised the way the platform raises them (a scoring run's flags →
``raise_alerts_for_run`` in one transaction); the village child director of the demo village is
their first-line recipient. Permissions, errors, the respond verbs and the live stream (Server-
Sent Events) are checked as a browser or a script sees them.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from childlink.alerts.models import Alert
from childlink.alerts.service import raise_alerts_for_run
from childlink.audit.models import AuditEntry
from childlink.identity.service import issue_api_token
from childlink.risk.choices import RiskType, RuleSeverity
from childlink.store.engine import unit_of_work
from integration.alerts.conftest import AlertCounty, flag_run
from support import LiveServer

CASE_WORK = {"X-Purpose": "case_work"}


@pytest.fixture(scope="module")
def server(alert_county: AlertCounty) -> Iterator[LiveServer]:
    with LiveServer(alert_county.settings) as live:
        yield live


def login(county: AlertCounty, server: LiveServer, username: str) -> tuple[httpx.Client, str]:
    """A client with the person's session cookie, and the CSRF token."""
    account = county.accounts[username]
    client = httpx.Client(base_url=server.url, timeout=60, headers=CASE_WORK)
    response = client.post(
        "/api/v1/auth/login", json={"username": account.username, "password": account.password}
    )
    assert response.status_code == 200, response.text
    return client, str(response.json()["csrf_token"])


def new_alert(
    county: AlertCounty,
    *,
    severity: RuleSeverity = RuleSeverity.URGENT,
    risk: RiskType = RiskType.DROPOUT,
    now: dt.datetime | None = None,
) -> tuple[uuid.UUID, uuid.UUID]:
    """A new alert for an unused child of the director's village: (alert id, child id).

    ``now`` dates the alert and its inbox items (a transaction that began earlier)."""
    (child,) = county.take(risk)
    with unit_of_work(county.factory) as session:
        run = flag_run(session, [(child, risk, severity, f"test.{risk.value}")])
        raise_alerts_for_run(session, run, now=now)
    with county.factory() as session:
        found = session.scalar(
            sa.select(Alert.id).where(Alert.master_child_id == child, Alert.risk == risk)
        )
    assert found is not None
    return found, child


def test_recipient_lists_and_opens_an_alert_with_its_explanation(
    alert_county: AlertCounty, server: LiveServer
) -> None:
    alert_id, child = new_alert(alert_county)
    client, _csrf = login(alert_county, server, "director")
    with closing(client):
        listed = client.get("/api/v1/alerts")
        assert listed.status_code == 200, listed.text
        ids = [item["id"] for item in listed.json()]
        assert str(alert_id) in ids
        detail = client.get(f"/api/v1/alerts/{alert_id}")
        assert detail.status_code == 200, detail.text
        body = detail.json()
        assert body["master_child_id"] == str(child)
        assert body["severity"] == "high"
        rules = body["explanation"]["rules"]
        assert rules, "an alert without the rule that raised it"
        assert rules[0]["facts"], "an alert without the facts behind it"
        assert "director" in {r["username"] for r in body["recipients"]}
        assert body["events"][0]["kind"] == "created"

        open_only = client.get("/api/v1/alerts", params={"status": "closed"})
        assert str(alert_id) not in [item["id"] for item in open_only.json()]
        no_purpose = client.get("/api/v1/alerts", headers={"X-Purpose": ""})
        assert no_purpose.status_code in (400, 422)
        statistics = client.get("/api/v1/alerts", headers={"X-Purpose": "statistics"})
        assert statistics.status_code == 403


def test_people_who_are_not_recipients_are_refused(
    alert_county: AlertCounty, server: LiveServer
) -> None:
    alert_id, _child = new_alert(alert_county)
    anonymous = httpx.get(f"{server.url}/api/v1/alerts/{alert_id}", headers=CASE_WORK)
    assert anonymous.status_code == 401
    client, csrf = login(alert_county, server, "police")
    with closing(client):
        refused = client.get(f"/api/v1/alerts/{alert_id}")
        assert refused.status_code == 403, refused.text
        assert str(alert_id) not in [a["id"] for a in client.get("/api/v1/alerts").json()]
        ack = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers={"X-CSRF-Token": csrf})
        assert ack.status_code == 403
        missing = client.get(f"/api/v1/alerts/{uuid.uuid4()}")
        assert missing.status_code == 404
        malformed = client.get("/api/v1/alerts/not-a-uuid")
        assert malformed.status_code == 422
    with alert_county.factory() as session:
        denials = session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.actor == "police", AuditEntry.outcome == "deny")
        )
    assert (denials or 0) >= 2


def test_acknowledge_assign_close(alert_county: AlertCounty, server: LiveServer) -> None:
    alert_id, _child = new_alert(alert_county)
    client, csrf = login(alert_county, server, "director")
    token = {"X-CSRF-Token": csrf}
    with closing(client):
        no_csrf = client.post(f"/api/v1/alerts/{alert_id}/acknowledge")
        assert no_csrf.status_code == 403
        ack = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=token)
        assert ack.status_code == 200, ack.text
        assert ack.json()["status"] == "acknowledged"
        assert ack.json()["acknowledged_by"] == "director"
        assert ack.json()["escalate_at"] is None

        nobody = client.post(
            f"/api/v1/alerts/{alert_id}/assign", json={"assignee": "no-such-user"}, headers=token
        )
        assert nobody.status_code == 404, nobody.text
        not_allowed = client.post(
            f"/api/v1/alerts/{alert_id}/assign", json={"assignee": "analyst"}, headers=token
        )
        assert not_allowed.status_code == 403, not_allowed.text
        assigned = client.post(
            f"/api/v1/alerts/{alert_id}/assign", json={"assignee": "supervisor"}, headers=token
        )
        assert assigned.status_code == 200, assigned.text
        assert assigned.json()["assigned_to"] == "supervisor"
        assert assigned.json()["status"] == "assigned"

        bad_outcome = client.post(
            f"/api/v1/alerts/{alert_id}/close",
            json={"outcome": "solved", "reason": "家访核实"},
            headers=token,
        )
        assert bad_outcome.status_code == 422
        short = client.post(
            f"/api/v1/alerts/{alert_id}/close",
            json={"outcome": "false_alarm", "reason": "无"},
            headers=token,
        )
        assert short.status_code in (400, 422), short.text
        closed = client.post(
            f"/api/v1/alerts/{alert_id}/close",
            json={
                "outcome": "false_alarm",
                "reason": "家访核实：孩子在外地上学，缺勤为转学手续延误",
            },
            headers=token,
        )
        assert closed.status_code == 200, closed.text
        assert closed.json()["status"] == "closed"
        assert closed.json()["outcome"] == "false_alarm"
        kinds = [e["kind"] for e in closed.json()["events"]]
        assert kinds[-3:] == ["acknowledged", "assigned", "closed"]
        again = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=token)
        assert again.status_code == 400, again.text

    supervisor, _ = login(alert_county, server, "supervisor")
    with closing(supervisor):
        mine = [a["id"] for a in supervisor.get("/api/v1/alerts").json()]
        assert str(alert_id) in mine


def test_team_view_and_response_times_are_for_supervisors(
    alert_county: AlertCounty, server: LiveServer
) -> None:
    alert_id, _child = new_alert(alert_county)
    director, _ = login(alert_county, server, "director")
    with closing(director):
        assert director.get("/api/v1/alerts", params={"team": "true"}).status_code == 403
        assert director.get("/api/v1/alerts/response-times").status_code == 403
    supervisor, _ = login(alert_county, server, "supervisor")
    with closing(supervisor):
        team = supervisor.get("/api/v1/alerts", params={"team": "true", "status": "open"})
        assert team.status_code == 200, team.text
        assert str(alert_id) in [a["id"] for a in team.json()]
        assert all(a["status"] == "open" for a in team.json())
        times = supervisor.get("/api/v1/alerts/response-times")
        assert times.status_code == 200, times.text
        report = times.json()
        assert report["by"] == "township"
        assert sum(row["alerts"] for row in report["rows"]) >= 1
        by_risk = supervisor.get("/api/v1/alerts/response-times", params={"by": "risk"})
        assert by_risk.status_code == 200
        assert "dropout" in {row["group"] for row in by_risk.json()["rows"]}
        assert (
            supervisor.get("/api/v1/alerts/response-times", params={"by": "name"}).status_code
            == 422
        )


def _events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Parsed SSE events (``comment`` for ``:`` lines) from a line iterator."""
    event: dict[str, str] = {}
    for line in lines:
        if line.startswith(":"):
            yield {"comment": line}
        elif not line:
            if event.get("event") == "alert":
                yield {"id": event.get("id"), **json.loads(event["data"])}
            event = {}
        else:
            name, _, value = line.partition(":")
            event[name] = value.removeprefix(" ")


def _next_about(
    events: Iterator[dict[str, Any]], alert_id: uuid.UUID, timeout: float = 20
) -> dict[str, Any]:
    """The next event about ``alert_id``; fails once ``timeout`` has passed (the stream's
    heartbeats, every 15 s, bound how long a silent stream can hold the check back)."""
    deadline = time.monotonic() + timeout
    for event in events:
        if event.get("alert", {}).get("id") == str(alert_id):
            return event
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"alert {alert_id} did not arrive on the stream within {timeout} s")


def _alert_arrives(
    events: Iterator[dict[str, Any]],
    county: AlertCounty,
    risk: RiskType = RiskType.MALTREATMENT,
    timeout: float = 20,
) -> tuple[dict[str, Any], uuid.UUID]:
    """Raise a new alert in another thread while this one reads the open stream; the event."""
    first = next(events)
    assert "comment" in first  # the stream is open before the alert is raised
    created: list[uuid.UUID] = []
    failed: list[BaseException] = []

    def raise_one() -> None:
        try:
            created.append(new_alert(county, risk=risk)[0])
        except BaseException as error:  # reported in the test's own thread below
            failed.append(error)

    raiser = threading.Thread(target=raise_one)
    raiser.start()
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    for event in events:
        if "alert" in event:
            seen.append(event)
            raiser.join(timeout=60)
            match = [e for e in seen if created and e["alert"]["id"] == str(created[0])]
            if match:
                return match[0], created[0]
        if failed:
            raise failed[0]
        if time.monotonic() > deadline:
            break
    raiser.join(timeout=60)
    if failed:
        raise failed[0]
    raise AssertionError(f"the new alert did not arrive on the stream within {timeout} s")


def test_stream_delivers_a_newly_committed_alert(
    alert_county: AlertCounty, server: LiveServer
) -> None:
    client, _csrf = login(alert_county, server, "director")
    with (
        closing(client),
        client.stream("GET", "/api/v1/alerts/stream", params={"purpose": "case_work"}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event, alert_id = _alert_arrives(_events(response.iter_lines()), alert_county)
    assert event["alert"]["id"] == str(alert_id)
    assert event["alert"]["explanation"]["rules"]
    assert event["kind"] == "created"
    assert event["id"]

    # A script with a bearer token gets the same stream; reconnecting with Last-Event-ID
    # resumes after the last event it saw.
    later, _child = new_alert(alert_county, risk=RiskType.MALTREATMENT)
    token_client = _token_client(alert_county, server, "director")
    with (
        closing(token_client),
        token_client.stream(
            "GET",
            "/api/v1/alerts/stream",
            params={"purpose": "case_work"},
            headers={"Last-Event-ID": str(event["id"])},
        ) as resumed,
    ):
        assert resumed.status_code == 200
        _next_about(_events(resumed.iter_lines()), later)


def _token_client(county: AlertCounty, server: LiveServer, username: str) -> httpx.Client:
    with unit_of_work(county.factory) as session:
        _row, secret = issue_api_token(session, username, name="stream test", days=1)
    return httpx.Client(
        base_url=server.url,
        timeout=60,
        headers={"Authorization": f"Bearer {secret}", **CASE_WORK},
    )


def test_stream_needs_a_person_and_a_purpose(alert_county: AlertCounty, server: LiveServer) -> None:
    anonymous = httpx.get(f"{server.url}/api/v1/alerts/stream", params={"purpose": "case_work"})
    assert anonymous.status_code == 401
    client, _ = login(alert_county, server, "director")
    with closing(client):
        client.headers.pop("X-Purpose")
        assert client.get("/api/v1/alerts/stream").status_code == 400
        assert (
            client.get("/api/v1/alerts/stream", params={"purpose": "statistics"}).status_code == 403
        )


def _web(county: AlertCounty, server: LiveServer, username: str) -> tuple[httpx.Client, str]:
    """A logged-in browser-like client with the case-work purpose stated."""
    client, csrf = login(county, server, username)
    client.headers.pop("X-Purpose")
    client.cookies.set("purpose", "case_work")
    return client, csrf


def test_alert_pages_show_explain_and_respond(
    alert_county: AlertCounty, server: LiveServer
) -> None:
    alert_id, _child = new_alert(alert_county, risk=RiskType.MENTAL_HEALTH)
    client, csrf = _web(alert_county, server, "director")
    with closing(client):
        inbox = client.get("/alerts")
        assert inbox.status_code == 200, inbox.text
        assert "我的预警" in inbox.text
        assert f'data-alert-id="{alert_id}"' in inbox.text
        assert 'src="/static/alerts.js"' in inbox.text
        assert 'data-stream-url="/api/v1/alerts/stream?purpose=case_work"' in inbox.text
        assert "My alerts" in client.get("/alerts", params={"lang": "en"}).text
        script = client.get("/static/alerts.js")
        assert script.status_code == 200
        assert "EventSource" in script.text

        page = client.get(f"/alerts/{alert_id}", params={"lang": "zh"})
        assert page.status_code == 200, page.text
        assert "预警依据" in page.text
        assert "测试事实 a" in page.text  # the fact behind the rule
        assert 'id="ack-form"' in page.text

        no_csrf = client.post(f"/alerts/{alert_id}/acknowledge")
        assert no_csrf.status_code == 403
        acked = client.post(f"/alerts/{alert_id}/acknowledge", data={"csrf_token": csrf})
        assert acked.status_code == 303
        assert acked.headers["location"] == f"/alerts/{alert_id}?done=acknowledged"
        after = client.get(acked.headers["location"])
        assert 'data-status="acknowledged"' in after.text
        assert 'id="ack-form"' not in after.text

        no_reason = client.post(
            f"/alerts/{alert_id}/close",
            data={"csrf_token": csrf, "outcome": "referred", "reason": " "},
        )
        assert no_reason.status_code == 400
        closed = client.post(
            f"/alerts/{alert_id}/close",
            data={"csrf_token": csrf, "outcome": "referred", "reason": "已转介心理咨询师跟进"},
        )
        assert closed.status_code == 303
        final = client.get(f"/alerts/{alert_id}")
        assert 'data-status="closed"' in final.text
        assert "已转介" in final.text

        assert client.get("/alerts/team").status_code == 403
        assert client.get("/alerts/not-an-id").status_code == 404

    supervisor, _ = _web(alert_county, server, "supervisor")
    with closing(supervisor):
        team = supervisor.get("/alerts/team")
        assert team.status_code == 200, team.text
        assert f'data-alert-id="{alert_id}"' in team.text
        times = supervisor.get("/alerts/response-times")
        assert times.status_code == 200
        assert 'id="response-times"' in times.text
        assert "<td" in times.text

    police, _ = _web(alert_county, server, "police")
    with closing(police):
        assert police.get(f"/alerts/{alert_id}").status_code == 403


def test_stream_sends_an_item_whose_transaction_committed_late(
    alert_county: AlertCounty, server: LiveServer
) -> None:
    """An inbox item dated before items already sent (its transaction began earlier and
    committed later) still arrives: the stream re-reads a look-back window."""
    client, _csrf = login(alert_county, server, "director")
    with (
        closing(client),
        client.stream("GET", "/api/v1/alerts/stream", params={"purpose": "case_work"}) as response,
    ):
        events = _events(response.iter_lines())
        first, _alert_id = _alert_arrives(events, alert_county)
        sent_at = dt.datetime.fromisoformat(first["created_at"])
        late, _child = new_alert(
            alert_county, risk=RiskType.MENTAL_HEALTH, now=sent_at - dt.timedelta(seconds=2)
        )
        event = _next_about(events, late)
        assert dt.datetime.fromisoformat(event["created_at"]) < sent_at
