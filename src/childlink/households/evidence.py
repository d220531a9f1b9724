"""Household evidence: which linked children share a household, and why (pure polars).

Input is one row per linked child record (and per adult of the household register) with its
attributes; output is the evidence that ties master children together and the families that
evidence makes. Nothing here touches the database, so the same functions serve the service,
the evaluation and the tests.

The rules, strongest first (measured against the synthetic county's household truth, see
``docs/linkage.md``):

* ``household_number``: the same household register number (户号).
* ``guardian_id``: the same valid guardian ID number (checked with its check digit; a number
  that is a linked child's own is ignored).
* ``guardian_phone``: the same guardian phone *and* the same guardian name (pinyin, so a
  homophone or traditional-character variant still agrees). A phone alone is not enough: a
  village director's or a teacher's phone is often written in for several families.
* ``guardian_address``: the same full address (down to the house number) and the same guardian
  name (pinyin). An address alone is not enough: addresses go stale after a move.
* ``guardian_phone_unnamed``: a record that gives a guardian phone but no guardian name (a
  hand-typed home visit) joins the children whose records write that phone with a name, but
  only when every named record writes it with one and the same name.
* ``guardian_village`` (fallback, off by default): the same guardian name in the same village,
  only between two children whose surnames agree and whose birth dates are compatible with
  being siblings (twins born the same day, or at least :data:`MIN_SIBLING_GAP_DAYS` apart).
  Names repeat across a county, so the village is required and the pair is checked.

A key held by more than :data:`MAX_KEY_CHILDREN` master children is ignored (a shared phone or a
placeholder name would otherwise chain unrelated families), and families are the connected
components of the evidence.
"""

from __future__ import annotations

import hashlib
from typing import Final

import polars as pl

from childlink.core import id_number as idn
from childlink.ingest.standardise import standardise_names

HOUSEHOLD_NUMBER: Final = "household_number"
GUARDIAN_ID: Final = "guardian_id"
GUARDIAN_PHONE: Final = "guardian_phone"
GUARDIAN_PHONE_UNNAMED: Final = "guardian_phone_unnamed"
GUARDIAN_ADDRESS: Final = "guardian_address"
GUARDIAN_VILLAGE: Final = "guardian_village"
#: Every rule, strongest first.
RULES: Final[tuple[str, ...]] = (
    HOUSEHOLD_NUMBER,
    GUARDIAN_ID,
    GUARDIAN_PHONE,
    GUARDIAN_ADDRESS,
    GUARDIAN_PHONE_UNNAMED,
    GUARDIAN_VILLAGE,
)
#: Rules used by default. ``guardian_village`` is left out: on the synthetic counties it found
#: no household the other rules missed and cost precision (see docs/linkage.md, Households).
DEFAULT_RULES: Final[frozenset[str]] = frozenset(RULES) - {GUARDIAN_VILLAGE}
#: A key shared by more master children than this is not household evidence.
MAX_KEY_CHILDREN: Final = 8
#: Siblings who are not twins are born at least this many days apart.
MIN_SIBLING_GAP_DAYS: Final = 240
#: Siblings are born within this many years of each other.
MAX_SIBLING_GAP_YEARS: Final = 25
HOUSEHOLD_REGISTER: Final = "public_security.household_register"
#: ``...县南寨乡南江村5组2号`` → village ``南江村`` (as linkage.prepare reads it).
_VILLAGE: Final = r"(?:县|市|区)(?:[^省州县市区]{1,12}?(?:乡|镇|街道))([^乡镇]{1,12}?(?:村|社区))"
#: Relation to the head of household (与户主关系) of a grandchild of the head.
GRANDCHILD_OF_HEAD: Final = ("孙子", "孙女", "外孙子", "外孙女")

#: Columns :func:`prepare_household_records` expects.
RAW_COLUMNS: Final[tuple[str, ...]] = (
    "rec_id",
    "source",
    "master_child_id",
    "name",
    "sex",
    "birth_date",
    "id_number",
    "attributes",
)


def _json(field: str) -> pl.Expr:
    return pl.col("attributes").str.json_path_match(f"$.{field}")


def valid_ids(values: pl.Series) -> pl.Series:
    """The values that are valid 18-character ID numbers (others null); each checked once."""
    distinct = values.drop_nulls().unique()
    valid = distinct.filter(distinct.map_elements(idn.is_valid, return_dtype=pl.Boolean))
    return pl.select(pl.when(values.is_in(valid.implode())).then(values)).to_series()


