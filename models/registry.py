"""MLflow side of the detectors: one training run end to end (fit, evaluate, log,
register, promote) and loading a registered version for scoring.

Registry contract for ``distillwatch-account-detector``: every training run registers
a version and points ``challenger`` at it; ``champion`` moves to it only when it beats
the current champion's PR-AUC on the *same* holdout (this run's), or when there is no
champion. Each version carries everything scoring needs in its MLmodel metadata: the
feature spec, the calibrated threshold and the anomaly scorer's parameters.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import re
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import mlflow
import mlflow.data
import mlflow.xgboost
import numpy as np
import pandas as pd
import xgboost as xgb
from mlflow.data.spark_dataset import from_spark
from mlflow.exceptions import MlflowException
from mlflow.models import Model, infer_signature
from mlflow.tracking import MlflowClient
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from distillwatch.config import ModelsConf
from distillwatch.models.anomaly import anomaly_score, fit_anomaly
from distillwatch.models.encoding import KEYS, LABEL_COL, FeatureSpec, encode, feature_spec_from_schema
from distillwatch.models.evaluation import (
    Threshold,
    calibrate_threshold,
    detection_metrics,
    plot_feature_importance,
    plot_pr_curve,
    plot_score_distributions,
    recall_by_campaign,
)
from distillwatch.models.intent import (
    INTENT_FEATURES,
    IntentModel,
    calibrated_threshold,
    cross_fitted_intent,
    fit_intent,
    intent_metrics,
    labelled_texts,
)
from distillwatch.models.scores import booster_scores
from distillwatch.models.training import (
    as_of_bounds,
    campaigns_of,
    fit_classifier,
    label_counts,
    labels_as_of,
    split_by_time,
    training_set,
    without_campaign,
)

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class Tracking:
    """Where MLflow lives: the tracking store, the experiment's artifact location and the
    model registry.

    ``artifact_root`` None lets the tracking server choose (a Databricks workspace keeps a
    workspace experiment's artifacts in its own storage). ``registry_uri`` None is the
    tracking store; ``databricks-uc`` is Unity Catalog, where model names are three-level
    (``catalog.schema.model``), versions are found by alias, and stages do not exist.
    """

    uri: str
    artifact_root: str | None
    registry_uri: str | None = None

    @property
    def registry(self) -> str:
        return self.registry_uri or self.uri

    @property
    def unity_catalog(self) -> bool:
        return self.registry.split(":", 1)[0] == "databricks-uc"


@dataclass(frozen=True)
class TableLineage:
    """A Delta table a run read, pinned to the version it read."""

    name: str
    path: str
    version: int | None
    df: DataFrame


@dataclass(frozen=True)
class LoadedModel:
    """A registered version, ready to score."""

    version: str
    booster_raw: bytes
    spec: FeatureSpec
    anomaly: dict[str, Any]
    threshold: float
    # the learned content-intent classifier trained with it (None: a version without one)
    intent: IntentModel | None = None


INTENT_ARTIFACT = "intent/intent_model.npz"


@dataclass
class TrainingOutcome:
    """What one training run produced and decided."""

    run_id: str
    version: str
    metrics: dict[str, float]
    threshold: Threshold
    promoted: bool
    reason: str
    previous_champion: str | None
    loco_recall: dict[str, float] = field(default_factory=dict)


@contextmanager
def mlflow_store(tracking: Tracking) -> Iterator[MlflowClient]:
    """MLflow pointed at ``tracking`` (its tracking store and registry) for the duration, and a client of it.

    MLflow resolves some calls from its process-wide URIs rather than from the arguments
    given to them (a ``models:/`` URI's logged-model lookup, for one), and a scheduler runs
    every step in a fresh process whose default is ``./mlflow.db`` in the working directory.
    Every registry and artifact call of this module runs inside this scope, so none of them
    can reach a store other than the lakehouse's. The previous URIs are restored on exit.
    """
    # mlflow.set_tracking_uri/set_registry_uri also export MLFLOW_TRACKING_URI /
    # MLFLOW_REGISTRY_URI (for subprocesses): the variables are the state to restore.
    prev = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(tracking.uri)
    mlflow.set_registry_uri(tracking.registry)
    try:
        yield MlflowClient(tracking_uri=tracking.uri, registry_uri=tracking.registry)
    finally:
        # None (no variable before) puts MLflow back on its default
        mlflow.set_tracking_uri(prev["MLFLOW_TRACKING_URI"])  # type: ignore[arg-type]
        mlflow.set_registry_uri(prev["MLFLOW_REGISTRY_URI"])  # type: ignore[arg-type]
        for k, v in prev.items():
            if v is None:
                os.environ.pop(k, None)


def use_experiment(tracking: Tracking, experiment: str) -> str:
    """Point MLflow at ``tracking`` and return the experiment id (created with its artifact root).

    Sets the process-wide URIs: call it inside :func:`mlflow_store` to have them restored.
    """
    mlflow.set_tracking_uri(tracking.uri)
    mlflow.set_registry_uri(tracking.registry)
    existing = mlflow.get_experiment_by_name(experiment)
    if existing is not None:
        exp_id = existing.experiment_id
    else:
        exp_id = mlflow.create_experiment(experiment, artifact_location=_artifact_location(tracking))
    mlflow.set_experiment(experiment_id=exp_id)
    return str(exp_id)


def _artifact_location(tracking: Tracking) -> str | None:
    """A new experiment's artifact location: a URI as configured, a local folder as a file URI."""
    root = tracking.artifact_root
    if root is None or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", root):
        return root
    return Path(root).as_uri()


def _version_source(client: MlflowClient, tracking: Tracking, name: str, version: str) -> str:
    """Where a registered version's files are read from.

    Unity Catalog keeps them in its own storage, readable only with the temporary
    credentials MLflow's ``models:/`` repository asks the registry for; that URI resolves
    against the registry :func:`mlflow_store` has set. Other registries report the
    version's concrete location.
    """
    if tracking.unity_catalog:
        return f"models:/{name}/{version}"
    return client.get_model_version_download_uri(name, version)


def load_alias(tracking: Tracking, name: str, alias: str) -> LoadedModel | None:
    """The version behind ``models:/<name>@<alias>``, or None when the alias is not set.

    The artifacts are downloaded from the version's concrete location as the lakehouse's
    registry reports it (``get_model_version_download_uri``), not through a ``models:/``
    URI, which MLflow resolves against the process's registry (Unity Catalog, whose storage
    needs the credentials only that route gets, is the exception: :func:`_version_source`).
    """
    with mlflow_store(tracking) as client:
        try:
            mv = client.get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise
        source = _version_source(client, tracking, name, str(mv.version))
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=tmp))
            meta = Model.load(str(local / "MLmodel")).metadata or {}
            model_file = next(local.rglob("model.ubj"))
            raw = model_file.read_bytes()
            intent = None
            if meta.get("intent_artifact") and mv.run_id:
                got = client.download_artifacts(mv.run_id, str(meta["intent_artifact"]), tmp)
                intent = IntentModel.from_bytes(Path(got).read_bytes())
    return LoadedModel(
        version=str(mv.version),
        booster_raw=raw,
        spec=FeatureSpec.from_dict(meta["feature_spec"]),
        anomaly=meta["anomaly"],
        threshold=float(meta["threshold"]),
        intent=intent,
    )


