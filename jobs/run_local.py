"""``distillwatch run-local``: the main job on the embedded default (what ``make run`` runs).

Simulate a world (``distillwatch.simulate.settings``: 14 days at scale 0.01 by default) next to the
landing folder, backfill its first half, train the detector as of the last day of that
half, backfill the second half with the trained champion, then print the last day's
campaign attribution table and where the report, the tables and the MLflow runs are.
Re-running is idempotent: the world is deterministic and only simulated once, and every
daily step replaces its day.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import time
from pathlib import Path

from distillwatch import tables
from distillwatch.console import emit
from distillwatch.context import JobContext
from distillwatch.jobs import daily
from distillwatch.simulate.settings import load_settings

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, help="days to simulate (default: conf/simulate/world.yaml days)")
    parser.add_argument(
        "--scale", type=float, help="simulation scale (default: conf/simulate/world.yaml scale)"
    )
    parser.add_argument("--train-after", type=int, help="train after this many days (default: half)")


def _world_is_current(world: Path, start: str, days: int, scale: float, seed: int) -> bool:
    meta = world / "truth" / "world.json"
    if not meta.is_file():
        return False
    try:
        got = json.loads(meta.read_text())
    except json.JSONDecodeError:
        return False
    return (
        str(got.get("start")),
        int(got.get("days", -1)),
        float(got.get("scale", -1)),
        int(got.get("seed", -1)),
    ) == (
        start,
        days,
        scale,
        seed,
    )


def run(ctx: JobContext, args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    conf = load_settings()
    days = args.days or conf.days
    scale = args.scale or conf.scale
    start = dt.date.fromisoformat(conf.start)
    world = Path(ctx.landing).resolve().parent
    emit(f"distillwatch run-local: {days} simulated days from {start} at scale {scale}")
    emit(f"  landing   {ctx.landing}")
    emit(f"  lakehouse {Path(ctx.lakehouse_root).resolve()}  (database {ctx.cfg.database})")
    if _world_is_current(world, conf.start, days, scale, conf.seed):
        emit(f"simulate: world at {world} is current (seed {conf.seed}); not re-simulated")
    else:
        from distillwatch.simulate.writer import simulate

        emit(simulate(ctx.spark, str(world), conf.override(days=days, scale=scale)).summary())
    train_after = args.train_after or max(1, days // 2)
    first_end = start + dt.timedelta(days=train_after - 1)
    last = start + dt.timedelta(days=days - 1)
    daily.backfill(ctx, start, first_end)
    from distillwatch.jobs import train

    rc = train.run(ctx, argparse.Namespace(as_of=first_end))
    if rc != 0:
        emit(f"run-local: training failed (exit {rc})")
        return rc
    if first_end < last:
        daily.backfill(ctx, first_end + dt.timedelta(days=1), last)
    emit("")
    emit(f"campaign_attribution_daily for {last}:")
    cols = [
        "campaign_id",
        "actor",
        "confidence",
        "n_accounts",
        "n_exchanges",
        "status",
        "top_capability",
        "cot_share",
        "new_model_share",
        "release_pivot",
    ]
    table = ctx.lake.read(tables.CAMPAIGN_ATTRIBUTION_DAILY).where(f"event_date = DATE'{last}'")
    # A day's campaigns are few (tens): showing them is a small, bounded collect.
    emit(table.select(*cols).orderBy("n_exchanges", ascending=False)._show_string(50, 24, False))
    emit(f"report:  {daily.report_path(ctx, last)}")
    emit(
        f'tables:  {Path(ctx.lakehouse_root).resolve()}/<table>  (distillwatch sql "SHOW TABLES IN {ctx.cfg.database}")'
    )
    emit(f"mlflow:  mlflow ui --backend-store-uri {ctx.mlflow_tracking_uri}")
    emit(f"run-local: done in {time.perf_counter() - t0:.0f}s")
    return 0
