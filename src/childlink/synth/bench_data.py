"""Large, realistic household-register files for ingest benchmarks, made without a county.

A benchmark needs a million rows in seconds; simulating a county that size takes minutes. This
draws the register's columns directly (names, valid ID numbers, dates in the export's style)
and applies the same noise functions as the county exports, so standardisation does real work.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from childlink.synth import noise
from childlink.synth.names import draw_given_names, draw_surnames
from childlink.synth.noise import DateStyle
from childlink.synth.population import _id_numbers

HEADER = (
    "户号",
    "姓名",
    "公民身份号码",
    "性别",
    "出生日期",
    "民族",
    "与户主关系",
    "户籍地址",
    "登记日期",
)


def write_register_csv(path: Path, rows: int, seed: int = 7) -> Path:
    """Write ``rows`` household-register rows (UTF-8 CSV) with about 3 % noisy cells."""
    rng = np.random.default_rng(seed)
    is_male = rng.random(rows) < 0.52
    birth_day = rng.integers(-12_000, 20_000, rows)  # 1937 .. 2024
    birth = birth_day.astype("datetime64[D]")
    years = 1970 + (birth_day / 365.25).astype(np.int64)
    names = np.char.add(
        draw_surnames(rng, rows).astype(str), draw_given_names(rng, is_male, years).astype(str)
    ).astype(object)
    ids = _id_numbers(rng, np.full(rows, "522799"), birth_day, is_male)
    names = noise.to_traditional(names, rng.random(rows) < 0.01)
    names = noise.insert_space(rng, names, rng.random(rows) < 0.01)
    ids = noise.fullwidth_digits(ids, rng.random(rows) < 0.01)
    ids = noise.wrong_check_character(rng, ids, rng.random(rows) < 0.01)
    ids = noise.legacy15(ids, rng.random(rows) < 0.05)
    frame = pl.DataFrame(
        {
            "户号": np.char.add("522799", np.char.zfill((np.arange(rows) // 3).astype(str), 7)),
            "姓名": names.tolist(),
            "公民身份号码": ids.tolist(),
            "性别": np.where(is_male, "1", "2"),
            "出生日期": noise.format_dates(rng, birth, {DateStyle.COMPACT: 1.0}).tolist(),
            "民族": np.full(rows, "汉族"),
            "与户主关系": rng.choice(np.array(["户主", "配偶", "儿子", "女儿", "孙子"]), rows),
            "户籍地址": np.char.add(
                "贵州省示范自治州青山县龙山镇水坪村", rng.integers(1, 12, rows).astype(str)
            ),
            "登记日期": noise.format_dates(rng, birth + 30, {DateStyle.COMPACT: 1.0}).tolist(),
        },
        schema_overrides={
            "姓名": pl.String,
            "公民身份号码": pl.String,
            "出生日期": pl.String,
            "登记日期": pl.String,
        },
    )
    frame.write_csv(path)
    return path