def _metric_key(prefix: str, name: str) -> str:
    return prefix + re.sub(r"[^0-9A-Za-z_\-.]", "_", name)


def _pairs(scored: DataFrame) -> pd.DataFrame:
    # Labelled holdout rows only: bounded by how many accounts analysts label, not by traffic.
    return scored.select("score", LABEL_COL, "campaign", "anomaly_score").toPandas()


def _score_labelled(
    df: DataFrame, booster: bytes, spec: FeatureSpec, anomaly: dict[str, Any], top: int
) -> pd.DataFrame:
    with_anomaly = df.withColumn("anomaly_score", anomaly_score(anomaly))
    keep = (*KEYS, LABEL_COL, "campaign", "anomaly_score")
    return _pairs(booster_scores(with_anomaly, booster, spec, top, keep=keep))


def below_floors(metrics: dict[str, float], loco: dict[str, float], conf: ModelsConf) -> list[str]:
    """The promotion floors (``conf.promote_min_*``) a challenger misses, each as a sentence.

    Recall at the target precision counts as 0 when the threshold did not reach the target
    precision. Leave-one-campaign-out recall is checked on every campaign where it could be
    measured (a campaign without another one to train on has none).
    """
    misses = []
    pr_auc = metrics.get("holdout_pr_auc", math.nan)
    if math.isnan(pr_auc) or pr_auc < conf.promote_min_pr_auc:
        misses.append(f"holdout PR-AUC {pr_auc:.4f} < floor {conf.promote_min_pr_auc}")
    recall = metrics.get("threshold_recall", 0.0) if metrics.get("threshold_meets_target", 0.0) else 0.0
    if recall < conf.promote_min_recall_at_target:
        misses.append(
            f"holdout recall at precision {conf.target_precision} {recall:.3f} "
            f"< floor {conf.promote_min_recall_at_target}"
        )
    for campaign, r in sorted(loco.items()):
        if not math.isnan(r) and r < conf.promote_min_loco_recall:
            misses.append(
                f"leave-one-campaign-out recall {campaign} {r:.3f} < floor {conf.promote_min_loco_recall}"
            )
    return misses


