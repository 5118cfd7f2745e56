"""Data-quality gates: suites load, a clean day publishes, and each way a day can be
corrupted is blocked with its reason while the published table stays byte-for-byte the same.

Real Spark, real Delta, real Great Expectations (ephemeral context), tiny literal rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
from dataclasses import replace
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from distillwatch import tables
from distillwatch.config import ConfigError, QualityConf, repo_conf_dir
from distillwatch.context import JobContext
from distillwatch.contract import THREAT_INTEL_SCHEMA
from distillwatch.jobs import validate as validate_job
from distillwatch.quality import (
    QualityGateFailed,
    available_suites,
    load_suite,
    parse_suite,
    publish_day,
    staging_format,
    to_gx_suite,
    validate_table,
    volume_baseline,
)

DAY = dt.date(2026, 2, 8)

SCORES_SCHEMA = tables.subset(
    tables.ACCOUNT_SCORES,
    "event_date",
    "account_id",
    "score",
    "anomaly_score",
    "flagged",
    "threshold",
    "model_version",
    "reasons",
)

FEATURE_SHARES = (
    "top_capability_share",
    "cot_share",
    "rubric_share",
    "sensitive_share",
    "top_template_share",
    "near_dup_share",
    "sync_score",
    "intel_max_confidence",
)
FEATURES_SCHEMA = tables.subset(
    tables.ACCOUNT_DAILY_FEATURES,
    "event_date",
    "account_id",
    "n_exchanges",
    "top_capability",
    "signup_path",
    *FEATURE_SHARES,
    "intel_matches",
    "n_accounts_same_payment",
    "n_accounts_same_prefix",
)

ATTRIBUTION_SCHEMA = tables.subset(
    tables.CAMPAIGN_ATTRIBUTION_DAILY,
    "event_date",
    "campaign_id",
    "actor",
    "confidence",
    "n_accounts",
    "n_exchanges",
    "first_seen",
    "status",
    "top_capability",
    "cot_share",
    "rubric_share",
    "sensitive_share",
    "new_model_share",
    "evidence",
)


# -- builders ---------------------------------------------------------------------------
def as_table(df: DataFrame, table: str) -> DataFrame:
    """``df`` with the catalog's other columns of ``table`` added as typed nulls: the gate
    publishes only rows with the table's columns."""
    return df.select(
        *[
            F.col(f.name) if f.name in df.columns else F.lit(None).cast(f.dataType).alias(f.name)
            for f in tables.schema(table).fields
        ]
    )


def scores(spark: SparkSession, day: dt.date, n: int = 6, **override: object) -> DataFrame:
    rows = [(day, f"acc-{i}", 0.1 * (i % 10), 0.2, i % 3 == 0, 0.5, "v1", "[]") for i in range(n)]
    df = spark.createDataFrame(rows, SCORES_SCHEMA)
    for col, value in override.items():
        df = df.withColumn(col, F.lit(value).cast(SCORES_SCHEMA[col].dataType))
    return as_table(df, tables.ACCOUNT_SCORES)


def features(spark: SparkSession, day: dt.date, n: int) -> DataFrame:
    rows = [
        (day, f"acc-{i}", 10 + i, "coding", "self_serve", *[0.25] * len(FEATURE_SHARES), 0, 1, 2)
        for i in range(n)
    ]
    return as_table(spark.createDataFrame(rows, FEATURES_SCHEMA), tables.ACCOUNT_DAILY_FEATURES)


def attribution(
    spark: SparkSession, day: dt.date, actor: str | None = "APT-X", cot: float = 0.4
) -> DataFrame:
    rows = [
        (
            day,
            "camp-1",
            actor,
            0.8,
            5,
            500,
            day - dt.timedelta(days=2),
            "active",
            "coding",
            cot,
            0.1,
            0.0,
            0.3,
            "{}",
        ),
        (day, "camp-2", None, 0.2, 3, 90, day, "new", "reasoning_math", 0.2, 0.5, 0.1, 0.0, "{}"),
    ]
    return as_table(spark.createDataFrame(rows, ATTRIBUTION_SCHEMA), tables.CAMPAIGN_ATTRIBUTION_DAILY)


