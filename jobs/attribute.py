"""``distillwatch attribute --date D``: scored accounts into campaigns, and the daily
attribution table analysts query.

Reads day D of silver_exchanges, account_daily_features and account_scores, the
threat_intel dimension and the earlier days of its own tables; writes day D of
campaign_members, campaign_exchanges, campaign_indicators and
campaign_attribution_daily (replaceWhere on the day) and MERGEs campaigns. Rerunning a
day gives the same tables: earlier state is read strictly before D and campaign ids are
deterministic.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging

from delta.tables import DeltaTable
from distillwatch.pipelines.attribution import attribute_day
from distillwatch.pipelines.linkage import materialise
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, DoubleType, StringType, StructField, StructType

from distillwatch import tables
from distillwatch.console import emit
from distillwatch.context import JobContext
from distillwatch.days import parse_day
from distillwatch.lakehouse import Lakehouse
from distillwatch.spark import job_description

log = logging.getLogger(__name__)

CAMPAIGNS_SCHEMA = StructType(
    [
        StructField("campaign_id", StringType()),
        StructField("first_seen", DateType()),
        StructField("last_seen", DateType()),
        StructField("actor", StringType()),
        StructField("status", StringType()),
        StructField("merged_into", StringType()),
        StructField("split_from", StringType()),
        StructField("updated_on", DateType()),
    ]
)
_PREV_MEMBERS = StructType(
    [StructField("campaign_id", StringType()), StructField("account_id", StringType())]
)
_PREV_INDICATORS = StructType(
    [
        StructField("campaign_id", StringType()),
        StructField("ind_type", StringType()),
        StructField("ind_value", StringType()),
    ]
)
_PRIOR_ACTORS = StructType(
    [
        StructField("campaign_id", StringType()),
        StructField("actor", StringType()),
        StructField("confidence", DoubleType()),
    ]
)
_FIRST_SEEN = StructType([StructField("campaign_id", StringType()), StructField("first_seen", DateType())])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", required=True, type=parse_day, help="event date YYYY-MM-DD")


def _day(lake: Lakehouse, table: str, day: dt.date) -> DataFrame:
    return lake.read(table).where(F.col("event_date") == F.lit(day))


def _latest_before(lake: Lakehouse, table: str, schema: StructType, day: dt.date, lookback: int) -> DataFrame:
    """Rows of each campaign's latest day in [day - lookback, day): the earlier state."""
    if not lake.exists(table):
        return lake.spark.createDataFrame([], schema)
    rows = lake.read(table).where(
        (F.col("event_date") < F.lit(day)) & (F.col("event_date") >= F.lit(day - dt.timedelta(days=lookback)))
    )
    latest = rows.withColumn("_last", F.max("event_date").over(Window.partitionBy("campaign_id")))
    return latest.where(F.col("event_date") == F.col("_last")).select(*schema.fieldNames())


def _popularity_before(lake: Lakehouse, day: dt.date, lookback: int) -> DataFrame | None:
    """Rows of indicator_popularity_daily in [day - lookback, day), or None before the first."""
    if not lake.exists(tables.INDICATOR_POPULARITY_DAILY):
        return None
    return lake.read(tables.INDICATOR_POPULARITY_DAILY).where(
        (F.col("event_date") < F.lit(day)) & (F.col("event_date") >= F.lit(day - dt.timedelta(days=lookback)))
    )


def _merge_campaigns(lake: Lakehouse, updates: DataFrame) -> None:
    """Upsert today's campaigns (first/last seen widen, an actor is never erased) and
    mark the campaigns merged into today's."""
    lake.create_if_missing(tables.CAMPAIGNS, CAMPAIGNS_SCHEMA)
    target = DeltaTable.forPath(lake.spark, lake.path(tables.CAMPAIGNS)).alias("t")
    with job_description(lake.spark, f"write {tables.CAMPAIGNS} (merge)"):
        (
            target.merge(updates.alias("s"), "t.campaign_id = s.campaign_id")
            .whenMatchedUpdate(
                condition="s.status = 'merged'",
                set={"status": "s.status", "merged_into": "s.merged_into", "updated_on": "s.updated_on"},
            )
            .whenMatchedUpdate(
                set={
                    "first_seen": "least(t.first_seen, s.first_seen)",
                    "last_seen": "greatest(t.last_seen, s.last_seen)",
                    "actor": "coalesce(s.actor, t.actor)",
                    "status": "s.status",
                    "merged_into": "CAST(NULL AS STRING)",
                    "split_from": "coalesce(t.split_from, s.split_from)",
                    "updated_on": "s.updated_on",
                }
            )
            .whenNotMatchedInsertAll(condition="s.status <> 'merged'")
            .execute()
        )


def run(ctx: JobContext, args: argparse.Namespace) -> int:
    day: dt.date = args.date
    conf = ctx.cfg.attribution
    lake = ctx.lake
    first_seen = (
        lake.read(tables.CAMPAIGNS).select("campaign_id", "first_seen")
        if lake.exists(tables.CAMPAIGNS)
        else ctx.spark.createDataFrame([], _FIRST_SEEN)
    )
    out = attribute_day(
        exchanges=_day(lake, tables.SILVER_EXCHANGES, day),
        features=_day(lake, tables.ACCOUNT_DAILY_FEATURES, day),
        scores=_day(lake, tables.ACCOUNT_SCORES, day),
        threat_intel=lake.read(tables.THREAT_INTEL),
        prev_members=_latest_before(
            lake, tables.CAMPAIGN_MEMBERS, _PREV_MEMBERS, day, conf.identity_lookback_days
        ),
        prev_indicators=_latest_before(
            lake, tables.CAMPAIGN_INDICATORS, _PREV_INDICATORS, day, conf.identity_lookback_days
        ),
        prior_actors=_latest_before(
            lake, tables.CAMPAIGN_ATTRIBUTION_DAILY, _PRIOR_ACTORS, day, conf.identity_lookback_days
        ),
        first_seen=first_seen,
        day=day.isoformat(),
        conf=conf,
        popularity=_popularity_before(lake, day, conf.popularity_lookback_days),
    )
    # The campaigns MERGE reads today's rows once; everything else is a day replacement.
    daily = materialise(
        out["campaign_attribution_daily"], "daily rows feed their table, the merge and the counts"
    )
    for table in (
        tables.CAMPAIGN_MEMBERS,
        tables.CAMPAIGN_EXCHANGES,
        tables.CAMPAIGN_INDICATORS,
        tables.INDICATOR_POPULARITY_DAILY,
    ):
        lake.replace_day(out[table], table, day.isoformat())
    # TODO(quality): publish through pipelines.quality.publish_day once it lands.
    lake.replace_day(daily, tables.CAMPAIGN_ATTRIBUTION_DAILY, day.isoformat())
    _merge_campaigns(lake, out["campaign_updates"])
    n = daily.count()
    attributed = daily.where(F.col("actor").isNotNull()).count()
    pivots = daily.where("release_pivot").count()
    emit(f"attribute {day}: {n} campaigns ({attributed} attributed, {pivots} release pivots)")
    return 0