def _compare_with_champion(
    tracking: Tracking, conf: ModelsConf, holdout: DataFrame, challenger_pr_auc: float
) -> tuple[bool, str, str | None, float | None]:
    """(promote, why, champion version, champion holdout PR-AUC) on this run's holdout."""
    champion = load_alias(tracking, conf.registered_model, CHAMPION)
    if champion is None:
        return True, "no champion yet: the challenger becomes champion", None, None
    try:
        pairs = _score_labelled(
            holdout, champion.booster_raw, champion.spec, champion.anomaly, conf.top_reasons
        )
    except ValueError as exc:  # the champion's inputs are gone from the feature table
        return (
            True,
            f"champion v{champion.version} cannot score today's features ({exc})",
            champion.version,
            None,
        )
    champ = detection_metrics(pairs[LABEL_COL].to_numpy(), pairs["score"].to_numpy())["pr_auc"]
    if math.isnan(challenger_pr_auc):
        return False, "challenger holdout PR-AUC undefined: champion stays", champion.version, champ
    if challenger_pr_auc > champ + conf.min_improvement:
        why = (
            f"challenger holdout PR-AUC {challenger_pr_auc:.4f} beats champion v{champion.version} "
            f"{champ:.4f} (+{challenger_pr_auc - champ:.4f} > {conf.min_improvement})"
        )
        return True, why, champion.version, champ
    why = (
        f"challenger holdout PR-AUC {challenger_pr_auc:.4f} does not beat champion v{champion.version} "
        f"{champ:.4f} by more than {conf.min_improvement}: champion stays"
    )
    return False, why, champion.version, champ


