"""Alert creation, duplicate suppression, routing under the access policy, escalation and
answering, on SQLite and PostgreSQL.

The county is shared by the module's tests; each test takes its own children
(:meth:`AlertCounty.take`) and, except the scoring test, writes its own scoring run with the
rule hits it needs (:func:`flag_run`). Times are the tests' own clock (``now``).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from childlink.access.choices import AgencyKind
from childlink.access.models import Agency
from childlink.access.service import ChildScope
from childlink.alerts import service
from childlink.alerts.choices import (
    AlertEventKind,
    AlertOutcome,
    AlertSeverity,
    AlertStatus,
    Channel,
    HarmKind,
    ReporterKind,
)
from childlink.alerts.models import (
    Alert,
    AlertEvent,
    AlertRecipient,
    InboxItem,
    MandatoryReport,
    OutboxMessage,
    WebhookEndpoint,
)
from childlink.alerts.routing import Directory, may_see_alert
from childlink.cli.main import app
from childlink.errors import AccessDeniedError
from childlink.identity.models import User
from childlink.identity.service import assign_case, create_user
from childlink.regions.choices import RegionLevel
from childlink.regions.models import Region
from childlink.risk.choices import RiskType, RuleSeverity
from childlink.risk.service import score_children
from childlink.risk.store import RiskFlag
from childlink.store.engine import unit_of_work

from .conftest import AlertCounty, flag_run

T0 = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)


def _alert(session: Session, child: uuid.UUID, risk: RiskType) -> Alert:
    found = session.scalar(
        sa.select(Alert).where(
            Alert.master_child_id == child, Alert.risk == risk, Alert.status != AlertStatus.CLOSED
        )
    )
    assert found is not None
    return found


def _counts(session: Session, alert_id: uuid.UUID) -> tuple[int, int, int]:
    """Inbox items, outbox messages and recipients of an alert."""
    return tuple(  # type: ignore[return-value]
        session.scalar(sa.select(sa.func.count()).where(column == alert_id)) or 0
        for column in (InboxItem.alert_id, OutboxMessage.alert_id, AlertRecipient.alert_id)
    )


def _inbox_users(session: Session, alert_id: uuid.UUID) -> set[str]:
    return set(
        session.scalars(
            sa.select(User.username)
            .join(InboxItem, InboxItem.user_id == User.id)
            .where(InboxItem.alert_id == alert_id)
        )
    )


def _webhook(session: Session, kind: AgencyKind, name: str) -> WebhookEndpoint:
    """An active webhook of the county's agency of ``kind`` (created once)."""
    agency = session.scalar(sa.select(Agency).where(Agency.kind == kind).order_by(Agency.code))
    assert agency is not None, kind
    endpoint = session.scalar(sa.select(WebhookEndpoint).where(WebhookEndpoint.name == name))
    if endpoint is None:
        endpoint = WebhookEndpoint(
            agency_id=agency.id,
            name=name,
            url=f"http://127.0.0.1:9/{name}",
            secret_encrypted=b"not-used-here",
        )
        session.add(endpoint)
        session.flush()
    return endpoint