def prepare_household_records(raw: pl.DataFrame) -> pl.DataFrame:
    """Household fields of each record, standardised (one row per record).

    ``raw`` has :data:`RAW_COLUMNS`: linked child records (``master_child_id`` set) and adult
    records of the household register (``master_child_id`` null). Adds ``household_number``,
    ``relation_to_head``, ``guardian_name``/``guardian_py``, ``guardian_id``,
    ``guardian_phone``, ``address``, ``village``, ``surname_py``, ``dob`` and
    ``both_parents_away``.
    """
    frame = raw.with_columns(
        household_number=_json("household_number").str.strip_chars(),
        relation_to_head=_json("relation_to_head").str.strip_chars(),
        guardian_name=_json("guardian_name"),
        guardian_id=_json("guardian_id_number").str.to_uppercase(),
        guardian_phone=_json("guardian_phone"),
        address=_json("address").str.replace_all(r"\s", ""),
        village=_json("village").str.strip_chars(),
        both_parents_away=_json("family_situation").str.contains("父母均外出务工").fill_null(False),
        dob=pl.col("birth_date").str.to_date("%Y-%m-%d", strict=False),
    )
    guardians = standardise_names(frame["guardian_name"])
    names = standardise_names(frame["name"])
    spaced = names.pinyin_spaced.str.split(" ")
    # A child's own number written in the guardian column says nothing about the household.
    own_ids = frame.filter(pl.col("master_child_id").is_not_null())["id_number"].drop_nulls()
    guardian_id = valid_ids(frame["guardian_id"])
    return frame.with_columns(
        guardian_name=guardians.value,
        guardian_py=guardians.pinyin.str.replace_all(" ", ""),
        name=names.value,
        name_py=names.pinyin.str.replace_all(" ", ""),
        surname_py=pl.when(spaced.list.len() > 1).then(spaced.list.first()),
        guardian_id=pl.when(~guardian_id.is_in(own_ids.unique().implode())).then(guardian_id),
        guardian_phone=pl.when(pl.col("guardian_phone").str.contains(r"^1[0-9]{10}$")).then(
            "guardian_phone"
        ),
        village=pl.coalesce("village", pl.col("address").str.extract(_VILLAGE, 1)),
    )


def household_keys(records: pl.DataFrame, rules: frozenset[str] = DEFAULT_RULES) -> pl.DataFrame:
    """``master_child_id``, ``rule``, ``space``, ``key``: the shared-key evidence of each child.

    Two children share a household when they hold the same ``key`` in the same ``space``; the
    rule says why (``guardian_phone_unnamed`` keys live in the ``guardian_phone`` space, so a
    record without a guardian name meets the named ones). Keys held by more than
    :data:`MAX_KEY_CHILDREN` children are dropped.
    """
    children = records.filter(pl.col("master_child_id").is_not_null())
    with_name = pl.col("guardian_py").is_not_null() & (pl.col("guardian_py") != "")
    # The one guardian name each phone is written with (phones written with several: none).
    phone_names = (
        children.filter(with_name & pl.col("guardian_phone").is_not_null())
        .group_by("guardian_phone")
        .agg(pl.col("guardian_py").unique().alias("names"))
        .filter(pl.col("names").list.len() == 1)
        .select("guardian_phone", pl.col("names").list.first().alias("phone_name"))
    )
    children = children.join(phone_names, on="guardian_phone", how="left")
    parts = {
        HOUSEHOLD_NUMBER: (HOUSEHOLD_NUMBER, pl.col("household_number")),
        GUARDIAN_ID: (GUARDIAN_ID, pl.col("guardian_id")),
        GUARDIAN_PHONE: (
            GUARDIAN_PHONE,
            pl.when(with_name).then(pl.col("guardian_phone") + "|" + pl.col("guardian_py")),
        ),
        GUARDIAN_PHONE_UNNAMED: (
            GUARDIAN_PHONE,
            pl.when(~with_name.fill_null(False)).then(
                pl.col("guardian_phone") + "|" + pl.col("phone_name")
            ),
        ),
        GUARDIAN_ADDRESS: (
            GUARDIAN_ADDRESS,
            pl.when(with_name & pl.col("address").str.contains("号$")).then(
                pl.col("address") + "|" + pl.col("guardian_py")
            ),
        ),
    }
    frames = [
        children.select("master_child_id", rule=pl.lit(rule), space=pl.lit(space), key=expr)
        for rule, (space, expr) in parts.items()
        if rule in rules
    ]
    if not frames:
        return pl.DataFrame(
            schema={
                "master_child_id": pl.String,
                "rule": pl.String,
                "space": pl.String,
                "key": pl.String,
            }
        )
    keys = pl.concat(frames).drop_nulls("key").unique()
    return _drop_hubs(keys, ["space", "key"], _child_facts(records)).sort(
        "master_child_id", "rule", "key"
    )


