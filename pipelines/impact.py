"""``campaign_impact_daily``: what each campaign harvested, per day, capability and model.

One row per (campaign, day, capability, model) the campaign has used since it was first
seen, on each day the campaign is active: the day's attributed exchanges and their input
and output tokens (zero for a slice not used that day), and the running totals since first
seen. The sum of a campaign-day's ``total_*`` is the campaign's running total. Cost: a join
of the day's campaign exchanges with the day's silver rows on ``request_id`` (four numeric
and label columns, never text) and a group-by; the earlier totals are one row per slice.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

_SLICE = ("campaign_id", "capability", "model")


def campaign_impact_daily(
    campaign_exchanges: DataFrame,
    silver: DataFrame,
    daily: DataFrame,
    previous: DataFrame,
    day: dt.date,
) -> DataFrame:
    """Day ``day`` of ``campaign_impact_daily``.

    ``campaign_exchanges`` and ``silver`` are the day's rows; ``daily`` the day's
    ``campaign_attribution_daily`` rows (the campaigns active, their first_seen);
    ``previous`` the table's rows before ``day`` (the latest row of each slice carries its
    running total).
    """
    zero = F.lit(0).cast("bigint")
    today = (
        campaign_exchanges.select("campaign_id", "request_id")
        .distinct()
        .join(
            silver.select(
                "request_id",
                F.coalesce("capability", F.lit("unknown")).alias("capability"),
                F.coalesce("model", F.lit("unknown")).alias("model"),
                "input_tokens",
                "output_tokens",
            ),
            "request_id",
        )
        .groupBy(*_SLICE)
        .agg(
            F.count(F.lit(1)).alias("n_exchanges"),
            F.coalesce(F.sum("input_tokens"), zero).cast("bigint").alias("input_tokens"),
            F.coalesce(F.sum("output_tokens"), zero).cast("bigint").alias("output_tokens"),
        )
    )
    latest = Window.partitionBy(*_SLICE).orderBy(F.desc("event_date"))
    before = (
        previous.where(F.col("event_date") < F.lit(day))
        .withColumn("_r", F.row_number().over(latest))
        .where("_r = 1")
        .select(
            *_SLICE,
            F.col("total_exchanges").alias("_te"),
            F.col("total_input_tokens").alias("_ti"),
            F.col("total_output_tokens").alias("_to"),
        )
    )
    active = daily.select("campaign_id", "first_seen")
    slices = today.select(*_SLICE).unionByName(before.select(*_SLICE)).distinct().join(active, "campaign_id")
    rows = (
        slices.join(today, list(_SLICE), "left")
        .join(before, list(_SLICE), "left")
        .fillna(0, subset=["n_exchanges", "input_tokens", "output_tokens", "_te", "_ti", "_to"])
    )
    return rows.select(
        F.lit(day).alias("event_date"),
        *_SLICE,
        F.col("n_exchanges").cast("bigint").alias("n_exchanges"),
        "input_tokens",
        "output_tokens",
        (F.col("_te") + F.col("n_exchanges")).cast("bigint").alias("total_exchanges"),
        (F.col("_ti") + F.col("input_tokens")).cast("bigint").alias("total_input_tokens"),
        (F.col("_to") + F.col("output_tokens")).cast("bigint").alias("total_output_tokens"),
        "first_seen",
    )
