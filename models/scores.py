"""The builder of ``account_scores``: account-days scored by the champion booster, or, while
no champion exists, by the anomaly scorer and threat intel.

The booster runs in a vectorised ``mapInPandas``: the model's bytes travel in the task
closure, each Python worker builds the booster once per partition and scores Arrow
batches (probability plus per-row SHAP contributions from ``pred_contribs``). That is a
batch path, not a per-row UDF, and it scales out with the partitions of the input.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xgboost as xgb
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StringType, StructField, StructType

from distillwatch.config import ModelsConf
from distillwatch.models.anomaly import anomaly_reasons, anomaly_score, fit_anomaly
from distillwatch.models.encoding import KEYS, FeatureSpec, encode, feature_spec_from_schema

if TYPE_CHECKING:
    from distillwatch.models.registry import LoadedModel


def booster_scores(
    df: DataFrame, booster_raw: bytes, spec: FeatureSpec, top: int, keep: tuple[str, ...] = KEYS
) -> DataFrame:
    """``keep`` columns plus ``score`` (probability of distillation) and ``reasons``
    (JSON list of the ``top`` features by absolute SHAP contribution, with sign) per row.
    """
    names = spec.columns
    encoded = encode(df, spec, keep=keep)
    in_schema = encoded.schema
    out_schema = StructType(
        [f for f in in_schema.fields if f.name in keep]
        + [StructField("score", DoubleType()), StructField("reasons", StringType())]
    )
    raw = bytearray(booster_raw)

    def _predict(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        booster = xgb.Booster()
        booster.load_model(raw)  # once per partition, not per row
        cols = list(booster.feature_names or names)  # the booster's own column order is authoritative
        for pdf in batches:
            if pdf.empty:
                continue
            x = pdf[cols].astype("float64").to_numpy()
            dm = xgb.DMatrix(x, feature_names=cols, missing=np.nan)
            prob = booster.predict(dm)
            contribs = booster.predict(dm, pred_contribs=True)[:, : len(cols)]
            order = np.argsort(-np.abs(contribs), axis=1)[:, :top]
            reasons = [
                json.dumps([{"feature": cols[j], "contribution": round(float(row[j]), 4)} for j in idx])
                for row, idx in zip(contribs, order, strict=True)
            ]
            out = pdf[list(keep)].copy()
            out["score"] = prob.astype("float64")
            out["reasons"] = reasons
            yield out

    return encoded.mapInPandas(_predict, out_schema)


def score_with_model(
    features: DataFrame,
    booster_raw: bytes,
    spec: FeatureSpec,
    anomaly: Mapping[str, Any],
    threshold: float,
    model_version: str,
    top: int,
) -> DataFrame:
    """``account_scores`` rows: one per account-day of ``features``, scored by a registered model.

    ``flagged`` is ``score >= threshold`` (the threshold calibrated on the model's holdout).
    """
    with_anomaly = features.select(
        *KEYS,
        anomaly_score(anomaly).alias("anomaly_score"),
        _learned_intent(features).alias("_learned_intent"),
        *_feature_cols(features, spec),
    )
    scored = booster_scores(
        with_anomaly, booster_raw, spec, top, keep=(*KEYS, "anomaly_score", "_learned_intent")
    )
    return scored.select(
        "event_date",
        "account_id",
        F.col("score").cast("double").alias("score"),
        F.col("anomaly_score").cast("double").alias("anomaly_score"),
        (F.col("score") >= F.lit(threshold)).alias("flagged"),
        F.lit(float(threshold)).alias("threshold"),
        F.lit(model_version).alias("model_version"),
        "reasons",
        F.col("_learned_intent").cast("double").alias("learned_intent_share"),
    )


def _learned_intent(features: DataFrame) -> F.Column:
    """The learned classifier's share of the account-day (null without one)."""
    if "learned_intent_share" in features.columns:
        return F.col("learned_intent_share").cast("double")
    return F.lit(None).cast("double")


def score_fallback(
    features: DataFrame,
    anomaly: Mapping[str, Any],
    anomaly_threshold: float,
    intel_threshold: float,
    top: int,
) -> DataFrame:
    """``account_scores`` rows while no champion exists: anomaly scorer plus threat intel.

    ``score`` is the larger of the anomaly score and the intel confidence (0 without
    intel matches); flagged when either reaches its configured threshold. ``threshold``
    records the anomaly threshold and ``model_version`` says ``fallback:anomaly+intel``.
    """
    has_intel = "intel_max_confidence" in features.columns
    intel = F.coalesce(F.col("intel_max_confidence").cast("double"), F.lit(0.0)) if has_intel else F.lit(0.0)
    if has_intel and "intel_matches" in features.columns:
        intel = F.when(F.coalesce(F.col("intel_matches"), F.lit(0)) > 0, intel).otherwise(F.lit(0.0))
    a = F.coalesce(anomaly_score(anomaly), F.lit(0.0))
    return features.select(
        "event_date",
        "account_id",
        F.greatest(a, intel).alias("score"),
        anomaly_score(anomaly).alias("anomaly_score"),
        ((a >= F.lit(anomaly_threshold)) | (intel >= F.lit(intel_threshold))).alias("flagged"),
        F.lit(float(anomaly_threshold)).alias("threshold"),
        F.lit("fallback:anomaly+intel").alias("model_version"),
        anomaly_reasons(anomaly, top).alias("reasons"),
        F.lit(None).cast("double").alias("learned_intent_share"),
    )


def _feature_cols(df: DataFrame, spec: FeatureSpec) -> list[str]:
    return [c for c in (*spec.numeric, *spec.categorical) if c in df.columns and c not in KEYS]


def account_scores(
    features: DataFrame,
    conf: ModelsConf,
    champion: LoadedModel | None,
    exchanges: DataFrame | None = None,
) -> tuple[DataFrame, str]:
    """One day's ``account_scores`` rows and how they were scored (for the log line).

    With a champion: its booster, anomaly model and calibrated threshold, and, when the
    version has a content-intent classifier, its account-day aggregates over ``exchanges``
    (the day's silver rows: account_id, event_date, prompt) as two more features. Without
    one: the anomaly scorer fitted on this day's accounts plus threat intel (``score_fallback``).
    """
    if champion is not None and champion.intent is not None and exchanges is not None:
        from distillwatch.models.intent import account_intent

        features = features.join(account_intent(exchanges, champion.intent), list(KEYS), "left")
    if champion is not None:
        scores = score_with_model(
            features,
            champion.booster_raw,
            champion.spec,
            champion.anomaly,
            champion.threshold,
            champion.version,
            conf.top_reasons,
        )
        how = f"models:/{conf.registered_model}@champion (v{champion.version}, threshold {champion.threshold:.4f})"
        return scores, how
    spec = feature_spec_from_schema(features.schema, conf.categorical_levels, conf.exclude_features)
    anomaly = fit_anomaly(features, spec.numeric, conf.anomaly_clip, conf.anomaly_rel_error)
    scores = score_fallback(
        features, anomaly, conf.fallback_anomaly_threshold, conf.fallback_intel_threshold, conf.top_reasons
    )
    return scores, "fallback:anomaly+intel"