def test_scoring_run_raises_explained_alerts_once(alert_county: AlertCounty) -> None:
    data_dir = alert_county.settings.data_dir
    first = score_children(alert_county.factory, data_dir=data_dir, known_from="event")
    with alert_county.factory() as session:
        alerts = list(session.scalars(sa.select(Alert)))
        flagged = session.scalar(
            sa.select(sa.func.count(sa.distinct(RiskFlag.master_child_id))).where(
                RiskFlag.run_id == first.run_id,
                RiskFlag.severity.in_([RuleSeverity.WARNING, RuleSeverity.URGENT]),
            )
        )
        assert flagged, "the test county should have warning or urgent rule hits"
        assert alerts, "a scoring run with rule hits raises alerts"
        for alert in alerts:
            explained = alert.explanation
            assert explained.get("rules") or explained.get("score"), alert.id
            for hit in explained.get("rules", []):
                assert hit["rule_id"]
                assert hit["label_zh"]
                assert hit["label_en"]
                assert all(fact["record_id"] for fact in hit["facts"])
            assert alert.version == 1
            assert alert.escalate_at is not None
            assert alert.region_code
        created = session.scalar(
            sa.select(sa.func.count()).where(AlertEvent.kind == AlertEventKind.CREATED)
        )
        assert created == len(alerts)
        before = [
            session.scalar(sa.select(sa.func.count()).select_from(table))
            for table in (Alert, InboxItem, OutboxMessage, AlertEvent)
        ]
    # The same facts scored again: nothing new, nobody told again.
    score_children(alert_county.factory, data_dir=data_dir)
    with alert_county.factory() as session:
        after = [
            session.scalar(sa.select(sa.func.count()).select_from(table))
            for table in (Alert, InboxItem, OutboxMessage, AlertEvent)
        ]
        assert after == before
        assert session.scalar(sa.select(sa.func.max(Alert.version))) == 1
        # Every person an alert reached is someone the policy lets see it.
        pairs = session.execute(
            sa.select(Alert, User.username)
            .join(AlertRecipient, AlertRecipient.alert_id == Alert.id)
            .join(User, User.id == AlertRecipient.user_id)
        ).all()
        assert pairs
        sources = Directory.load(session, [alert.master_child_id for alert, _n in pairs]).sources
        for alert, name in pairs:
            scope = ChildScope(master_child_id=alert.master_child_id, region_code=alert.region_code)
            allowed, reason = may_see_alert(
                session,
                alert_county.principal(session, name),
                scope,
                sources.get(alert.master_child_id, []),
            )
            assert allowed, (name, reason)


def test_same_facts_are_suppressed_and_new_facts_update(alert_county: AlertCounty) -> None:
    (child,) = alert_county.take(RiskType.DROPOUT)
    with unit_of_work(alert_county.factory) as session:
        _webhook(session, AgencyKind.CIVIL_AFFAIRS, "civil-system")
        run = flag_run(session, [(child, RiskType.DROPOUT, RuleSeverity.WARNING, "t.absence")])
        counts = service.raise_alerts_for_run(session, run, now=T0)
        assert counts.created == 1
        assert counts.inbox >= 2
    with alert_county.factory() as session:
        alert = _alert(session, child, RiskType.DROPOUT)
        assert alert.severity is AlertSeverity.MEDIUM
        assert alert.escalate_at == T0 + timedelta(hours=72)
        assert {"director", "supervisor"} <= _inbox_users(session, alert.id)
        first = _counts(session, alert.id)
    # Re-scored on the same facts: no new version, inbox item, outbox row or recipient.
    with unit_of_work(alert_county.factory) as session:
        run = flag_run(session, [(child, RiskType.DROPOUT, RuleSeverity.WARNING, "t.absence")])
        again = service.raise_alerts_for_run(session, run, now=T0 + timedelta(hours=1))
        assert (again.created, again.updated, again.inbox, again.outbox) == (0, 0, 0, 0)
    with alert_county.factory() as session:
        alert = _alert(session, child, RiskType.DROPOUT)
        assert alert.version == 1
        assert _counts(session, alert.id) == first
    # A new, urgent hit: the same alert, version 2, severity raised, everyone told again.
    with unit_of_work(alert_county.factory) as session:
        run = flag_run(
            session,
            [
                (child, RiskType.DROPOUT, RuleSeverity.WARNING, "t.absence"),
                (child, RiskType.DROPOUT, RuleSeverity.URGENT, "t.urgent"),
            ],
            fact="b",
        )
        changed = service.raise_alerts_for_run(session, run, now=T0 + timedelta(hours=2))
        assert (changed.created, changed.updated) == (0, 1)
    with alert_county.factory() as session:
        alerts = list(session.scalars(sa.select(Alert).where(Alert.master_child_id == child)))
        assert len(alerts) == 1
        alert = alerts[0]
        assert alert.version == 2
        assert alert.severity is AlertSeverity.HIGH
        assert {hit["rule_id"] for hit in alert.explanation["rules"]} >= {"t.absence", "t.urgent"}
        # A high alert waits 24 h from the change, sooner than the medium deadline.
        assert alert.escalate_at == T0 + timedelta(hours=2 + 24)
        items = session.execute(
            sa.select(InboxItem.alert_version, InboxItem.kind).where(InboxItem.alert_id == alert.id)
        ).all()
        assert {v for v, _k in items} == {1, 2}
        assert {k for v, k in items if v == 2} == {AlertEventKind.UPDATED}
        assert (
            session.scalar(
                sa.select(sa.func.count()).where(
                    AlertEvent.alert_id == alert.id, AlertEvent.kind == AlertEventKind.UPDATED
                )
            )
            == 1
        )


