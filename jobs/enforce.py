"""``distillwatch enforce --date D``: the recommended action for each suspect account of day D.

Reads day D of account_scores, campaign_members, campaign_attribution_daily,
campaign_exchanges and account_daily_features, and the analyst decisions in force;
publishes day D of ``enforcement_actions`` through the quality gate
(:func:`distillwatch.pipelines.enforcement.enforcement_actions`; the policy is
``enforcement:`` in the configuration).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from distillwatch import tables
from distillwatch.console import emit
from distillwatch.context import JobContext
from distillwatch.days import parse_day
from distillwatch.lakehouse import Lakehouse
from distillwatch.pipelines.decisions import in_force
from distillwatch.pipelines.enforcement import enforcement_actions
from distillwatch.quality import publish_day

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", required=True, type=parse_day, help="event date YYYY-MM-DD")


def _day(lake: Lakehouse, table: str, day: dt.date) -> DataFrame:
    if not lake.exists(table):
        return lake.spark.createDataFrame([], tables.schema(table))
    return lake.read(table).where(F.col("event_date") == F.lit(day))


def run(ctx: JobContext, args: argparse.Namespace) -> int:
    day: dt.date = args.date
    lake = ctx.lake
    decisions = (
        in_force(lake.read(tables.ANALYST_DECISIONS))
        if lake.exists(tables.ANALYST_DECISIONS)
        else lake.spark.createDataFrame([], tables.schema(tables.ANALYST_DECISIONS))
    )
    dismissed = decisions.where(F.col("action") == "dismiss").select(
        F.explode("scope_accounts").alias("account_id")
    )
    benign = decisions.where((F.col("action") == "label") & (F.col("label") == "benign")).select("account_id")
    labelled = decisions.where((F.col("action") == "label") & (F.col("label") == "distillation")).select(
        "account_id"
    )
    rows = enforcement_actions(
        scores=_day(lake, tables.ACCOUNT_SCORES, day),
        members=_day(lake, tables.CAMPAIGN_MEMBERS, day),
        daily=_day(lake, tables.CAMPAIGN_ATTRIBUTION_DAILY, day),
        campaign_exchanges=_day(lake, tables.CAMPAIGN_EXCHANGES, day),
        features=_day(lake, tables.ACCOUNT_DAILY_FEATURES, day),
        excluded=dismissed.unionByName(benign),
        distillation_labelled=labelled,
        confirmed=decisions.where(F.col("action") == "confirm").select("campaign_id"),
        day=day,
        conf=ctx.cfg.enforcement,
    )
    publish_day(ctx, rows, tables.ENFORCEMENT_ACTIONS, day)
    counts = {
        r["action"]: r["n"]
        for r in lake.read(tables.ENFORCEMENT_ACTIONS)
        .where(F.col("event_date") == F.lit(day))
        .groupBy("action")
        .agg(F.count(F.lit(1)).alias("n"))
        .collect()  # four actions
    }
    emit(f"enforce {day}: " + (", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "no actions"))
    return 0
