"""The Spark engine's preconditions, checked without starting Spark."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from childlink.linkage import spark
from childlink.linkage.engine import UnsupportedEngineError, splink_table


def test_spark_without_java_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spark, "_session", None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not spark.java_available()
    with pytest.raises(spark.SparkUnavailableError, match="Java 17"):
        spark.spark_session()


def test_unknown_engine_is_refused() -> None:
    table = pl.DataFrame({"rec_id": ["a", "b"]}).to_arrow()
    with (
        pytest.raises(UnsupportedEngineError, match="postgres"),
        splink_table("postgres", table),  # type: ignore[arg-type]
    ):
        pass