def test_closed_alert_allows_a_new_one_but_not_for_the_same_facts(
    alert_county: AlertCounty,
) -> None:
    (child,) = alert_county.take(RiskType.MENTAL_HEALTH)
    hit = [(child, RiskType.MENTAL_HEALTH, RuleSeverity.WARNING, "t.screening")]
    with unit_of_work(alert_county.factory) as session:
        service.raise_alerts_for_run(session, flag_run(session, hit), now=T0)
        alert = _alert(session, child, RiskType.MENTAL_HEALTH)
        director = alert_county.principal(session, "director")
        service.close(
            session, director, alert.id, AlertOutcome.FALSE_ALARM, "家访核实无异常", now=T0
        )
    with unit_of_work(alert_county.factory) as session:
        counts = service.raise_alerts_for_run(session, flag_run(session, hit), now=T0)
        assert counts.created == 0, "facts answered by a closed alert are not raised again"
        newer = [(child, RiskType.MENTAL_HEALTH, RuleSeverity.WARNING, "t.screening")]
        counts = service.raise_alerts_for_run(
            session, flag_run(session, newer, fact="later"), now=T0
        )
        assert counts.created == 1
    with alert_county.factory() as session:
        statuses = sorted(
            str(s)
            for s in session.scalars(
                sa.select(Alert.status).where(
                    Alert.master_child_id == child, Alert.risk == RiskType.MENTAL_HEALTH
                )
            )
        )
        assert statuses == ["closed", "open"]
    # The partial unique index: a second open alert for the same child and risk is refused.
    with alert_county.factory() as session:
        session.add(
            Alert(
                master_child_id=child,
                risk=RiskType.MENTAL_HEALTH,
                source="rule",
                severity=AlertSeverity.MEDIUM,
                title_zh="x",
                title_en="x",
                explanation={"rules": []},
            )
        )
        with pytest.raises(sa.exc.IntegrityError):
            session.flush()


def test_maltreatment_reaches_police_and_womens_federation_within_policy(
    alert_county: AlertCounty,
) -> None:
    (child,) = alert_county.take(RiskType.MALTREATMENT, source_prefix="womens_federation")
    with unit_of_work(alert_county.factory) as session:
        police_hook = _webhook(session, AgencyKind.PUBLIC_SECURITY, "police-system")
        womens_hook = _webhook(session, AgencyKind.WOMENS_FEDERATION, "womens-system")
        service.set_contact(session, "womensfed", Channel.EMAIL, "wf@example.org")
        service.set_contact(session, "police", Channel.SMS, "13800000000")
        run = flag_run(session, [(child, RiskType.MALTREATMENT, RuleSeverity.URGENT, "t.dv")])
        service.raise_alerts_for_run(session, run, now=T0)
    with alert_county.factory() as session:
        alert = _alert(session, child, RiskType.MALTREATMENT)
        assert alert.severity is AlertSeverity.HIGH
        inbox = _inbox_users(session, alert.id)
        assert {"director", "supervisor", "womensfed"} <= inbox
        messages = session.execute(
            sa.select(OutboxMessage.channel, OutboxMessage.address, OutboxMessage.payload).where(
                OutboxMessage.alert_id == alert.id
            )
        ).all()
        hooks = {address for channel, address, _p in messages if channel is Channel.WEBHOOK}
        assert {police_hook.url, womens_hook.url} <= hooks
        assert (Channel.EMAIL, "wf@example.org") in {(c, a) for c, a, _p in messages}
        # Police officers have no grant of the risk group: refused, told nothing.
        assert "police" not in inbox
        assert "13800000000" not in {a for _c, a, _p in messages}
        refused = session.scalars(
            sa.select(AlertEvent.details).where(
                AlertEvent.alert_id == alert.id, AlertEvent.kind == AlertEventKind.ROUTE_REFUSED
            )
        ).all()
        assert any(d["username"] == "police" and d["reason"] for d in refused)
        police = session.scalar(sa.select(User.id).where(User.username == "police"))
        assert (
            session.scalar(
                sa.select(AlertRecipient.id).where(
                    AlertRecipient.alert_id == alert.id, AlertRecipient.user_id == police
                )
            )
            is None
        )
        # What leaves the app names no child: the reference and a link only.
        payload = messages[0][2]
        assert set(payload) == {
            "alert_id", "version", "risk", "severity", "status", "title_zh", "title_en",
            "child_ref", "region_code", "url", "escalation_level", "event",
        }  # fmt: skip
        assert payload["child_ref"] == str(child)
        assert payload["event"] == "created"
        # Nor the facts: the rule that hit (an injury, a call-out) stays behind the link.
        for hit in alert.explanation["rules"]:
            assert hit["label_zh"] not in payload["title_zh"]
            assert hit["label_en"] not in payload["title_en"]
        assert payload["title_zh"].startswith(RiskType.MALTREATMENT.label_zh)


