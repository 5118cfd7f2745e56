"""End to end on a small simulated world: simulate -> daily x2 -> train -> daily.

Checks what users rely on, against the simulator's ground truth: every delivery
reconciles, every step of every day succeeds, campaigns are found every day, none is
mostly legitimate accounts, an attributed actor is the true one, and no raw prompt text
reaches a gold table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from dataclasses import replace
from pathlib import Path

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from distillwatch import tables
from distillwatch.context import JobContext
from distillwatch.jobs import daily, simulate, train

pytestmark = pytest.mark.e2e

START = dt.date(2026, 2, 1)
DAYS = 3
TRAIN_AFTER = 2


@pytest.fixture(scope="module")
def world(ctx: JobContext, tmp_path_factory: pytest.TempPathFactory) -> tuple[JobContext, Path]:
    root = tmp_path_factory.mktemp("e2e")
    cfg = replace(
        ctx.cfg,
        database="e2e_" + os.urandom(3).hex(),
        # a 2-day training window: hold out its last day
        models=replace(ctx.cfg.models, holdout_days=1),
    )
    c = JobContext(cfg=cfg, landing=str(root / "world" / "landing"), lakehouse_root=str(root / "lakehouse"))
    c.__dict__["spark"] = ctx.spark  # the one session of this test run
    simulate.run(
        c,
        argparse.Namespace(out=str(root / "world"), start=START.isoformat(), days=DAYS, scale=0.002, seed=11),
    )
    daily.backfill(c, START, START + dt.timedelta(days=TRAIN_AFTER - 1))
    assert train.run(c, argparse.Namespace(as_of=START + dt.timedelta(days=TRAIN_AFTER - 1))) == 0
    daily.backfill(c, START + dt.timedelta(days=TRAIN_AFTER), START + dt.timedelta(days=DAYS - 1))
    return c, root / "world" / "truth"


def _truth_accounts(c: JobContext, truth: Path) -> DataFrame:
    return c.spark.read.parquet(str(truth / "accounts"))


def test_every_step_of_every_day_succeeded_and_deliveries_reconcile(world: tuple[JobContext, Path]) -> None:
    c, _ = world
    runs = c.lake.read(tables.RUNS)
    assert runs.where("status <> 'ok'").count() == 0
    per_day = {
        r["run_date"]: r["n"]
        for r in runs.groupBy("run_date").agg(F.countDistinct("step").alias("n")).collect()
    }
    assert per_day == {START + dt.timedelta(days=i): len(daily.STEP_NAMES) for i in range(DAYS)}
    ingest_log = c.lake.read(tables.INGEST_LOG)
    # every delivery opened by a started row and closed by a complete one
    assert ingest_log.where("status = 'started'").count() == ingest_log.where("status = 'complete'").count()
    for r in ingest_log.where("status = 'complete'").collect():
        assert r["read"] == r["new"] + r["duplicates"] + r["quarantined"]
    assert (
        c.lake.read(tables.INGEST_LOG).agg(F.sum("quarantined")).first()[0] > 0
    )  # the world has broken lines


def test_detected_campaigns_are_planted_ones_with_their_true_actors(world: tuple[JobContext, Path]) -> None:
    """Precision of discovery and attribution. (Recall per planted campaign and hydra exchange
    precision are measured, not asserted, by ``bench/evaluate_world.py``: see docs/evaluation.md.)"""
    c, truth = world
    accounts = _truth_accounts(c, truth).select("account_id", "campaign", "actor")
    members = c.lake.read(tables.CAMPAIGN_MEMBERS).join(accounts, "account_id", "left")
    comp = (
        members.groupBy("event_date", "campaign_id")
        .agg(
            F.count("*").alias("n"),
            F.sum(F.col("campaign").isNotNull().cast("int")).alias("n_planted"),
            F.mode("campaign").alias("planted"),
            F.mode("actor").alias("true_actor"),
        )
        .join(
            c.lake.read(tables.CAMPAIGN_ATTRIBUTION_DAILY).select("event_date", "campaign_id", "actor"),
            ["event_date", "campaign_id"],
        )
    )
    rows = comp.collect()  # a handful of campaign-days
    days = {r["event_date"] for r in rows}
    assert days == {START + dt.timedelta(days=i) for i in range(DAYS)}, f"days with campaigns: {sorted(days)}"
    # no campaign is made mostly of legitimate accounts
    mostly_legit = [
        (r["event_date"], r["campaign_id"], r["n"], r["n_planted"])
        for r in rows
        if r["n_planted"] * 2 < r["n"]
    ]
    assert not mostly_legit
    # an attributed campaign names the actor its members truly belong to
    wrong = [
        (r["event_date"], r["planted"], r["actor"], r["true_actor"])
        for r in rows
        if r["actor"] is not None and r["actor"] != r["true_actor"]
    ]
    assert not wrong
    assert any(r["actor"] is not None for r in rows)


def test_no_raw_prompt_text_downstream_of_silver(world: tuple[JobContext, Path]) -> None:
    c, _ = world
    sample = [r["prompt"] for r in c.lake.read(tables.SILVER_EXCHANGES).select("prompt").limit(20).collect()]
    for table in (
        tables.ACCOUNT_DAILY_FEATURES,
        tables.ACCOUNT_SCORES,
        tables.CAMPAIGN_MEMBERS,
        tables.CAMPAIGN_EXCHANGES,
        tables.CAMPAIGN_ATTRIBUTION_DAILY,
        tables.CAMPAIGNS,
    ):
        df = c.lake.read(table)
        assert not {"prompt", "system_prompt"} & set(df.columns), table
        text = " ".join(str(v) for r in df.limit(200).collect() for v in r)
        assert not [p for p in sample if len(p) > 30 and p in text], table
