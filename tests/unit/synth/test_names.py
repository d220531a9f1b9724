"""Synthetic Chinese names: determinism, realistic frequencies, homophones, place names."""

from __future__ import annotations

from collections import Counter

import numpy as np
import numpy.typing as npt
import pytest
from pypinyin import lazy_pinyin

from childlink.errors import SynthError
from childlink.synth import names
from childlink.synth.names import (
    ETHNICITY_CODES,
    HOMOPHONES,
    SURNAMES,
    TOWNSHIP_NAME_CHARS,
    draw_given_names,
    draw_minority_full_names,
    draw_place_names,
    draw_surnames,
    given_name_pool,
    homophones,
    name_characters,
    placeholder_newborn_name,
    split_name,
)

_HAN_STYLE_MINORITY_SURNAMES = {s for mix in names._HAN_STYLE_SURNAMES.values() for s in mix}


def _rng(seed: int = 7) -> np.random.Generator:
    return np.random.default_rng(seed)


def _children(
    rng: np.random.Generator, n: int
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    return rng.random(n) < 0.53, rng.integers(2008, 2027, n)


def _is_cjk(text: str) -> bool:
    return all("\u4e00" <= char <= "\u9fff" for char in text)


# ------------------------------------------------------------------------------- determinism


def test_draws_are_deterministic_for_a_seed() -> None:
    def draw(seed: int) -> list[list[object]]:
        rng = _rng(seed)
        is_male, years = _children(rng, 500)
        minority, ethnicity = draw_minority_full_names(rng, is_male[:100])
        return [
            draw_surnames(rng, 500).tolist(),
            draw_given_names(rng, is_male, years).tolist(),
            minority.tolist(),
            ethnicity.tolist(),
            draw_place_names(rng, 50, "村").tolist(),
        ]

    assert draw(3) == draw(3)
    assert draw(3) != draw(4)


# ---------------------------------------------------------------------------------- surnames


def test_surname_table() -> None:
    assert 100 <= len(SURNAMES) <= 200
    assert list(SURNAMES)[:10] == ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周"]
    assert all(weight > 0 for weight in SURNAMES.values())
    assert {"欧阳", "司马", "上官", "诸葛"} <= set(SURNAMES)
    assert set(_HAN_STYLE_MINORITY_SURNAMES) <= set(SURNAMES)


def test_top_surnames_dominate() -> None:
    drawn = draw_surnames(_rng(), 10_000)
    assert drawn.dtype == object
    assert set(drawn.tolist()) <= set(SURNAMES)
    counts = Counter(drawn.tolist())
    assert [s for s, _ in counts.most_common(3)] in (
        ["王", "李", "张"],
        ["李", "王", "张"],
    )
    top3 = sum(counts[s] for s in "王李张") / drawn.size
    assert 0.17 < top3 < 0.25  # about 21% of Han Chinese
    assert len(counts) > 90
    two_char = sum(c for s, c in counts.items() if len(s) == 2) / drawn.size
    assert two_char < 0.01


@pytest.mark.parametrize(
    ("full", "expected"),
    [
        ("张伟", ("张", "伟")),
        ("欧阳子涵", ("欧阳", "子涵")),
        ("司马懿", ("司马", "懿")),
        ("欧阳", ("欧", "阳")),  # a given name must remain
        ("阿依古丽·买买提", ("", "阿依古丽")),
        ("扎西次仁", ("", "扎西次仁")),
        ("王", ("", "王")),
    ],
)
def test_split_name(full: str, expected: tuple[str, str]) -> None:
    assert split_name(full) == expected


# ------------------------------------------------------------------------------- given names


def test_given_names_shape_and_single_character_share() -> None:
    rng = _rng()
    is_male, years = _children(rng, 10_000)
    given = draw_given_names(rng, is_male, years)
    assert given.dtype == object
    assert given.shape == (10_000,)
    lengths = np.array([len(g) for g in given])
    assert set(lengths.tolist()) == {1, 2}
    assert 0.14 < (lengths == 1).mean() < 0.26
    assert all(_is_cjk(g) for g in given)


def test_boys_and_girls_have_different_names() -> None:
    rng = _rng()
    n = 5_000
    years = np.full(n, 2016)
    boys = Counter(draw_given_names(rng, np.ones(n, dtype=bool), years).tolist())
    girls = Counter(draw_given_names(rng, np.zeros(n, dtype=bool), years).tolist())
    top_boys = {name for name, _ in boys.most_common(10)}
    top_girls = {name for name, _ in girls.most_common(10)}
    assert len(top_boys & top_girls) <= 2  # a few names (一诺, 子涵) are given to both
    assert boys["梓轩"] + boys["浩宇"] > 50
    assert girls["欣怡"] + girls["一诺"] > 50
    assert boys["欣怡"] == 0


def test_names_follow_the_birth_cohort() -> None:
    rng = _rng()
    n = 5_000
    old_women = Counter(draw_given_names(rng, np.zeros(n, dtype=bool), np.full(n, 1958)))
    old_men = Counter(draw_given_names(rng, np.ones(n, dtype=bool), np.full(n, 1958)))
    girls = Counter(draw_given_names(rng, np.zeros(n, dtype=bool), np.full(n, 2018)))
    assert old_women["秀英"] + old_women["桂英"] > 100
    assert old_men["建国"] > 50
    assert girls["秀英"] + girls["桂英"] == 0
    assert old_women["梓涵"] == 0


def test_many_children_share_a_full_name() -> None:
    rng = _rng()
    is_male, years = _children(rng, 10_000)
    full = np.char.add(
        draw_surnames(rng, 10_000).astype(str), draw_given_names(rng, is_male, years).astype(str)
    )
    _, counts = np.unique(full, return_counts=True)
    shared = counts[counts > 1].sum() / full.size
    assert 0.15 < shared < 0.7
    assert counts.max() >= 10  # some names (张一诺, 王梓轩) are very common ...
    assert (counts == 1).sum() > 3_000  # ... and there is a long tail of rare ones


def test_given_names_reject_mismatched_inputs() -> None:
    with pytest.raises(SynthError):
        draw_given_names(_rng(), np.ones(3, dtype=bool), np.array([2010, 2011]))


def test_pools_are_ordered_and_distinct() -> None:
    pool = given_name_pool(4, male=True, single=False)
    assert len(pool) == len(set(pool)) > 40
    assert all(len(name) == 2 for name in pool)
    assert all(len(name) == 1 for name in given_name_pool(0, male=False, single=True))


# --------------------------------------------------------------------------------- homophones


def test_homophones_have_the_same_pinyin() -> None:
    table = homophones()
    assert len(table) > 100
    for char, others in table.items():
        assert others
        assert char not in others
        assert len(set(others)) == len(others)
        sound = lazy_pinyin(char)[0]
        assert all(lazy_pinyin(other)[0] == sound for other in others), char


def test_homophone_examples() -> None:
    assert {"玮", "炜", "薇"} <= set(HOMOPHONES["伟"])
    assert {"婧", "晶"} <= set(HOMOPHONES["静"])
    assert "萱" in HOMOPHONES["轩"]


def test_homophones_cover_every_pool_character_that_has_one() -> None:
    chars = name_characters()
    sounds = Counter(lazy_pinyin(char)[0] for char in chars)
    for char in chars:
        assert (char in HOMOPHONES) == (sounds[lazy_pinyin(char)[0]] > 1), char
    assert set(HOMOPHONES) <= set(chars)


def test_homophones_are_computed_once() -> None:
    assert names.HOMOPHONES is homophones()
    with pytest.raises(AttributeError):
        _ = names.NO_SUCH_TABLE


# ----------------------------------------------------------------------------- minority names


def test_minority_names_default_mix() -> None:
    rng = _rng()
    is_male = rng.random(3_000) < 0.5
    full, ethnicity = draw_minority_full_names(rng, is_male)
    assert full.shape == ethnicity.shape == (3_000,)
    assert full.dtype == object
    assert ethnicity.dtype == object
    assert set(ethnicity.tolist()) <= set(ETHNICITY_CODES)
    assert "汉族" not in set(ethnicity.tolist())
    counts = Counter(ethnicity.tolist())
    assert {"维吾尔族", "彝族", "藏族", "苗族", "侗族"} <= set(counts)
    has_dot = np.array(["·" in name for name in full])
    assert (has_dot == (ethnicity == "维吾尔族")).all()


def test_uyghur_names() -> None:
    rng = _rng()
    is_male = np.array([True, False] * 200)
    full, ethnicity = draw_minority_full_names(rng, is_male, mix={"维吾尔族": 1.0})
    assert set(ethnicity.tolist()) == {"维吾尔族"}
    for name in full:
        own, father = name.split("·")
        assert own
        assert father
        assert _is_cjk(own + father)
    women = Counter(name.split("·")[0] for name in full[~is_male])
    assert any("古丽" in name for name in women)


def test_yi_and_tibetan_names() -> None:
    rng = _rng()
    is_male = np.array([True, False] * 200)
    yi, _ = draw_minority_full_names(rng, is_male, mix={"彝族": 1.0})
    assert all(len(name) == 4 and _is_cjk(name) for name in yi)
    tibetan, _ = draw_minority_full_names(rng, is_male, mix={"藏族": 1.0})
    assert {len(name) for name in tibetan} == {2, 4}
    assert any(name.endswith("卓玛") for name in tibetan[~is_male])
    assert not any(name.endswith("卓玛") for name in tibetan[is_male])


def test_han_style_minority_names_have_surnames() -> None:
    rng = _rng()
    is_male = rng.random(500) < 0.5
    full, ethnicity = draw_minority_full_names(
        rng, is_male, mix={"苗族": 1.0, "侗族": 1.0}, birth_years=np.full(500, 2012)
    )
    assert set(ethnicity.tolist()) == {"苗族", "侗族"}
    assert all(split_name(name)[0] for name in full)
    assert Counter(split_name(name)[0] for name in full).most_common(1)[0][0] in ("杨", "吴")


def test_minority_mix_is_validated() -> None:
    with pytest.raises(SynthError):
        draw_minority_full_names(_rng(), np.ones(3, dtype=bool), mix={"火星族": 1.0})
    with pytest.raises(SynthError):
        draw_minority_full_names(_rng(), np.ones(3, dtype=bool), mix={"苗族": 0.0})


def test_ethnicity_codes_follow_gb3304() -> None:
    assert ETHNICITY_CODES["汉族"] == "01"
    assert ETHNICITY_CODES["维吾尔族"] == "05"
    assert ETHNICITY_CODES["苗族"] == "06"
    assert ETHNICITY_CODES["彝族"] == "07"
    assert ETHNICITY_CODES["侗族"] == "12"


# ------------------------------------------------------------------------- newborns and places


def test_placeholder_newborn_name() -> None:
    assert placeholder_newborn_name("李颖", True) == "李颖之子"
    assert placeholder_newborn_name("李颖", False) == "李颖之女"
    assert placeholder_newborn_name(" 阿依古丽·买买提 ", False) == "阿依古丽·买买提之女"


def test_place_names_are_distinct_and_plausible() -> None:
    drawn = draw_place_names(_rng(), 300, "村")
    assert drawn.dtype == object
    assert len(set(drawn.tolist())) == 300
    firsts, seconds = TOWNSHIP_NAME_CHARS
    for name in drawn:
        assert name.endswith("村")
        assert len(name) == 3
        assert name[0] in firsts
        assert name[1] in seconds
    assert set(draw_place_names(_rng(), 20, "").tolist()) <= {
        a + b for a in firsts for b in seconds
    }


def test_place_names_beyond_two_characters_stay_distinct() -> None:
    n_two = sum(1 for a in TOWNSHIP_NAME_CHARS[0] for b in TOWNSHIP_NAME_CHARS[1] if a != b)
    drawn = draw_place_names(_rng(), n_two + 500, "镇")
    assert len(set(drawn.tolist())) == drawn.size
    assert sum(len(name) == 4 for name in drawn) == 500
    with pytest.raises(SynthError):
        draw_place_names(_rng(), 10**6, "村")


# ------------------------------------------------------------------ minority households


def _households(
    rng: np.random.Generator, n_households: int
) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.object_], npt.NDArray[np.bool_], npt.NDArray[np.int64]
]:
    """Every household: father, mother, grandfather (every other one), grandmother, 3 children."""
    household: list[int] = []
    role: list[str] = []
    is_male: list[bool] = []
    years: list[int] = []
    for h in range(n_households):
        members = [("father", True, 1985), ("mother", False, 1987), ("grandmother", False, 1960)]
        if h % 2:
            members.append(("grandfather", True, 1958))
        members += [("child", bool(rng.random() < 0.5), 2012 + k) for k in range(3)]
        for r, male, year in members:
            household.append(h)
            role.append(r)
            is_male.append(male)
            years.append(year)
    return (
        np.array(household, dtype=np.int64),
        np.array(role, dtype=object),
        np.array(is_male),
        np.array(years, dtype=np.int64),
    )