def test_routing_never_reaches_someone_the_policy_forbids(alert_county: AlertCounty) -> None:
    (child,) = alert_county.take(RiskType.DROPOUT)
    with unit_of_work(alert_county.factory) as session:
        # A doctor with the child on their caseload is the lead-professional rule's candidate,
        # but doctors see health data only, never risk; the teacher (dropout rule) likewise.
        assign_case(session, "doctor", child, assigned_by="test")
        # A director of another village: outside its jurisdiction.
        village = alert_county.accounts["director"].jurisdiction
        elsewhere_code = session.scalar(
            sa.select(Region.code)
            .where(Region.level == RegionLevel.VILLAGE, Region.code != village)
            .order_by(Region.code)
        )
        other = (
            session.scalar(sa.select(User).where(User.username == "director-elsewhere"))
            or create_user(
                session,
                username="director-elsewhere",
                role=alert_county.accounts["director"].role,
                agency_code=alert_county.accounts["director"].agency_code,
                jurisdiction_code=elsewhere_code,
                actor="test",
                display_name="elsewhere",
            )[0]
        )
        run = flag_run(session, [(child, RiskType.DROPOUT, RuleSeverity.WARNING, "t.drop")])
        service.raise_alerts_for_run(session, run, now=T0)
    with alert_county.factory() as session:
        alert = _alert(session, child, RiskType.DROPOUT)
        inbox = _inbox_users(session, alert.id)
        assert "director" in inbox
        assert not inbox & {"doctor", "teacher", "director-elsewhere"}
        refused = {
            d["username"]: d["reason"]
            for d in session.scalars(
                sa.select(AlertEvent.details).where(
                    AlertEvent.alert_id == alert.id,
                    AlertEvent.kind == AlertEventKind.ROUTE_REFUSED,
                )
            )
        }
        assert {"doctor", "teacher"} <= set(refused)
        assert "risk" in refused["doctor"]
        users = set(
            session.scalars(
                sa.select(User.username)
                .join(AlertRecipient, AlertRecipient.user_id == User.id)
                .where(AlertRecipient.alert_id == alert.id)
            )
        )
        assert not users & {"doctor", "teacher", "director-elsewhere"}
        # Every recipient is someone the policy lets see the alert.
        sources = Directory.load(session, [child]).sources[child]
        scope = ChildScope(master_child_id=child, region_code=alert.region_code)
        for name in users:
            allowed, reason = may_see_alert(
                session, alert_county.principal(session, name), scope, sources
            )
            assert allowed, (name, reason)
        elsewhere = alert_county.principal(session, other.username)
        allowed, reason = may_see_alert(session, elsewhere, scope, sources)
        assert not allowed
        assert "jurisdiction" in reason


