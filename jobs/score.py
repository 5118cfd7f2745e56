"""``distillwatch score --date D``: score one day's account features with
``models:/distillwatch-account-detector@champion`` into ``account_scores``; with no
champion yet, fall back to the anomaly scorer and threat intel, and say so."""

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
from distillwatch.jobs.ingest import require_complete_deliveries
from distillwatch.jobs.train import tracking_of
from distillwatch.models.registry import CHAMPION, load_alias
from distillwatch.models.scores import account_scores
from distillwatch.quality import publish_day
from distillwatch.spark import one_row

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", required=True, type=parse_day, help="event date to score (YYYY-MM-DD)")


def run(ctx: JobContext, args: argparse.Namespace) -> int:
    require_complete_deliveries(ctx, args.date, "score")
    day: dt.date = args.date
    conf = ctx.cfg.models
    if not ctx.lake.exists(tables.ACCOUNT_DAILY_FEATURES):
        emit(
            f"score: table {ctx.lake.qualified(tables.ACCOUNT_DAILY_FEATURES)} does not exist; run features first"
        )
        return 2
    features = ctx.lake.read(tables.ACCOUNT_DAILY_FEATURES).where(F.col("event_date") == F.lit(day))
    champion = load_alias(tracking_of(ctx), conf.registered_model, CHAMPION)
    if champion is None:
        emit(
            f"score: no champion registered for {conf.registered_model} (run `distillwatch train` first); "
            "falling back to the anomaly scorer and threat intel"
        )
    exchanges = None
    if champion is not None and champion.intent is not None:
        exchanges = (
            ctx.lake.read(tables.SILVER_EXCHANGES)
            .where(F.col("event_date") == F.lit(day))
            .select("account_id", "event_date", "prompt")
        )
        how_intent = f"; content intent by the classifier of v{champion.version}"
    else:
        how_intent = ""
    scores, how = account_scores(features, conf, champion, exchanges)
    how += how_intent
    _publish(ctx, scores, day)  # QualityGateFailed: not published, the reason in dq_results
    row = one_row(
        ctx.lake.read(tables.ACCOUNT_SCORES)
        .where(F.col("event_date") == F.lit(day))
        .agg(F.count(F.lit(1)).alias("n"), F.sum(F.col("flagged").cast("int")).alias("flagged"))
    )
    emit(f"score: {day}: {row['n']} account(s) scored with {how}; {row['flagged'] or 0} flagged")
    return 0


def _publish(ctx: JobContext, scores: DataFrame, day: dt.date) -> None:
    """Through the data-quality gate: the day is replaced only if its suite passes."""
    publish_day(ctx, scores, tables.ACCOUNT_SCORES, day)