def _by_household(
    household: npt.NDArray[np.int64], role: npt.NDArray[np.object_], full: npt.NDArray[np.object_]
) -> dict[int, dict[str, list[str]]]:
    out: dict[int, dict[str, list[str]]] = {}
    for h, r, name in zip(household.tolist(), role.tolist(), full.tolist(), strict=True):
        out.setdefault(h, {}).setdefault(r, []).append(name)
    return out


def test_minority_groups_follow_the_mix() -> None:
    groups = names.draw_minority_groups(_rng(), 4_000, mix={"苗族": 3.0, "藏族": 1.0})
    counts = Counter(groups.tolist())
    assert set(counts) == {"苗族", "藏族"}
    assert 0.7 < counts["苗族"] / 4_000 < 0.8
    with pytest.raises(SynthError):
        names.draw_minority_groups(_rng(), 3, mix={"火星族": 1.0})


def test_han_style_minority_households_share_the_fathers_surname() -> None:
    rng = _rng()
    household, role, is_male, years = _households(rng, 400)
    groups = np.array(["苗族", "侗族", "布依族", "土家族", "回族"] * 80, dtype=object)
    full = names.draw_minority_household_names(rng, groups, household, role, is_male, years)
    wives_share = 0
    for h, members in _by_household(household, role, full).items():
        surnames = {r: [split_name(n)[0] for n in ns] for r, ns in members.items()}
        allowed = set(names._HAN_STYLE_SURNAMES[groups[h]])
        assert all(s in allowed for ss in surnames.values() for s in ss), members
        (father,) = surnames["father"]
        assert set(surnames["child"]) == {father}, members
        assert surnames.get("grandfather", [father]) == [father], members
        wives_share += surnames["mother"][0] == father
    # Wives keep their own surname, which only sometimes is the husband's.
    assert wives_share < 0.4 * 400