def test_escalation_follows_the_clock(alert_county: AlertCounty) -> None:
    stay, answered = alert_county.take(RiskType.MALTREATMENT, 2)
    with unit_of_work(alert_county.factory) as session:
        run = flag_run(
            session,
            [
                (stay, RiskType.MALTREATMENT, RuleSeverity.URGENT, "t.esc"),
                (answered, RiskType.MALTREATMENT, RuleSeverity.URGENT, "t.esc"),
            ],
        )
        service.raise_alerts_for_run(session, run, now=T0)
        service.acknowledge(
            session,
            alert_county.principal(session, "supervisor"),
            _alert(session, answered, RiskType.MALTREATMENT).id,
            now=T0 + timedelta(hours=1),
        )
    with unit_of_work(alert_county.factory) as session:
        service.escalate_due(session, now=T0 + timedelta(hours=23))
        alert = _alert(session, stay, RiskType.MALTREATMENT)
        assert alert.escalation_level == 0, "not due before 24 h"
        level0 = _inbox_users(session, alert.id)
        assert "civil" not in level0
    with unit_of_work(alert_county.factory) as session:
        assert service.escalate_due(session, now=T0 + timedelta(hours=24, seconds=1)) >= 1
    with alert_county.factory() as session:
        alert = _alert(session, stay, RiskType.MALTREATMENT)
        assert alert.escalation_level == 1
        assert alert.version == 2
        assert alert.escalate_at == T0 + timedelta(hours=24 + 72)
        escalated = set(
            session.scalars(
                sa.select(User.username)
                .join(InboxItem, InboxItem.user_id == User.id)
                .where(InboxItem.alert_id == alert.id, InboxItem.kind == AlertEventKind.ESCALATED)
            )
        )
        assert {"civil", "supervisor"} <= escalated
        civil = session.scalar(
            sa.select(AlertRecipient.level)
            .join(User, User.id == AlertRecipient.user_id)
            .where(AlertRecipient.alert_id == alert.id, User.username == "civil")
        )
        assert civil == 1
        assert (
            session.scalar(
                sa.select(sa.func.count()).where(
                    AlertEvent.alert_id == alert.id, AlertEvent.kind == AlertEventKind.ESCALATED
                )
            )
            == 1
        )
        done = _alert(session, answered, RiskType.MALTREATMENT)
        assert done.escalation_level == 0
        assert done.escalate_at is None
    with unit_of_work(alert_county.factory) as session:
        service.escalate_due(session, now=T0 + timedelta(hours=24 + 72, seconds=1))
    with alert_county.factory() as session:
        alert = _alert(session, stay, RiskType.MALTREATMENT)
        assert alert.escalation_level == 2
        assert alert.escalate_at is None
        done = _alert(session, answered, RiskType.MALTREATMENT)
        assert done.escalation_level == 0
    with unit_of_work(alert_county.factory) as session:
        service.escalate_due(session, now=T0 + timedelta(days=365))
        assert _alert(session, stay, RiskType.MALTREATMENT).escalation_level == 2


