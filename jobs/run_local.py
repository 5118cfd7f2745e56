"""``distillwatch run-local``: the main job on the embedded default (what ``make run`` runs).

Simulate a world next to the landing folder, backfill its first days, train the detector as
of the last of them, backfill the rest with the trained champion, then print the last day's
campaign attribution table and where the report, the tables and the MLflow runs are.

By default the world is the demo of ``conf/simulate/demo.yaml`` (3 days at the default
world's scale, trained after 2); ``--full`` runs the simulator's default world
(``conf/simulate/world.yaml``: 14 days at scale 0.01, trained after half of it). Re-running
is idempotent: the world is deterministic and only simulated once, and every daily step
replaces its day. A lakehouse that already holds the tables of another world is refused
(one line naming the fix), never mixed with the new one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from distillwatch import tables
from distillwatch.config import ConfigError, from_mapping, repo_conf_dir
from distillwatch.console import emit
from distillwatch.context import JobContext
from distillwatch.errors import UserError
from distillwatch.jobs import daily
from distillwatch.simulate.settings import load_settings
from distillwatch.storage import is_remote

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Demo:
    """``conf/simulate/demo.yaml``: the window ``make run`` shows."""

    days: int = 3
    train_after: int = 2
    holdout_days: int = 1


def load_demo(conf_dir: Path | None = None) -> Demo:
    path = (conf_dir or repo_conf_dir()) / "simulate" / "demo.yaml"
    raw = (yaml.safe_load(path.read_text()) if path.is_file() else None) or {}
    try:
        demo: Demo = from_mapping(Demo, raw, str(path))
    except ConfigError as exc:
        raise UserError(str(exc)) from exc
    if not 1 <= demo.train_after < demo.days or not 1 <= demo.holdout_days < demo.train_after:
        raise UserError(f"{path}: need 1 <= holdout_days < train_after < days, got {demo}")
    return demo


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--full",
        action="store_true",
        help="the simulator's whole default world (conf/simulate/world.yaml: 14 days) instead of the"
        " demo (conf/simulate/demo.yaml: 3 days)",
    )
    parser.add_argument(
        "--days", type=int, help="days to simulate (default: the demo's, or the world's with --full)"
    )
    parser.add_argument(
        "--scale", type=float, help="simulation scale (default: conf/simulate/world.yaml scale)"
    )
    parser.add_argument(
        "--train-after",
        type=int,
        help="train after this many days (default: the demo's, or half with --full)",
    )


def _holds_another_world(ctx: JobContext) -> bool:
    """The lakehouse has ingested days already (of a world that is about to be replaced)."""
    root = ctx.lakehouse_root
    return not is_remote(root) and (Path(root) / tables.BRONZE_EXCHANGES / "_delta_log").is_dir()


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
    demo = None if args.full else load_demo()
    days = args.days or (demo.days if demo else conf.days)
    scale = args.scale or conf.scale
    start = dt.date.fromisoformat(conf.start)
    world = Path(ctx.landing).resolve().parent
    train_after = args.train_after or (demo.train_after if demo and days == demo.days else max(1, days // 2))
    if not 1 <= train_after <= days:
        raise UserError(f"--train-after must be between 1 and --days ({days}), got {train_after}")
    if demo and train_after <= ctx.cfg.models.holdout_days:
        # A short window: hold out only its last day(s), as the demo file says.
        holdout = max(1, min(demo.holdout_days, train_after - 1))
        models = ctx.cfg.models
        ctx.cfg = replace(
            ctx.cfg,
            models=replace(
                models,
                holdout_days=holdout,
                intent=replace(models.intent, holdout_days=min(models.intent.holdout_days, holdout)),
            ),
        )
    what = "the full default world" if args.full else "the demo (--full: the 14-day world)"
    emit(f"distillwatch run-local: {days} simulated days from {start} at scale {scale}, {what}")
    emit(f"  landing   {ctx.landing}")
    emit(f"  lakehouse {Path(ctx.lakehouse_root).resolve()}  (database {ctx.cfg.database})")
    if _world_is_current(world, conf.start, days, scale, conf.seed):
        emit(f"simulate: world at {world} is current (seed {conf.seed}); not re-simulated")
    else:
        if _holds_another_world(ctx):
            raise UserError(
                f"{ctx.lakehouse_root} holds the tables of another simulated world than the one asked for"
                f" ({days} days at scale {scale}); `make clean` (removes data/) or choose another --lakehouse"
            )
        from distillwatch.simulate.writer import simulate

        emit(simulate(ctx.spark, str(world), conf.override(days=days, scale=scale)).summary())
    first_end = start + dt.timedelta(days=train_after - 1)
    last = start + dt.timedelta(days=days - 1)
    daily.backfill(ctx, start, first_end)
    from distillwatch.jobs import train

    emit(f"train as of {first_end} (holding out its last {ctx.cfg.models.holdout_days} day(s))")
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
    table.select(*cols).orderBy("n_exchanges", ascending=False).show(50, 24)
    emit(f"report:  {daily.report_path(ctx, last)}")
    emit(
        f'tables:  {Path(ctx.lakehouse_root).resolve()}/<table>  (distillwatch sql "SHOW TABLES IN {ctx.cfg.database}")'
    )
    emit(f"mlflow:  mlflow ui --backend-store-uri {ctx.mlflow_tracking_uri}")
    emit(f"run-local: done in {time.perf_counter() - t0:.0f}s")
    return 0