def train_and_register(
    features: DataFrame,
    labels: DataFrame,
    as_of: dt.date,
    conf: ModelsConf,
    tracking: Tracking,
    lineage: Sequence[TableLineage] = (),
    exchanges: DataFrame | None = None,
    threat_intel: DataFrame | None = None,
) -> TrainingOutcome:
    """Fit, evaluate, log and register one model version as of ``as_of``; move the aliases.

    ``exchanges`` (silver_exchanges: account_id, event_date, prompt, lang) and
    ``threat_intel``: the learned content-intent classifier is trained from them too
    (``models.intent``; skipped when ``exchanges`` is None, ``models.intent.enabled`` is
    false, or the labelled texts lack a class), its cross-fitted account-day aggregates
    join the booster's features, and it is logged and registered with the booster.

    Raises ValueError when the point-in-time training set or holdout lacks the labels to
    train or to calibrate a threshold (the message says which and how many).
    """
    spec = feature_spec_from_schema(features.schema, conf.categorical_levels, conf.exclude_features)
    anomaly_columns = spec.numeric
    intent: IntentModel | None = None
    intent_stats: dict[str, float] = {}
    labelled_features = features
    if exchanges is not None and conf.intent.enabled:
        known = labels_as_of(labels, as_of_bounds(as_of)[1])
        texts = labelled_texts(exchanges, known, threat_intel, as_of, conf.intent)
        n_pos = int((texts["label"] == 1).sum())
        n_neg = int((texts["label"] == 0).sum())
        if n_pos >= conf.min_positives and n_neg >= conf.min_negatives:
            intent_conf = replace(conf.intent, threshold=calibrated_threshold(texts, conf.intent))
            intent = fit_intent(texts["text"], texts["label"].to_numpy(), intent_conf)
            intent_stats = {
                "intent_train_positives": float(n_pos),
                "intent_train_negatives": float(n_neg),
                "intent_threshold": intent_conf.threshold,
            }
            intent_stats.update(intent_metrics(texts, as_of, intent_conf))
            mine = exchanges.where(F.col("event_date") <= F.lit(as_of)).join(
                F.broadcast(known.select("account_id")), "account_id", "left_semi"
            )
            cf = cross_fitted_intent(mine, texts, intent_conf)
            labelled_features = features.join(cf, ["event_date", "account_id"], "left")
            spec = FeatureSpec(numeric=(*spec.numeric, *INTENT_FEATURES), categorical=spec.categorical)
        else:
            log.warning("intent classifier not trained: %d positive / %d negative texts", n_pos, n_neg)
    # The labelled set is read by every fit and evaluation below; caching it avoids
    # re-reading and re-joining the feature table each time. It holds labelled accounts only.
    labelled = training_set(labelled_features, labels, as_of).cache()
    try:
        with mlflow_store(tracking):
            return _train(
                features,
                labelled,
                spec,
                as_of,
                conf,
                tracking,
                lineage,
                anomaly_columns,
                intent,
                intent_stats,
            )
    finally:
        labelled.unpersist()


