"""``distillwatch ingest --date D``: one delivery folder into bronze Delta tables.

Reads ``<landing>/exchanges/date=D/`` and the dimension folders, then
- surveys every file of the delivery (``distillwatch.jobs.landing``): unrecognised names and
  corrupt files are set aside whole, with a reason, and the rest is read once,
- merges valid exchanges into ``bronze_exchanges`` (partitioned by event date,
  insert-only on ``request_id``: re-running a delivery changes nothing),
- replaces delivery D's rows of ``bronze_quarantine`` (raw text + reason),
- refreshes the dimension tables (``accounts`` snapshot D, ``ip_intel``,
  ``threat_intel``, ``model_releases``, ``labels``),
- appends one row per file to ``ingest_files`` and the run's ``complete`` row to
  ``ingest_log`` (opened by a ``started`` row): read = new + duplicates + quarantined, per
  file and per delivery.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import uuid
from dataclasses import asdict, dataclass

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F

from distillwatch import contract, tables
from distillwatch.console import emit
from distillwatch.context import JobContext
from distillwatch.days import parse_day
from distillwatch.errors import UserError
from distillwatch.files import folder_exists, list_files
from distillwatch.jobs.landing import (
    CORRUPT,
    LINES_SCHEMA,
    UNRECOGNISED,
    LandingFile,
    delivery_folder,
    read_lines,
    survey,
    utc_now,
    with_corrupt_files_set_aside,
)
from distillwatch.lakehouse import Lakehouse
from distillwatch.pipelines.bronze import (
    bronze_exchanges,
    bronze_quarantine,
    dimension_records,
    parse_exchange_lines,
    resolve_conflicts,
)

log = logging.getLogger(__name__)

# dimension table -> (landing folder, schema, required fields)
DIMENSIONS = {
    tables.IP_INTEL: ("ip_intel", contract.IP_INTEL_SCHEMA, contract.IP_INTEL_REQUIRED),
    tables.THREAT_INTEL: (
        "threat_intel",
        contract.THREAT_INTEL_INGEST_SCHEMA,
        contract.THREAT_INTEL_REQUIRED,
    ),
    tables.MODEL_RELEASES: ("model_releases", contract.MODEL_RELEASE_SCHEMA, contract.MODEL_RELEASE_REQUIRED),
    tables.LABELS: ("labels", contract.LABEL_SCHEMA, contract.LABEL_REQUIRED),
}
JSON_GLOBS = ("*.jsonl.gz", "*.jsonl")


@dataclass(frozen=True)
class IngestResult:
    """One delivery's reconciliation: ``read == new + duplicates + quarantined`` (per file too,
    in ``ingest_files``)."""

    run_id: str
    delivery_date: dt.date
    status: str  # "complete" or "unchanged"
    files: int
    corrupt_files: int
    unrecognised_files: int
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
    message: str | None = None


@dataclass(frozen=True)
class DeliveryState:
    """What ``ingest_log`` and ``ingest_files`` say about one delivery date."""

    # the last complete run's files as (name, size, checksum); None if it never completed
    complete_files: frozenset[tuple[str, int, str | None]] | None
    # runs that started after the last complete one and never finished: (run_id, started_at)
    open_runs: tuple[tuple[str, dt.datetime], ...]


STARTED, COMPLETE, UNCHANGED = "started", "complete", "unchanged"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", required=True, type=parse_day, help="delivery date YYYY-MM-DD")
    parser.add_argument(
        "--skip-unchanged",
        action="store_true",
        help="do nothing when the delivery's files are those of its last complete run (same names,"
        " sizes and checksums); by default a rerun reads the delivery again (idempotently)",
    )


def _read_lines(ctx: JobContext, files: list[str]) -> DataFrame:
    """Raw lines of the dimension folders' JSONL files as (raw, source_file)."""
    if not files:
        return ctx.spark.createDataFrame([], LINES_SCHEMA)
    return ctx.spark.read.text(files).select(
        F.col("value").alias("raw"), F.col("_metadata.file_path").alias("source_file")
    )


