"""``distillwatch ingest --date D``: one delivery folder into bronze Delta tables.

Reads ``<landing>/exchanges/date=D/`` and the dimension folders, then
- merges valid exchanges into ``bronze_exchanges`` (partitioned by event date,
  insert-only on ``request_id``: re-running a delivery changes nothing),
- replaces delivery D's rows of ``bronze_quarantine`` (raw text + reason),
- refreshes the dimension tables (``accounts`` snapshot D, ``ip_intel``,
  ``threat_intel``, ``model_releases``, ``labels``),
- appends one reconciled row to ``ingest_log``: read = new + duplicates + quarantined.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import uuid
from dataclasses import asdict, dataclass

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from distillwatch import contract, tables
from distillwatch.console import emit
from distillwatch.context import JobContext
from distillwatch.days import parse_day
from distillwatch.errors import UserError
from distillwatch.files import folder_exists, list_files
from distillwatch.pipelines.bronze import (
    bronze_exchanges,
    bronze_quarantine,
    dimension_records,
    parse_exchange_lines,
    resolve_conflicts,
)

log = logging.getLogger(__name__)

LINES_SCHEMA = StructType([StructField("raw", StringType()), StructField("source_file", StringType())])

# dimension table -> (landing folder, schema, required fields)
DIMENSIONS = {
    tables.IP_INTEL: ("ip_intel", contract.IP_INTEL_SCHEMA, contract.IP_INTEL_REQUIRED),
    tables.THREAT_INTEL: ("threat_intel", contract.THREAT_INTEL_INGEST_SCHEMA, contract.THREAT_INTEL_REQUIRED),
    tables.MODEL_RELEASES: ("model_releases", contract.MODEL_RELEASE_SCHEMA, contract.MODEL_RELEASE_REQUIRED),
    tables.LABELS: ("labels", contract.LABEL_SCHEMA, contract.LABEL_REQUIRED),
}
JSON_GLOBS = ("*.jsonl.gz", "*.jsonl")


@dataclass(frozen=True)
class IngestResult:
    """One delivery's reconciliation: ``read == new + duplicates + quarantined``."""

    run_id: str
    delivery_date: dt.date
    files: int
    read: int
    new: int
    duplicates: int
    quarantined: int
    quarantined_by_reason: str
    event_dates: str
    account_rows: int
    dimension_quarantined: int
    started_at: dt.datetime
    finished_at: dt.datetime


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", required=True, type=parse_day, help="delivery date YYYY-MM-DD")


def _read_lines(ctx: JobContext, files: list[str]) -> DataFrame:
    """Raw lines of JSONL (gzip or not) and Parquet files as (raw, source_file)."""
    spark = ctx.spark
    parts: list[DataFrame] = []
    json_files = [f for f in files if not f.endswith(".parquet")]
    parquet_files = [f for f in files if f.endswith(".parquet")]
    if json_files:
        parts.append(
            spark.read.text(json_files).select(
                F.col("value").alias("raw"), F.col("_metadata.file_path").alias("source_file")
            )
        )
    if parquet_files:
        # Parquet deliveries take the same validation path as JSON: each row becomes its
        # JSON text, so type and range checks (and quarantine raw text) are identical.
        pq = spark.read.parquet(*parquet_files)
        data_cols = [c for c in pq.columns]
        parts.append(
            pq.select(
                F.to_json(F.struct(*data_cols)).alias("raw"),
                F.col("_metadata.file_path").alias("source_file"),
            )
        )
    if not parts:
        return spark.createDataFrame([], LINES_SCHEMA)
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def ingest(ctx: JobContext, delivery_date: dt.date) -> IngestResult:
    """Ingest one delivery date; returns its reconciliation (also appended to ``ingest_log``)."""
    started = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    run_id = uuid.uuid4().hex[:12]
    spark, lake, icfg = ctx.spark, ctx.lake, ctx.cfg.ingest
    day = delivery_date.isoformat()
    folder = f"{ctx.landing.rstrip('/')}/exchanges/date={day}"
    if not folder_exists(spark, folder):
        raise UserError(f"delivery folder {folder} does not exist (nothing delivered for {day}?)")
    files = list_files(spark, folder, icfg.exchange_globs)
    ingested_at = F.lit(started).cast("timestamp")

    validated = resolve_conflicts(
        parse_exchange_lines(
            _read_lines(ctx, files), delivery_date, icfg.max_lateness_days, icfg.max_future_skew_minutes
        )
    )
    # Persisted once: counted, quarantined and merged from the same parse (one JSON pass).
    validated = validated.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        counts = {
            r["reason"]: int(r["n"])
            for r in validated.groupBy("reason").agg(F.count("*").alias("n")).collect()
        }
        read = sum(counts.values())
        valid = counts.pop(None, 0)
        quarantined = sum(counts.values())

        lake.create_if_missing(tables.BRONZE_EXCHANGES)
        lo = delivery_date - dt.timedelta(days=icfg.max_lateness_days)
        hi = delivery_date + dt.timedelta(days=1)
        new = lake.insert_new(
            lake.conform(bronze_exchanges(validated, ingested_at), tables.BRONZE_EXCHANGES),
            tables.BRONZE_EXCHANGES,
            keys=("request_id",),
            prune=F.expr(f"t.event_date BETWEEN DATE'{lo}' AND DATE'{hi}'"),
        )
        event_dates = sorted(
            str(r[0]) for r in validated.where("reason IS NULL").select("event_date").distinct().collect()
        )
        quarantine_parts = [bronze_quarantine(validated, "exchanges", ingested_at)]
        account_rows, dim_bad = _ingest_dimensions(ctx, delivery_date, ingested_at, quarantine_parts)
        q = quarantine_parts[0]
        for extra in quarantine_parts[1:]:
            q = q.unionByName(extra)
        lake.publish(q, tables.BRONZE_QUARANTINE, day)
    finally:
        validated.unpersist()

    duplicates = valid - new
    if read != new + duplicates + quarantined:  # by construction; guards future edits
        raise AssertionError(
            f"ingest {day}: counts do not reconcile ({read=} {new=} {duplicates=} {quarantined=})"
        )
    result = IngestResult(
        run_id=run_id,
        delivery_date=delivery_date,
        files=len(files),
        read=read,
        new=new,
        duplicates=duplicates,
        quarantined=quarantined,
        quarantined_by_reason=",".join(f"{k}={v}" for k, v in sorted(counts.items())),
        event_dates=",".join(event_dates),
        account_rows=account_rows,
        dimension_quarantined=dim_bad,
        started_at=started,
        finished_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
    )
    log_row = spark.createDataFrame([tuple(asdict(result).values())], tables.schema(tables.INGEST_LOG))
    lake.publish(log_row, tables.INGEST_LOG)
    return result


