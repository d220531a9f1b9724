"""The routing rules file: the shipped one loads, and mistakes are refused with clear messages."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from childlink.access.choices import Role
from childlink.alerts.choices import AlertSeverity
from childlink.alerts.routing import (
    ROUTING_FILE,
    RoutingConfigError,
    covers,
    describe_rules,
    load_routing,
    parse_routing,
)
from childlink.risk.choices import RiskType


def _shipped() -> dict[str, Any]:
    data = yaml.safe_load(ROUTING_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_shipped_rules_route_as_documented() -> None:
    config = load_routing()
    first = {r.id for r in config.rules_for(RiskType.DROPOUT, AlertSeverity.MEDIUM, 0)}
    assert first == {"first-line", "lead-professional", "dropout-school"}
    abuse = config.rules_for(RiskType.MALTREATMENT, AlertSeverity.HIGH, 0)
    roles = {role for rule in abuse for role in rule.roles}
    assert {Role.CHILD_DIRECTOR, Role.SUPERVISOR, Role.POLICE, Role.WOMENS_FEDERATION} <= roles
    assert Role.TEACHER not in roles
    level1 = {
        role for r in config.rules_for(RiskType.DROPOUT, AlertSeverity.HIGH, 1) for role in r.roles
    }
    assert level1 == {Role.SUPERVISOR, Role.CIVIL_AFFAIRS_OFFICER}
    assert config.deadline(AlertSeverity.MEDIUM, 0) == timedelta(hours=72)
    assert config.deadline(AlertSeverity.HIGH, 0) == timedelta(hours=24)
    assert config.deadline(AlertSeverity.HIGH, 1) == timedelta(hours=72)
    assert config.deadline(AlertSeverity.CRITICAL, 0) == timedelta(hours=2)
    assert config.deadline(AlertSeverity.CRITICAL, 2) is None
    assert next(row["id"] for row in describe_rules(config)) == "first-line"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["rules"][0].update(roles=["polce"]), "rules.0.roles.0"),
        (lambda d: d["rules"][0].update(risks=["truancy"]), "rules.0.risks"),
        (lambda d: d["rules"][0].update(colour="red"), "colour"),
        (lambda d: d["deadlines"].pop("critical"), "no deadlines for severity critical"),
        (lambda d: d["deadlines"].update(high=[24, -1]), "positive number of hours"),
        (lambda d: d["rules"][1].update(id="first-line"), "duplicate rule id 'first-line'"),
        (lambda d: d["rules"][0].update(level=7), "level 7 is never reached"),
        (
            lambda d: d["rules"][0].update(roles=[], caseload=False, agency_kinds=[]),
            "reaches nobody",
        ),
        (
            lambda d: d.update(rules=[r for r in d["rules"] if r["level"] > 0]),
            "no rule for level 0",
        ),
        (lambda d: d["rules"][0].update(agency_kinds=["army"]), "rules.0.agency_kinds.0"),
    ],
)
def test_invalid_rules_are_refused_with_the_place_and_reason(change: Any, message: str) -> None:
    data = copy.deepcopy(_shipped())
    change(data)
    with pytest.raises(RoutingConfigError) as raised:
        parse_routing(data, source="routing.yaml")
    assert message in str(raised.value)
    assert str(raised.value).startswith("routing.yaml is invalid")


def test_unreadable_files_are_refused(tmp_path: Path) -> None:
    broken = tmp_path / "routing.yaml"
    broken.write_text("rules: [\n", encoding="utf-8")
    with pytest.raises(RoutingConfigError, match="cannot read routing rules"):
        load_routing(broken)
    broken.write_text("- just a list\n", encoding="utf-8")
    with pytest.raises(RoutingConfigError, match="expected a mapping"):
        load_routing(broken)


def test_areas_follow_the_region_tree() -> None:
    assert covers("522799200000", "522799200207")  # township covers its village
    assert covers("522799000000", "522799200207")  # county covers it too
    assert not covers("522799201000", "522799200207")  # another township does not
    assert not covers("522799200208", "522799200207")  # nor a neighbouring village
    assert not covers(None, "522799200207")
    assert not covers("522799200000", None)
