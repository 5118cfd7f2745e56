"""``distillwatch daily --date D`` and ``distillwatch backfill --start D1 --end D2``.

One day is: ingest -> validate (bronze) -> features -> score -> attribute -> validate (gold)
-> enforce -> publish (analyst views) -> report. Each step is the same function its own command runs
(``jobs.<step>.run``), so Airflow tasks, Databricks wheel tasks and this command behave
alike. Each step's status, duration and row counts go to the ``runs`` Delta table and one
progress line to stdout (on a terminal, also a live line of the running Spark stages:
``distillwatch.progress``); the first failing step stops the day and the command exits 1
naming it.

Failure safety: every table-day is published by one atomic Delta commit (replaceWhere
or MERGE, the gold ones through the data-quality gate), so a process killed at any point
leaves each table either as it was or fully updated, and a re-run recomputes the day
idempotently. Two runs of the same day at once are refused by the day lease under the
lakehouse (``distillwatch.locks``: a file on a local folder, a conditionally created object
on object storage; a killed run's lease is taken over at once on the same host, after
``locks.lease_seconds`` elsewhere). The scheduler's own concurrency limit (Airflow
``max_active_runs=1``, Databricks ``max_concurrent_runs: 1``) keeps runs from queueing on it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from pyspark.sql import functions as F

from distillwatch import tables
from distillwatch.config import repo_conf_dir
from distillwatch.console import emit
from distillwatch.context import JobContext
from distillwatch.days import parse_day
from distillwatch.errors import UserError
from distillwatch.locks import day_lock
from distillwatch.progress import stage_progress
from distillwatch.spark import small_day

log = logging.getLogger(__name__)


# Tables whose day-partition row count is reported after each step.
STEP_TABLES: dict[str, tuple[str, ...]] = {
    "ingest": (tables.BRONZE_EXCHANGES,),
    "features": (tables.SILVER_EXCHANGES, tables.ACCOUNT_DAILY_FEATURES),
    "score": (tables.ACCOUNT_SCORES,),
    "attribute": (tables.CAMPAIGN_ATTRIBUTION_DAILY, tables.CAMPAIGN_MEMBERS, tables.CAMPAIGN_EXCHANGES),
    "enforce": (tables.ENFORCEMENT_ACTIONS,),
}


class StepFailed(RuntimeError):
    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"step {step} failed: {reason}")
        self.step = step


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[JobContext, dt.date], int]


# Each step is the command of the same name, called with that command's arguments for the
# day. Job modules are imported when their step runs (they pull in MLflow, GX...).
def _ingest(ctx: JobContext, day: dt.date) -> int:
    from distillwatch.jobs import ingest

    return ingest.run(ctx, argparse.Namespace(date=day))


def _validate(ctx: JobContext, day: dt.date, table: str) -> int:
    """A daily validate step: Data Docs as ``quality.data_docs`` says (by hand: always)."""
    from distillwatch.jobs import validate

    return validate.run(ctx, argparse.Namespace(date=day, table=table, data_docs=ctx.cfg.quality.data_docs))


def _validate_bronze(ctx: JobContext, day: dt.date) -> int:
    return _validate(ctx, day, tables.BRONZE_EXCHANGES)


def _features(ctx: JobContext, day: dt.date) -> int:
    from distillwatch.jobs import features

    return features.run(ctx, argparse.Namespace(date=day))


def _score(ctx: JobContext, day: dt.date) -> int:
    from distillwatch.jobs import score

    return score.run(ctx, argparse.Namespace(date=day))


def _attribute(ctx: JobContext, day: dt.date) -> int:
    from distillwatch.jobs import attribute

    return attribute.run(ctx, argparse.Namespace(date=day))


def _validate_gold(ctx: JobContext, day: dt.date) -> int:
    return _validate(ctx, day, tables.CAMPAIGN_ATTRIBUTION_DAILY)


def _enforce(ctx: JobContext, day: dt.date) -> int:
    from distillwatch.jobs import enforce

    return enforce.run(ctx, argparse.Namespace(date=day))


def _publish(ctx: JobContext, day: dt.date) -> int:
    """Refresh the analyst views over the published tables (a metadata-only step)."""
    from distillwatch.jobs.sql import create_views

    create_views(ctx)
    return 0


def _report(ctx: JobContext, day: dt.date) -> int:
    from distillwatch.jobs import report

    return report.run(ctx, argparse.Namespace(date=day, out=report_path(ctx, day)))


def report_path(ctx: JobContext, day: dt.date) -> str:
    """Where the day's report goes: ``<report.dir>/report-<day>.html`` (local path or URI)."""
    from distillwatch.jobs import report

    return report.default_path(ctx, day)