def test_han_style_minority_given_names_fit_each_persons_cohort() -> None:
    rng = _rng()
    n = 3_000
    household = np.arange(n)
    role = np.full(n, "father", dtype=object)
    is_male = np.ones(n, dtype=bool)
    old = names.draw_minority_household_names(
        rng, np.full(n, "苗族", dtype=object), household, role, is_male, np.full(n, 1960)
    )
    young = names.draw_minority_household_names(
        rng, np.full(n, "苗族", dtype=object), household, role, is_male, np.full(n, 2020)
    )
    old_pool = set(given_name_pool(0, male=True, single=False))
    young_pool = set(given_name_pool(4, male=True, single=False))
    old_given = [split_name(name)[1] for name in old]
    young_given = [split_name(name)[1] for name in young]
    assert sum(g in old_pool for g in old_given) > 5 * sum(g in young_pool for g in old_given)
    assert sum(g in young_pool for g in young_given) > 5 * sum(g in old_pool for g in young_given)


def test_uyghur_children_carry_their_fathers_name() -> None:
    rng = _rng()
    household, role, is_male, years = _households(rng, 300)
    # Every third household has no father.
    keep = ~((role == "father") & (household % 3 == 0))
    household, role, is_male, years = household[keep], role[keep], is_male[keep], years[keep]
    groups = np.full(300, "维吾尔族", dtype=object)
    full = names.draw_minority_household_names(rng, groups, household, role, is_male, years)
    for h, members in _by_household(household, role, full).items():
        parts = {r: [name.split("·") for name in ns] for r, ns in members.items()}
        assert all(len(p) == 2 and all(p) for ps in parts.values() for p in ps), members
        children_fathers = {p[1] for p in parts["child"]}
        assert len(children_fathers) == 1, members
        if "father" in parts:
            (father,) = parts["father"]
            assert children_fathers == {father[0]}, members
            if "grandfather" in parts:
                assert father[1] == parts["grandfather"][0][0], members
        # No two people of one sex in a household share their own name.
        here = household == h
        own = [(n.split("·")[0], m) for n, m in zip(full[here], is_male[here], strict=True)]
        assert len(set(own)) == len(own), members