def _drop_hubs(keys: pl.DataFrame, by: list[str], facts: pl.DataFrame) -> pl.DataFrame:
    """``keys`` without those shared by more than :data:`MAX_KEY_CHILDREN` distinct children.

    Children are counted by name (pinyin), else birth date, rather than by master: when linkage
    leaves one child split over several masters (messy hand-typed sources), the masters share a
    name and still count once.
    """
    named = keys.join(
        facts.select("master_child_id", "name_py", "dob"), on="master_child_id", how="left"
    )
    child = pl.coalesce("name_py", pl.col("dob").cast(pl.String), "master_child_id")
    return named.filter(child.n_unique().over(by) <= MAX_KEY_CHILDREN).drop("name_py", "dob")


def _child_facts(records: pl.DataFrame) -> pl.DataFrame:
    """Surname (pinyin) and birth date of each master child: the most frequent values."""

    def mode(column: str) -> pl.Expr:
        return pl.col(column).drop_nulls().mode().sort().first().alias(column)

    return (
        records.filter(pl.col("master_child_id").is_not_null())
        .group_by("master_child_id")
        .agg(mode("surname_py"), mode("dob"), mode("name_py"))
    )


def _key_edges(keys: pl.DataFrame) -> pl.DataFrame:
    """Pairs of master children sharing a key (left < right), with the weaker rule of the two."""
    rank = {rule: i for i, rule in enumerate(RULES)}
    pairs = keys.join(keys, on=["space", "key"], suffix="_other").filter(
        pl.col("master_child_id") < pl.col("master_child_id_other")
    )
    weaker = pl.col("rule").replace_strict(rank, return_dtype=pl.Int32) >= pl.col(
        "rule_other"
    ).replace_strict(rank, return_dtype=pl.Int32)
    return pairs.select(
        pl.col("master_child_id").alias("left"),
        pl.col("master_child_id_other").alias("right"),
        rule=pl.when(weaker).then("rule").otherwise("rule_other"),
    ).unique()


def village_edges(records: pl.DataFrame) -> pl.DataFrame:
    """Fallback pairs: same guardian name and village, same surname, sibling-compatible ages."""
    children = records.filter(
        pl.col("master_child_id").is_not_null()
        & pl.col("guardian_py").is_not_null()
        & pl.col("village").is_not_null()
    )
    blocks = children.select(
        "master_child_id", block=pl.col("guardian_py") + "|" + pl.col("village")
    ).unique()
    facts = _child_facts(records)
    blocks = _drop_hubs(blocks, ["block"], facts)
    pairs = (
        blocks.join(blocks, on="block", suffix="_other")
        .filter(pl.col("master_child_id") < pl.col("master_child_id_other"))
        .select(
            pl.col("master_child_id").alias("left"), pl.col("master_child_id_other").alias("right")
        )
        .unique()
        .join(facts.rename({"master_child_id": "left"}), on="left")
        .join(facts.rename({"master_child_id": "right"}), on="right", suffix="_r")
    )
    gap = (pl.col("dob") - pl.col("dob_r")).dt.total_days().abs()
    compatible = (
        (pl.col("surname_py") == pl.col("surname_py_r"))
        & ((gap == 0) | (gap >= MIN_SIBLING_GAP_DAYS))
        & (gap <= MAX_SIBLING_GAP_YEARS * 365)
    )
    return pairs.filter(compatible.fill_null(False)).select(
        "left", "right", rule=pl.lit(GUARDIAN_VILLAGE)
    )


def evidence_edges(records: pl.DataFrame, rules: frozenset[str] = DEFAULT_RULES) -> pl.DataFrame:
    """Every pair of master children the rules link: ``left``, ``right``, ``rule``."""
    edges = [_key_edges(household_keys(records, rules))]
    if GUARDIAN_VILLAGE in rules:
        edges.append(village_edges(records))
    return pl.concat(edges).unique().sort("left", "right", "rule")


def connected_components(nodes: pl.Series, edges: pl.DataFrame) -> pl.DataFrame:
    """``node`` → ``component`` (the smallest node of its component), by label propagation.

    Vectorised: each round every node takes the smallest label among its neighbours; the number
    of rounds is the longest shortest path, a handful for households.
    """
    labels = pl.DataFrame({"node": nodes.unique().sort(), "component": nodes.unique().sort()})
    both = pl.concat(
        [
            edges.select(pl.col("left").alias("a"), pl.col("right").alias("b")),
            edges.select(pl.col("right").alias("a"), pl.col("left").alias("b")),
        ]
    )
    while True:
        proposed = (
            both.join(labels, left_on="b", right_on="node")
            .group_by("a")
            .agg(pl.col("component").min().alias("proposed"))
        )
        updated = (
            labels.join(proposed, left_on="node", right_on="a", how="left")
            .with_columns(component=pl.min_horizontal("component", "proposed"))
            .select("node", "component")
        )
        if (
            updated.join(labels, on="node")
            .filter(pl.col("component") != pl.col("component_right"))
            .is_empty()
        ):
            return updated
        labels = updated


def guardian_key(value: str) -> str:
    """Stable identifier of a guardian within a family (hex SHA-256 of its identifying key)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()