def step_names(conf_dir: Path | None = None) -> tuple[str, ...]:
    """The daily steps in run order, from ``conf/schedule/daily_steps.yaml``: the list the
    Airflow DAG and the Databricks bundle are built from."""
    file = (conf_dir or repo_conf_dir()) / "schedule" / "daily_steps.yaml"
    return tuple(str(n) for n in yaml.safe_load(file.read_text(encoding="utf-8"))["daily"])


_RUNNERS: dict[str, Callable[[JobContext, dt.date], int]] = {
    "ingest": _ingest,
    "validate_bronze": _validate_bronze,
    "features": _features,
    "score": _score,
    "attribute": _attribute,
    "validate_gold": _validate_gold,
    "enforce": _enforce,
    "publish": _publish,
    "report": _report,
}
STEP_NAMES = step_names()
if set(STEP_NAMES) != set(_RUNNERS):
    raise RuntimeError(
        f"conf/schedule/daily_steps.yaml lists {sorted(STEP_NAMES)}, jobs/daily.py runs {sorted(_RUNNERS)}"
    )


@contextlib.contextmanager
def fitted_to_day(ctx: JobContext, day: dt.date) -> Iterator[bool]:
    """Within: the session's partitioning fitted to the day's delivery
    (``distillwatch.spark.small_day``); yields whether the day is small. Every daily step
    runs in it, and so does a one-day CLI command (``distillwatch features --date D``)."""
    size = _delivery_bytes(ctx, day)
    with small_day(ctx.spark, size, ctx.cfg.spark.small_day_max_bytes) as small:
        if small:
            log.debug(
                "%s: a small day (%d bytes delivered): at most one shuffle partition per core", day, size
            )
        yield small


def _sized(runner: Callable[[JobContext, dt.date], int]) -> Callable[[JobContext, dt.date], int]:
    """``runner`` inside :func:`fitted_to_day`."""

    def run(ctx: JobContext, day: dt.date) -> int:
        with fitted_to_day(ctx, day):
            return runner(ctx, day)

    return run


# Every way of running a daily step (daily, backfill, run-local, the benchmark) goes through these.
STEPS: tuple[Step, ...] = tuple(Step(name, _sized(_RUNNERS[name])) for name in STEP_NAMES)


# The steps a day whose input changed runs again: from features on, without the views and
# the report (they follow the day being run).
DOWNSTREAM: tuple[str, ...] = tuple(
    s for s in STEP_NAMES[STEP_NAMES.index("features") :] if s not in ("publish", "report")
)


