"""Risk models for tests: the stand-in models of :mod:`childlink.risk.stand_in`.

Tests that use them check how scores are stored, explained and shown, not how good models are
(``childlink risk evaluate`` does that).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from childlink.risk.stand_in import register_stand_in_models


def register_models(factory: sessionmaker[Session], data_dir: Path, county: Path) -> dict[str, str]:
    """Train one logistic model per risk on the stand-in label and save it in the registry."""
    return register_stand_in_models(factory, data_dir, county, note="test stand-in label")
