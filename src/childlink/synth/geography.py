"""The synthetic county's administrative tree (12-digit statistical codes) and its schools.

Codes follow GB/T 2260 plus the statistical division extension: province 2 + prefecture 2 +
county 2 digits, then township 3 (``1xx`` towns 镇, ``2xx`` townships 乡) and village 3
(``2xx`` villages 村). The county code is fictional by default so that no real place is implied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from childlink.synth.config import SynthConfig
from childlink.synth.names import draw_place_names

# Counties in other provinces that migrant families come from (GB/T 2260-style, fictional).
ORIGIN_COUNTIES: tuple[tuple[str, str], ...] = (
    ("511799", "四川省东岭县"),
    ("411799", "河南省西平县"),
    ("431799", "湖南省南溪县"),
    ("451799", "广西壮族自治区北流县"),
    ("651799", "新疆维吾尔自治区和田示范县"),
    ("533399", "云南省澜沧示范县"),
)


@dataclass(frozen=True)
class Geography:
    """Regions (one row per node of the tree) and schools of the county."""

    regions: pl.DataFrame
    """code, parent_code, level, name, full_name."""
    villages: pl.DataFrame
    """code, township_code, name, full_name, weight (relative population)."""
    schools: pl.DataFrame
    """school_id, name, kind (primary/middle/high), township_code, village_code."""


def pad12(code: str) -> str:
    """Right-pad a 2/4/6/9-digit division code to the 12-digit statistical form."""
    return code.ljust(12, "0")


def build_geography(config: SynthConfig, rng: np.random.Generator) -> Geography:
    """Townships, villages and schools scaled to the number of children."""
    n_townships = int(np.clip(round(config.children / 5_000), 3, 30))
    township_is_town = rng.random(n_townships) < 0.6
    town_names = draw_place_names(rng, n_townships, "")
    prefecture = config.county_code[:4]
    county12 = pad12(config.county_code)

    regions: list[dict[str, str | None]] = [
        {
            "code": pad12(config.province_code),
            "parent_code": None,
            "level": "province",
            "name": config.province_name,
        },
        {
            "code": pad12(prefecture),
            "parent_code": pad12(config.province_code),
            "level": "city",
            "name": config.prefecture_name,
        },
        {
            "code": county12,
            "parent_code": pad12(prefecture),
            "level": "county",
            "name": config.county_name,
        },
    ]
    villages: list[dict[str, object]] = []
    town_seq = 100
    township_seq = 200
    for t in range(n_townships):
        if township_is_town[t]:
            t_code = f"{config.county_code}{town_seq:03d}"
            t_name = f"{town_names[t]}镇"
            town_seq += 1
        else:
            t_code = f"{config.county_code}{township_seq:03d}"
            t_name = f"{town_names[t]}乡"
            township_seq += 1
        regions.append(
            {"code": pad12(t_code), "parent_code": county12, "level": "township", "name": t_name}
        )
        n_villages = int(rng.integers(8, 16))
        v_names = draw_place_names(rng, n_villages, "村")
        weights = rng.lognormal(0.0, 0.5, n_villages)
        for v in range(n_villages):
            v_code = f"{t_code}{200 + v:03d}"
            regions.append(
                {
                    "code": v_code,
                    "parent_code": pad12(t_code),
                    "level": "village",
                    "name": v_names[v],
                }
            )
            villages.append(
                {
                    "code": v_code,
                    "township_code": pad12(t_code),
                    "name": v_names[v],
                    "full_name": f"{config.province_name}{config.prefecture_name}"
                    f"{config.county_name}{t_name}{v_names[v]}",
                    "weight": float(weights[v]),
                }
            )

    regions_df = pl.DataFrame(regions, schema_overrides={"parent_code": pl.String})
    villages_df = pl.DataFrame(villages)
    schools_df = _build_schools(config, rng, regions_df, villages_df)
    return Geography(regions=regions_df, villages=villages_df, schools=schools_df)


def _build_schools(
    config: SynthConfig,
    rng: np.random.Generator,
    regions: pl.DataFrame,
    villages: pl.DataFrame,
) -> pl.DataFrame:
    """One central primary and one middle school per township, village primaries, county highs."""
    rows: list[dict[str, str]] = []
    townships = regions.filter(pl.col("level") == "township")
    for t_code, t_name in townships.select("code", "name").iter_rows():
        short = t_name[:-1]
        t_villages = villages.filter(pl.col("township_code") == t_code)
        centre = t_villages["code"][0]
        rows.append(_school(len(rows), f"{short}中心小学", "primary", t_code, centre))
        rows.append(_school(len(rows), f"{short}中学", "middle", t_code, centre))
        # A village primary school for about every fourth village.
        for v_code, v_name in t_villages.select("code", "name").iter_rows():
            if v_code != centre and rng.random() < 0.25:
                rows.append(_school(len(rows), f"{v_name}小学", "primary", t_code, v_code))
    first_township = townships["code"][0]
    first_village = villages["code"][0]
    county = config.county_name[:-1]
    for label in ("第一中学", "民族中学"):
        rows.append(_school(len(rows), f"{county}{label}", "high", first_township, first_village))
    return pl.DataFrame(rows)


def _school(index: int, name: str, kind: str, township: str, village: str) -> dict[str, str]:
    return {
        "school_id": f"S{index + 1:04d}",
        "name": name,
        "kind": kind,
        "township_code": township,
        "village_code": village,
    }