def bronze(spark: SparkSession, day: dt.date, ids: list[str]) -> DataFrame:
    start = dt.datetime.combine(day, dt.time())
    now = start + dt.timedelta(days=1, hours=1)
    rows = []
    for i, rid in enumerate(ids):
        ts = start + dt.timedelta(hours=23, minutes=i)  # traffic reaches the end of the day
        rows.append(
            Row(
                request_id=rid,
                ts=ts,
                account_id=f"acc-{i % 3}",
                api_key_id="k1",
                model="m-1",
                client_ip="10.0.0.1",
                user_agent="ua",
                tls_fp="tls",
                prompt="SECRET PROMPT TEXT",
                system_prompt=None,
                input_tokens=100,
                output_tokens=200,
                n_messages=2,
                n_tools=0,
                tool_calls=0,
                has_image=False,
                thinking=True,
                status=200,
                latency_ms=900,
                event_date=day,
                delivery_date=day,
                source_file="f.jsonl",
                ingested_at=now,
            )
        )
    return spark.createDataFrame(rows, tables.schema(tables.BRONZE_EXCHANGES))


# -- "byte-for-byte": every file of the table (data + log) hashed, plus version and rows --
def fingerprint(job_ctx: JobContext, table: str) -> tuple[int | None, dict[str, str], list[Row]]:
    root = Path(job_ctx.lake.path(table))
    files = {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
    rows = sorted(job_ctx.lake.read(table).collect(), key=lambda r: tuple(str(v) for v in r))
    return job_ctx.lake.version(table), files, rows


def dq_rows(job_ctx: JobContext, run_id: str) -> dict[str, Row]:
    df = job_ctx.lake.read(tables.DQ_RESULTS).where(F.col("run_id") == run_id)
    return {r["expectation"]: r for r in df.collect()}


def seed_days(job_ctx: JobContext, table: str, frames: list[DataFrame]) -> None:
    """Published history, written directly (setup, not under test)."""
    for df in frames:
        day = df.select("event_date").first()[0]
        job_ctx.lake.replace_day(df, table, day.isoformat())


def assert_blocked(
    job_ctx: JobContext, table: str, df: DataFrame, expected: str, observed_part: str
) -> QualityGateFailed:
    before = fingerprint(job_ctx, table)
    with pytest.raises(QualityGateFailed) as info:
        publish_day(job_ctx, df, table, DAY)
    err = info.value
    assert expected in {o.name for o in err.result.failed_critical}
    assert expected in str(err) and observed_part in str(err)
    assert not err.result.published
    assert fingerprint(job_ctx, table) == before
    # Recorded, with the observed value, and the staged rows kept for inspection.
    row = dq_rows(job_ctx, err.result.run_id)[expected]
    assert row["critical"] is True and row["success"] is False and observed_part in row["observed_value"]
    # Kept in the staging format (Parquet on a local lakehouse), readable as staged.
    assert err.result.staging_path and Path(err.result.staging_path).is_dir()
    fmt = staging_format(job_ctx, err.result.staging_path)
    assert fmt == "parquet"
    kept = job_ctx.spark.read.format(fmt).load(err.result.staging_path)
    assert kept.count() == df.count()
    return err


# -- suites (no Spark) --------------------------------------------------------------------
def test_every_table_has_a_suite_that_translates_to_gx() -> None:
    conf_dir = repo_conf_dir()
    assert set(available_suites(conf_dir)) >= {
        tables.BRONZE_EXCHANGES,
        tables.SILVER_EXCHANGES,
        tables.ACCOUNT_DAILY_FEATURES,
        tables.ACCOUNT_SCORES,
        tables.CAMPAIGN_ATTRIBUTION_DAILY,
    }
    for table in available_suites(conf_dir):
        spec = load_suite(conf_dir, table, QualityConf().redacted_columns)
        assert {e.severity for e in spec.expectations} == {"critical", "warning"}
        assert len(to_gx_suite(spec, table).expectations) == len(spec.expectations)


def test_suite_rejects_value_checks_on_prompt_text_and_unknown_parameters() -> None:
    leaky = {
        "table": "t",
        "expectations": [
            {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "prompt", "value_set": ["x"]}}
        ],
    }
    with pytest.raises(ConfigError, match="redacted"):
        parse_suite(leaky, redacted=("prompt",))
    typo = {
        "table": "t",
        "expectations": [
            {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": "$volume_mni"}}
        ],
    }
    with pytest.raises(ConfigError, match="unknown parameter"):
        parse_suite(typo)
    with pytest.raises(ConfigError, match="severity"):
        parse_suite(
            {
                "table": "t",
                "expectations": [
                    {"type": "expect_column_to_exist", "kwargs": {"column": "a"}, "severity": "fatal"}
                ],
            }
        )


def test_volume_bounds_follow_the_trailing_median() -> None:
    conf = QualityConf(volume_min_history_days=3, volume_min_ratio=0.5, volume_max_ratio=3.0)
    b = volume_baseline([100, 90, 300, 110, 95, 105, 100], conf)
    assert (b.median, b.volume_min, b.volume_max) == (100.0, 50, 300)
    assert volume_baseline([100, 90], conf).volume_min == 0  # no baseline yet: nothing to compare


# -- the gate -----------------------------------------------------------------------------
def test_clean_day_passes_publishes_and_records(job_ctx: JobContext, spark: SparkSession) -> None:
    df = scores(spark, DAY, model_version=None)  # a warning, which must not block
    result = publish_day(job_ctx, df, tables.ACCOUNT_SCORES, DAY)

    assert result.passed and result.published and result.row_count == 6
    assert [o.name for o in result.failed_warnings] == ["model_version_not_null"]
    published = job_ctx.lake.read(tables.ACCOUNT_SCORES)
    assert sorted(r["account_id"] for r in published.collect()) == sorted(
        r["account_id"] for r in df.collect()
    )
    recorded = dq_rows(job_ctx, result.run_id)
    assert len(recorded) == len(result.outcomes)
    assert recorded["account_id_not_null"]["success"] is True
    assert recorded["model_version_not_null"]["critical"] is False
    assert recorded["model_version_not_null"]["success"] is False
    assert "6 of 6 rows unexpected" in recorded["model_version_not_null"]["observed_value"]
    assert Path(result.data_docs).is_file()
    assert list(Path(result.data_docs).parent.glob(f"validations/**/{result.run_id}/**/*.html"))
    staging = Path(job_ctx.lake.root, "_staging", tables.ACCOUNT_SCORES, DAY.isoformat(), result.run_id)
    assert not staging.exists()


def test_data_docs_pages_are_for_runs_with_a_failure_unless_configured(
    job_ctx: JobContext, spark: SparkSession
) -> None:
    clean = publish_day(job_ctx, scores(spark, DAY), tables.ACCOUNT_SCORES, DAY)
    assert clean.passed and not clean.failed_warnings
    assert clean.data_docs is None  # quality.data_docs "failures": no page for a clean run
    site = Path(job_ctx.layout.data_docs)
    assert not list(site.glob(f"validations/**/{clean.run_id}/**/*.html"))
    every = replace(job_ctx, cfg=replace(job_ctx.cfg, quality=replace(job_ctx.cfg.quality, data_docs="all")))
    again = publish_day(every, scores(spark, DAY), tables.ACCOUNT_SCORES, DAY)
    assert again.data_docs and Path(again.data_docs).is_file()
    assert list(site.glob(f"validations/**/{again.run_id}/**/*.html"))
    # Both runs' outcomes are in dq_results whatever is rendered.
    assert len(dq_rows(job_ctx, clean.run_id)) == len(clean.outcomes)
    assert len(dq_rows(job_ctx, again.run_id)) == len(again.outcomes)


def test_rerunning_a_day_replaces_it(job_ctx: JobContext, spark: SparkSession) -> None:
    publish_day(job_ctx, scores(spark, DAY, n=4), tables.ACCOUNT_SCORES, DAY)
    publish_day(job_ctx, scores(spark, DAY, n=4), tables.ACCOUNT_SCORES, DAY)
    assert job_ctx.lake.read(tables.ACCOUNT_SCORES).count() == 4


def test_null_keys_are_blocked(job_ctx: JobContext, spark: SparkSession) -> None:
    seed_days(job_ctx, tables.ACCOUNT_SCORES, [scores(spark, DAY - dt.timedelta(days=1)), scores(spark, DAY)])
    bad = scores(spark, DAY).withColumn(
        "account_id", F.when(F.col("account_id") == "acc-2", None).otherwise(F.col("account_id"))
    )
    assert_blocked(job_ctx, tables.ACCOUNT_SCORES, bad, "account_id_not_null", "1 of 6 rows unexpected")


def test_duplicated_request_ids_forced_past_ingestion_are_blocked(
    job_ctx: JobContext, spark: SparkSession
) -> None:
    seed_days(job_ctx, tables.BRONZE_EXCHANGES, [bronze(spark, DAY, ["r1", "r2", "r3"])])
    bad = bronze(spark, DAY, ["r1", "r2", "r3", "r3"])
    err = assert_blocked(job_ctx, tables.BRONZE_EXCHANGES, bad, "request_id_unique", '"r3"')
    # Raw prompt text never leaves silver: not in the message, dq_results or Data Docs.
    assert "SECRET" not in str(err)
    assert not any("SECRET" in (r["details"] or "") for r in dq_rows(job_ctx, err.result.run_id).values())
    docs = Path(err.result.data_docs).parent
    assert not any("SECRET" in p.read_text() for p in docs.rglob("*.html"))


@pytest.mark.slow
def test_volume_collapse_against_seven_published_days_is_blocked(
    job_ctx: JobContext, spark: SparkSession
) -> None:
    history = [features(spark, DAY - dt.timedelta(days=d), 9 + d % 3) for d in range(1, 8)]
    seed_days(job_ctx, tables.ACCOUNT_DAILY_FEATURES, history)
    err = assert_blocked(
        job_ctx, tables.ACCOUNT_DAILY_FEATURES, features(spark, DAY, 2), "volume_not_collapsed", "2"
    )
    assert "trailing median 10 over 7 day(s)" in err.result.baseline
    # A normal day on the same history passes and publishes.
    ok = publish_day(job_ctx, features(spark, DAY, 10), tables.ACCOUNT_DAILY_FEATURES, DAY)
    assert ok.published
    assert job_ctx.lake.read(tables.ACCOUNT_DAILY_FEATURES).where(F.col("event_date") == DAY).count() == 10


def test_out_of_range_share_is_blocked(job_ctx: JobContext, spark: SparkSession) -> None:
    intel = spark.createDataFrame(
        [("ip_prefix", "10.0.0.0/24", "APT-X", "feed", 0.9, DAY)], THREAT_INTEL_SCHEMA
    )
    job_ctx.lake.overwrite(intel, tables.THREAT_INTEL)
    seed_days(job_ctx, tables.CAMPAIGN_ATTRIBUTION_DAILY, [attribution(spark, DAY)])
    assert_blocked(
        job_ctx,
        tables.CAMPAIGN_ATTRIBUTION_DAILY,
        attribution(spark, DAY, cot=1.3),
        "cot_share_in_unit_interval",
        "[1.3]",
    )
    # An actor that threat intel does not know is blocked too; null (unattributed) is fine.
    assert_blocked(
        job_ctx,
        tables.CAMPAIGN_ATTRIBUTION_DAILY,
        attribution(spark, DAY, actor="APT-NOBODY"),
        "actor_known_or_null",
        "APT-NOBODY",
    )


def test_validate_command_reports_a_bad_published_day(
    job_ctx: JobContext, spark: SparkSession, capsys: pytest.CaptureFixture[str]
) -> None:
    # Written around the gate (as a legacy job would): validate finds it.
    job_ctx.lake.replace_day(scores(spark, DAY, score=1.7), tables.ACCOUNT_SCORES, DAY.isoformat())
    args = argparse.Namespace(table=tables.ACCOUNT_SCORES, date=DAY.isoformat())
    assert validate_job.run(job_ctx, args) == 1
    out = capsys.readouterr().out
    assert "score_in_unit_interval" in out and "6 of 6 rows unexpected" in out
    clean = validate_table(job_ctx, tables.ACCOUNT_SCORES, DAY - dt.timedelta(days=1))
    assert clean.row_count == 0  # nothing published that day: keys pass, nothing to flag
    assert os.path.isfile(clean.data_docs or "")
    # The daily validate steps pass quality.data_docs ("failures"): no page for a clean day,
    # one for the bad day, and dq_results gets both.
    daily = validate_table(job_ctx, tables.ACCOUNT_SCORES, DAY - dt.timedelta(days=1), "failures")
    assert daily.passed and daily.data_docs is None
    assert validate_table(job_ctx, tables.ACCOUNT_SCORES, DAY, "failures").data_docs


def test_failed_staging_is_removed_when_configured(job_ctx: JobContext, spark: SparkSession) -> None:
    ctx2 = replace(
        job_ctx, cfg=replace(job_ctx.cfg, quality=replace(job_ctx.cfg.quality, keep_failed_staging=False))
    )
    ctx2.__dict__["spark"] = job_ctx.spark
    with pytest.raises(QualityGateFailed) as info:
        publish_day(ctx2, scores(spark, DAY, score=-0.5), tables.ACCOUNT_SCORES, DAY)
    assert not Path(info.value.result.staging_path or "").exists()
    assert not ctx2.lake.exists(tables.ACCOUNT_SCORES)


def test_rows_that_drift_from_the_catalog_are_refused_before_validation(
    job_ctx: JobContext, spark: SparkSession
) -> None:
    from distillwatch.lakehouse import SchemaDrift

    drifted = scores(spark, DAY).drop("reasons").withColumn("score", F.col("score").cast("string"))
    with pytest.raises(
        SchemaDrift, match=r"missing reasons string; score is string, the catalog says double"
    ):
        publish_day(job_ctx, drifted, tables.ACCOUNT_SCORES, DAY)
    with pytest.raises(SchemaDrift, match="unexpected extra string"):
        job_ctx.lake.publish(
            scores(spark, DAY).withColumn("extra", F.lit("x")), tables.ACCOUNT_SCORES, "2026-02-10"
        )