def _commit_tag(day: str, run_id: str) -> str:
    return f"distillwatch ingest {day} run {run_id}"


def delivery_state(lake: Lakehouse, delivery_date: dt.date) -> DeliveryState:
    """The delivery's last complete run and the runs killed since (small reads of two logs)."""
    if not lake.exists(tables.INGEST_LOG):
        return DeliveryState(None, ())
    rows = (
        lake.read(tables.INGEST_LOG)
        .where(F.col("delivery_date") == F.lit(delivery_date))
        .select("run_id", "status", "started_at")
        .collect()
    )
    done = sorted(((r["started_at"], r["run_id"]) for r in rows if r["status"] == COMPLETE), reverse=True)
    finished = {r["run_id"] for r in rows if r["status"] != STARTED}
    since = done[0][0] if done else None
    open_runs = tuple(
        sorted(
            (r["run_id"], r["started_at"])
            for r in rows
            if r["status"] == STARTED
            and r["run_id"] not in finished
            and (since is None or r["started_at"] > since)
        )
    )
    complete_files = None
    if done and lake.exists(tables.INGEST_FILES):
        complete_files = frozenset(
            (r["file_name"], int(r["size_bytes"]), r["checksum"])
            for r in lake.read(tables.INGEST_FILES)
            .where(F.col("run_id") == done[0][1])
            .select("file_name", "size_bytes", "checksum")
            .collect()
        )
    return DeliveryState(complete_files, open_runs)


def incomplete_deliveries(ctx: JobContext, event_date: dt.date) -> list[str]:
    """Deliveries that may hold records of ``event_date`` and whose latest ingest run started
    but did not finish (killed, or running now), each as a sentence."""
    lake = ctx.lake
    if not lake.exists(tables.INGEST_LOG):
        return []
    lo, hi = (
        event_date - dt.timedelta(days=1),
        event_date + dt.timedelta(days=ctx.cfg.ingest.max_lateness_days),
    )
    rows = (
        lake.read(tables.INGEST_LOG)
        .where(F.col("delivery_date").between(F.lit(lo), F.lit(hi)))
        .select("run_id", "delivery_date", "status", "started_at")
        .collect()
    )
    latest: dict[dt.date, tuple[dt.datetime, str]] = {}
    finished = {r["run_id"] for r in rows if r["status"] != STARTED}
    for r in rows:
        if r["status"] == STARTED and (
            r["delivery_date"] not in latest or r["started_at"] > latest[r["delivery_date"]][0]
        ):
            latest[r["delivery_date"]] = (r["started_at"], r["run_id"])
    return [
        f"delivery {d} (ingest run {run} started {ts:%Y-%m-%d %H:%M:%S} UTC and did not complete)"
        for d, (ts, run) in sorted(latest.items())
        if run not in finished
    ]


def require_complete_deliveries(ctx: JobContext, event_date: dt.date, step: str) -> None:
    """Refuse to build ``event_date`` on a half-ingested delivery, naming the delivery to rerun."""
    open_ = incomplete_deliveries(ctx, event_date)
    if open_:
        raise UserError(
            f"{step} {event_date}: refused, the day's input is incomplete: {'; '.join(open_)}."
            " Rerun `distillwatch ingest --date <delivery>` (or the day's ingest task) first."
        )


def _log(ctx: JobContext, **row: object) -> None:
    schema = tables.schema(tables.INGEST_LOG)
    values = tuple(row.get(f.name) for f in schema.fields)
    ctx.lake.publish(ctx.spark.createDataFrame([values], schema), tables.INGEST_LOG)


