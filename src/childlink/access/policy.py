"""Data-sharing agreements: loading and validating the YAML policy files, and the engine.

Policy files live in ``childlink/access/policies/`` (one ``kind:`` per file):

* ``agreement`` - grants: which roles of which agency kinds see which field groups (in full
  or masked) of which sources, for which purposes, within which scope (``jurisdiction``: the
  region subtree, plus the caseload; ``caseload``: assigned children only);
* ``actions`` - what roles may do besides looking at children (export, review, audit, ...);
* ``limits`` - hard limits no agreement may break (a teacher never sees mental health).

:func:`validate_policy` reports every problem at once; :func:`load_policy` refuses a policy with
problems (deny by default). :class:`PolicyEngine` compiles the grants to pycasbin policy lines;
casbin stays behind this module and :mod:`childlink.access.service`.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import casbin
import yaml

from childlink.access.choices import AgencyKind, FieldGroup, Purpose, Role, Visibility
from childlink.access.fields import DEPARTMENT_OF_AGENCY_KIND
from childlink.errors import ConfigurationError

ANY = "*"
OWN_DEPARTMENT = "own_department"

# pycasbin logs every request and its answer at INFO once any handler is configured: a line per
# policy check would flood a worker's log (and name children's sources); our audit trail is
# the record of decisions that matter.
logging.getLogger("casbin").setLevel(logging.WARNING)

CHILD_DATA_PURPOSES: frozenset[Purpose] = frozenset(
    {Purpose.CASE_WORK, Purpose.RISK_SCREENING, Purpose.DATA_QUALITY}
)
"""Purposes for which identifiable child data may be shown at all. Statistics works on
de-identified aggregates and audit on the trail, never on a child's record."""

IMPLIED_ACTIONS = frozenset({"child.view", "child.search"})
"""Actions that follow from field grants and may not be listed in ``actions`` files."""

KNOWN_ACTIONS = frozenset(
    {
        "child.search",
        "child.view",
        "record.export",
        "review.decide",
        "audit.read",
        "users.manage",
        "stats.read",
        "data.push",
        "break_glass",
        "alert.respond",
        "alert.team",
        "report.file",
    }
)


class Scope(StrEnum):
    """Which children a grant covers."""

    JURISDICTION = "jurisdiction"
    CASELOAD = "caseload"


class PolicyError(ConfigurationError):
    """The policy files have problems; the message lists them."""


@dataclass(frozen=True)
class Grant:
    """One compiled line of an agreement: one role, purpose and source pattern."""

    rule: str
    role: Role
    agency_kind: str
    source: str
    purpose: Purpose
    scope: Scope
    full: frozenset[FieldGroup]
    masked: frozenset[FieldGroup]


@dataclass(frozen=True)
class ActionPermission:
    """A role may perform an action for a purpose (``*``: any purpose)."""

    rule: str
    role: Role
    action: str
    purpose: str


@dataclass(frozen=True)
class Limit:
    """A hard limit: grants matching roles/purposes may not include these groups at levels."""

    rule: str
    roles: frozenset[Role] | None
    purposes: frozenset[Purpose] | None
    groups: frozenset[FieldGroup]
    levels: frozenset[Visibility]
    reason: str


@dataclass(frozen=True)
class Agreement:
    """A data-sharing agreement file."""

    id: str
    title_zh: str
    title_en: str
    path: str


@dataclass
class Policy:
    """Everything the policy files say, compiled."""

    agreements: list[Agreement] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)
    actions: list[ActionPermission] = field(default_factory=list)
    limits: list[Limit] = field(default_factory=list)


def shipped_policy_dir() -> Path:
    """The folder of policy files shipped with ChildLink."""
    return Path(str(resources.files("childlink.access") / "policies"))


def model_text() -> str:
    """The casbin model (``casbin_model.conf``)."""
    return (resources.files("childlink.access") / "casbin_model.conf").read_text("utf-8")


def validate_policy(
    directory: Path | None = None, known_sources: Iterable[str] | None = None
) -> tuple[Policy, list[str]]:
    """Parse every policy file and list every problem (empty list: the policy is sound).

    Args:
        directory: folder of ``*.yaml`` policy files; default the shipped ones.
        known_sources: source codes that exist; default the shipped and configured mappings.
            Source patterns that match none of them are reported.
    """
    folder = directory or shipped_policy_dir()
    if known_sources is None:
        from childlink.ingest.mapping import available_mappings

        known_sources = available_mappings()
    parser = _Parser(sorted(set(known_sources)))
    paths = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    if not paths:
        parser.problems.append(f"{folder}: no policy files (*.yaml)")
    for path in paths:
        parser.parse_file(path)
    parser.check_limits()
    return parser.policy, parser.problems


