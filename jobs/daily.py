"""``distillwatch daily --date D`` and ``distillwatch backfill --start D1 --end D2``.

One day is: ingest -> validate (bronze) -> features -> score -> attribute -> validate (gold)
-> publish (analyst views) -> report. Each step is the same function its own command runs
(``jobs.<step>.run``), so Airflow tasks, Databricks wheel tasks and this command behave
alike. Each step's status, duration and row counts go to the ``runs`` Delta table and one
progress line to stdout; the first failing step stops the day and the command exits 1
naming it.

Failure safety: every table-day is published by one atomic Delta commit (replaceWhere
or MERGE, the gold ones through the data-quality gate), so a process killed at any point
leaves each table either as it was or fully updated, and a re-run recomputes the day
idempotently. Two runs of the same day at once are refused by a lock file under the
lakehouse (a lock left by a killed run is taken over once its process is gone). On a
shared cloud lakehouse use the scheduler's own concurrency limit (Airflow
``max_active_runs=1``, Databricks ``max_concurrent_runs: 1``) instead: see conf/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql.types import DateType, DoubleType, StringType, StructField, StructType, TimestampType

from distillwatch import tables
from distillwatch.console import emit
from distillwatch.context import JobContext
from distillwatch.days import parse_day
from distillwatch.errors import UserError

log = logging.getLogger(__name__)

RUNS_SCHEMA = StructType(
    [
        StructField("run_id", StringType(), False),
        StructField("run_date", DateType(), False),
        StructField("step", StringType(), False),
        StructField("status", StringType(), False),  # ok | failed
        StructField("started_at", TimestampType(), False),
        StructField("finished_at", TimestampType(), False),
        StructField("duration_s", DoubleType(), False),
        StructField("counts", StringType(), True),  # JSON: rows written per table
        StructField("message", StringType(), True),
        StructField("host", StringType(), True),
    ]
)

# Tables whose day-partition row count is reported after each step.
STEP_TABLES: dict[str, tuple[str, ...]] = {
    "ingest": (tables.BRONZE_EXCHANGES,),
    "features": (tables.SILVER_EXCHANGES, tables.ACCOUNT_DAILY_FEATURES),
    "score": (tables.ACCOUNT_SCORES,),
    "attribute": (tables.CAMPAIGN_ATTRIBUTION_DAILY, tables.CAMPAIGN_MEMBERS, tables.CAMPAIGN_EXCHANGES),
}


class StepFailed(RuntimeError):
    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"step {step} failed: {reason}")
        self.step = step


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[JobContext, dt.date], int]


def _job(module: str, **extra: object) -> Callable[[JobContext, dt.date], int]:
    def call(ctx: JobContext, day: dt.date) -> int:
        mod = importlib.import_module(module)
        return int(mod.run(ctx, argparse.Namespace(date=day, **extra)) or 0)

    return call


def _validate(table: str) -> Callable[[JobContext, dt.date], int]:
    def call(ctx: JobContext, day: dt.date) -> int:
        from distillwatch.jobs import validate

        return int(validate.run(ctx, argparse.Namespace(date=day, table=table)) or 0)

    return call


def _publish(ctx: JobContext, day: dt.date) -> int:
    """Refresh the analyst views over the published tables (a metadata-only step)."""
    from distillwatch.jobs.sql import create_views

    create_views(ctx)
    return 0


def _report(ctx: JobContext, day: dt.date) -> int:
    from distillwatch.jobs import report

    out = report_path(ctx, day)
    return int(report.run(ctx, argparse.Namespace(date=day, out=str(out))) or 0)


def report_path(ctx: JobContext, day: dt.date) -> Path:
    return ctx.lake.local_dir("reports") / f"report-{day.isoformat()}.html"


STEPS: tuple[Step, ...] = (
    Step("ingest", _job("distillwatch.jobs.ingest")),
    Step("validate_bronze", _validate(tables.BRONZE_EXCHANGES)),
    Step("features", _job("distillwatch.jobs.features")),
    Step("score", _job("distillwatch.jobs.score")),
    Step("attribute", _job("distillwatch.jobs.attribute")),
    Step("validate_gold", _validate(tables.CAMPAIGN_ATTRIBUTION_DAILY)),
    Step("publish", _publish),
    Step("report", _report),
)
STEP_NAMES = tuple(s.name for s in STEPS)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def day_lock(ctx: JobContext, day: dt.date) -> Iterator[Path]:
    """An exclusive lock on one day of one lakehouse (O_EXCL file create).

    A second run of the same day refuses with a clear message; a lock whose process has
    died (kill -9) is taken over.
    """
    folder = ctx.lake.local_dir("_locks")
    path = folder / f"daily-{day.isoformat()}.lock"
    me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                held = json.loads(path.read_text() or "{}")
            except (OSError, json.JSONDecodeError):
                held = {}
            same_host = held.get("host") == me["host"]
            if same_host and held.get("pid") and not _pid_alive(int(held["pid"])):
                log.warning("taking over the lock of a dead run (pid %s) for %s", held.get("pid"), day)
                path.unlink(missing_ok=True)
                continue
            raise UserError(
                f"another distillwatch run holds {day.isoformat()} (pid {held.get('pid')} on {held.get('host')}, "
                f"lock {path}); refusing to run the same day twice at once"
            ) from None
        with os.fdopen(fd, "w") as fh:
            json.dump(me, fh)
        break
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _counts(ctx: JobContext, step: str, day: dt.date) -> dict[str, int]:
    out: dict[str, int] = {}
    for table in STEP_TABLES.get(step, ()):
        if ctx.lake.exists(table):
            out[table] = ctx.lake.read(table).where(f"event_date = DATE'{day.isoformat()}'").count()
    return out


def _record(ctx: JobContext, rows: list[tuple]) -> None:  # type: ignore[type-arg]
    ctx.lake.append(ctx.spark.createDataFrame(rows, RUNS_SCHEMA), tables.RUNS)


def run_day(ctx: JobContext, day: dt.date, steps: tuple[str, ...] = STEP_NAMES) -> None:
    """Run the steps of one day in order; raises :class:`StepFailed` on the first failure."""
    run_id = uuid.uuid4().hex[:12]
    host = socket.gethostname()
    with day_lock(ctx, day):
        for step in STEPS:
            if step.name not in steps:
                continue
            started = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
            t0 = time.perf_counter()
            status, message = "ok", None
            try:
                rc = step.run(ctx, day)
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
    parser.add_argument("--start", required=True, type=parse_day)
    parser.add_argument("--end", required=True, type=parse_day)
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
    day = start
    while day <= end:
        run_day(ctx, day, steps)
        day += dt.timedelta(days=1)


def run_daily(ctx: JobContext, args: argparse.Namespace) -> int:
    try:
        run_day(ctx, args.date, _steps(args.steps))
    except StepFailed as exc:
        emit(f"daily {args.date}: FAILED at step {exc.step}: {exc}")
        return 1
    emit(f"daily {args.date}: done; report at {report_path(ctx, args.date)}")
    return 0


def run_backfill(ctx: JobContext, args: argparse.Namespace) -> int:
    try:
        backfill(ctx, args.start, args.end, _steps(args.steps))
    except StepFailed as exc:
        emit(f"backfill {args.start}..{args.end}: FAILED at step {exc.step}: {exc}")
        return 1
    emit(f"backfill {args.start}..{args.end}: done")
    return 0