def _train(
    features: DataFrame,
    labelled: DataFrame,
    spec: FeatureSpec,
    as_of: dt.date,
    conf: ModelsConf,
    tracking: Tracking,
    lineage: Sequence[TableLineage],
    anomaly_columns: Sequence[str],
    intent: IntentModel | None = None,
    intent_stats: dict[str, float] | None = None,
) -> TrainingOutcome:
    use_experiment(tracking, conf.experiment)
    train, holdout, cutoff = split_by_time(labelled, as_of, conf.holdout_days)
    tr_pos, tr_neg = label_counts(train)
    ho_pos, ho_neg = label_counts(holdout)
    if tr_pos < conf.min_positives or tr_neg < conf.min_negatives:
        raise ValueError(
            f"not enough labels to train as of {as_of}: {tr_pos} distillation / {tr_neg} benign account-days "
            f"up to {cutoff} (need {conf.min_positives} / {conf.min_negatives})"
        )
    if ho_pos < 1 or ho_neg < 1:
        raise ValueError(
            f"holdout {cutoff + dt.timedelta(days=1)}..{as_of} has {ho_pos} distillation / {ho_neg} benign "
            "account-days: cannot calibrate a threshold (need both labels)"
        )

    booster = fit_classifier(train, spec, conf)
    raw = bytes(booster.save_raw("ubj"))
    anomaly = fit_anomaly(
        features.where(F.col("event_date") <= F.lit(as_of)),
        anomaly_columns,
        conf.anomaly_clip,
        conf.anomaly_rel_error,
    )

    pairs = _score_labelled(holdout, raw, spec, anomaly, conf.top_reasons)
    y, s = pairs[LABEL_COL].to_numpy(dtype=float), pairs["score"].to_numpy(dtype=float)
    metrics = {f"holdout_{k}": v for k, v in detection_metrics(y, s).items()}
    threshold = calibrate_threshold(y, s, conf.target_precision)
    a = pairs["anomaly_score"].fillna(0.0).to_numpy(dtype=float)
    metrics["holdout_anomaly_pr_auc"] = detection_metrics(y, a)["pr_auc"]
    metrics.update(
        {
            "threshold": threshold.value,
            "threshold_precision": threshold.precision,
            "threshold_recall": threshold.recall,
            "threshold_meets_target": float(threshold.meets_target),
            "train_positives": float(tr_pos),
            "train_negatives": float(tr_neg),
            "holdout_positives": float(ho_pos),
            "holdout_negatives": float(ho_neg),
            **(intent_stats or {}),
        }
    )
    for c, r in recall_by_campaign(pairs, threshold.value).items():
        metrics[_metric_key("holdout_recall_campaign_", c)] = r

    loco = (
        _leave_one_campaign_out(labelled, train, holdout, spec, anomaly, threshold.value, conf)
        if conf.leave_one_campaign_out
        else {}
    )
    for c, r in loco.items():
        metrics[_metric_key("loco_recall_", c)] = r

    promote, reason, prev, champ_auc = _compare_with_champion(
        tracking, conf, holdout, metrics["holdout_pr_auc"]
    )
    misses = below_floors(metrics, loco, conf)
    if promote and misses:
        stays = f"champion v{prev} stays" if prev is not None else "no champion: the fallback scorer stays"
        promote, reason = False, f"below the promotion floors ({'; '.join(misses)}): {stays}"
    if champ_auc is not None:
        metrics["champion_holdout_pr_auc"] = champ_auc

    with mlflow.start_run(run_name=f"train-as-of-{as_of}") as run:
        mlflow.log_params(
            {
                "as_of": str(as_of),
                "holdout_cutoff": str(cutoff),
                "holdout_days": conf.holdout_days,
                "target_precision": conf.target_precision,
                "n_estimators": conf.n_estimators,
                "max_depth": conf.max_depth,
                "learning_rate": conf.learning_rate,
                "num_workers": conf.num_workers,
                "seed": conf.seed,
                "n_features": len(spec.columns),
                "exclude_features": ",".join(conf.exclude_features) or "-",
                "intent_classifier": "char_wb 2-4-gram hashing + logistic" if intent is not None else "none",
            }
        )
        mlflow.log_metrics({k: v for k, v in metrics.items() if not math.isnan(v)})
        for t in lineage:
            with warnings.catch_warnings():
                # The dataset's schema is the table's: its integer columns hold no missing
                # values, which MLflow's hint about model inputs does not know.
                warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
                ds = from_spark(
                    t.df, path=t.path, version=None if t.version is None else str(t.version), name=t.name
                )
            mlflow.log_input(ds, context="training")
        meta = {
            "feature_spec": spec.to_dict(),
            "anomaly": anomaly,
            "threshold": threshold.value,
            "as_of": str(as_of),
        }
        if intent is not None:
            with tempfile.TemporaryDirectory() as tmp:
                f = Path(tmp) / Path(INTENT_ARTIFACT).name
                f.write_bytes(intent.to_bytes())
                mlflow.log_artifact(str(f), artifact_path=str(Path(INTENT_ARTIFACT).parent))
            meta["intent_artifact"] = INTENT_ARTIFACT
        _log_artifacts(booster, y, s, threshold, meta, loco)
        # The booster reads a float matrix: the signature says so (integer columns would
        # make MLflow warn that they cannot hold missing values).
        example = encode(train, spec).limit(5).toPandas().astype("float64")
        signature = infer_signature(
            example,
            booster.predict(
                xgb.DMatrix(example.to_numpy(dtype=float), feature_names=spec.columns, missing=np.nan)
            ),
        )
        info = mlflow.xgboost.log_model(
            booster,
            name="model",
            signature=signature,
            input_example=example,
            # Inferring requirements would start a second interpreter; state them.
            pip_requirements=[f"xgboost=={xgb.__version__}", f"mlflow=={mlflow.__version__}"],
            metadata=meta,
            registered_model_name=conf.registered_model,
        )
        version = str(info.registered_model_version)
        mlflow.set_tags({"decision": "promoted" if promote else "kept champion", "decision_reason": reason})
        run_id = run.info.run_id

    client = MlflowClient(tracking_uri=tracking.uri, registry_uri=tracking.registry)
    client.set_registered_model_alias(conf.registered_model, CHALLENGER, version)
    for k, v in (
        ("holdout_pr_auc", metrics["holdout_pr_auc"]),
        ("threshold", threshold.value),
        ("as_of", str(as_of)),
    ):
        client.set_model_version_tag(conf.registered_model, version, k, str(v))
    if promote:
        client.set_registered_model_alias(conf.registered_model, CHAMPION, version)
    log.info("model v%s: %s", version, reason)
    return TrainingOutcome(run_id, version, metrics, threshold, promote, reason, prev, loco)


