"""Fault injection: ``kill -9`` at each commit point of one day, then a rerun.

A tiny world is simulated in-process. One lakehouse runs the day cleanly (in-process). A
second one runs ``distillwatch daily`` as real subprocesses, each killed with SIGKILL by a
failpoint (``DISTILLWATCH_FAILPOINT``, :mod:`distillwatch.faults`) right after one Delta
commit: after bronze (inside ingest), after silver, after features, after scores, and inside
attribute's publish (after the first gold table, before the others). The first run is the
whole day; each next one is a retry from the step that died (``daily --steps``, as a
scheduler retries one task), takes over the dead run's lease and goes one commit further. A last rerun completes the day, and
then every table of the day must equal the clean run's, ``ingest_log`` must book the
delivery's inserts once (as new rows, not duplicates), and ``runs`` must show each step ok.

Run by ``make fault-test`` (marker ``fault``): six Spark sessions and the two day runs in
the test's own, about 15 minutes on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import TimestampType

from distillwatch import tables
from distillwatch.context import JobContext
from distillwatch.faults import ENV
from distillwatch.jobs import daily, simulate

pytestmark = pytest.mark.fault

DAY = dt.date(2026, 2, 1)
REPO = Path(__file__).resolve().parent.parent
# One commit point per step of the day, in the order a run reaches them, and the steps the
# killed run was given: the first a whole day, the next the killed step onwards, as a
# scheduler's retry of one task runs it (``daily --steps``).
KILL_POINTS = (
    # ingest: bronze merged; no quarantine, no ledger, no complete log row
    (f"after_commit:{tables.BRONZE_EXCHANGES}", None),
    # the retry finishes ingest, then dies in features: silver published, features not
    (f"after_commit:{tables.SILVER_EXCHANGES}", "ingest,validate_bronze,features"),
    # features published, no runs row for the step
    (f"after_commit:{tables.ACCOUNT_DAILY_FEATURES}", "features"),
    # scores published, no runs row
    (f"after_commit:{tables.ACCOUNT_SCORES}", "score"),
    # attribute: the first gold table of seven published, the others and campaigns not
    (f"after_commit:{tables.CAMPAIGN_MEMBERS}", "attribute"),
)
# The tables compared with the clean run (the day's rows; campaigns whole).
DAY_TABLES = (
    tables.BRONZE_EXCHANGES,
    tables.BRONZE_QUARANTINE,
    tables.SILVER_EXCHANGES,
    tables.ACCOUNT_DAILY_FEATURES,
    tables.ACCOUNT_SCORES,
    tables.CAMPAIGN_MEMBERS,
    tables.CAMPAIGN_EXCHANGES,
    tables.CAMPAIGN_INDICATORS,
    tables.CAMPAIGN_ATTRIBUTION_DAILY,
    tables.INDICATOR_POPULARITY_DAILY,
    tables.CAMPAIGN_IMPACT_DAILY,
)
# Columns a rerun legitimately changes: when rows were written, and the anomaly scorer's
# floating output (its fit order); compared as in tests/test_daily.py.
VOLATILE = {"reasons", "score", "anomaly_score"}


def _ctx(ctx: JobContext, root: Path, name: str) -> JobContext:
    c = JobContext(
        cfg=replace(ctx.cfg, database=f"{name}_{os.urandom(3).hex()}"),
        landing=str(root / "world" / "landing"),
        lakehouse_root=str(root / name),
    )
    c.__dict__["spark"] = ctx.spark
    return c


@pytest.fixture(scope="module")
def world(ctx: JobContext, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faults")
    c = _ctx(ctx, root, "sim")
    simulate.run(
        c, argparse.Namespace(out=str(root / "world"), start=DAY.isoformat(), days=2, scale=0.001, seed=5)
    )
    return root


def _rows(c: JobContext, table: str) -> list[tuple[str, ...]]:
    df = c.lake.read(table)
    if "event_date" in df.columns:
        df = df.where(F.col("event_date") == F.lit(DAY))
    keep = [
        F.round(f.name, 9).alias(f.name) if f.dataType.typeName() in ("double", "float") else F.col(f.name)
        for f in df.schema.fields
        if f.name not in VOLATILE and not (isinstance(f.dataType, TimestampType) and f.name != "ts")
    ]
    return sorted(tuple(str(v) for v in r) for r in df.select(*keep).collect())


def _daily_killed_at(c: JobContext, point: str, steps: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1", ENV: point}
    cmd = [sys.executable, "-m", "distillwatch.cli", "--landing", c.landing, "--lakehouse", c.lakehouse_root]
    return subprocess.run(
        [*cmd, "daily", "--date", DAY.isoformat(), *(["--steps", steps] if steps else [])],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_a_day_killed_at_each_commit_point_reruns_to_the_clean_result(ctx: JobContext, world: Path) -> None:
    clean = _ctx(ctx, world, "clean")
    daily.run_day(clean, DAY)

    faulted = _ctx(ctx, world, "faulted")
    for point, steps in KILL_POINTS:
        proc = _daily_killed_at(faulted, point, steps)
        assert proc.returncode == -9, (point, proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    # each run after the first finished the delivery the one before it left open
    lake = faulted.lake
    log = lake.read(tables.INGEST_LOG)
    started = log.where("status = 'started'").count()
    complete = log.where("status = 'complete'").orderBy("started_at").collect()
    assert started == 2 and len(complete) == 1  # the first run's ingest, finished by the second

    daily.run_day(faulted, DAY)  # the rerun completes the day

    for table in DAY_TABLES:
        assert _rows(faulted, table) == _rows(clean, table), table
    assert _rows(faulted, tables.CAMPAIGNS) == _rows(clean, tables.CAMPAIGNS)

    # ingest_log: every run opened and closed but the one killed inside ingest; the
    # delivery's inserts booked once, as new rows (the killed run's recovered), never as
    # duplicates, and each complete row reconciles
    log = lake.read(tables.INGEST_LOG)
    complete = log.where("status = 'complete'").orderBy("started_at").collect()
    assert log.where("status = 'started'").count() == len(complete) + 1
    (clean_log,) = clean.lake.read(tables.INGEST_LOG).where("status = 'complete'").collect()
    assert complete[0]["new"] == clean_log["new"] > 0
    assert complete[0]["message"] and "killed run" in complete[0]["message"]
    again = clean_log["new"] + clean_log["duplicates"]
    assert all(r["new"] == 0 and r["duplicates"] == again for r in complete[1:])
    for r in complete:
        assert r["read"] == r["new"] + r["duplicates"] + r["quarantined"] == clean_log["read"]
    assert lake.read(tables.BRONZE_EXCHANGES).count() == clean_log["new"]

    # runs: no step failed; every step ok on the day; a killed step left no row
    runs = lake.read(tables.RUNS).where(F.col("run_date") == F.lit(DAY))
    assert runs.where("status <> 'ok'").count() == 0
    ok = {r["step"]: r["n"] for r in runs.groupBy("step").agg(F.count("*").alias("n")).collect()}
    assert set(ok) == set(daily.STEP_NAMES)
    # ingest and validate_bronze completed in the second run and the rerun; every later
    # step only in the rerun (each killed run died inside the step it was given)
    assert ok["ingest"] == ok["validate_bronze"] == 2
    assert all(ok[s] == 1 for s in daily.STEP_NAMES[daily.STEP_NAMES.index("features") :])