def ingest(ctx: JobContext, delivery_date: dt.date, skip_unchanged: bool = False) -> IngestResult:
    """Ingest one delivery date; returns its reconciliation (also in ``ingest_log``, and per
    file in ``ingest_files``).

    The delivery is committed as a whole: a ``started`` row opens the run and a ``complete``
    row closes it, last. A rerun after a kill finds the killed runs' bronze commits by their
    commit metadata and counts their inserts as this delivery's new rows (not duplicates); a
    rerun reads the delivery again (bronze's insert-only merge makes it idempotent), or, with
    ``skip_unchanged``, does nothing when its files are those of its last complete run
    (``unchanged``).
    """
    started = utc_now()
    run_id = uuid.uuid4().hex[:12]
    spark, lake, icfg = ctx.spark, ctx.lake, ctx.cfg.ingest
    day = delivery_date.isoformat()
    folder = delivery_folder(ctx.landing, day)
    if not folder_exists(spark, folder):
        raise UserError(f"delivery folder {folder} does not exist (nothing delivered for {day}?)")
    landing = survey(spark, folder, icfg.exchange_globs)
    state = delivery_state(lake, delivery_date)
    fingerprint = frozenset((f.name, f.size, f.checksum) for f in landing)
    if skip_unchanged and not state.open_runs and state.complete_files == fingerprint:
        return _unchanged(ctx, run_id, delivery_date, landing, started)

    _log(ctx, run_id=run_id, delivery_date=delivery_date, status=STARTED, started_at=started)
    ingested_at = F.lit(started).cast("timestamp")

    def parse(files: list[LandingFile]) -> tuple[DataFrame, list[Row]]:
        validated = resolve_conflicts(
            parse_exchange_lines(
                read_lines(spark, files), delivery_date, icfg.max_lateness_days, icfg.max_future_skew_minutes
            )
        ).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            per_file = validated.groupBy("source_file", "reason").agg(F.count("*").alias("n")).collect()
        except Exception:
            validated.unpersist()
            raise
        return validated, per_file

    # Persisted once: counted, quarantined and merged from the same parse (one JSON pass).
    (validated, per_file), landing = with_corrupt_files_set_aside(spark, landing, parse)
    try:
        counts: dict[str | None, int] = {}
        for r in per_file:
            counts[r["reason"]] = counts.get(r["reason"], 0) + int(r["n"])
        read = sum(counts.values())
        valid = counts.pop(None, 0)
        quarantined = sum(counts.values())

        lake.create_if_missing(tables.BRONZE_EXCHANGES)
        lo = delivery_date - dt.timedelta(days=icfg.max_lateness_days)
        hi = delivery_date + dt.timedelta(days=1)
        window = F.expr(f"t.event_date BETWEEN DATE'{lo}' AND DATE'{hi}'")
        with lake.commit_metadata(_commit_tag(day, run_id)):
            new = lake.insert_new(
                lake.conform(bronze_exchanges(validated, ingested_at), tables.BRONZE_EXCHANGES),
                tables.BRONZE_EXCHANGES,
                keys=("request_id",),
                prune=window,
            )
        # Inserts of runs of this delivery killed after their bronze commit are its new rows.
        recovered = sum(
            int(m.get("numTargetRowsInserted", 0))
            for m in lake.commits_with_metadata(
                tables.BRONZE_EXCHANGES, [_commit_tag(day, r) for r, _ in state.open_runs]
            )
        )
        new += recovered
        inserted_at = [started, *(ts for _, ts in state.open_runs)]
        new_by_file = {
            r["source_file"]: int(r["n"])
            for r in lake.read(tables.BRONZE_EXCHANGES)
            .where(F.col("event_date").between(F.lit(lo), F.lit(hi)))
            .where((F.col("delivery_date") == F.lit(delivery_date)) & F.col("ingested_at").isin(inserted_at))
            .groupBy("source_file")
            .agg(F.count("*").alias("n"))
            .collect()
        }
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
    if read != new + duplicates + quarantined or sum(new_by_file.values()) != new:  # guards future edits
        raise AssertionError(
            f"ingest {day}: counts do not reconcile ({read=} {new=} {duplicates=} {quarantined=}"
            f" new_by_file={sum(new_by_file.values())})"
        )
    _publish_ledger(ctx, run_id, delivery_date, landing, per_file, new_by_file, started)
    corrupt_files = sum(f.outcome == CORRUPT for f in landing)
    result = IngestResult(
        run_id=run_id,
        delivery_date=delivery_date,
        status=COMPLETE,
        files=len(landing),
        corrupt_files=corrupt_files,
        unrecognised_files=sum(f.outcome == UNRECOGNISED for f in landing),
        read=read,
        new=new,
        duplicates=duplicates,
        quarantined=quarantined,
        quarantined_by_reason=",".join(f"{k}={v}" for k, v in sorted(counts.items())),
        event_dates=",".join(event_dates),
        account_rows=account_rows,
        dimension_quarantined=dim_bad,
        started_at=started,
        finished_at=utc_now(),
        message=(
            f"finished {len(state.open_runs)} killed run(s), {recovered} of their inserts"
            if state.open_runs
            else None
        ),
    )
    _log(ctx, **asdict(result))
    return result