def test_acknowledge_assign_close_permissions(alert_county: AlertCounty) -> None:
    (child,) = alert_county.take(RiskType.DROPOUT)
    with unit_of_work(alert_county.factory) as session:
        run = flag_run(session, [(child, RiskType.DROPOUT, RuleSeverity.WARNING, "t.perm")])
        service.raise_alerts_for_run(session, run, now=T0)
        alert_id = _alert(session, child, RiskType.DROPOUT).id
    # Not a recipient and no team permission: refused, and the refusal is kept.
    with alert_county.factory() as session:
        teacher = alert_county.principal(session, "teacher")
        with pytest.raises(AccessDeniedError):
            service.acknowledge(session, teacher, alert_id, now=T0)
        with pytest.raises(AccessDeniedError):
            service.alert_for(session, teacher, alert_id)
        with pytest.raises(AccessDeniedError):
            service.alerts_for(session, teacher, team=True)
    with alert_county.factory() as session:
        assert session.get(Alert, alert_id).status is AlertStatus.OPEN  # type: ignore[union-attr]
    with unit_of_work(alert_county.factory) as session:
        director = alert_county.principal(session, "director")
        detail = service.acknowledge(session, director, alert_id, now=T0 + timedelta(hours=2))
        assert detail.status == "acknowledged"
        assert detail.acknowledged_by == "director"
        assert detail.escalate_at is None
        assert detail.explanation["rules"]
        assert any(r.username == "director" for r in detail.recipients)
        assert [e.kind for e in detail.events][:1] == ["created"]
        # Assign only to someone the policy lets see it.
        with pytest.raises(AccessDeniedError):
            service.assign(session, director, alert_id, "police", now=T0)
    with unit_of_work(alert_county.factory) as session:
        supervisor = alert_county.principal(session, "supervisor")
        detail = service.assign(session, supervisor, alert_id, "civil", now=T0 + timedelta(hours=3))
        assert detail.assigned_to == "civil"
        assert detail.status == "assigned"
        civil = alert_county.principal(session, "civil")
        civil_id = civil.user_id
        assert civil_id is not None
        assert any(a.id == alert_id for a in service.alerts_for(session, civil))
        assert any(e.alert.id == alert_id for e in service.inbox_since(session, civil_id, None))
        with pytest.raises(service.AlertError):
            service.close(session, civil, alert_id, AlertOutcome.FALSE_ALARM, "no")
        closed = service.close(
            session,
            civil,
            alert_id,
            AlertOutcome.CASE_OPENED,
            "立案跟进",
            now=T0 + timedelta(hours=5),
        )
        assert closed.status == "closed"
        assert closed.outcome == "case_opened"
        with pytest.raises(service.AlertError):
            service.acknowledge(session, civil, alert_id)
        team = service.response_times(
            session, supervisor, by="risk", days=10_000, now=T0 + timedelta(days=1)
        )
        row = next(r for r in team.rows if r.group == "dropout")
        assert row.alerts >= 1
        assert row.acknowledged >= 1
        assert row.closed >= 1
        assert row.median_ack_hours is not None
        by_township = service.response_times(
            session, supervisor, days=10_000, now=T0 + timedelta(days=1)
        )
        assert by_township.rows
        assert by_township.by == "township"