def _ingest_dimensions(
    ctx: JobContext, delivery_date: dt.date, ingested_at: F.Column, quarantine_parts: list[DataFrame]
) -> tuple[int, int]:
    """Accounts snapshot of the day and full reloads of the small dimensions.

    Returns (account rows, quarantined dimension rows); quarantine frames are appended
    to ``quarantine_parts``.
    """
    spark, lake = ctx.spark, ctx.lake
    day = delivery_date.isoformat()
    bad_total = 0
    # Accounts: a full registry snapshot per delivery date.
    acc_folder = f"{ctx.landing.rstrip('/')}/accounts/date={day}"
    account_rows = 0
    lake.create_if_missing(tables.ACCOUNTS)
    if folder_exists(spark, acc_folder):
        lines = _read_lines(ctx, list_files(spark, acc_folder, JSON_GLOBS))
        good, bad = dimension_records(
            lines, contract.ACCOUNT_SCHEMA, contract.ACCOUNT_REQUIRED, "accounts", delivery_date, ingested_at
        )
        good = good.dropDuplicates(["account_id"]).withColumn("snapshot_date", F.lit(delivery_date))
        lake.publish(good, tables.ACCOUNTS, day)
        account_rows = int(lake.last_operation_metrics(tables.ACCOUNTS).get("numOutputRows", 0))
        bad = bad.persist(StorageLevel.MEMORY_AND_DISK)
        bad_total += bad.count()
        quarantine_parts.append(bad)
    else:
        log.warning(
            "no account snapshot for %s at %s: features will use the latest earlier one", day, acc_folder
        )

    for table, (sub, schema, required) in DIMENSIONS.items():
        folder = f"{ctx.landing.rstrip('/')}/{sub}"
        files = list_files(spark, folder, JSON_GLOBS) if folder_exists(spark, folder) else []
        if not files:
            log.warning("no %s files in %s: keeping the table as it is", sub, folder)
            lake.create_if_missing(table)
            continue
        good, bad = dimension_records(
            _read_lines(ctx, files), schema, required, sub, delivery_date, ingested_at
        )
        lake.publish(good.dropDuplicates(), table)
        bad = bad.persist(StorageLevel.MEMORY_AND_DISK)
        bad_total += bad.count()
        quarantine_parts.append(bad)
    _ingest_partner_stix(ctx)
    return account_rows, bad_total


def _ingest_partner_stix(ctx: JobContext) -> None:
    """Partners' STIX bundles (``jobs.sharing``) replace the earlier STIX rows of
    threat_intel, beside the JSONL listings."""
    from distillwatch.jobs.sharing import partner_threat_intel

    partner = partner_threat_intel(ctx)
    if partner is None:
        return
    listed = ctx.lake.read(tables.THREAT_INTEL).where(
        ~F.coalesce(F.col("source"), F.lit("")).startswith("stix:")
    )
    ctx.lake.publish(
        listed.unionByName(partner, allowMissingColumns=True).dropDuplicates(), tables.THREAT_INTEL
    )


def run(ctx: JobContext, args: argparse.Namespace) -> int:
    r = ingest(ctx, args.date)
    emit(
        f"ingest {r.delivery_date}: read={r.read} new={r.new} duplicates={r.duplicates} "
        f"quarantined={r.quarantined} ({r.quarantined_by_reason or 'none'}) files={r.files} "
        f"event_dates=[{r.event_dates}] accounts={r.account_rows}"
    )
    return 0
