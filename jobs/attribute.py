"""``distillwatch attribute --date D``: scored accounts into campaigns, and the daily
attribution table analysts query.

Reads day D of silver_exchanges, account_daily_features and account_scores, the
threat_intel dimension and the earlier days of its own tables; publishes day D of the
campaigns family (:func:`distillwatch.pipelines.campaigns.campaigns_day`: replaceWhere on
the day) and upserts ``campaigns``. Rerunning a day gives the same tables: earlier state is
read strictly before D and campaign ids are deterministic.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from distillwatch import tables
from distillwatch.console import emit
from distillwatch.context import JobContext
from distillwatch.days import parse_day
from distillwatch.jobs.review import review_state_of
from distillwatch.lakehouse import Lakehouse
from distillwatch.pipelines.campaigns import campaigns, campaigns_day
from distillwatch.pipelines.impact import campaign_impact_daily
from distillwatch.pipelines.sharing import intel_in_force
from distillwatch.spark import materialise

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", required=True, type=parse_day, help="event date YYYY-MM-DD")


def _day(lake: Lakehouse, table: str, day: dt.date) -> DataFrame:
    return lake.read(table).where(F.col("event_date") == F.lit(day))


def _empty(lake: Lakehouse, table: str, cols: tuple[str, ...]) -> DataFrame:
    schema = tables.schema(table)
    return lake.spark.createDataFrame([], schema).select(*cols)


def _latest_before(
    lake: Lakehouse, table: str, cols: tuple[str, ...], day: dt.date, lookback: int
) -> DataFrame:
    """``cols`` of each campaign's latest day in [day - lookback, day): the earlier state."""
    if not lake.exists(table):
        return _empty(lake, table, cols)
    rows = lake.read(table).where(
        (F.col("event_date") < F.lit(day)) & (F.col("event_date") >= F.lit(day - dt.timedelta(days=lookback)))
    )
    latest = rows.withColumn("_last", F.max("event_date").over(Window.partitionBy("campaign_id")))
    return latest.where(F.col("event_date") == F.col("_last")).select(*cols)


def _popularity_before(lake: Lakehouse, day: dt.date, lookback: int) -> DataFrame | None:
    """Rows of indicator_popularity_daily in [day - lookback, day), or None before the first."""
    if not lake.exists(tables.INDICATOR_POPULARITY_DAILY):
        return None
    return lake.read(tables.INDICATOR_POPULARITY_DAILY).where(
        (F.col("event_date") < F.lit(day)) & (F.col("event_date") >= F.lit(day - dt.timedelta(days=lookback)))
    )


def _current(lake: Lakehouse, table: str) -> DataFrame:
    return lake.read(table) if lake.exists(table) else lake.spark.createDataFrame([], tables.schema(table))


def run(ctx: JobContext, args: argparse.Namespace) -> int:
    day: dt.date = args.date
    conf = ctx.cfg.attribution
    lake = ctx.lake
    lookback = conf.identity_lookback_days
    previous = _current(lake, tables.CAMPAIGNS)
    prev_members = _latest_before(lake, tables.CAMPAIGN_MEMBERS, ("campaign_id", "account_id"), day, lookback)
    out = campaigns_day(
        exchanges=_day(lake, tables.SILVER_EXCHANGES, day),
        features=_day(lake, tables.ACCOUNT_DAILY_FEATURES, day),
        scores=_day(lake, tables.ACCOUNT_SCORES, day),
        threat_intel=intel_in_force(lake.read(tables.THREAT_INTEL), day),
        prev_members=prev_members,
        prev_indicators=_latest_before(
            lake, tables.CAMPAIGN_INDICATORS, ("campaign_id", "ind_type", "ind_value"), day, lookback
        ),
        prior_actors=_latest_before(
            lake, tables.CAMPAIGN_ATTRIBUTION_DAILY, ("campaign_id", "actor", "confidence"), day, lookback
        ),
        first_seen=previous.select("campaign_id", "first_seen"),
        day=day.isoformat(),
        conf=conf,
        popularity=_popularity_before(lake, day, conf.popularity_lookback_days),
        review=review_state_of(lake, prev_members),
    )
    # The daily rows feed their table, the campaigns update and the counts: compute once.
    daily = materialise(
        out.campaign_attribution_daily, "daily rows feed their table, the merge and the counts"
    )
    for table, rows in out.daily_tables().items():
        lake.publish(daily if table == tables.CAMPAIGN_ATTRIBUTION_DAILY else rows, table, day.isoformat())
    # Read before any write of the day's campaigns; materialised so the upsert does not
    # read its own target while it writes it.
    updates = materialise(campaigns(previous, out.campaign_updates), "campaigns rows to upsert")
    lake.publish(updates, tables.CAMPAIGNS)
    # What each campaign harvested today and since first seen, beside the daily rows.
    impact = campaign_impact_daily(
        _day(lake, tables.CAMPAIGN_EXCHANGES, day),
        _day(lake, tables.SILVER_EXCHANGES, day),
        daily,
        _current(lake, tables.CAMPAIGN_IMPACT_DAILY),
        day,
    )
    lake.publish(materialise(impact, "impact rows are written from earlier rows of their table"),
                 tables.CAMPAIGN_IMPACT_DAILY, day.isoformat())  # fmt: skip
    n = daily.count()
    attributed = daily.where(F.col("actor").isNotNull()).count()
    pivots = daily.where("release_pivot").count()
    emit(f"attribute {day}: {n} campaigns ({attributed} attributed, {pivots} release pivots)")
    return 0