def test_cli_lists_shows_escalates_and_sets_contacts(
    alert_county: AlertCounty, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHILDLINK_DATABASE_URL", alert_county.settings.effective_database_url)
    monkeypatch.setenv("CHILDLINK_DATA_DIR", str(alert_county.settings.data_dir))
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    (child,) = alert_county.take(RiskType.MENTAL_HEALTH)
    with unit_of_work(alert_county.factory) as session:
        run = flag_run(session, [(child, RiskType.MENTAL_HEALTH, RuleSeverity.URGENT, "t.cli")])
        service.raise_alerts_for_run(session, run, now=T0)
    listed = runner.invoke(app, ["alerts", "list", "--status", "open", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    mine = next(
        row
        for row in rows
        if row["master_child_id"] == str(child) and row["risk"] == "mental_health"
    )
    assert mine["explanation"]["rules"][0]["rule_id"] == "t.cli"
    shown = runner.invoke(app, ["alerts", "show", mine["id"], "--json"])
    assert shown.exit_code == 0, shown.output
    assert any(r["username"] == "director" for r in json.loads(shown.output)["recipients"])
    assert runner.invoke(app, ["alerts", "show", mine["id"]]).exit_code == 0
    early = runner.invoke(app, ["alerts", "escalate", "--now", "2000-01-01T00:00:00"])
    assert early.exit_code == 0, early.output
    assert early.output.startswith("0 alert(s) escalated")
    routes = runner.invoke(app, ["alerts", "routes", "--json"])
    assert json.loads(routes.output)["deadlines"]["high"] == [24, 72]
    contact = runner.invoke(app, ["alerts", "contact", "supervisor", "--sms", "13900000000"])
    assert contact.exit_code == 0, contact.output
    bad = runner.invoke(app, ["alerts", "contact", "supervisor", "--email", "nope"])
    assert bad.exit_code != 0


def test_mandatory_report_raises_a_critical_alert_and_updates_the_open_one(
    alert_county: AlertCounty,
) -> None:
    (child,) = alert_county.take(RiskType.MALTREATMENT)

    def report(receipt: str) -> MandatoryReport:
        return MandatoryReport(
            receipt_no=receipt,
            reporter_name="王老师",
            reporter_organisation="县第一小学",
            reporter_kind=ReporterKind.SCHOOL,
            harm=HarmKind.PHYSICAL_ABUSE,
            description="学生手臂多处淤青，称为家长所打",
            master_child_id=child,
        )

    with unit_of_work(alert_county.factory) as session:
        first = report(f"R-{child.hex[:8]}-1")
        session.add(first)
        session.flush()
        alert = service.raise_report_alert(session, first, now=T0)
        assert alert.severity is AlertSeverity.CRITICAL
        assert alert.escalate_at == T0 + timedelta(hours=2)
        assert first.alert_id == alert.id
        assert service.raise_report_alert(session, first, now=T0).version == 1  # idempotent
        second = report(f"R-{child.hex[:8]}-2")
        session.add(second)
        session.flush()
        again = service.raise_report_alert(session, second, now=T0 + timedelta(minutes=5))
        assert again.id == alert.id
        assert again.version == 2
        assert [r["receipt_no"] for r in again.explanation["reports"]] == [
            first.receipt_no,
            second.receipt_no,
        ]
    with alert_county.factory() as session:
        assert {"director", "supervisor"} <= _inbox_users(session, alert.id)
        versions = set(
            session.scalars(
                sa.select(InboxItem.alert_version).where(InboxItem.alert_id == alert.id)
            )
        )
        assert versions == {1, 2}
        assert (
            session.scalar(
                sa.select(sa.func.count()).where(
                    Alert.master_child_id == child, Alert.risk == RiskType.MALTREATMENT
                )
            )
            == 1
        )


def test_a_scoring_run_that_races_a_report_merges_into_its_alert(
    alert_county: AlertCounty,
) -> None:
    if alert_county.backend != "postgres":
        pytest.skip("SQLite has one writer at a time: there is no race to lose")
    (child,) = alert_county.take(RiskType.MALTREATMENT)
    with unit_of_work(alert_county.factory) as session:
        run = flag_run(session, [(child, RiskType.MALTREATMENT, RuleSeverity.URGENT, "t.race")])
    results: list[service.AlertCounts] = []

    def score() -> None:
        with unit_of_work(alert_county.factory) as scoring:
            results.append(service.raise_alerts_for_run(scoring, run, now=T0))

    with alert_county.factory() as intake:
        report = MandatoryReport(
            receipt_no=f"R-{child.hex[:8]}-race",
            reporter_name="李医生",
            reporter_organisation="县医院",
            reporter_kind=ReporterKind.HOSPITAL,
            harm=HarmKind.NEGLECT,
            description="多次就诊无人陪同",
            master_child_id=child,
        )
        intake.add(report)
        intake.flush()
        service.raise_report_alert(intake, report, now=T0)  # open alert, not yet committed
        worker = threading.Thread(target=score)
        worker.start()
        # Wait until the scoring run's insert is blocked on the report's uncommitted alert.
        deadline = time.monotonic() + 30
        with alert_county.factory() as probe:
            while time.monotonic() < deadline:
                waiting = probe.scalar(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                )
                if waiting:
                    break
                probe.rollback()
                time.sleep(0.05)
        intake.commit()
        worker.join(timeout=60)
    assert results, "the scoring run failed instead of merging"
    assert (results[0].created, results[0].updated) == (0, 1)
    with alert_county.factory() as session:
        alerts = list(
            session.scalars(
                sa.select(Alert).where(
                    Alert.master_child_id == child, Alert.risk == RiskType.MALTREATMENT
                )
            )
        )
        assert len(alerts) == 1
        assert alerts[0].version == 2
        assert alerts[0].explanation["reports"]
        assert alerts[0].explanation["rules"][0]["rule_id"] == "t.race"
