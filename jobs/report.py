"""``distillwatch report --date D [--out FILE.html]``: the day's analyst report, one
self-contained HTML page (plots inline), from campaign_attribution_daily, campaigns'
exchanges (model only), model_releases and dq_results.

Reads the tables through the lakehouse, runs the Spark aggregations of
``distillwatch.pipelines.report``, collects their small results and renders them with
``distillwatch.render``. Every aggregate collected here has one row per campaign, per
(campaign, day), per (day, model) or per expectation, so collecting them is bounded by
the number of campaigns and days in the window, not by traffic.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from distillwatch import files, tables
from distillwatch.config import repo_conf_dir
from distillwatch.console import emit
from distillwatch.context import JobContext
from distillwatch.days import parse_day
from distillwatch.errors import UserError
from distillwatch.pipelines.decisions import in_force
from distillwatch.pipelines.report import (
    action_counts,
    actions_of_day,
    campaign_model_mix,
    campaigns_of_day,
    decisions_of_day,
    dq_status,
    impact_of_day,
    releases_in_window,
    volume_history,
)
from distillwatch.quality.suites import available_suites
from distillwatch.render import ReportData, render_report

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", required=True, type=parse_day, help="report day YYYY-MM-DD")
    parser.add_argument(
        "--out",
        help="HTML file or URI; {date} in it becomes the day (default: <report.dir>/report-<date>.html, "
        "report.dir under the lakehouse)",
    )


def default_path(ctx: JobContext, day: dt.date) -> str:
    """``<report.dir>/report-<day>.html`` (a local path or a URI, ``distillwatch.storage``)."""
    return f"{ctx.layout.reports}/report-{day.isoformat()}.html"


def _rows(df: DataFrame) -> list[dict[str, Any]]:
    return [r.asDict() for r in df.collect()]


def _review_rows(
    ctx: JobContext, day: dt.date, campaigns: list[dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """Impact, pending reviews, the day's decisions and recommended actions: rows per
    campaign, per decision (made by hand) and per action, the strongest 50 accounts."""
    lake = ctx.lake
    out: dict[str, list[dict[str, Any]]] = {"pending": list(campaigns)}
    if lake.exists(tables.CAMPAIGN_IMPACT_DAILY):
        out["impact"] = _rows(impact_of_day(lake.read(tables.CAMPAIGN_IMPACT_DAILY), day))
    if lake.exists(tables.ANALYST_DECISIONS):
        decisions = lake.read(tables.ANALYST_DECISIONS)
        out["decisions"] = _rows(decisions_of_day(decisions, day))
        reviewed = {
            r[0]
            for r in in_force(decisions)
            .where(F.col("action").isin("confirm", "dismiss"))
            .select("campaign_id")
            .collect()
        }
        out["pending"] = [c for c in campaigns if c["campaign_id"] not in reviewed]
    if lake.exists(tables.ENFORCEMENT_ACTIONS):
        actions = lake.read(tables.ENFORCEMENT_ACTIONS)
        out["action_counts"] = _rows(action_counts(actions, day))
        out["actions"] = _rows(actions_of_day(actions, day, 50))
    return out


def run(ctx: JobContext, args: argparse.Namespace) -> int:
    day: dt.date = args.date if isinstance(args.date, dt.date) else dt.date.fromisoformat(args.date)
    conf = ctx.cfg.report
    lake = ctx.lake
    if not lake.exists(tables.CAMPAIGN_ATTRIBUTION_DAILY):
        raise UserError(
            f"{lake.qualified(tables.CAMPAIGN_ATTRIBUTION_DAILY)} does not exist: run attribute first"
        )
    missing = [
        t
        for t in (
            tables.CAMPAIGN_EXCHANGES,
            tables.SILVER_EXCHANGES,
            tables.MODEL_RELEASES,
            tables.DQ_RESULTS,
        )
        if not lake.exists(t)
    ]
    daily = lake.read(tables.CAMPAIGN_ATTRIBUTION_DAILY)
    campaigns = _rows(campaigns_of_day(daily, day, conf.max_campaigns))
    shown = [c["campaign_id"] for c in campaigns]
    history = [r for r in _rows(volume_history(daily, day, conf.history_days)) if r["campaign_id"] in shown]
    model_mix: list[dict[str, Any]] = []
    if tables.CAMPAIGN_EXCHANGES not in missing and tables.SILVER_EXCHANGES not in missing:
        model_mix = _rows(
            campaign_model_mix(
                lake.read(tables.CAMPAIGN_EXCHANGES),
                lake.read(tables.SILVER_EXCHANGES),
                day,
                conf.history_days,
            )
        )
    releases = (
        _rows(releases_in_window(lake.read(tables.MODEL_RELEASES), day, conf.history_days))
        if tables.MODEL_RELEASES not in missing
        else []
    )
    dq = _rows(dq_status(lake.read(tables.DQ_RESULTS), day)) if tables.DQ_RESULTS not in missing else []
    review = _review_rows(ctx, day, campaigns)
    page = render_report(
        ReportData(
            day,
            campaigns,
            history,
            model_mix,
            releases,
            dq,
            missing,
            available_suites(repo_conf_dir()),
            **review,
        )
    )
    out = args.out.replace("{date}", day.isoformat()) if args.out else default_path(ctx, day)
    files.write_text(ctx.spark, out, page)
    emit(f"report {day}: {len(campaigns)} campaigns, {len(dq)} dq results -> {out}")
    return 0
