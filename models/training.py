"""Point-in-time training sets and the distributed supervised classifier.

Labels are per account and arrive over time (an analyst decides an account later than
its traffic happened). A training set "as of" a time ``T`` may only use labels decided
at or before ``T`` and features of days up to ``T``; a label decided after ``T`` must
not leak in, or the backtest would claim detections nobody could have made then.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

import xgboost as xgb
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from xgboost.spark import SparkXGBClassifier

from distillwatch.config import ModelsConf
from distillwatch.models.encoding import KEYS, LABEL_COL, FeatureSpec, encode
from distillwatch.spark import one_row

log = logging.getLogger(__name__)

POSITIVE = "distillation"


def as_of_bounds(as_of: dt.date) -> tuple[dt.date, dt.datetime]:
    """``--as-of D`` means the end of day D: features of days <= D, labels decided before D+1 00:00 UTC."""
    return as_of, dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())


def labels_as_of(labels: DataFrame, decided_before: dt.datetime) -> DataFrame:
    """One row per labelled account: its latest label decided before ``decided_before``.

    Columns: account_id, label (1 distillation / 0 benign), campaign, actor. A label
    decided later, or a later revision of an earlier one, is invisible here.
    """
    known = labels.where(F.col("decided_at") < F.lit(decided_before)).where(
        F.col("label").isin(POSITIVE, "benign") & F.col("account_id").isNotNull()
    )
    latest = Window.partitionBy("account_id").orderBy(F.col("decided_at").desc(), F.col("label").desc())
    return (
        known.withColumn("_rank", F.row_number().over(latest))
        .where("_rank = 1")
        .select(
            "account_id",
            F.when(F.col("label") == POSITIVE, 1.0).otherwise(0.0).alias(LABEL_COL),
            F.when(F.col("label") == POSITIVE, F.col("campaign")).alias("campaign"),
            F.col("actor"),
        )
    )


def training_set(features: DataFrame, labels: DataFrame, as_of: dt.date) -> DataFrame:
    """One row per labelled account-day up to ``as_of``: the feature columns plus label, campaign, actor.

    The join is on ``account_id`` (labels are few: Spark broadcasts them); nothing is collected.
    """
    last_day, decided_before = as_of_bounds(as_of)
    known = labels_as_of(labels, decided_before)
    days = features.where(F.col("event_date") <= F.lit(last_day))
    return days.join(F.broadcast(known), "account_id", "inner")


def split_by_time(df: DataFrame, as_of: dt.date, holdout_days: int) -> tuple[DataFrame, DataFrame, dt.date]:
    """(train, holdout, cutoff): holdout is the account-days after ``cutoff`` = as_of - holdout_days.

    The same account can appear on both sides (its earlier days train, its later days
    test); leave-one-campaign-out is the check that a whole unseen operation is caught.
    """
    cutoff = as_of - dt.timedelta(days=holdout_days)
    return (
        df.where(F.col("event_date") <= F.lit(cutoff)),
        df.where(F.col("event_date") > F.lit(cutoff)),
        cutoff,
    )


def fit_classifier(train: DataFrame, spec: FeatureSpec, conf: ModelsConf) -> xgb.Booster:
    """Fit a gradient-boosted classifier with xgboost.spark (distributed over ``num_workers``
    Spark tasks) and return its booster, with ``spec.columns`` as feature names.
    """
    data = encode(train, spec, keep=(LABEL_COL,))
    classifier = SparkXGBClassifier(
        features_col=spec.columns,
        label_col=LABEL_COL,
        num_workers=conf.num_workers,
        n_estimators=conf.n_estimators,
        max_depth=conf.max_depth,
        learning_rate=conf.learning_rate,
        random_state=conf.seed,
        missing=float("nan"),
        # no per-round "training-logloss" lines on the console (the training task's stdout)
        verbose=False,
    )
    model = classifier.fit(data)
    booster = model.get_booster()
    booster.feature_names = list(spec.columns)
    return booster


def label_counts(df: DataFrame) -> tuple[int, int]:
    """(positives, negatives) of a training set: one small aggregate row."""
    row = one_row(
        df.agg(F.sum(F.col(LABEL_COL)).alias("pos"), F.sum(F.lit(1.0) - F.col(LABEL_COL)).alias("neg"))
    )
    return int(row["pos"] or 0), int(row["neg"] or 0)


def campaigns_of(df: DataFrame, limit: int) -> list[str]:
    """Labelled campaign names in a training set (a handful: one per known operation)."""
    rows = (
        df.where(F.col("campaign").isNotNull())
        .select("campaign")
        .distinct()
        .orderBy("campaign")
        .limit(limit)
        .collect()
    )
    return [r[0] for r in rows]


def without_campaign(df: DataFrame, campaign: str) -> DataFrame:
    """The training set minus every account-day of one campaign's accounts."""
    return df.where(F.col("campaign").isNull() | (F.col("campaign") != F.lit(campaign)))


def keys_and_label(df: DataFrame, extra: Sequence[str] = ()) -> DataFrame:
    return df.select(*KEYS, LABEL_COL, "campaign", *extra)
