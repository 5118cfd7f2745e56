"""The daily HTML report: rendered from small literal Delta tables, checked for content."""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import re
from pathlib import Path

import pytest
from distillwatch.jobs.report import run
from distillwatch.pipelines.report import campaign_model_mix, dq_status
from pyspark.sql import SparkSession
from test_sql import D1, D2, write_gold

from distillwatch import tables
from distillwatch.context import JobContext
from distillwatch.errors import UserError
from distillwatch.quality import DQ_RESULTS_SCHEMA

TS = dt.datetime(2026, 2, 11, 12, 0)


def _write_extra(spark: SparkSession, root: Path) -> None:
    def save(df, name: str) -> None:  # type: ignore[no-untyped-def]
        df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(str(root / name))

    # silver: 3 campaign exchanges on D2 (2 on the new model), 1 on D1, 1 non-campaign.
    save(
        spark.createDataFrame(
            [
                ("r1", D2, "a1", "m-new", "SECRET PROMPT", "SECRET SYS"),
                ("r2", D2, "a1", "m-new", "SECRET PROMPT", None),
                ("r3", D2, "a2", "m-old", "SECRET PROMPT", None),
                ("r4", D1, "a1", "m-old", "SECRET PROMPT", None),
                ("r5", D2, "zz", "m-old", "SECRET PROMPT", None),
            ],
            "request_id string, event_date date, account_id string, model string, prompt string, system_prompt string",
        ),
        tables.SILVER_EXCHANGES,
    )
    save(
        spark.createDataFrame(
            [(D2, "c1", "r1", "a1"), (D2, "c1", "r2", "a1"), (D2, "c2", "r3", "a2"), (D1, "c1", "r4", "a1")],
            "event_date date, campaign_id string, request_id string, account_id string",
        ),
        tables.CAMPAIGN_EXCHANGES,
    )
    save(
        spark.createDataFrame(
            [("m-new", dt.datetime(2026, 2, 10, 18)), ("m-old", dt.datetime(2025, 6, 1))],
            "model string, released_at timestamp",
        ),
        tables.MODEL_RELEASES,
    )
    dq = [
        # An older run of the gold table that failed, then a passing rerun: the rerun counts.
        (
            "run0",
            "campaign_attribution_daily",
            D2,
            "campaign_id_not_null",
            "t",
            "campaign_id",
            True,
            False,
            "1",
            None,
            "gate",
            TS,
        ),
        (
            "run1",
            "campaign_attribution_daily",
            D2,
            "campaign_id_not_null",
            "t",
            "campaign_id",
            True,
            True,
            "0",
            None,
            "gate",
            TS + dt.timedelta(hours=1),
        ),
        (
            "run2",
            "bronze_exchanges",
            D2,
            "volume_not_collapsed",
            "t",
            None,
            False,
            False,
            "12",
            None,
            "gate",
            TS,
        ),
        (
            "run2",
            "bronze_exchanges",
            D2,
            "request_id_unique",
            "t",
            "request_id",
            True,
            True,
            None,
            None,
            "gate",
            TS,
        ),
    ]
    save(spark.createDataFrame(dq, DQ_RESULTS_SCHEMA), tables.DQ_RESULTS)


def test_report_renders_campaigns_plots_and_quality(job_ctx: JobContext, tmp_path: Path) -> None:
    root = Path(job_ctx.lakehouse_root)
    write_gold(job_ctx.spark, root)
    _write_extra(job_ctx.spark, root)
    out = tmp_path / "report.html"
    assert run(job_ctx, argparse.Namespace(date=D2, out=str(out))) == 0
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "Distillation campaigns &mdash; 2026-02-11" in page
    # Campaign table: both of today's campaigns, actor / unattributed, evidence.
    rows = re.findall(r"<tr><td>(c\d)</td><td>([^<]+)</td><td>([^<]+)</td>", page)
    assert rows == [("c1", "ACME", "0.80"), ("c2", "unattributed", "&ndash;")]
    assert "<b>signals</b> content" in page
    assert "payment_fp: pf1 (4)" in page
    # Summary cards.
    assert "campaigns<b>2</b>" in page and "attributed<b>1</b>" in page and "exchanges<b>67</b>" in page
    # Three plots (volume, capability mix, model share) as decodable inline PNGs; nothing external.
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 3
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    assert "http://" not in page and "https://" not in page
    # Data quality: latest run per table (the failed run0 is superseded), warnings surfaced.
    assert "data quality<b>warnings</b>" in page
    assert "volume_not_collapsed" in page
    assert "<td>campaign_attribution_daily</td><td class='ok'>passed</td>" in page
    assert "SECRET" not in page


def test_report_aggregates_are_campaign_level(job_ctx: JobContext) -> None:
    root = Path(job_ctx.lakehouse_root)
    _write_extra(job_ctx.spark, root)
    lake = job_ctx.lake
    mix = campaign_model_mix(lake.read(tables.CAMPAIGN_EXCHANGES), lake.read(tables.SILVER_EXCHANGES), D2, 2)
    assert mix.columns == ["event_date", "model", "n_exchanges"]
    assert sorted(tuple(r) for r in mix.collect()) == [(D1, "m-old", 1), (D2, "m-new", 2), (D2, "m-old", 1)]
    dq = dq_status(lake.read(tables.DQ_RESULTS), D2)
    assert sorted((r.table_name, r.run_id, r.expectation) for r in dq.collect()) == [
        ("bronze_exchanges", "run2", "request_id_unique"),
        ("bronze_exchanges", "run2", "volume_not_collapsed"),
        ("campaign_attribution_daily", "run1", "campaign_id_not_null"),
    ]


def test_report_without_gold_table_is_a_user_error(job_ctx: JobContext, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="campaign_attribution_daily"):
        run(job_ctx, argparse.Namespace(date=D2, out=str(tmp_path / "r.html")))


def test_report_of_a_quiet_day_still_renders(job_ctx: JobContext, tmp_path: Path) -> None:
    write_gold(job_ctx.spark, Path(job_ctx.lakehouse_root))
    out = tmp_path / "quiet.html"
    assert run(job_ctx, argparse.Namespace(date=dt.date(2026, 3, 1), out=str(out))) == 0
    page = out.read_text()
    assert "No campaign detected on this day." in page
    assert "No data-quality results for this day." in page
    assert "Tables not available" in page
