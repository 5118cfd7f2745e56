"""The daily HTML report: the job end to end over small literal Delta tables, the Spark
aggregations on their own, and the renderer on literal rows (no Spark)."""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from test_sql import D1, D2, write_gold

from distillwatch import tables
from distillwatch.context import JobContext
from distillwatch.errors import UserError
from distillwatch.jobs.report import run
from distillwatch.pipelines.report import campaign_model_mix, dq_status
from distillwatch.render import ReportData, evidence_summary, render_report

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
    save(spark.createDataFrame(dq, tables.schema(tables.DQ_RESULTS)), tables.DQ_RESULTS)


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
    campaigns_section = page[page.index("id='campaigns'") : page.index("id='volume'")]
    rows = re.findall(r"<tr><td>(c\d)</td><td>([^<]+)</td><td>([^<]+)</td>", campaigns_section)
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


def _literal_report() -> ReportData:
    campaigns = [
        {
            "campaign_id": "c1",
            "actor": "ACME",
            "confidence": 0.8,
            "status": "new",
            "first_seen": D1,
            "n_accounts": 4,
            "n_exchanges": 60,
            "top_capability": "coding",
            "cot_share": 0.5,
            "release_pivot": True,
            "new_model_share": 0.7,
            "population_new_model_share": 0.2,
            "capability_mix": json.dumps({"coding": 0.75, "other": 0.25}),
            "evidence": json.dumps({"signals": ["content"], "top_templates": [{"template_hash": "h<1>"}]}),
            "shared_infrastructure": json.dumps({"payment_fp": [{"value": "pf1", "n_accounts": 4}]}),
        },
        {"campaign_id": "c2", "n_exchanges": 7, "evidence": "not json", "capability_mix": None},
    ]
    history = [
        {"event_date": D1, "campaign_id": "c1", "n_exchanges": 30},
        {"event_date": D2, "campaign_id": "c1", "n_exchanges": 60},
    ]
    mix = [{"event_date": D2, "model": "m-new", "n_exchanges": 2}]
    releases = [{"model": "m-new", "released_at": dt.datetime(2026, 2, 10, 18)}]
    dq = [
        {
            "table_name": "bronze_exchanges",
            "run_id": "run2",
            "expectation": "volume_not_collapsed",
            "critical": True,
            "success": False,
            "observed_value": "12",
        }
    ]
    return ReportData(D2, campaigns, history, mix, releases, dq, ["model_releases"])


def test_renderer_on_literal_rows() -> None:
    page = render_report(_literal_report())
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</body></html>")
    campaigns_section = page[page.index("id='campaigns'") : page.index("id='volume'")]
    rows = re.findall(r"<tr><td>(c\d)</td><td>([^<]+)</td><td>([^<]+)</td>", campaigns_section)
    assert rows == [("c1", "ACME", "0.80"), ("c2", "unattributed", "&ndash;")]
    assert "campaigns<b>2</b>" in page and "exchanges<b>67</b>" in page and "release pivots<b>1</b>" in page
    assert "data quality<b>failed</b>" in page and "<td class='fail'>failed</td>" in page
    assert "Tables not available: model_releases" in page
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 3
    # Evidence is escaped HTML; unparsable evidence renders as a dash.
    assert evidence_summary(_literal_report().campaigns[0]) == (
        "<b>signals</b> content<br><b>shared</b> payment_fp: pf1 (4)<br><b>templates</b> h&lt;1&gt;"
    )
    assert evidence_summary({"evidence": "not json"}) == "&ndash;"


def test_renderer_imports_no_spark_nor_pipeline_layers() -> None:
    code = (
        "import sys, distillwatch.render; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pyspark' "
        "or m.startswith(('distillwatch.jobs', 'distillwatch.pipelines', 'distillwatch.models'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
