"""run-local (make run): the demo window it shows, a lakehouse of another world refused, and the
partitioning of a small day.

The whole demo run (simulate, two days, train, a day) is what tests/test_e2e.py runs on a
smaller world; these tests cover what run-local adds around it."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from distillwatch import tables
from distillwatch.config import Config
from distillwatch.context import JobContext
from distillwatch.errors import UserError
from distillwatch.jobs import run_local


def test_the_demo_is_a_short_window_of_the_default_world(tmp_path: Path) -> None:
    demo = run_local.load_demo()
    assert (demo.days, demo.train_after, demo.holdout_days) == (3, 2, 1)
    (tmp_path / "simulate").mkdir()
    (tmp_path / "simulate" / "demo.yaml").write_text("days: 3\ntrain_after: 3\n")
    with pytest.raises(UserError, match="train_after < days"):
        run_local.load_demo(tmp_path)
    (tmp_path / "simulate" / "demo.yaml").write_text("dayz: 3\n")
    with pytest.raises(UserError, match="unknown key"):
        run_local.load_demo(tmp_path)


def test_a_lakehouse_of_another_world_is_refused_before_anything_runs(cfg: Config, tmp_path: Path) -> None:
    lake = tmp_path / "lakehouse"
    (lake / tables.BRONZE_EXCHANGES / "_delta_log").mkdir(parents=True)
    ctx = JobContext(cfg=cfg, landing=str(tmp_path / "world" / "landing"), lakehouse_root=str(lake))
    args = argparse.Namespace(full=False, days=None, scale=None, train_after=None)
    with pytest.raises(UserError, match="another simulated world.*make clean"):
        run_local.run(ctx, args)
    assert "spark" not in ctx.__dict__  # refused before Spark started
    assert not (tmp_path / "world").exists()  # and nothing was simulated
    # The demo's short training window holds out its last day only.
    assert ctx.cfg.models.holdout_days == 1 and ctx.cfg.models.intent.holdout_days == 1


def test_a_small_day_runs_with_one_shuffle_partition_per_core(spark: SparkSession) -> None:
    from distillwatch.spark import COALESCE_KEY, small_day

    key = "spark.sql.shuffle.partitions"
    before = spark.conf.get(key)
    coalesce = spark.conf.get(COALESCE_KEY, None)
    cores = spark.sparkContext.defaultParallelism
    spark.conf.set(key, str(cores + 6))
    with small_day(spark, 1_000, 10_000) as small:
        assert small and spark.conf.get(key) == str(cores)
        assert int(spark.conf.get("spark.databricks.delta.snapshotPartitions")) <= cores
        assert spark.conf.get(COALESCE_KEY) == "false"  # one partition per core stays so
    assert spark.conf.get(key) == str(cores + 6)  # restored
    assert spark.conf.get(COALESCE_KEY, None) == coalesce
    spark.conf.set(key, "1")
    with small_day(spark, 1_000, 10_000):
        assert spark.conf.get(key) == "1"  # never more partitions than the session had
    spark.conf.set(key, before)
    for size, limit in ((None, 10_000), (20_000, 10_000), (1_000, 0)):  # unknown, large, off
        with small_day(spark, size, limit) as small:
            assert not small and spark.conf.get(key) == before


def test_a_one_day_command_runs_fitted_to_its_day(job_ctx: JobContext) -> None:
    """`distillwatch features --date D` (and every one-day step command) is sized by D's delivery,
    as the daily steps are; a day without a delivery keeps the session's partitioning."""
    import datetime as dt

    from distillwatch.cli import COMMANDS
    from distillwatch.jobs.daily import STEP_NAMES, fitted_to_day
    from distillwatch.jobs.landing import delivery_folder

    one_day = {name for name, command in COMMANDS.items() if command.one_day}
    assert {"ingest", "features", "score", "attribute", "validate", "enforce", "report"} <= one_day
    assert one_day <= set(STEP_NAMES) | {"validate"}
    spark, key, day = job_ctx.spark, "spark.sql.shuffle.partitions", dt.date(2026, 2, 1)
    before = spark.conf.get(key)
    spark.conf.set(key, str(spark.sparkContext.defaultParallelism + 6))
    try:
        with fitted_to_day(job_ctx, day) as small:  # no delivery: unknown size
            assert not small and spark.conf.get(key) == str(spark.sparkContext.defaultParallelism + 6)
        folder = Path(delivery_folder(job_ctx.landing, day))
        folder.mkdir(parents=True)
        (folder / "part-0.jsonl").write_text('{"request_id": "r1"}\n')
        with fitted_to_day(job_ctx, day) as small:
            assert small and spark.conf.get(key) == str(spark.sparkContext.defaultParallelism)
    finally:
        spark.conf.set(key, before)
