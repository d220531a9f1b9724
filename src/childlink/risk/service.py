"""Scores in the product: score children, re-score after linkage, review flags, show a child's risk.

``score_children`` is one pass: events and features as of a date for the children asked for
(all by default), the active model of each risk from the registry, the indicator rules; it
writes one score per child and risk (with the model version and the top contributing factors
and the facts behind them) and one flag per rule hit, in one transaction. Earlier scores stay
as history (``is_current = False``). ``rescore_after_link`` runs the same pass for only the
children a linkage run changed. A worker confirms or rejects a flag with a reason; the decision
is audited and is a label for later evaluation (:func:`feedback_labels`).

Who sees what: scores and flags are the ``risk`` field group. :func:`risk_for_viewer` shows them
only when the viewer's policy grants that group for at least one source of the child, and writes
an audit entry for every view.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from childlink.access.choices import FieldGroup, Purpose
from childlink.access.principal import Principal
from childlink.access.service import Action, ChildScope, Visibility, group_visibility
from childlink.children.models import MasterChild
from childlink.errors import AccessDeniedError, ChildLinkError, NotFoundError
from childlink.identity.guard import audit, enforce
from childlink.linkage.models import MasterChildEvent
from childlink.privacy.keys import FieldCipher
from childlink.risk.choices import RiskBand, RiskType, RuleSeverity
from childlink.risk.events import Provenance, children_frame, load_events
from childlink.risk.features import FEATURES, describe_events, events_as_of, fact_filter
from childlink.risk.features import build_features as build_feature_frame
from childlink.risk.models import TrainedModel
from childlink.risk.registry import ModelNotFoundError, Registry, RiskModelVersion
from childlink.risk.rules import evaluate_rules, load_rules
from childlink.risk.schemas import (
    ChildRisk,
    ExplanationRead,
    FactRead,
    FlagDecision,
    FlagRead,
    FlagStatus,
    ScorePoint,
    ScoreRead,
    ScoreRunRead,
    ScoreTrigger,
)
from childlink.risk.store import RiskFlag, RiskScore, RiskScoreRun
from childlink.sources.choices import RecordStatus
from childlink.sources.models import DataSource, SourceRecord
from childlink.store.base import utc_now
from childlink.store.engine import unit_of_work

#: How many times the base rate (the share of children with the outcome in the model's
#: training window) a probability must reach to be in the medium / high band. The six-month
#: outcomes are rare (well under 1 % for maltreatment), so absolute cut-offs such as 10 % would
#: put nearly every child in "low"; relative risk is what a worker can act on.
BAND_RELATIVE_RISK: Final[dict[RiskBand, float]] = {RiskBand.MEDIUM: 2.0, RiskBand.HIGH: 5.0}
#: Factors kept in an explanation, and source records kept per factor or rule hit.
TOP_FACTORS: Final = 3
MAX_FACTS: Final = 5
#: Rows per ``IN (...)`` list (well under SQLite's and PostgreSQL's parameter limits).
CHUNK: Final = 5_000
#: Audit actions of the risk context.
RISK_VIEW: Final = "risk.view"
RISK_REVIEW: Final = "risk.review"
#: Purposes for which a worker may confirm or reject a flag.
REVIEW_PURPOSES: Final = frozenset({Purpose.CASE_WORK, Purpose.RISK_SCREENING})


class NoModelError(ChildLinkError):
    """No risk model is registered yet (``childlink risk train`` first)."""


class FlagReviewError(ChildLinkError):
    """A confirm/reject that cannot be recorded as asked (empty reason, unknown decision)."""


def band_of(probability: float, base_rate: float) -> RiskBand:
    """The band of a calibrated probability, by its ratio to the base rate."""
    if base_rate <= 0:
        return RiskBand.LOW
    ratio = probability / base_rate
    if ratio >= BAND_RELATIVE_RISK[RiskBand.HIGH]:
        return RiskBand.HIGH
    if ratio >= BAND_RELATIVE_RISK[RiskBand.MEDIUM]:
        return RiskBand.MEDIUM
    return RiskBand.LOW


def base_rate_of(model: TrainedModel) -> float:
    """The share of children with the outcome among the model's training rows."""
    return model.train_positives / model.train_rows if model.train_rows else 0.0