def load_policy(directory: Path | None = None) -> Policy:
    """The policy, or :class:`PolicyError` listing its problems (nothing is half-loaded)."""
    policy, problems = validate_policy(directory)
    if problems:
        listed = "; ".join(problems)
        raise PolicyError(f"{len(problems)} problem(s) in the access policy: {listed}")
    return policy


@dataclass(frozen=True)
class GroupGrant:
    """One way a group is granted: at a level, within a scope, by a rule."""

    level: Visibility
    scope: Scope
    rule: str


class PolicyEngine:
    """The compiled policy on a casbin enforcer, with per-request-shape caches."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        model = casbin.Enforcer.new_model(text=model_text())
        self._enforcer = casbin.Enforcer(model)
        self._grant_context = self._enforcer.new_enforce_context("2")
        action_lines = [[p.role.value, ANY, p.action, p.purpose, p.rule] for p in policy.actions]
        grant_lines = [
            [
                g.role.value,
                g.agency_kind,
                g.source,
                group.value,
                g.purpose.value,
                level,
                g.scope,
                g.rule,
            ]
            for g in policy.grants
            for level, groups in (
                (Visibility.FULL.value, g.full),
                (Visibility.MASKED.value, g.masked),
            )
            for group in sorted(groups)
        ]
        if action_lines:
            self._enforcer.add_named_policies("p", action_lines)
        if grant_lines:
            self._enforcer.add_named_policies("p2", _unique(grant_lines))
        self._grant_cache: dict[tuple[str, str, str, str], dict[FieldGroup, list[GroupGrant]]] = {}
        self._action_cache: dict[tuple[str, str, str, str], str | None] = {}

    def action_rule(self, role: Role, kind: str, action: str, purpose: str) -> str | None:
        """The rule that lets ``role`` perform ``action`` for ``purpose``, or None."""
        key = (role.value, kind, action, purpose)
        if key not in self._action_cache:
            allowed, explain = self._enforcer.enforce_ex(role.value, kind, action, purpose)
            self._action_cache[key] = str(explain[-1]) if allowed and explain else None
        return self._action_cache[key]

    def group_grants(
        self, role: Role, kind: str, source_code: str, purpose: Purpose
    ) -> dict[FieldGroup, list[GroupGrant]]:
        """Every (level, scope, rule) under which each field group of a source is granted."""
        key = (role.value, kind, source_code, purpose.value)
        cached = self._grant_cache.get(key)
        if cached is not None:
            return cached
        table: dict[FieldGroup, list[GroupGrant]] = {}
        for group in FieldGroup:
            for level in (Visibility.FULL, Visibility.MASKED):
                for scope in Scope:
                    allowed, explain = self._enforcer.enforce_ex(
                        self._grant_context,
                        role.value,
                        kind,
                        source_code,
                        group.value,
                        purpose.value,
                        level.value,
                        scope.value,
                    )
                    if allowed:
                        rule = str(explain[-1]) if explain else ""
                        table.setdefault(group, []).append(GroupGrant(level, scope, rule))
        self._grant_cache[key] = table
        return table

    def has_child_grants(self, role: Role, kind: str, purpose: Purpose) -> list[Grant]:
        """Grants (any source) a role of an agency kind holds for a purpose."""
        return [
            g
            for g in self.policy.grants
            if g.role is role and g.purpose is purpose and g.agency_kind in (ANY, kind)
        ]


@cache
def shipped_engine() -> PolicyEngine:
    """The engine on the shipped policy files (built once per process)."""
    return PolicyEngine(load_policy())


def _unique(lines: list[list[str]]) -> list[list[str]]:
    seen: set[tuple[str, ...]] = set()
    result = []
    for line in lines:
        key = tuple(line[:-1])
        if key not in seen:
            seen.add(key)
            result.append(line)
    return result


class _Parser:
    """Collects agreements, actions and limits from files, and every problem on the way."""

    def __init__(self, known_sources: list[str]) -> None:
        self.known_sources = known_sources
        self.policy = Policy()
        self.problems: list[str] = []
        self._ids: dict[str, str] = {}

    def parse_file(self, path: Path) -> None:
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            self.problems.append(f"{path.name}: not valid YAML ({' '.join(str(error).split())})")
            return
        if not isinstance(document, dict):
            self.problems.append(f"{path.name}: expected a mapping with a 'kind' key")
            return
        kind = document.get("kind")
        if kind == "agreement":
            self._agreement(path, document)
        elif kind == "actions":
            self._actions(path, document)
        elif kind == "limits":
            self._limits(path, document)
        else:
            self.problems.append(
                f"{path.name}: kind must be agreement, actions or limits, not {kind!r}"
            )

    # -- helpers ------------------------------------------------------------------------------

    def _keys(
        self, where: str, item: Mapping[str, Any], allowed: set[str], required: set[str]
    ) -> None:
        for key in sorted(set(item) - allowed):
            self.problems.append(
                f"{where}: unknown key {key!r} (allowed: {', '.join(sorted(allowed))})"
            )
        for key in sorted(required - set(item)):
            self.problems.append(f"{where}: missing key {key!r}")

    def _list(self, where: str, value: Any, *, allow_any: bool = False) -> list[str] | None:
        """A list of strings, or None for ``*`` when allowed."""
        if allow_any and value == ANY:
            return None
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problems.append(f"{where}: expected a list of names")
            return []
        if not value:
            self.problems.append(f"{where}: empty list")
        return value

    def _enum_list(
        self, where: str, value: Any, enum: type[StrEnum], *, allow_any: bool = False
    ) -> list[Any] | None:
        names = self._list(where, value, allow_any=allow_any)
        if names is None:
            return None
        members = []
        for name in names:
            try:
                members.append(enum(name))
            except ValueError:
                known = ", ".join(m.value for m in enum)
                self.problems.append(f"{where}: unknown {enum.__name__} {name!r} (known: {known})")
        return members

    # -- files --------------------------------------------------------------------------------

    def _agreement(self, path: Path, document: dict[str, Any]) -> None:
        name = path.name
        self._keys(
            name, document, {"kind", "id", "title_zh", "title_en", "grants"}, {"id", "grants"}
        )
        agreement_id = str(document.get("id") or path.stem)
        if agreement_id in self._ids:
            self.problems.append(
                f"{name}: agreement id {agreement_id!r} already used in {self._ids[agreement_id]}"
            )
        self._ids[agreement_id] = name
        self.policy.agreements.append(
            Agreement(
                agreement_id,
                str(document.get("title_zh", agreement_id)),
                str(document.get("title_en", agreement_id)),
                name,
            )
        )
        grants = document.get("grants")
        if not isinstance(grants, list) or not grants:
            self.problems.append(f"{name}: grants must be a non-empty list")
            return
        for index, item in enumerate(grants, start=1):
            self._grant(name, f"{agreement_id}#{index}", item)

    def _grant(self, name: str, rule: str, item: Any) -> None:
        where = f"{name} grant {rule}"
        if not isinstance(item, dict):
            self.problems.append(f"{where}: expected a mapping")
            return
        allowed = {"roles", "agency_kinds", "sources", "purposes", "scope", "full", "masked"}
        self._keys(where, item, allowed, {"roles", "agency_kinds", "sources", "purposes", "scope"})
        roles: list[Role] = self._enum_list(f"{where} roles", item.get("roles", []), Role) or []
        kinds = self._enum_list(
            f"{where} agency_kinds", item.get("agency_kinds", []), AgencyKind, allow_any=True
        )
        purposes: list[Purpose] = (
            self._enum_list(f"{where} purposes", item.get("purposes", []), Purpose) or []
        )
        full = (
            self._enum_list(
                f"{where} full", item.get("full", []) or [ANY], FieldGroup, allow_any=True
            )
            if "full" in item
            else []
        )
        masked = (
            self._enum_list(f"{where} masked", item.get("masked", []), FieldGroup, allow_any=True)
            if "masked" in item
            else []
        )
        full_set = frozenset(FieldGroup) if full is None else frozenset(full)
        masked_set = frozenset(FieldGroup) if masked is None else frozenset(masked)
        if not full_set and not masked_set:
            self.problems.append(f"{where}: grants no field group (give 'full' and/or 'masked')")
        both = full_set & masked_set
        if both:
            self.problems.append(
                f"{where}: {', '.join(sorted(both))} both full and masked: choose one"
            )
        scope: Scope | None = None
        try:
            scope = Scope(str(item.get("scope")))
        except ValueError:
            self.problems.append(
                f"{where}: scope must be jurisdiction or caseload, not {item.get('scope')!r}"
            )
        for purpose in purposes:
            if purpose not in CHILD_DATA_PURPOSES:
                self.problems.append(
                    f"{where}: purpose {purpose.value} never shows identifiable child data"
                )
        sources = self._list(f"{where} sources", item.get("sources", [])) or []
        kind_values = [k.value for k in kinds] if kinds is not None else [ANY]
        for source in sources:
            if source == OWN_DEPARTMENT:
                pairs = []
                candidates = list(DEPARTMENT_OF_AGENCY_KIND) if kinds is None else kinds
                for kind in candidates:
                    department = DEPARTMENT_OF_AGENCY_KIND.get(kind)
                    if department is None:
                        self.problems.append(
                            f"{where}: agency kind {kind.value} owns no department's sources, "
                            f"so {OWN_DEPARTMENT} means nothing for it"
                        )
                        continue
                    pairs.append((kind.value, f"{department}.*"))
            else:
                if source != ANY and not fnmatch.filter(self.known_sources, source):
                    self.problems.append(f"{where}: source {source!r} matches no known source")
                pairs = [(kind, source) for kind in kind_values]
            if scope is None:
                continue
            for kind, pattern in pairs:
                for role in roles:
                    for purpose in purposes:
                        self.policy.grants.append(
                            Grant(rule, role, kind, pattern, purpose, scope, full_set, masked_set)
                        )

    def _actions(self, path: Path, document: dict[str, Any]) -> None:
        name = path.name
        self._keys(name, document, {"kind", "permissions"}, {"permissions"})
        items = document.get("permissions")
        if not isinstance(items, list) or not items:
            self.problems.append(f"{name}: permissions must be a non-empty list")
            return
        for index, item in enumerate(items, start=1):
            rule = f"{path.stem}#{index}"
            where = f"{name} permission {rule}"
            if not isinstance(item, dict):
                self.problems.append(f"{where}: expected a mapping")
                continue
            self._keys(
                where, item, {"roles", "actions", "purposes"}, {"roles", "actions", "purposes"}
            )
            roles: list[Role] = self._enum_list(f"{where} roles", item.get("roles", []), Role) or []
            actions = self._list(f"{where} actions", item.get("actions", [])) or []
            purposes = self._enum_list(
                f"{where} purposes", item.get("purposes", []), Purpose, allow_any=True
            )
            for action in actions:
                if action in IMPLIED_ACTIONS:
                    self.problems.append(
                        f"{where}: {action} follows from field grants; grant field groups in an "
                        "agreement instead"
                    )
                    continue
                if action not in KNOWN_ACTIONS:
                    known = ", ".join(sorted(KNOWN_ACTIONS))
                    self.problems.append(f"{where}: unknown action {action!r} (known: {known})")
                    continue
                for role in roles:
                    for purpose in [ANY] if purposes is None else [p.value for p in purposes]:
                        self.policy.actions.append(ActionPermission(rule, role, action, purpose))

    def _limits(self, path: Path, document: dict[str, Any]) -> None:
        name = path.name
        self._keys(name, document, {"kind", "never"}, {"never"})
        items = document.get("never")
        if not isinstance(items, list) or not items:
            self.problems.append(f"{name}: never must be a non-empty list")
            return
        for index, item in enumerate(items, start=1):
            rule = f"{path.stem}#{index}"
            where = f"{name} limit {rule}"
            if not isinstance(item, dict):
                self.problems.append(f"{where}: expected a mapping")
                continue
            self._keys(
                where,
                item,
                {"roles", "purposes", "groups", "levels", "reason"},
                {"groups", "reason"},
            )
            if "roles" not in item and "purposes" not in item:
                self.problems.append(f"{where}: name roles and/or purposes")
            roles = (
                self._enum_list(f"{where} roles", item["roles"], Role) if "roles" in item else None
            )
            purposes = (
                self._enum_list(f"{where} purposes", item["purposes"], Purpose)
                if "purposes" in item
                else None
            )
            groups = self._enum_list(
                f"{where} groups", item.get("groups", []), FieldGroup, allow_any=True
            )
            levels = self._enum_list(
                f"{where} levels",
                item.get("levels", [Visibility.FULL, Visibility.MASKED]),
                Visibility,
            )
            self.policy.limits.append(
                Limit(
                    rule,
                    None if roles is None else frozenset(roles),
                    None if purposes is None else frozenset(purposes),
                    frozenset(FieldGroup) if groups is None else frozenset(groups),
                    frozenset(levels or []),
                    str(item.get("reason", "")),
                )
            )

    def check_limits(self) -> None:
        """Report every grant that breaks a hard limit."""
        reported: set[tuple[str, str, str]] = set()
        for grant in self.policy.grants:
            for limit in self.policy.limits:
                if limit.roles is not None and grant.role not in limit.roles:
                    continue
                if limit.purposes is not None and grant.purpose not in limit.purposes:
                    continue
                broken: set[FieldGroup] = set()
                if Visibility.FULL in limit.levels:
                    broken |= grant.full & limit.groups
                if Visibility.MASKED in limit.levels:
                    broken |= grant.masked & limit.groups
                if not broken:
                    continue
                key = (grant.rule, limit.rule, grant.role.value)
                if key in reported:
                    continue
                reported.add(key)
                self.problems.append(
                    f"grant {grant.rule} gives {grant.role.value} "
                    f"{', '.join(sorted(broken))} for {grant.purpose.value}, which limit "
                    f"{limit.rule} forbids: {limit.reason}"
                )