def _unchanged(
    ctx: JobContext, run_id: str, delivery_date: dt.date, landing: list[LandingFile], started: dt.datetime
) -> IngestResult:
    """A rerun of a complete delivery whose files have not changed: nothing to read or write."""
    result = IngestResult(
        run_id=run_id,
        delivery_date=delivery_date,
        status=UNCHANGED,
        files=len(landing),
        corrupt_files=0,
        unrecognised_files=0,
        read=0,
        new=0,
        duplicates=0,
        quarantined=0,
        quarantined_by_reason="",
        event_dates="",
        account_rows=0,
        dimension_quarantined=0,
        started_at=started,
        finished_at=utc_now(),
        message="the delivery's files are those of its last complete run (rerun without --skip-unchanged to read them again)",
    )
    _log(ctx, **asdict(result))
    return result


def _publish_ledger(
    ctx: JobContext,
    run_id: str,
    delivery_date: dt.date,
    landing: list[LandingFile],
    per_file: list[Row],
    new_by_file: dict[str, int],
    ingested_at: dt.datetime,
) -> None:
    """One ``ingest_files`` row per file of the delivery (a handful of rows)."""
    read: dict[str, int] = {}
    bad: dict[str, int] = {}
    for r in per_file:
        read[r["source_file"]] = read.get(r["source_file"], 0) + int(r["n"])
        if r["reason"] is not None:
            bad[r["source_file"]] = bad.get(r["source_file"], 0) + int(r["n"])
    rows = []
    for f in landing:
        n_read = read.get(f.uri, 0) if f.readable else None
        n_bad = bad.get(f.uri, 0) if f.readable else None
        n_new = new_by_file.get(f.uri, 0) if f.readable else None
        accepted = None if n_read is None else n_read - (n_bad or 0)
        rows.append(
            (
                run_id,
                delivery_date,
                f.uri,
                f.name,
                f.size,
                f.checksum,
                f.format,
                f.outcome,
                f.reason,
                n_read,
                accepted,
                n_new,
                None if accepted is None else accepted - (n_new or 0),
                n_bad,
                ingested_at,
            )
        )
    unknown = set(read) - {f.uri for f in landing}
    if unknown:  # every line's source_file is a surveyed file; guards future edits
        raise AssertionError(f"lines from files not in the delivery's survey: {sorted(unknown)}")
    ctx.lake.publish(ctx.spark.createDataFrame(rows, tables.schema(tables.INGEST_FILES)), tables.INGEST_FILES)


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
    r = ingest(ctx, args.date, skip_unchanged=getattr(args, "skip_unchanged", False))
    if r.status == UNCHANGED:
        emit(
            f"ingest {r.delivery_date}: unchanged ({r.files} files, as its last complete run); nothing to do"
        )
        return 0
    emit(
        f"ingest {r.delivery_date}: read={r.read} new={r.new} duplicates={r.duplicates} "
        f"quarantined={r.quarantined} ({r.quarantined_by_reason or 'none'}) files={r.files} "
        f"event_dates=[{r.event_dates}] accounts={r.account_rows}"
        + (f" corrupt_files={r.corrupt_files}" if r.corrupt_files else "")
        + (f" unrecognised_files={r.unrecognised_files}" if r.unrecognised_files else "")
    )
    return 0
