"""The daily command's failure safety: a real kill mid-run, a concurrent second run, a rerun.

A tiny world is simulated in-process; the first ``distillwatch daily`` runs as a real
subprocess and is killed with SIGKILL once it has published features. While it runs, a
second run of the same day must refuse. Afterwards a rerun completes (repeating the steps
the killed run finished without adding rows), and its tables equal those of a run that
was never interrupted. Per-step reruns are tested in each step's own test file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from distillwatch import tables
from distillwatch.context import JobContext
from distillwatch.errors import UserError
from distillwatch.jobs import daily, simulate

DAY = dt.date(2026, 2, 1)
pytestmark = pytest.mark.slow  # a JVM per killed run and three runs of a day: minutes

REPO = Path(__file__).resolve().parent.parent


def _ctx(ctx: JobContext, root: Path, name: str) -> JobContext:
    c = JobContext(
        cfg=replace(ctx.cfg, database=f"{name}_{os.urandom(3).hex()}"),
        landing=str(root / "world" / "landing"),
        lakehouse_root=str(root / name),
    )
    c.__dict__["spark"] = ctx.spark
    return c


@pytest.fixture(scope="module")
def tiny_world(ctx: JobContext, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("daily")
    c = _ctx(ctx, root, "sim")
    simulate.run(
        c, argparse.Namespace(out=str(root / "world"), start=DAY.isoformat(), days=2, scale=0.001, seed=5)
    )
    return root


def _fingerprint(c: JobContext) -> dict[str, list[tuple]]:  # type: ignore[type-arg]
    """Sorted rows of the day in each published table (small: a tiny world)."""
    out = {}
    for t in (
        tables.BRONZE_EXCHANGES,
        tables.SILVER_EXCHANGES,
        tables.ACCOUNT_DAILY_FEATURES,
        tables.ACCOUNT_SCORES,
        tables.CAMPAIGN_MEMBERS,
        tables.CAMPAIGN_EXCHANGES,
    ):
        df = c.lake.read(t).where(F.col("event_date") == F.lit(DAY))
        # Floating sums may differ in the last bits with task order: compare doubles at 9 places.
        keep = [
            F.round(f.name, 9).alias(f.name)
            if f.dataType.typeName() in ("double", "float")
            else F.col(f.name)
            for f in df.schema.fields
            if f.name not in ("ingested_at", "reasons", "score", "anomaly_score")
        ]
        out[t] = sorted(tuple(str(v) for v in r) for r in df.select(*keep).collect())
    return out


def test_killed_run_leaves_no_partial_publish_and_rerun_completes(ctx: JobContext, tiny_world: Path) -> None:
    killed = _ctx(ctx, tiny_world, "killed")
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    cmd = [
        sys.executable,
        "-m",
        "distillwatch.cli",
        "--landing",
        killed.landing,
        "--lakehouse",
        killed.lakehouse_root,
        "daily",
        "--date",
        DAY.isoformat(),
    ]
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    seen = []
    assert proc.stdout is not None
    for line in proc.stdout:  # wait on the run's own progress lines, not on the clock
        seen.append(line)
        if "] ingest " in line:
            # a second run of the same day, while the first holds it, refuses
            with pytest.raises(UserError, match="refusing to run the same day twice"):
                daily.run_day(killed, DAY)
        if "] features " in line:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert any("] features " in s and " ok " in s for s in seen), seen
    # score had not been published when the process died: the table is absent or lacks the day
    lake = killed.lake
    assert not lake.exists(tables.ACCOUNT_SCORES) or lake.read(tables.ACCOUNT_SCORES).where(
        F.col("event_date") == F.lit(DAY)
    ).count() in (
        0,
        lake.read(tables.ACCOUNT_DAILY_FEATURES).where(F.col("event_date") == F.lit(DAY)).count(),
    )
    # the lock of the dead process is taken over; the rerun completes every step
    daily.run_day(killed, DAY)
    steps = {r["step"]: r["status"] for r in lake.read(tables.RUNS).where("status = 'ok'").collect()}
    assert set(daily.STEP_NAMES) <= set(steps)

    # the rerun repeated the steps the killed run had completed (ingest, features) without
    # adding a row, and its tables equal those of a run never interrupted
    log = lake.read(tables.INGEST_LOG).where("status = 'complete'").orderBy("started_at").collect()
    assert [r["new"] for r in log][1] == 0 and log[0]["read"] == log[1]["read"]
    clean = _ctx(ctx, tiny_world, "clean")
    daily.run_day(clean, DAY)
    assert _fingerprint(killed) == _fingerprint(clean)
