"""Build polars frames from numpy columns, including object arrays of strings and ``None``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl


def frame(
    columns: Mapping[str, Any], schema_overrides: Mapping[str, Any] | None = None
) -> pl.DataFrame:
    """A DataFrame whose object-dtype numpy columns become nullable string columns.

    Polars cannot cast numpy ``object`` arrays directly, and the generator keeps names and IDs in
    object arrays so that ``None`` can mark a missing value.
    """
    converted: dict[str, Any] = {}
    overrides: dict[str, Any] = dict(schema_overrides or {})
    for name, values in columns.items():
        if isinstance(values, np.ndarray) and values.dtype == object:
            converted[name] = values.tolist()
            overrides.setdefault(name, _infer(converted[name]))
        else:
            converted[name] = values
    return pl.DataFrame(converted, schema_overrides=overrides, strict=False)


def _infer(values: list[Any]) -> Any:
    for value in values:
        if value is None:
            continue
        if isinstance(value, str):
            return pl.String
        if isinstance(value, bool):
            return pl.Boolean
        if isinstance(value, int):
            return pl.Int64
        if isinstance(value, float):
            return pl.Float64
        return pl.Object
    return pl.String


def keep_where(mask: npt.NDArray[np.bool_], values: npt.NDArray[Any]) -> npt.NDArray[np.object_]:
    """``values`` where ``mask`` holds, ``None`` elsewhere (an object array)."""
    result: npt.NDArray[np.object_] = values.astype(object)
    result[~mask] = None
    return result