def dirty_days(ctx: JobContext, before: dt.date, step: str = "features") -> list[dt.date]:
    """Event dates before ``before`` (within the lateness window) computed by ``step``
    whose records that landed after that step last ran are at least
    ``ingest.reprocess_min_late_share`` of the day's records (and at least one): late records
    changed a day already computed. Measured against each step's own last run, so a
    scheduler running one step per task (Airflow, Databricks) recomputes each step of a
    dirty day in its own task. One aggregation over two columns of the window's bronze
    partitions and the ``runs`` rows of those days; nothing pairwise."""
    lake = ctx.lake
    if not (lake.exists(tables.BRONZE_EXCHANGES) and lake.exists(tables.RUNS)):
        return []
    lo = before - dt.timedelta(days=ctx.cfg.ingest.max_lateness_days + 1)
    hi = before - dt.timedelta(days=1)
    computed = {
        r["run_date"]: r["last"]
        for r in lake.read(tables.RUNS)
        .where((F.col("step") == step) & (F.col("status") == "ok"))
        .where(F.col("run_date").between(F.lit(lo), F.lit(hi)))
        .groupBy("run_date")
        .agg(F.max("started_at").alias("last"))
        .collect()
    }
    if not computed:
        return []
    landed_after = F.coalesce(
        *[
            F.when(F.col("event_date") == F.lit(d), F.col("ingested_at") > F.lit(ts))
            for d, ts in computed.items()
        ]
    )
    share = ctx.cfg.ingest.reprocess_min_late_share
    rows = (
        lake.read(tables.BRONZE_EXCHANGES)
        .where(F.col("event_date").isin(list(computed)))
        .groupBy("event_date")
        .agg(F.count("*").alias("n"), F.sum(landed_after.cast("long")).alias("late"))
        .collect()
    )
    return sorted(r["event_date"] for r in rows if r["late"] and r["late"] >= share * r["n"])


def reprocess_dirty(ctx: JobContext, before: dt.date, steps: tuple[str, ...] = DOWNSTREAM) -> list[dt.date]:
    """Recompute ``steps``, in date order, on the days :func:`dirty_days` finds for the
    first of them; returns the days."""
    if not steps:
        return []
    days = dirty_days(ctx, before, steps[0])
    for d in days:
        emit(f"[{d}] late records landed after this day was computed: recomputing {','.join(steps)}")
        run_day(ctx, d, steps, reprocess=False)
    return days


def _counts(ctx: JobContext, step: str, day: dt.date) -> dict[str, int]:
    out: dict[str, int] = {}
    for table in STEP_TABLES.get(step, ()):
        if ctx.lake.exists(table):
            out[table] = ctx.lake.day_rows(table, day.isoformat())
    return out


def _record(ctx: JobContext, rows: list[tuple]) -> None:
    ctx.lake.publish(ctx.spark.createDataFrame(rows, tables.schema(tables.RUNS)), tables.RUNS)


def _delivery_bytes(ctx: JobContext, day: dt.date) -> int | None:
    """Bytes of the day's landing delivery (a listing, no read), None when it has none."""
    from distillwatch.files import list_all
    from distillwatch.jobs.landing import delivery_folder

    found = list_all(ctx.spark, delivery_folder(ctx.landing, day))
    return sum(size for _, _, size in found) if found else None


def run_day(
    ctx: JobContext, day: dt.date, steps: tuple[str, ...] = STEP_NAMES, reprocess: bool = True
) -> None:
    """Run the steps of one day in order; raises :class:`StepFailed` on the first failure.

    Before the day's first downstream step, the earlier days that late records changed are
    recomputed (``ingest.reprocess_late``), so the day builds on their corrected state."""
    run_id = uuid.uuid4().hex[:12]
    host = socket.gethostname()
    pending_reprocess = reprocess and ctx.cfg.ingest.reprocess_late
    with day_lock(ctx.lake, day, ctx.cfg.locks) as lease:
        for step in STEPS:
            if step.name not in steps:
                continue
            if pending_reprocess and step.name in DOWNSTREAM:
                pending_reprocess = False
                reprocess_dirty(ctx, day, tuple(s for s in DOWNSTREAM if s in steps))
            lease.check()  # stop, rather than interleave with a run that took the day over
            started = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
            t0 = time.perf_counter()
            status, message = "ok", None
            try:
                with stage_progress(ctx.spark, f"[{day}] {step.name}"):
                    rc = int(step.run(ctx, day) or 0)
                if rc != 0:
                    status, message = "failed", f"exit status {rc}"
            except UserError as exc:
                status, message = "failed", str(exc)
            except Exception as exc:  # recorded, then re-raised below as StepFailed
                log.exception("step %s failed", step.name)
                status, message = "failed", f"{type(exc).__name__}: {exc}"[:2000]
            elapsed = time.perf_counter() - t0
            counts = _counts(ctx, step.name, day) if status == "ok" else {}
            finished = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
            _record(
                ctx,
                [
                    (
                        run_id,
                        day,
                        step.name,
                        status,
                        started,
                        finished,
                        elapsed,
                        json.dumps(counts),
                        message,
                        host,
                    )
                ],
            )
            shown = " ".join(f"{k}={v}" for k, v in counts.items())
            emit(f"[{day}] {step.name:<16} {status:<6} {elapsed:7.1f}s {shown}")
            if status != "ok":
                raise StepFailed(step.name, message or "")


