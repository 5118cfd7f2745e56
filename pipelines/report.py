"""The daily analyst report's data: Spark aggregations down to campaign-level rows.

Every function here is pure ``DataFrame -> DataFrame``; the outputs have one row per
campaign, per (campaign, day), per (day, model) or per expectation, i.e. they grow with
the number of campaigns and days in the window, never with traffic, so the job may
collect them. Rendering those rows (HTML, plots) is ``distillwatch.render``. No column of
prompt text is ever read: silver_exchanges is used only for (event_date, request_id, model).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from distillwatch.pipelines.views import ATTRIBUTION_COLUMNS

# The published attribution columns (one list, shared with the analyst views), less the date.
CAMPAIGN_COLUMNS = tuple(c for c in ATTRIBUTION_COLUMNS if c != "event_date")


def _window(col: str, day: dt.date, days: int) -> Any:
    start = day - dt.timedelta(days=days - 1)
    return (F.col(col) >= F.lit(start)) & (F.col(col) <= F.lit(day))


def campaigns_of_day(daily: DataFrame, day: dt.date, limit: int) -> DataFrame:
    """One row per campaign active on ``day`` (the ``limit`` largest by exchanges)."""
    return (
        daily.where(F.col("event_date") == F.lit(day))
        .select(*CAMPAIGN_COLUMNS)
        .orderBy(F.desc("n_exchanges"), "campaign_id")
        .limit(limit)
    )


def volume_history(daily: DataFrame, day: dt.date, days: int) -> DataFrame:
    """One row per (event_date, campaign) in the ``days`` up to ``day``: its exchanges."""
    return daily.where(_window("event_date", day, days)).select("event_date", "campaign_id", "n_exchanges")


def campaign_model_mix(
    campaign_exchanges: DataFrame, silver: DataFrame, day: dt.date, days: int
) -> DataFrame:
    """One row per (event_date, model): exchanges of campaign traffic on that model.

    Joins on (event_date, request_id) inside the window so Delta prunes both tables to
    the window's partitions; only ``model`` is read from silver (no prompt text)."""
    cx = (
        campaign_exchanges.where(_window("event_date", day, days))
        .select("event_date", "request_id")
        .distinct()
    )
    sx = silver.where(_window("event_date", day, days)).select("event_date", "request_id", "model")
    return (
        cx.join(sx, ["event_date", "request_id"])
        .groupBy("event_date", "model")
        .agg(F.count(F.lit(1)).alias("n_exchanges"))
    )


def releases_in_window(releases: DataFrame, day: dt.date, days: int) -> DataFrame:
    """One row per model released in the window (or the day before it)."""
    start = day - dt.timedelta(days=days)
    return releases.where(
        (F.to_date("released_at") >= F.lit(start)) & (F.to_date("released_at") <= F.lit(day))
    ).select("model", "released_at")


def dq_status(dq_results: DataFrame, day: dt.date) -> DataFrame:
    """One row per expectation of the latest validation run of each table for ``day``."""
    runs = (
        dq_results.where(F.col("event_date") == F.lit(day))
        .groupBy("table_name", "run_id")
        .agg(F.max("validated_at").alias("validated_at"))
        .withColumn(
            "_r", F.row_number().over(Window.partitionBy("table_name").orderBy(F.desc("validated_at")))
        )
        .where("_r = 1")
        .select("table_name", "run_id")
    )
    return dq_results.join(runs, ["table_name", "run_id"]).select(
        "table_name",
        "run_id",
        "expectation",
        "column_name",
        "critical",
        "success",
        "observed_value",
        "validated_at",
    )


def impact_of_day(impact: DataFrame, day: dt.date) -> DataFrame:
    """One row per campaign on ``day``: exchanges and tokens that day and since first seen."""
    return (
        impact.where(F.col("event_date") == F.lit(day))
        .groupBy("campaign_id")
        .agg(
            F.sum("n_exchanges").alias("n_exchanges"),
            F.sum("input_tokens").alias("input_tokens"),
            F.sum("output_tokens").alias("output_tokens"),
            F.sum("total_exchanges").alias("total_exchanges"),
            F.sum("total_input_tokens").alias("total_input_tokens"),
            F.sum("total_output_tokens").alias("total_output_tokens"),
        )
    )


def decisions_of_day(decisions: DataFrame, day: dt.date) -> DataFrame:
    """The analyst decisions recorded on ``day`` (UTC), oldest first."""
    return (
        decisions.where(F.to_date("decided_at") == F.lit(day))
        .select(
            "decided_at",
            "decision_id",
            "analyst",
            "action",
            "campaign_id",
            "account_id",
            "other_account_id",
            "actor",
            "label",
            "revokes",
            "reason",
        )  # fmt: skip
        .orderBy("decided_at")
    )


def actions_of_day(actions: DataFrame, day: dt.date, limit: int) -> DataFrame:
    """The ``limit`` strongest recommended actions of ``day`` (suspensions first, then by score)."""
    strength = F.array_position(
        F.array(*[F.lit(a) for a in ("monitor", "require_verification", "rate_limit", "suspend")]),
        F.col("action"),
    )
    return (
        actions.where(F.col("event_date") == F.lit(day))
        .select(
            "account_id",
            "action",
            "campaign_id",
            "actor",
            "score",
            "reason_codes",
            "campaign_exchanges",
            "collateral_exchanges",
        )  # fmt: skip
        .orderBy(strength.desc(), F.desc_nulls_last("score"), "account_id")
        .limit(limit)
    )


def action_counts(actions: DataFrame, day: dt.date) -> DataFrame:
    """One row per recommended action on ``day``: accounts and collateral exchanges."""
    return (
        actions.where(F.col("event_date") == F.lit(day))
        .groupBy("action")
        .agg(
            F.count(F.lit(1)).alias("n_accounts"), F.sum("collateral_exchanges").alias("collateral_exchanges")
        )
    )
