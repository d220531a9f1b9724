"""The model registry: every trained risk model kept as a version, one active per risk.

A version is a folder ``<data_dir>/risk/models/<risk>/<version>/`` holding the fitted model
(``model.joblib``), its metrics and model card (``card.json`` and the rendered ``card.md``), and
a row in ``risk_model_versions`` (when the registry is given a database), so that every stored
score can name the version that produced it and the version can always be found again. The
active version per risk is the row marked ``is_active`` (and, without a database, the
``ACTIVE`` file beside the versions).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import joblib
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from childlink.errors import ChildLinkError
from childlink.risk.choices import RiskType
from childlink.risk.models import TrainedModel
from childlink.store.base import Base, UUIDPrimaryKeyMixin, utc_now
from childlink.store.types import JSONDocument

INTENDED_USE: Final = (
    "Supports, never replaces, a worker's judgement: a score is a reason to look at a child's "
    "situation, never a decision about the child. 辅助而非取代工作人员的专业判断。"
)
_VERSION: Final = re.compile(r"^[a-z_]+-[a-z]+-v(\d+)$")


class ModelNotFoundError(ChildLinkError):
    """No such model version (or no active version) in the registry."""


class RiskModelVersion(UUIDPrimaryKeyMixin, Base):
    """One trained model version: what it was trained on, how well it did, whether active."""

    __tablename__ = "risk_model_versions"
    __table_args__ = (sa.UniqueConstraint("risk", "version"),)

    risk: Mapped[RiskType]
    version: Mapped[str] = mapped_column(sa.String(64), index=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    as_of_train: Mapped[dt.date]
    as_of_valid: Mapped[dt.date | None]
    features: Mapped[list[str]] = mapped_column(JSONDocument())
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONDocument())
    card: Mapped[dict[str, Any]] = mapped_column(JSONDocument())
    path: Mapped[str] = mapped_column(sa.String(500))
    is_active: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utc_now)


@dataclass(frozen=True)
class ModelVersionInfo:
    """A registry entry without the fitted model."""

    risk: RiskType
    version: str
    kind: str
    is_active: bool
    path: Path
    card: dict[str, Any]


def render_card(card: dict[str, Any]) -> str:
    """The model card as Markdown (what the JSON says, for people)."""
    metrics = card.get("metrics", {})
    lines = [
        f"# Model card: {card['risk']} — {card['version']}",
        "",
        f"- **Risk**: {card.get('risk_label_zh', '')} / {card.get('risk_label_en', '')}",
        f"- **Model**: {card['kind']} ({card.get('calibration', 'uncalibrated')} calibration)",
        f"- **Training window**: features as of {card['training_window']['as_of_train']}, "
        f"outcomes in the {card['training_window']['horizon_months']} months after",
        f"- **Calibration window**: as of {card['training_window'].get('as_of_valid')}",
        f"- **Test window**: as of {card['training_window'].get('as_of_test')}",
        f"- **Training rows**: {card.get('train_rows')} ({card.get('train_positives')} positive)",
        "",
        "## Intended use",
        "",
        card["intended_use"],
        "",
        "## Metrics (test window)",
        "",
        "| metric | value |",
        "| --- | --- |",
    ]
    for name in (
        "auc",
        "ceiling_auc",
        "expected_auc",
        "ceiling_expected_auc",
        "pr_auc",
        "brier",
        "ece",
        "ece_vs_true",
        "positives",
        "n",
    ):
        value = metrics.get(name)
        if value is not None:
            text = f"{value:.4f}" if isinstance(value, float) else str(value)
            lines.append(f"| {name} | {text} |")
    flagged = card.get("disparity_flags", [])
    lines += ["", "## Subgroup disparity flags", ""]
    lines += [f"- {flag}" for flag in flagged] or ["- none (recall gap ≤ 0.1 in every subgroup)"]
    lines += ["", "## Features", ""] + [f"- `{name}`" for name in card.get("features", [])]
    lines += ["", "## Limitations", "", *[f"- {text}" for text in card.get("limitations", [])]]
    return "\n".join(lines) + "\n"


class Registry:
    """Model versions on disk (and in ``risk_model_versions`` when given a session factory)."""

    def __init__(self, data_dir: Path, factory: sessionmaker[Session] | None = None) -> None:
        self.root = data_dir / "risk" / "models"
        self.factory = factory

    def _risk_dir(self, risk: RiskType) -> Path:
        return self.root / risk.value

    def _next_version(self, model: TrainedModel) -> str:
        numbers = [0]
        folder = self._risk_dir(model.risk)
        if folder.is_dir():
            for child in folder.iterdir():
                match = _VERSION.match(child.name)
                if match:
                    numbers.append(int(match.group(1)))
        return f"{model.risk.value}-{model.kind}-v{max(numbers) + 1}"

    def save(
        self,
        model: TrainedModel,
        metrics: dict[str, Any],
        card: dict[str, Any],
        *,
        activate: bool = True,
    ) -> str:
        """Store a new version of ``model`` and return its version string.

        ``card`` is completed with the version, risk, kind, training window, features, metrics
        and intended use; it is written as ``card.json`` and rendered as ``card.md``.
        """
        version = self._next_version(model)
        folder = self._risk_dir(model.risk) / version
        folder.mkdir(parents=True, exist_ok=False)
        full_card = {
            "version": version,
            "risk": model.risk.value,
            "risk_label_zh": model.risk.label_zh,
            "risk_label_en": model.risk.label_en,
            "kind": model.kind,
            "calibration": model.calibration if model.calibrator is not None else None,
            "features": list(model.feature_names),
            "train_rows": model.train_rows,
            "train_positives": model.train_positives,
            "intended_use": INTENDED_USE,
            "created_at": utc_now().isoformat(),
            **card,
            "training_window": {
                "as_of_train": model.as_of_train.isoformat(),
                "as_of_valid": model.as_of_valid.isoformat() if model.as_of_valid else None,
                "horizon_months": 6,
                **card.get("training_window", {}),
            },
            "metrics": metrics,
        }
        joblib.dump(model, folder / "model.joblib")
        (folder / "card.json").write_text(
            json.dumps(full_card, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
        )
        (folder / "card.md").write_text(render_card(full_card), encoding="utf-8")
        if self.factory is not None:
            with self.factory() as session, session.begin():
                if activate:
                    session.execute(
                        sa.update(RiskModelVersion)
                        .where(RiskModelVersion.risk == model.risk)
                        .values(is_active=False)
                    )
                session.add(
                    RiskModelVersion(
                        id=uuid.uuid4(),
                        risk=model.risk,
                        version=version,
                        kind=model.kind,
                        as_of_train=model.as_of_train,
                        as_of_valid=model.as_of_valid,
                        features=list(model.feature_names),
                        metrics=json.loads(json.dumps(metrics, default=str)),
                        card=json.loads(json.dumps(full_card, default=str)),
                        path=str(folder),
                        is_active=activate,
                    )
                )
        if activate:
            (self._risk_dir(model.risk) / "ACTIVE").write_text(version + "\n", encoding="utf-8")
        return version

    def active_version(self, risk: RiskType) -> str | None:
        """The active version of ``risk`` (the database's word when there is one)."""
        if self.factory is not None:
            with self.factory() as session:
                return session.scalar(
                    sa.select(RiskModelVersion.version).where(
                        RiskModelVersion.risk == risk, RiskModelVersion.is_active.is_(True)
                    )
                )
        marker = self._risk_dir(risk) / "ACTIVE"
        return marker.read_text(encoding="utf-8").strip() if marker.is_file() else None

    def activate(self, risk: RiskType, version: str) -> None:
        """Make ``version`` the active model of ``risk``."""
        if not (self._risk_dir(risk) / version / "model.joblib").is_file():
            raise ModelNotFoundError(f"no model {version} for {risk.value}")
        if self.factory is not None:
            with self.factory() as session, session.begin():
                session.execute(
                    sa.update(RiskModelVersion)
                    .where(RiskModelVersion.risk == risk)
                    .values(is_active=RiskModelVersion.version == version)
                )
        (self._risk_dir(risk) / "ACTIVE").write_text(version + "\n", encoding="utf-8")

    def load(self, risk: RiskType, version: str | None = None) -> TrainedModel:
        """The fitted model of ``version`` (None: the active version) for ``risk``."""
        chosen = version or self.active_version(risk)
        if chosen is None:
            raise ModelNotFoundError(
                f"no active model for {risk.value}; run `childlink risk train`"
            )
        path = self._risk_dir(risk) / chosen / "model.joblib"
        if not path.is_file():
            raise ModelNotFoundError(f"no model {chosen} for {risk.value} at {path}")
        return _load_model(path)

    def card(self, risk: RiskType, version: str | None = None) -> dict[str, Any]:
        """The model card (JSON) of ``version`` (None: the active version)."""
        chosen = version or self.active_version(risk)
        if chosen is None:
            raise ModelNotFoundError(f"no active model for {risk.value}")
        path = self._risk_dir(risk) / chosen / "card.json"
        if not path.is_file():
            raise ModelNotFoundError(f"no card for {chosen}")
        card: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return card

    def list(self) -> list[ModelVersionInfo]:
        """Every stored version, by risk and version number."""
        out: list[ModelVersionInfo] = []
        for risk in RiskType:
            active = self.active_version(risk)
            folder = self._risk_dir(risk)
            if not folder.is_dir():
                continue
            for child in sorted(folder.iterdir(), key=lambda p: _sort_key(p.name)):
                if not (child / "card.json").is_file():
                    continue
                card = json.loads((child / "card.json").read_text(encoding="utf-8"))
                out.append(
                    ModelVersionInfo(
                        risk=risk,
                        version=child.name,
                        kind=str(card.get("kind")),
                        is_active=child.name == active,
                        path=child,
                        card=card,
                    )
                )
        return out


#: Fitted models of this process, by file path and the file's modification time and size
#: (a version re-written in place is read again). Callers only read the models they get.
_MODEL_CACHE: dict[tuple[str, int, int], TrainedModel] = {}
_MODEL_CACHE_SIZE: Final = 12


def _load_model(path: Path) -> TrainedModel:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    cached = _MODEL_CACHE.get(key)
    if cached is not None:
        return cached
    model = joblib.load(path)
    if not isinstance(model, TrainedModel):
        raise ModelNotFoundError(f"{path} does not hold a TrainedModel")
    for stale in [k for k in _MODEL_CACHE if k[0] == key[0]]:
        del _MODEL_CACHE[stale]
    if len(_MODEL_CACHE) >= _MODEL_CACHE_SIZE:
        _MODEL_CACHE.pop(next(iter(_MODEL_CACHE)))
    _MODEL_CACHE[key] = model
    return model


def _sort_key(name: str) -> tuple[int, str]:
    match = _VERSION.match(name)
    return (int(match.group(1)) if match else 0, name)