def default_as_of(events: pl.DataFrame, today: dt.date | None = None) -> dt.date:
    """The day after the last fact the platform knows, never later than today.

    A generated county's records end before today's date; scoring "as of today" would treat
    months without records as months in which nothing happened.
    """
    today = today or dt.date.today()
    if events.is_empty():
        return today
    last = events["event_date"].max()
    if not isinstance(last, dt.date):
        return today
    return min(today, last + dt.timedelta(days=1))


# --- scoring -------------------------------------------------------------------------------


def load_active_models(
    data_dir: Path, factory: sessionmaker[Session] | None = None
) -> dict[RiskType, tuple[str, TrainedModel]]:
    """The active version and model of every risk that has one (others are not scored).

    The database's registry table decides when it names an active version; otherwise the
    ``ACTIVE`` marker on disk (models trained from county files, without a database).
    """
    on_disk = Registry(data_dir)
    in_database: dict[RiskType, str] = {}
    if factory is not None:
        with factory() as session:
            for active_risk, active_version in session.execute(
                sa.select(RiskModelVersion.risk, RiskModelVersion.version).where(
                    RiskModelVersion.is_active.is_(True)
                )
            ):
                in_database.setdefault(RiskType(active_risk), active_version)
    models: dict[RiskType, tuple[str, TrainedModel]] = {}
    for risk in RiskType:
        version = in_database.get(risk) or on_disk.active_version(risk)
        if version is None:
            continue
        try:
            models[risk] = (version, on_disk.load(risk, version))
        except ModelNotFoundError:
            continue
    return models


def top_factors(
    contributions: pl.DataFrame, features: pl.DataFrame, k: int = TOP_FACTORS
) -> pl.DataFrame:
    """Per child, the ``k`` features that raised the log-odds most, with their values.

    ``contributions`` is :meth:`TrainedModel.contributions` (long: ``master_child_id``,
    ``feature``, ``contribution`` and, when the model gives it, ``value``).
    """
    long = contributions.select(
        pl.col("master_child_id").cast(pl.String),
        pl.col("feature").cast(pl.String),
        pl.col("contribution").cast(pl.Float64),
    )
    if "value" in contributions.columns:
        long = long.with_columns(contributions["value"].cast(pl.Float64).alias("value"))
    else:
        values = features.select(
            pl.col("master_child_id").cast(pl.String),
            *[pl.col(c).cast(pl.Float64) for c in features.columns if c in FEATURES],
        ).unpivot(index="master_child_id", variable_name="feature", value_name="value")
        long = long.join(values, on=["master_child_id", "feature"], how="left")
    return (
        long.filter(pl.col("contribution").is_not_null() & pl.col("feature").is_in(list(FEATURES)))
        .sort(["master_child_id", "contribution"], descending=[False, True])
        .group_by("master_child_id", maintain_order=True)
        .head(k)
    )


def _fact_dict(fact: Any) -> dict[str, Any]:
    if isinstance(fact, dict):
        raw = fact
    else:
        raw = {
            name: getattr(fact, name, None)
            for name in ("record_id", "source", "event_date", "text_zh", "text_en")
        }
    return {
        "record_id": None if raw.get("record_id") is None else str(raw["record_id"]),
        "source": None if raw.get("source") is None else str(raw["source"]),
        "event_date": None if raw.get("event_date") is None else str(raw["event_date"]),
        "text_zh": str(raw.get("text_zh") or ""),
        "text_en": str(raw.get("text_en") or ""),
    }


def _latest_facts(facts: Iterable[Any]) -> list[dict[str, Any]]:
    plain = [_fact_dict(fact) for fact in facts]
    plain.sort(key=lambda fact: fact["event_date"] or "", reverse=True)
    return plain[:MAX_FACTS]