def test_yi_households_share_the_fathers_clan_and_tibetans_have_no_family_name() -> None:
    rng = _rng()
    household, role, is_male, years = _households(rng, 300)
    groups = np.array(["彝族", "藏族"] * 150, dtype=object)
    full = names.draw_minority_household_names(rng, groups, household, role, is_male, years)
    clans = set(names._YI_CLANS)
    for h, members in _by_household(household, role, full).items():
        everyone = [n for ns in members.values() for n in ns]
        assert len(set(everyone)) == len(everyone), members
        if groups[h] == "藏族":
            assert all(len(n) in (2, 4) and "·" not in n for n in everyone), members
            continue
        assert all(len(n) == 4 and n[:2] in clans for n in everyone), members
        (father,) = members["father"]
        assert {n[:2] for n in members["child"]} == {father[:2]}, members
        # Clans are exogamous: the mother's clan is another one.
        assert members["mother"][0][:2] != father[:2], members


def test_minority_household_names_are_deterministic_and_validated() -> None:
    household, role, is_male, years = _households(_rng(), 50)
    groups = np.array(list(names.DEFAULT_MINORITY_MIX) * 7, dtype=object)[:50]

    def draw(seed: int) -> list[object]:
        full = names.draw_minority_household_names(
            _rng(seed), groups, household, role, is_male, years
        )
        return list(full)

    assert draw(1) == draw(1)
    assert draw(1) != draw(2)
    draw_households = names.draw_minority_household_names
    with pytest.raises(SynthError):
        draw_households(_rng(), ["火星族"], [0], ["child"], [True], [2015])
    with pytest.raises(SynthError):
        draw_households(_rng(), ["苗族"], [1], ["child"], [True], [2015])
    with pytest.raises(SynthError):
        draw_households(_rng(), ["苗族"], [0], ["uncle"], [True], [1980])
    with pytest.raises(SynthError):
        draw_households(_rng(), ["苗族"], [0, 0], ["father", "father"], [True, True], [1980, 1981])
    with pytest.raises(SynthError):
        draw_households(_rng(), ["苗族"], [0, 0], ["child"], [True], [2015])
    assert draw_households(_rng(), ["苗族"], [], [], [], []).tolist() == []
