"""The README's main job, ``childlink demo``, end to end on both database backends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from childlink.cli.main import app
from childlink.config import Settings
from childlink.regions.models import Region
from childlink.sources.models import DataSource, Department, SourceRecord
from childlink.store.engine import build_engine


def test_demo_builds_county_and_loads_reference_data(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "var"
    monkeypatch.setenv("CHILDLINK_DATABASE_URL", database_url)
    monkeypatch.setenv("CHILDLINK_DATA_DIR", str(data_dir))
    result = CliRunner().invoke(app, ["demo", "--children", "300", "--seed", "7", "--no-serve"])
    assert result.exit_code == 0, result.output
    assert "Demo county ready" in result.output
    assert "every row reconciles" in result.output
    assert "Sibling pairs against ground truth" in result.output
    assert (data_dir / "quality-report.html").is_file()

    county = data_dir / "demo-county"
    manifest = json.loads((county / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["summary"]["children"] == 300
    regions_in_file = (county / "reference" / "regions.csv").read_text().count("\n") - 1

    engine = build_engine(Settings(database_url=database_url, data_dir=data_dir))
    try:
        with engine.connect() as connection:
            regions = connection.scalar(sa.select(sa.func.count()).select_from(Region))
            departments = connection.scalar(sa.select(sa.func.count()).select_from(Department))
            sources = connection.scalar(sa.select(sa.func.count()).select_from(DataSource))
            records = connection.scalar(sa.select(sa.func.count()).select_from(SourceRecord))
            villages = connection.scalar(
                sa.select(sa.func.count()).select_from(Region).where(Region.level == "village")
            )
    finally:
        engine.dispose()
    assert regions == regions_in_file
    truth_rows = manifest["summary"]["exports"]
    assert records is not None
    assert 0 < records <= sum(item["rows"] for item in truth_rows)
    assert villages == manifest["summary"]["villages"]
    assert departments == 6
    assert sources is not None
    assert sources >= 6

    # Running the demo again replaces the county and leaves the reference data as it was.
    again = CliRunner().invoke(app, ["demo", "--children", "300", "--seed", "7", "--no-serve"])
    assert again.exit_code == 0, again.output
    engine = build_engine(Settings(database_url=database_url, data_dir=data_dir))
    try:
        with engine.connect() as connection:
            assert connection.scalar(sa.select(sa.func.count()).select_from(Region)) == regions
    finally:
        engine.dispose()
