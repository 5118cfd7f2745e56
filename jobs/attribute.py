"""``distillwatch attribute --date D``: scored accounts into campaigns, and the daily
attribution table analysts query.

Reads day D of silver_exchanges, account_daily_features and account_scores, the
threat_intel dimension and the earlier days of its own tables; publishes day D of the
campaigns family (:func:`distillwatch.pipelines.campaigns.campaigns_day`: replaceWhere on
the day) and upserts ``campaigns``. Rerunning a day gives the same tables: earlier state is
read strictly before D and campaign ids are deterministic.

Write, audit, publish (:class:`distillwatch.quality.StagedDay`): every table of the day is
staged and validated by its suite before any is published; one failed critical expectation
publishes none of them (``QualityGateFailed``, the outcomes in ``dq_results``). This is the
gold audit; the ``validate_gold`` step afterwards re-checks the published attribution day.
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
from distillwatch.jobs.ingest import require_complete_deliveries
from distillwatch.jobs.review import review_state_of
from distillwatch.jobs.train import training_labels_of
from distillwatch.lakehouse import Lakehouse
from distillwatch.models.encoding import LABEL_COL
from distillwatch.models.training import labels_as_of
from distillwatch.pipelines.campaigns import campaigns, campaigns_day
from distillwatch.pipelines.impact import campaign_impact_daily
from distillwatch.pipelines.sharing import intel_in_force
from distillwatch.quality import StagedDay

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


def _labelled(ctx: JobContext, day: dt.date) -> DataFrame | None:
    """(account_id, actor) of the accounts labelled distillation before ``day`` ended: the
    ``labels`` dimension and analysts' decisions, each account's latest label as training
    sees it. None without a labels table."""
    if not ctx.lake.exists(tables.LABELS):
        return None
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)
    known = labels_as_of(training_labels_of(ctx, ctx.lake.read(tables.LABELS), []), end)
    return known.where(F.col(LABEL_COL) == 1.0).select("account_id", "actor")


def _log_rejections(decisions: DataFrame, day: dt.date) -> None:
    """One log line of the day's clusters that were not kept, per reason (accounts in them):
    what an operator reads when a campaign it expected is missing. Clusters are few (one
    row each, already materialised), so the aggregate is a handful of rows."""
    rows = (
        decisions.where(F.col("reject_reason").isNotNull())
        .groupBy("reject_reason")
        .agg(F.count(F.lit(1)).alias("clusters"), F.sum("n_accounts").alias("accounts"))
        .orderBy("reject_reason")
        .collect()
    )
    if rows:
        log.info(
            "attribute %s: clusters not kept: %s",
            day,
            ", ".join(f"{r['reject_reason']}={r['clusters']} ({r['accounts']} accounts)" for r in rows),
        )


def run(ctx: JobContext, args: argparse.Namespace) -> int:
    require_complete_deliveries(ctx, args.date, "attribute")
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
        labelled=_labelled(ctx, day),
    )
    daily = out.campaign_attribution_daily  # computed once by the builder
    _log_rejections(out.cluster_decisions, day)
    # Write, audit, publish: every gold table of the day is staged and validated before any
    # is published, so a failed gate leaves all of them (campaigns too) as they were.
    with StagedDay(ctx, day) as gold:
        staged = {
            table: gold.stage(table, daily if table == tables.CAMPAIGN_ATTRIBUTION_DAILY else rows)
            for table, rows in out.daily_tables().items()
        }
        # Computed from the table as it stands: the staged copy is apart from its target,
        # so the MERGE does not read what it writes.
        gold.stage(tables.CAMPAIGNS, campaigns(previous, out.campaign_updates))
        # What each campaign harvested today and since first seen, beside the daily rows.
        impact = campaign_impact_daily(
            staged[tables.CAMPAIGN_EXCHANGES],
            _day(lake, tables.SILVER_EXCHANGES, day),
            staged[tables.CAMPAIGN_ATTRIBUTION_DAILY],
            _current(lake, tables.CAMPAIGN_IMPACT_DAILY),
            day,
        )
        gold.stage(tables.CAMPAIGN_IMPACT_DAILY, impact)
        gold.publish()  # QualityGateFailed: nothing published, the reasons in dq_results
    n = daily.count()
    attributed = daily.where(F.col("actor").isNotNull()).count()
    pivots = daily.where("release_pivot").count()
    emit(f"attribute {day}: {n} campaigns ({attributed} attributed, {pivots} release pivots)")
    return 0
