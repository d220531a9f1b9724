"""Household evidence rules on hand-made records: what links children, and what must not."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import polars as pl

from childlink.core.id_number import compose
from childlink.households import evidence as ev
from childlink.households.service import plan_guardians, plan_households

GUARDIAN_ID = compose("522799", dt.date(1985, 3, 4), 124)
FATHER_ID = compose("522799", dt.date(1983, 6, 7), 131)


def _record(master: str | None, source: str = "health.visits", **fields: Any) -> dict[str, Any]:
    person = {k: fields.pop(k) for k in ("name", "sex", "birth_date", "id_number") if k in fields}
    return {
        "rec_id": str(uuid.uuid4()),
        "source": source,
        "master_child_id": master,
        "name": person.get("name"),
        "sex": person.get("sex"),
        "birth_date": person.get("birth_date"),
        "id_number": person.get("id_number"),
        "attributes": json.dumps(fields, ensure_ascii=False),
    }


def _prepared(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return ev.prepare_household_records(
        pl.DataFrame(rows, schema=dict.fromkeys(ev.RAW_COLUMNS, pl.String))
    )


def _families(
    rows: list[dict[str, Any]], rules: frozenset[str] = ev.DEFAULT_RULES
) -> set[frozenset[str]]:
    members, _edges = plan_households(_prepared(rows), rules)
    grouped = members.group_by("component").agg(pl.col("master_child_id"))
    return {frozenset(m) for m in grouped["master_child_id"].to_list()}


def test_common_guardian_name_in_two_villages_does_not_merge() -> None:
    rows = [
        _record(
            "a",
            name="张伟",
            birth_date="2012-01-01",
            guardian_name="王芳",
            guardian_phone="13800000001",
            village="红台村",
            address="贵州省示范自治州青山县梅岭乡红台村1组1号",
        ),
        _record(
            "b",
            name="李娜",
            birth_date="2013-05-01",
            guardian_name="王芳",
            guardian_phone="13800000002",
            village="李井村",
            address="贵州省示范自治州青山县梅岭乡李井村2组9号",
        ),
    ]
    assert _families(rows) == {frozenset({"a"}), frozenset({"b"})}
    # Even the opt-in village fallback keeps them apart: different villages.
    assert _families(rows, frozenset(ev.RULES)) == {frozenset({"a"}), frozenset({"b"})}


def test_shared_phone_with_different_guardian_names_does_not_merge() -> None:
    # A village director's phone written in for two families.
    rows = [
        _record("a", name="张伟", guardian_name="王芳", guardian_phone="13800000001"),
        _record("b", name="李娜", guardian_name="赵敏", guardian_phone="13800000001"),
    ]
    assert _families(rows) == {frozenset({"a"}), frozenset({"b"})}


def test_same_address_alone_does_not_merge_but_with_guardian_it_does() -> None:
    address = "贵州省示范自治州青山县梅岭乡红台村1组1号"
    apart = [
        _record("a", name="张伟", guardian_name="王芳", address=address),
        _record("b", name="李娜", guardian_name="赵敏", address=address),
    ]
    assert _families(apart) == {frozenset({"a"}), frozenset({"b"})}
    together = [
        _record("a", name="张伟", guardian_name="王芳", address=address),
        _record("b", name="张娜", guardian_name="王 芳", address=address),
    ]
    assert _families(together) == {frozenset({"a", "b"})}


def test_twins_and_register_siblings_link() -> None:
    rows = [
        _record(
            "t1",
            source=ev.HOUSEHOLD_REGISTER,
            name="张一",
            birth_date="2015-02-02",
            household_number="5227990000007",
            relation_to_head="儿子",
        ),
        _record(
            "t2",
            source=ev.HOUSEHOLD_REGISTER,
            name="张二",
            birth_date="2015-02-02",
            household_number="5227990000007",
            relation_to_head="女儿",
        ),
        _record("s", name="张三", birth_date="2011-02-02", guardian_id_number=GUARDIAN_ID),
        _record("t1", name="张一", birth_date="2015-02-02", guardian_id_number=GUARDIAN_ID),
    ]
    assert _families(rows) == {frozenset({"t1", "t2", "s"})}


def test_a_key_shared_by_too_many_children_is_ignored() -> None:
    rows = [
        _record(
            f"c{i}",
            name=f"张{'一二三四五六七八九十'[i]}",
            birth_date=f"201{i}-01-01",
            guardian_name="王芳",
            guardian_phone="13800000001",
        )
        for i in range(ev.MAX_KEY_CHILDREN + 1)
    ]
    assert len(_families(rows)) == ev.MAX_KEY_CHILDREN + 1


def test_components_match_a_naive_union_find() -> None:
    edges = pl.DataFrame(
        {"left": ["a", "b", "d", "f", "g"], "right": ["b", "c", "e", "g", "h"], "rule": ["x"] * 5}
    )
    nodes = pl.Series(["a", "b", "c", "d", "e", "f", "g", "h", "i"])
    parent = {n: n for n in nodes}

    def find(n: str) -> str:
        while parent[n] != n:
            n = parent[n]
        return n

    for left, right in zip(edges["left"], edges["right"], strict=True):
        a, b = sorted((find(left), find(right)))
        parent[b] = a
    got = ev.connected_components(nodes, edges)
    assert dict(got.iter_rows()) == {n: find(n) for n in nodes}


def test_guardians_one_per_person_with_register_relation() -> None:
    rows = [
        _record(
            "c",
            source=ev.HOUSEHOLD_REGISTER,
            name="张一",
            birth_date="2015-02-02",
            household_number="5227990000007",
            relation_to_head="儿子",
        ),
        _record(
            None,
            source=ev.HOUSEHOLD_REGISTER,
            name="张军",
            sex="male",
            id_number=FATHER_ID,
            household_number="5227990000007",
            relation_to_head="户主",
        ),
        _record(
            None,
            source=ev.HOUSEHOLD_REGISTER,
            name="王芳",
            sex="female",
            id_number=GUARDIAN_ID,
            household_number="5227990000007",
            relation_to_head="配偶",
        ),
        # The mother as guardian in two other sources: once with her ID, once by name only.
        _record(
            "c",
            name="张一",
            guardian_name="王芳",
            guardian_id_number=GUARDIAN_ID,
            guardian_phone="13800000001",
        ),
        _record(
            "c",
            source="womens_federation.home_visits",
            name="张一",
            guardian_name="王芳",
            family_situation="父母均外出务工，由祖父母照料",
        ),
    ]
    records = _prepared(rows)
    members, _ = plan_households(records)
    guardians = plan_guardians(records, members)
    by_name = {r["g_name"]: r for r in guardians.iter_rows(named=True)}
    assert set(by_name) == {"张军", "王芳"}
    assert by_name["王芳"]["g_relation"] == "mother"
    assert by_name["王芳"]["g_phone"] == "13800000001"
    assert by_name["张军"]["g_relation"] == "father"
    assert by_name["张军"]["g_id"] == FATHER_ID
    # A home visit says both parents work away: both are flagged.
    assert all(r["is_migrant_worker"] for r in by_name.values())


def test_a_phone_without_guardian_name_joins_only_an_unambiguous_phone() -> None:
    named = [
        _record(
            "a",
            name="张伟",
            birth_date="2012-01-01",
            guardian_name="王芳",
            guardian_phone="13800000001",
        ),
        _record(
            "b",
            source="womens_federation.home_visits",
            name="张娜",
            birth_date="2014-01-01",
            guardian_phone="13800000001",
        ),
    ]
    assert _families(named) == {frozenset({"a", "b"})}
    # The same phone written with two different guardian names: a shared contact, no link.
    shared = [
        *named,
        _record(
            "c",
            name="李强",
            birth_date="2013-01-01",
            guardian_name="赵敏",
            guardian_phone="13800000001",
        ),
    ]
    assert _families(shared) == {frozenset({"a"}), frozenset({"b"}), frozenset({"c"})}
    # Two records with the phone and no name anywhere: nothing says whose phone it is.
    unnamed = [
        _record("a", name="张伟", guardian_phone="13800000009"),
        _record("b", name="张娜", guardian_phone="13800000009"),
    ]
    assert _families(unnamed) == {frozenset({"a"}), frozenset({"b"})}
