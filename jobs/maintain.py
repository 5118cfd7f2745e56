"""``distillwatch maintain [--date D]``: prompt retention, OPTIMIZE and VACUUM.

1. Retention: raw prompt text lives only in the catalog's ``raw_text`` columns
   (bronze_exchanges, bronze_quarantine, silver_exchanges) and only for
   ``retention.raw_text_days`` days of each table's partition date. Older partitions get
   those columns nulled (``null_prompts``: the row and its features stay) or are deleted
   (``delete``). Files whose rows were soft-deleted by deletion vectors are rewritten
   (REORG ... APPLY (PURGE)) so no data file still referenced holds old text.
2. OPTIMIZE (bin-packing) every existing table.
3. VACUUM every table with ``retention.vacuum_retain_hours``: only after this are the
   old data files that held the text physically gone.

Every statement is idempotent: a rerun finds nothing to scrub and nothing to compact.
The UPDATE/DELETE is limited to old partitions (partition date < cutoff) so Delta reads
only those; at billions of rows a day this is one rewrite per day as it ages out.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from distillwatch import files, tables
from distillwatch.config import RetentionConf
from distillwatch.console import emit
from distillwatch.context import JobContext
from distillwatch.days import parse_day
from distillwatch.errors import UserError
from distillwatch.lakehouse import Lakehouse
from distillwatch.pipelines.views import all_tables

log = logging.getLogger(__name__)

ACTIONS = ("null_prompts", "delete")
# Delta refuses VACUUM below this retention unless its safety check is switched off.
DELTA_SAFE_RETAIN_HOURS = 168


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--date", type=parse_day, default=None, help="as-of day YYYY-MM-DD (default: today, UTC)"
    )


def retention_cutoff(day: dt.date, keep_days: int) -> dt.date:
    """The first event_date whose prompts are kept: partitions before it are scrubbed."""
    if keep_days < 1:
        raise UserError(f"retention.raw_text_days must be at least 1, got {keep_days}")
    return day - dt.timedelta(days=keep_days)


def scrub_raw_text(lake: Lakehouse, table: tables.Table, cutoff: dt.date, action: str) -> int:
    """Null (or delete) the raw text of ``table``'s partitions before ``cutoff``; returns the
    number of rows changed. Only old partitions are read and rewritten."""
    if action not in ACTIONS:
        raise UserError(f"retention.raw_text_action must be one of {ACTIONS}, got {action!r}")
    if not lake.exists(table.name):
        return 0
    if table.partition is None:
        raise UserError(f"{table.name} holds raw text but has no partition date to age it by")
    target = DeltaTable.forPath(lake.spark, lake.path(table.name))
    old = F.col(table.partition) < F.lit(cutoff)
    before = lake.version(table.name)
    lake.forget_rows(table.name)
    if action == "delete":
        target.delete(old)
        metric = "numDeletedRows"
    else:
        has_text = F.lit(False)
        for col in table.raw_text:
            has_text = has_text | F.col(col).isNotNull()
        target.update(old & has_text, {c: F.lit(None).cast("string") for c in table.raw_text})
        metric = "numUpdatedRows"
    if lake.version(table.name) == before:
        return 0
    changed = int(lake.last_operation_metrics(table.name).get(metric, 0))
    if changed:
        # Deletion vectors leave the old rows in place, masked: rewrite those files.
        lake.spark.sql(
            f"REORG TABLE delta.`{lake.path(table.name)}` "
            f"WHERE {table.partition} < DATE'{cutoff.isoformat()}' APPLY (PURGE)"
        )
    return changed


@contextmanager
def _retention_check(spark: SparkSession, retain_hours: int) -> Iterator[None]:
    """Switch Delta's VACUUM safety check off only for a configured retention below
    7 days (safe only with no reader or writer older than that window)."""
    key = "spark.databricks.delta.retentionDurationCheck.enabled"
    if retain_hours >= DELTA_SAFE_RETAIN_HOURS:
        yield
        return
    previous = spark.conf.get(key, "true") or "true"
    spark.conf.set(key, "false")
    try:
        yield
    finally:
        spark.conf.set(key, previous)


def optimize_and_vacuum(lake: Lakehouse, conf: RetentionConf) -> dict[str, int]:
    """OPTIMIZE (if configured) and VACUUM every existing table; returns files removed
    by OPTIMIZE per table."""
    removed: dict[str, int] = {}
    present = [t for t in all_tables() if lake.exists(t)]
    for table in present:
        dtable = DeltaTable.forPath(lake.spark, lake.path(table))
        if conf.optimize:
            metrics = dtable.optimize().executeCompaction().select("metrics.numFilesRemoved").first()
            removed[table] = int(metrics[0]) if metrics else 0
    with _retention_check(lake.spark, conf.vacuum_retain_hours):
        for table in present:
            DeltaTable.forPath(lake.spark, lake.path(table)).vacuum(float(conf.vacuum_retain_hours))
    return removed


def remove_stale_staging(ctx: JobContext, keep_hours: int, now: float | None = None) -> list[str]:
    """Delete the gate's staging folders (``<staging>/<table>/<day>/<run>``) last modified
    more than ``keep_hours`` ago; returns them. No reader ever sees a staging folder, so
    this only frees storage; a run in progress stages and publishes within minutes."""
    limit = (now if now is not None else time.time()) - keep_hours * 3600
    gone = []
    for table_dir, _ in files.list_folders(ctx.spark, ctx.layout.staging):
        for day_dir, _ in files.list_folders(ctx.spark, table_dir):
            for run_dir, mtime in files.list_folders(ctx.spark, day_dir):
                if mtime < limit:
                    files.delete(ctx.spark, run_dir)
                    gone.append(run_dir)
    return gone


def run(ctx: JobContext, args: argparse.Namespace) -> int:
    conf = ctx.cfg.retention
    day = args.date or dt.datetime.now(dt.timezone.utc).date()
    cutoff = retention_cutoff(day, conf.raw_text_days)
    if conf.raw_text_action not in ACTIONS:  # before any table is touched
        raise UserError(f"retention.raw_text_action must be one of {ACTIONS}, got {conf.raw_text_action!r}")
    for table in tables.raw_text_tables():
        scrubbed = scrub_raw_text(ctx.lake, table, cutoff, conf.raw_text_action)
        emit(f"maintain {day}: {table.name} raw text before {cutoff}: {scrubbed} rows {conf.raw_text_action}")
    stale = remove_stale_staging(ctx, conf.staging_keep_hours)
    emit(f"maintain {day}: {len(stale)} staging folder(s) older than {conf.staging_keep_hours} h removed")
    removed = optimize_and_vacuum(ctx.lake, conf)
    for name, n in sorted(removed.items()):
        log.info("OPTIMIZE %s: %s files compacted", name, n)
    emit(
        f"maintain {day}: OPTIMIZE {len(removed)} tables ({sum(removed.values())} files compacted), "
        f"VACUUM retain {conf.vacuum_retain_hours} h"
    )
    return 0
