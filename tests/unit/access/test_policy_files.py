"""The policy files: the shipped ones are sound, and validation reports every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from childlink.access.choices import Role
from childlink.access.policy import PolicyError, load_policy, shipped_policy_dir, validate_policy
from childlink.access.principal import Principal
from childlink.access.service import jurisdiction_prefix

SOURCES = ["education.student_registry", "health.visits", "public_security.incidents"]


def copy_shipped(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    folder.mkdir()
    for path in shipped_policy_dir().glob("*.yaml"):
        (folder / path.name).write_text(path.read_text("utf-8"), "utf-8")
    return folder


def test_shipped_policy_is_valid() -> None:
    policy, problems = validate_policy()
    assert problems == []
    assert {a.id for a in policy.agreements} >= {"education-schools", "health-care"}
    assert policy.limits


def test_every_problem_is_reported(tmp_path: Path) -> None:
    folder = copy_shipped(tmp_path)
    (folder / "bad.yaml").write_text(
        """
kind: agreement
id: education-schools
colour: blue
grants:
  - roles: [teacher, janitor]
    agency_kinds: [school]
    sources: ["health.*", "courts.*"]
    purposes: [case_work, statistics]
    scope: everywhere
    full: [identity, mental_health]
  - roles: [policy_analyst]
    agency_kinds: [statistics]
    sources: ["*"]
    purposes: [case_work]
    scope: caseload
    full: [identity]
    masked: [identity]
""",
        "utf-8",
    )
    (folder / "broken.yaml").write_text("kind: [unclosed", "utf-8")
    (folder / "acts.yaml").write_text(
        "kind: actions\npermissions:\n  - roles: [teacher]\n    actions: [child.view, fly]\n"
        "    purposes: [case_work]\n",
        "utf-8",
    )
    _policy, problems = validate_policy(folder, SOURCES)
    text = "\n".join(problems)
    expected = [
        "already used",  # duplicate agreement id
        "unknown key 'colour'",
        "unknown Role 'janitor'",
        "scope must be jurisdiction or caseload",
        "courts.*' matches no known source",
        "purpose statistics never shows identifiable child data",
        "both full and masked",
        "not valid YAML",
        "child.view follows from field grants",
        "unknown action 'fly'",
        "which limit limits#1 forbids",  # analyst: no child data, ever
    ]
    for fragment in expected:
        assert fragment in text, fragment
    with pytest.raises(PolicyError):
        load_policy(folder)


def test_limits_catch_a_teacher_grant_of_mental_health(tmp_path: Path) -> None:
    folder = copy_shipped(tmp_path)
    path = folder / "education.yaml"
    path.write_text(
        path.read_text("utf-8")
        .replace('sources: ["education.*"]', 'sources: ["*"]')
        .replace("full: [identity, education]", "full: [identity, education, mental_health]"),
        "utf-8",
    )
    _policy, problems = validate_policy(folder)
    assert any("teacher" in p and "mental_health" in p and "limits#2" in p for p in problems)


@pytest.mark.parametrize(
    ("jurisdiction", "prefix"),
    [
        ("522799001001", "522799001001"),
        ("522799001000", "522799001"),
        ("522799000000", "522799"),
        ("522799", "522799"),
        ("522700000000", "5227"),
        ("520000000000", "52"),
        ("522799010000", "522799010"),
        ("522799001010", "522799001010"),
        (None, "~"),
        ("", "~"),
    ],
)
def test_jurisdiction_prefix(jurisdiction: str | None, prefix: str) -> None:
    principal = Principal(None, "u", Role.SUPERVISOR, None, jurisdiction)
    assert jurisdiction_prefix(principal) == prefix