def add_daily_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", required=True, type=parse_day, help="the day YYYY-MM-DD")
    parser.add_argument("--steps", help=f"comma-separated subset of {','.join(STEP_NAMES)}")


def add_backfill_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", type=parse_day, help="first day (not with --dirty)")
    parser.add_argument("--end", required=True, type=parse_day)
    parser.add_argument(
        "--dirty",
        action="store_true",
        help="recompute (features onwards) only the days up to --end that late records changed",
    )
    parser.add_argument("--steps", help=f"comma-separated subset of {','.join(STEP_NAMES)}")


def _steps(arg: str | None) -> tuple[str, ...]:
    if not arg:
        return STEP_NAMES
    chosen = tuple(s.strip() for s in arg.split(",") if s.strip())
    unknown = sorted(set(chosen) - set(STEP_NAMES))
    if unknown:
        raise UserError(f"unknown step(s) {unknown}; steps are {list(STEP_NAMES)}")
    return chosen


def backfill(ctx: JobContext, start: dt.date, end: dt.date, steps: tuple[str, ...] = STEP_NAMES) -> None:
    if end < start:
        raise UserError(f"--end {end} is before --start {start}")
    n = (end - start).days + 1
    t0 = time.perf_counter()
    for i in range(n):
        run_day(ctx, start + dt.timedelta(days=i), steps)
        elapsed = time.perf_counter() - t0
        left = elapsed / (i + 1) * (n - i - 1)  # the days so far set the pace
        emit(
            f"backfill {start}..{end}: {i + 1}/{n} days done in {_minutes(elapsed)}"
            + (f", about {_minutes(left)} to go" if i + 1 < n else "")
        )


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def run_daily(ctx: JobContext, args: argparse.Namespace) -> int:
    try:
        run_day(ctx, args.date, _steps(args.steps))
    except StepFailed as exc:
        emit(f"daily {args.date}: FAILED at step {exc.step}: {exc}")
        return 1
    emit(f"daily {args.date}: done; report at {report_path(ctx, args.date)}")
    return 0


def run_backfill(ctx: JobContext, args: argparse.Namespace) -> int:
    if getattr(args, "dirty", False):
        if args.start is not None:
            raise UserError("--dirty finds its own days: give --end only")
        try:
            days = reprocess_dirty(ctx, args.end + dt.timedelta(days=1))
        except StepFailed as exc:
            emit(f"backfill --dirty: FAILED at step {exc.step}: {exc}")
            return 1
        emit(f"backfill --dirty: {len(days)} day(s) recomputed {[str(d) for d in days]}")
        return 0
    if args.start is None:
        raise UserError("backfill needs --start (or --dirty)")
    try:
        backfill(ctx, args.start, args.end, _steps(args.steps))
    except StepFailed as exc:
        emit(f"backfill {args.start}..{args.end}: FAILED at step {exc.step}: {exc}")
        return 1
    emit(f"backfill {args.start}..{args.end}: done")
    return 0