def _leave_one_campaign_out(
    labelled: DataFrame,
    train: DataFrame,
    holdout: DataFrame,
    spec: FeatureSpec,
    anomaly: dict[str, Any],
    threshold: float,
    conf: ModelsConf,
) -> dict[str, float]:
    """Recall on each labelled campaign of a model trained without it.

    The model is refit on the training days minus that campaign's accounts and scores
    every labelled day of the campaign (none of which it saw); recall is measured at the
    main model's calibrated threshold (same hyperparameters, so a comparable scale).
    """
    out: dict[str, float] = {}
    for campaign in campaigns_of(labelled, conf.max_loco_campaigns):
        reduced = without_campaign(train, campaign)
        pos, neg = label_counts(reduced)
        if pos < 1 or neg < 1:
            log.warning(
                "leave-one-campaign-out: skipping %s (no other labelled campaign to train on)", campaign
            )
            continue
        booster = fit_classifier(reduced, spec, conf)
        target = labelled.where(F.col("campaign") == F.lit(campaign))
        pairs = _score_labelled(target, bytes(booster.save_raw("ubj")), spec, anomaly, conf.top_reasons)
        out[campaign] = float((pairs["score"] >= threshold).mean()) if len(pairs) else math.nan
        log.info(
            "leave-one-campaign-out %s: recall %.3f on %d account-days", campaign, out[campaign], len(pairs)
        )
    return out


def _log_artifacts(
    booster: xgb.Booster,
    y: np.ndarray,
    s: np.ndarray,
    threshold: Threshold,
    meta: dict[str, Any],
    loco: dict[str, float],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        plot_pr_curve(y, s, threshold, folder / "pr_curve.png")
        plot_score_distributions(y, s, threshold.value, folder / "score_distributions.png")
        importance = {
            k: float(sum(v) if isinstance(v, list) else v)
            for k, v in booster.get_score(importance_type="total_gain").items()
        }
        plot_feature_importance(importance, folder / "feature_importance.png")
        (folder / "feature_importance.json").write_text(json.dumps(importance, indent=2, sort_keys=True))
        (folder / "feature_spec.json").write_text(json.dumps(meta["feature_spec"], indent=2))
        (folder / "anomaly_scorer.json").write_text(json.dumps(meta["anomaly"], indent=2))
        (folder / "threshold.json").write_text(json.dumps(threshold.__dict__, indent=2))
        (folder / "leave_one_campaign_out.json").write_text(json.dumps(loco, indent=2))
        mlflow.log_artifacts(str(folder), artifact_path="evaluation")