def factor_facts(
    events: pl.DataFrame, factors: pl.DataFrame, as_of: dt.date
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The newest :data:`MAX_FACTS` records behind each (child, feature) of ``factors``.

    The same records :func:`~childlink.risk.features.feature_facts` names, found for every
    child at once (one filter per feature, not one per child). The facts of a (child, feature)
    do not depend on the risk, so ``score_children`` asks once for the factors of every model.
    """
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    if factors.is_empty() or events.is_empty():
        return found
    factors = factors.select("master_child_id", "feature").unique()
    wanted = factors["master_child_id"].unique().implode()
    described = describe_events(
        events_as_of(events, as_of).filter(pl.col("master_child_id").is_in(wanted))
    ).collect()
    parts = []
    for feature in factors["feature"].unique().to_list():
        spec = FEATURES.get(str(feature))
        if spec is None or not spec.kinds:
            continue
        kids = factors.filter(pl.col("feature") == feature)["master_child_id"].implode()
        parts.append(
            described.filter(pl.col("master_child_id").is_in(kids) & fact_filter(spec, as_of))
            .sort("event_date", "record_id", descending=True)
            .group_by("master_child_id", maintain_order=True)
            .head(MAX_FACTS)
            .select(
                "master_child_id",
                pl.lit(str(feature)).alias("feature"),
                "record_id",
                "source",
                pl.col("event_date").cast(pl.String),
                "text_zh",
                "text_en",
            )
        )
    if not parts:
        return found
    for row in pl.concat(parts).iter_rows(named=True):
        key = (str(row.pop("master_child_id")), str(row.pop("feature")))
        found.setdefault(key, []).append(_fact_dict(row))
    return found


def _explanations(
    factors: pl.DataFrame, facts: dict[tuple[str, str], list[dict[str, Any]]]
) -> dict[str, dict[str, Any]]:
    explained: dict[str, dict[str, Any]] = {}
    for child, feature, contribution, value in factors.select(
        "master_child_id", "feature", "contribution", "value"
    ).iter_rows():
        spec = FEATURES[feature]
        factor = {
            "feature": feature,
            "label_zh": spec.label_zh,
            "label_en": spec.label_en,
            "value": None if value is None else round(float(value), 4),
            "contribution": round(float(contribution), 4),
            "facts": facts.get((child, feature), []),
        }
        explained.setdefault(child, {"factors": []})["factors"].append(factor)
    return explained


def _fact_key(facts: list[dict[str, Any]]) -> str:
    ids = sorted(str(fact.get("record_id")) for fact in facts)
    return hashlib.sha256("|".join(ids).encode()).hexdigest()


def _chunks(values: Sequence[uuid.UUID]) -> Iterable[Sequence[uuid.UUID]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def score_children(
    factory: sessionmaker[Session],
    *,
    as_of: dt.date | None = None,
    children: list[uuid.UUID] | None = None,
    data_dir: Path,
    trigger: ScoreTrigger = ScoreTrigger.FULL,
    link_run_id: uuid.UUID | None = None,
    cipher: FieldCipher | None = None,
    known_from: Provenance | None = None,
    raise_alerts: bool = True,
) -> ScoreRunRead:
    """Score ``children`` (every active master child by default) with the active models.

    One transaction: a run row, one new current score per child and modelled risk (the older
    ones stay as history), new flags for new rule hits, and earlier flags that no longer hit
    marked inactive (their reviews are kept).

    Args:
        as_of: the scoring date; default: that of the latest full run (so a re-scored child
            stays comparable with the others), else the day after the last known fact.
        children: only these master children (re-scoring after linkage).
        cipher: opens sealed ICD-10 codes and screening scores (without it those features
            see nothing on sealed records).
        known_from: ``"batch"`` (an event is known from its ingest date) or ``"event"`` (from
            its own date: a county loaded all at once); default: that of the latest full run,
            else ``"batch"``.
        raise_alerts: create or update the run's alerts in the same transaction
            (:func:`childlink.alerts.service.raise_alerts_for_run`); False for a pass that
            only measures or evaluates and must tell nobody.

    Raises:
        NoModelError: no risk has an active model in the registry.
    """
    started = time.perf_counter()
    models = load_active_models(data_dir, factory)
    if not models:
        raise NoModelError("no risk model is registered; run `childlink risk train` first")
    wanted = None if children is None else list(dict.fromkeys(children))
    if wanted is not None and trigger is ScoreTrigger.FULL:
        trigger = ScoreTrigger.CHILDREN
    keys = None if wanted is None else [str(child) for child in wanted]
    with factory() as session:
        last = session.execute(
            sa.select(RiskScoreRun.as_of, RiskScoreRun.known_from)
            .where(RiskScoreRun.trigger == ScoreTrigger.FULL)
            .order_by(RiskScoreRun.started_at.desc())
            .limit(1)
        ).first()
        provenance: Provenance = known_from or (
            "event" if last is not None and last[1] == "event" else "batch"
        )
        events = load_events(session, cipher=cipher, known_from=provenance, children=keys)
        kids = children_frame(session, keys)
    day = as_of or (last[0] if last is not None else default_as_of(events))
    features = build_feature_frame(events, kids, day)
    child_ids = [str(child) for child in features["master_child_id"].to_list()]

    score_rows: list[dict[str, Any]] = []
    bands: dict[str, Counter[str]] = {}
    versions = {str(risk): version for risk, (version, _model) in models.items()}
    if child_ids:
        predicted = {
            risk: (
                [float(p) for p in model.predict(features)],
                top_factors(model.contributions(features), features),
            )
            for risk, (_version, model) in models.items()
        }
        # One look-up of the records behind every (child, feature) any model named.
        facts = factor_facts(
            events,
            pl.concat(
                [factors.select("master_child_id", "feature") for _p, factors in predicted.values()]
            ),
            day,
        )
        for risk, (_version, model) in models.items():
            base = base_rate_of(model)
            probabilities, factors = predicted[risk]
            explained = _explanations(factors, facts)
            counter = bands.setdefault(str(risk), Counter())
            for child, probability in zip(child_ids, probabilities, strict=True):
                band = band_of(probability, base)
                counter[str(band)] += 1
                explanation = explained.get(child, {"factors": []}) | {
                    "base_rate": round(base, 6),
                    "relative_risk": round(probability / base, 2) if base > 0 else None,
                }
                score_rows.append(
                    {
                        "id": uuid.uuid4(),
                        "master_child_id": uuid.UUID(child),
                        "risk": risk,
                        "model_version": versions[str(risk)],
                        "probability": probability,
                        "band": band,
                        "explanation": explanation,
                        "as_of": day,
                        "is_current": True,
                    }
                )
    hits = evaluate_rules(load_rules(), events, features, day) if child_ids else pl.DataFrame()

    with unit_of_work(factory) as session:
        run = RiskScoreRun(
            trigger=trigger,
            as_of=day,
            known_from=provenance,
            children=len(child_ids),
            model_versions=versions,
            link_run_id=link_run_id,
        )
        session.add(run)
        session.flush()
        _retire_scores(session, wanted, [str(risk) for risk in models])
        now = utc_now()
        for row in score_rows:
            row["run_id"] = run.id
            row["scored_at"] = now
        if score_rows:
            session.execute(sa.insert(RiskScore), score_rows)
        run.scores = len(score_rows)
        run.flags_new = _store_flags(session, run.id, day, hits, wanted)
        if raise_alerts:
            # Imported here: the alerts context reads the risk context, not the reverse.
            from childlink.alerts.service import raise_alerts_for_run

            raise_alerts_for_run(session, run.id)
        run.finished_at = utc_now()
        return ScoreRunRead(
            run_id=run.id,
            trigger=str(trigger),
            as_of=day,
            children=len(child_ids),
            scores=len(score_rows),
            flags_new=run.flags_new,
            model_versions=versions,
            bands={risk: dict(counter) for risk, counter in bands.items()},
            seconds=round(time.perf_counter() - started, 3),
        )


def _retire_scores(session: Session, children: list[uuid.UUID] | None, risks: list[str]) -> None:
    """Mark the current scores of these children (all when None) as history."""
    base = (
        sa.update(RiskScore)
        .where(RiskScore.is_current.is_(True), RiskScore.risk.in_(risks))
        .values(is_current=False)
        .execution_options(synchronize_session=False)
    )
    if children is None:
        session.execute(base)
        return
    for chunk in _chunks(children):
        session.execute(base.where(RiskScore.master_child_id.in_(chunk)))


def _store_flags(
    session: Session,
    run_id: uuid.UUID,
    as_of: dt.date,
    hits: pl.DataFrame,
    children: list[uuid.UUID] | None,
) -> int:
    """New flags for new hits; same hit on the same facts keeps its flag (and its review)."""
    existing: dict[tuple[str, str, str, str], RiskFlag] = {}
    query = sa.select(RiskFlag).where(RiskFlag.is_active.is_(True))
    if children is None:
        batches: list[Any] = [query]
    else:
        batches = [query.where(RiskFlag.master_child_id.in_(c)) for c in _chunks(children)]
    for select in batches:
        for flag in session.scalars(select):
            key = (str(flag.master_child_id), flag.rule_id, flag.rule_version, flag.fact_key)
            existing[key] = flag
    new_rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str, str]] = set()
    if not hits.is_empty():
        for hit in hits.iter_rows(named=True):
            facts = _latest_facts(hit.get("facts") or [])
            child = str(hit["master_child_id"])
            key = (child, str(hit["rule_id"]), str(hit["rule_version"]), _fact_key(facts))
            if key in seen:
                continue
            seen.add(key)
            if key in existing:
                existing[key].last_seen_run_id = run_id
                continue
            new_rows.append(
                {
                    "id": uuid.uuid4(),
                    "master_child_id": uuid.UUID(child),
                    "rule_id": key[1],
                    "rule_version": key[2],
                    "risk": RiskType(str(hit["risk"])),
                    "severity": RuleSeverity(str(hit["severity"])),
                    "label_zh": str(hit["label_zh"])[:200],
                    "label_en": str(hit["label_en"])[:200],
                    "facts": {"facts": facts},
                    "fact_key": key[3],
                    "as_of": as_of,
                    "run_id": run_id,
                    "last_seen_run_id": run_id,
                    "is_active": True,
                    "status": FlagStatus.OPEN,
                    "created_at": utc_now(),
                }
            )
    for key, flag in existing.items():
        if key not in seen:
            flag.is_active = False
    if new_rows:
        session.execute(sa.insert(RiskFlag), new_rows)
    session.flush()
    return len(new_rows)


def affected_children(session: Session, link_run_id: uuid.UUID | str) -> list[uuid.UUID]:
    """Master children a linkage run created or changed (from its ``master_child_events``)."""
    run = link_run_id if isinstance(link_run_id, uuid.UUID) else uuid.UUID(link_run_id)
    return list(
        session.scalars(
            sa.select(MasterChildEvent.master_child_id)
            .where(MasterChildEvent.run_id == run)
            .distinct()
        )
    )


def rescore_after_link(
    factory: sessionmaker[Session],
    data_dir: Path,
    master_ids: Sequence[uuid.UUID],
    *,
    link_run_id: uuid.UUID | None = None,
    as_of: dt.date | None = None,
    cipher: FieldCipher | None = None,
) -> ScoreRunRead | None:
    """Re-score only the children whose records a linkage run changed.

    Children merged away keep their history but lose their current scores (they are no longer
    scored). Returns None when nothing changed or no model is registered yet (a county linked
    before any model was trained is scored by ``childlink risk score``).
    """
    if not master_ids:
        return None
    try:
        return score_children(
            factory,
            as_of=as_of,
            children=list(master_ids),
            data_dir=data_dir,
            trigger=ScoreTrigger.LINK,
            link_run_id=link_run_id,
            cipher=cipher,
        )
    except NoModelError:
        return None


# --- reading and reviewing -----------------------------------------------------------------


def _score_read(score: RiskScore) -> ScoreRead:
    risk = RiskType(score.risk)
    band = RiskBand(score.band)
    return ScoreRead(
        id=score.id,
        risk=str(risk),
        risk_label_zh=risk.label_zh,
        risk_label_en=risk.label_en,
        probability=score.probability,
        band=str(band),
        band_label_zh=band.label_zh,
        band_label_en=band.label_en,
        model_version=score.model_version,
        explanation=ExplanationRead.model_validate(score.explanation),
        as_of=score.as_of,
        scored_at=score.scored_at,
        is_current=score.is_current,
    )


def _flag_read(flag: RiskFlag) -> FlagRead:
    status = FlagStatus(flag.status)
    severity = RuleSeverity(flag.severity)
    return FlagRead(
        id=flag.id,
        rule_id=flag.rule_id,
        rule_version=flag.rule_version,
        risk=str(flag.risk),
        severity=str(severity),
        severity_label_zh=severity.label_zh,
        severity_label_en=severity.label_en,
        label_zh=flag.label_zh,
        label_en=flag.label_en,
        facts=[FactRead.model_validate(fact) for fact in (flag.facts or {}).get("facts", [])],
        as_of=flag.as_of,
        is_active=flag.is_active,
        status=str(status),
        status_label_zh=status.label_zh,
        status_label_en=status.label_en,
        reviewer=flag.reviewer,
        reason=flag.reason,
        decided_at=flag.decided_at,
        created_at=flag.created_at,
    )


RISK_ORDER: Final = {str(risk): index for index, risk in enumerate(RiskType)}


def child_risk(session: Session, master_child_id: uuid.UUID, history: int = 60) -> ChildRisk:
    """A child's current scores (with explanation and model version), their history, flags.

    No access check: callers that show it to a person go through :func:`risk_for_viewer`.
    """
    current = sorted(
        session.scalars(
            sa.select(RiskScore).where(
                RiskScore.master_child_id == master_child_id, RiskScore.is_current.is_(True)
            )
        ),
        key=lambda score: RISK_ORDER.get(str(score.risk), 99),
    )
    past = session.scalars(
        sa.select(RiskScore)
        .where(RiskScore.master_child_id == master_child_id)
        .order_by(RiskScore.scored_at.desc())
        .limit(history)
    )
    flags = session.scalars(
        sa.select(RiskFlag)
        .where(RiskFlag.master_child_id == master_child_id)
        .order_by(RiskFlag.is_active.desc(), RiskFlag.created_at.desc())
    )
    return ChildRisk(
        master_child_id=master_child_id,
        scores=[_score_read(score) for score in current],
        history=[
            ScorePoint(
                risk=str(score.risk),
                probability=score.probability,
                band=str(score.band),
                model_version=score.model_version,
                as_of=score.as_of,
                scored_at=score.scored_at,
            )
            for score in past
        ],
        flags=[_flag_read(flag) for flag in flags],
    )


def risk_visible(
    session: Session, principal: Principal, purpose: Purpose, child: ChildScope
) -> bool:
    """Whether the policy grants the ``risk`` field group for at least one source of the child."""
    sources = session.scalars(
        sa.select(DataSource.code)
        .join(SourceRecord, SourceRecord.source_id == DataSource.id)
        .where(
            SourceRecord.master_child_id == child.master_child_id,
            SourceRecord.status != RecordStatus.QUARANTINED,
        )
        .distinct()
    ).all()
    return any(
        group_visibility(session, principal, purpose, child, code).get(FieldGroup.RISK)
        not in (None, Visibility.HIDDEN)
        for code in sources
    )


def _scope(session: Session, master_child_id: uuid.UUID) -> ChildScope | None:
    child = session.get(MasterChild, master_child_id)
    if child is None:
        return None
    return ChildScope(master_child_id=child.id, region_code=child.region_code)


def risk_for_viewer(
    session: Session,
    principal: Principal,
    purpose: Purpose,
    master_child_id: uuid.UUID,
    *,
    ip: str | None = None,
    strict: bool = True,
) -> ChildRisk | None:
    """A child's risk as ``principal`` may see it; every view (and refusal) is audited.

    Args:
        strict: raise :class:`AccessDeniedError` when the risk group is not granted (the API);
            False returns None instead (the profile page leaves the section out).

    Raises:
        NotFoundError: no such child.
        AccessDeniedError: the child may not be opened, or (strict) risk is not granted.
    """
    scope = _scope(session, master_child_id)
    if scope is None:
        raise NotFoundError(f"no child {master_child_id}")
    enforce(session, principal, Action.CHILD_VIEW, purpose, child=scope, ip=ip, audit_allow=False)
    if not risk_visible(session, principal, purpose, scope):
        if not strict:
            return None
        reason = "your role's data-sharing grants do not include risk scores for this child"
        audit(
            session,
            principal,
            RISK_VIEW,
            "deny",
            purpose,
            child_id=scope.master_child_id,
            ip=ip,
            details={"reason": reason},
        )
        session.commit()
        raise AccessDeniedError(reason)
    found = child_risk(session, scope.master_child_id)
    audit(
        session,
        principal,
        RISK_VIEW,
        "allow",
        purpose,
        child_id=scope.master_child_id,
        ip=ip,
        details={
            "scores": [f"{s.risk}:{s.model_version}" for s in found.scores],
            "flags": len(found.flags),
        },
    )
    return found


def review_flag(
    session: Session,
    flag_id: uuid.UUID,
    decision: FlagDecision | str,
    reason: str,
    reviewer: str,
) -> RiskFlag:
    """Record a worker's confirm or reject of a flag, with the reason (in the caller's unit).

    A later decision replaces an earlier one (the audit trail keeps both).

    Raises:
        NotFoundError: no such flag.
        FlagReviewError: unknown decision or an empty reason.
    """
    try:
        chosen = FlagDecision(decision)
    except ValueError as error:
        raise FlagReviewError(f"decision must be confirm or reject, not {decision!r}") from error
    text = reason.strip()
    if len(text) < 2:
        raise FlagReviewError("a reason is required to confirm or reject a flag")
    flag = session.get(RiskFlag, flag_id)
    if flag is None:
        raise NotFoundError(f"no risk flag {flag_id}")
    flag.status = FlagStatus.CONFIRMED if chosen is FlagDecision.CONFIRM else FlagStatus.REJECTED
    flag.reason = text[:2000]
    flag.reviewer = reviewer
    flag.decided_at = utc_now()
    session.flush()
    return flag


def review_flag_as(
    session: Session,
    principal: Principal,
    purpose: Purpose,
    flag_id: uuid.UUID,
    decision: FlagDecision | str,
    reason: str,
    *,
    ip: str | None = None,
) -> FlagRead:
    """:func:`review_flag` for a person: only one who may see the child's risk, audited.

    Raises:
        NotFoundError: no such flag.
        AccessDeniedError: the viewer may not see this child's risk, or the purpose is not
            case work or risk screening.
        FlagReviewError: unknown decision or an empty reason.
    """
    flag = session.get(RiskFlag, flag_id)
    if flag is None:
        raise NotFoundError(f"no risk flag {flag_id}")
    scope = _scope(session, flag.master_child_id)
    if scope is None:
        raise NotFoundError(f"no risk flag {flag_id}")
    enforce(session, principal, Action.CHILD_VIEW, purpose, child=scope, ip=ip, audit_allow=False)
    if purpose not in REVIEW_PURPOSES or not risk_visible(session, principal, purpose, scope):
        reason_denied = "reviewing risk flags needs the risk grant for this child (case work)"
        audit(
            session,
            principal,
            RISK_REVIEW,
            "deny",
            purpose,
            child_id=scope.master_child_id,
            ip=ip,
            details={"reason": reason_denied, "flag_id": str(flag_id)},
        )
        session.commit()
        raise AccessDeniedError(reason_denied)
    before = str(flag.status)
    review_flag(session, flag_id, decision, reason, principal.username)
    audit(
        session,
        principal,
        RISK_REVIEW,
        "allow",
        purpose,
        child_id=scope.master_child_id,
        ip=ip,
        details={
            "flag_id": str(flag_id),
            "rule_id": flag.rule_id,
            "rule_version": flag.rule_version,
            "before": before,
            "after": str(flag.status),
            "reason": flag.reason,
        },
    )
    return _flag_read(flag)


def feedback_labels(session: Session) -> pl.DataFrame:
    """Workers' decisions on flags, as labels for later evaluation.

    Columns: ``master_child_id``, ``risk``, ``rule_id``, ``rule_version``, ``as_of``,
    ``label`` (1 confirmed, 0 rejected), ``decided_at``.
    """
    rows = session.execute(
        sa.select(
            RiskFlag.master_child_id,
            RiskFlag.risk,
            RiskFlag.rule_id,
            RiskFlag.rule_version,
            RiskFlag.as_of,
            RiskFlag.status,
            RiskFlag.decided_at,
        ).where(RiskFlag.status != FlagStatus.OPEN)
    ).all()
    return pl.DataFrame(
        {
            "master_child_id": [str(r[0]) for r in rows],
            "risk": [str(r[1]) for r in rows],
            "rule_id": [r[2] for r in rows],
            "rule_version": [r[3] for r in rows],
            "as_of": [r[4] for r in rows],
            "label": [1 if r[5] == FlagStatus.CONFIRMED else 0 for r in rows],
            "decided_at": [r[6] for r in rows],
        },
        schema={
            "master_child_id": pl.String,
            "risk": pl.String,
            "rule_id": pl.String,
            "rule_version": pl.String,
            "as_of": pl.Date,
            "label": pl.Int8,
            "decided_at": pl.Datetime(time_zone="UTC"),
        },
    )


def band_counts(session: Session) -> dict[str, dict[str, int]]:
    """Current scores per risk and band (for the demo and ``childlink risk flags``)."""
    counts: dict[str, dict[str, int]] = {}
    for risk, band, count in session.execute(
        sa.select(RiskScore.risk, RiskScore.band, sa.func.count())
        .where(RiskScore.is_current.is_(True))
        .group_by(RiskScore.risk, RiskScore.band)
    ):
        counts.setdefault(str(risk), {})[str(band)] = int(count)
    return counts


def list_flags(
    session: Session, *, status: FlagStatus | None = None, limit: int = 50
) -> list[FlagRead]:
    """Active flags, most severe and newest first (for ``childlink risk flags``)."""
    query = sa.select(RiskFlag).where(RiskFlag.is_active.is_(True))
    if status is not None:
        query = query.where(RiskFlag.status == status)
    order = sa.case(
        {str(RuleSeverity.URGENT): 0, str(RuleSeverity.WARNING): 1},
        value=RiskFlag.severity,
        else_=2,
    )
    flags = session.scalars(query.order_by(order, RiskFlag.created_at.desc()).limit(limit))
    return [_flag_read(flag) for flag in flags]


def flag_child(session: Session, flag_id: uuid.UUID) -> uuid.UUID:
    """The master child a flag belongs to.

    Raises:
        NotFoundError: no such flag.
    """
    child = session.scalar(sa.select(RiskFlag.master_child_id).where(RiskFlag.id == flag_id))
    if child is None:
        raise NotFoundError(f"no risk flag {flag_id}")
    return child


def rescore_linked(
    factory: sessionmaker[Session],
    data_dir: Path,
    link_run_id: str | uuid.UUID,
    *,
    cipher: FieldCipher | None = None,
) -> int | None:
    """Re-score the children a linkage run changed; how many (None: no model to score with)."""
    with factory() as session:
        changed = affected_children(session, link_run_id)
    run = uuid.UUID(str(link_run_id))
    result = rescore_after_link(factory, data_dir, changed, link_run_id=run, cipher=cipher)
    return None if result is None else result.children
