"""One benchmark run: every daily step of one day in a fresh Spark session and lakehouse.

``python -m bench.worker ...`` is started by ``bench.run`` as its own process, so each run
has a cold JVM and its memory peaks are its own. For each step it records one JSON line in
the results file: wall time, exchanges per second per core, peak RSS of the Spark JVM and
of the Python driver, bytes added to the lakehouse. After the daily steps it times the
Great Expectations validation of every table with a suite, and the Spark side of the peer
aggregation (see ``bench.peer_duckdb``) over the silver Delta table's Parquet files.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import logging
import os
import platform
import socket
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.memory import PeakMeter, spark_jvm_pid

log = logging.getLogger(__name__)


def dir_sizes(root: Path) -> dict[str, int]:
    """Bytes under each top-level folder of ``root`` (a table, MLflow, the metastore...)."""
    out: dict[str, int] = {}
    if not root.is_dir():
        return out
    for top in root.iterdir():
        total = 0
        if top.is_file():
            total = top.stat().st_size
        else:
            for dirpath, _, files in os.walk(top):
                for f in files:
                    try:
                        total += os.path.getsize(os.path.join(dirpath, f))
                    except OSError:
                        pass
        out[top.name] = total
    return out


def spark_peer_aggregation(silver: Any, newest_model: str | None) -> Any:
    """The peer aggregation computed by the pipeline's own Spark code (one row per account).

    Uses the private building blocks of ``pipelines.features`` on purpose: the benchmark
    must time exactly the code the features step runs, restricted to the columns DuckDB
    computes too.
    """
    from pyspark.sql import functions as F

    from distillwatch.pipelines.features import (
        SHARING_COLUMNS,
        _base,
        _sharing,
        _template_variety,
        _templates,
        _timing,
    )

    base = _base(silver, F.lit(newest_model) if newest_model is not None else F.lit(None).cast("string"))
    # the distinct templates per exchange come from the template counts (as in ``_content``)
    per_exchange = _template_variety(_templates(silver)).select(
        "account_id", "distinct_templates_per_exchange"
    )
    return (
        base.drop("_created")
        .join(per_exchange, "account_id", "left")
        .join(_timing(silver), "account_id", "left")
        .join(_sharing(silver), "account_id", "left")
        .fillna(0, subset=list(SHARING_COLUMNS))
    )


class Recorder:
    """Appends one JSON line per measured step to the results file."""

    def __init__(self, path: Path, common: dict[str, Any]) -> None:
        self.path = path
        self.common = common
        self.rows: list[dict[str, Any]] = []

    def add(self, step: str, **fields: Any) -> dict[str, Any]:
        row = {
            **self.common,
            "step": step,
            **fields,
            "load1": round(os.getloadavg()[0], 2),  # other work on the machine skews timings: flag it
            "recorded_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        }
        self.rows.append(row)
        with self.path.open("a") as fh:
            fh.write(json.dumps(row, default=str) + "\n")
        return row


def _measure(
    name: str,
    fn: Callable[[], Any],
    meter: PeakMeter | None,
    lake_root: Path,
    spark: Any,
    profile_dir: Path | None,
) -> dict[str, Any]:
    before = dir_sizes(lake_root)
    spark.sparkContext.setJobGroup(name, name)
    if meter:
        meter.begin()
    status, error, result = "ok", None, None
    prof = cProfile.Profile() if profile_dir else None
    t0 = time.perf_counter()
    try:
        if prof:
            prof.enable()
        result = fn()
        if isinstance(result, int) and result != 0:
            status, error = "failed", f"exit status {result}"
    except Exception as exc:  # recorded; the benchmark goes on with the next step
        status, error = "failed", f"{type(exc).__name__}: {exc}"[:1000]
        log.error("step %s failed:\n%s", name, traceback.format_exc())
    finally:
        if prof:
            prof.disable()
    wall = time.perf_counter() - t0
    peaks = meter.end() if meter else {}
    if prof and profile_dir:
        profile_dir.mkdir(parents=True, exist_ok=True)
        prof.dump_stats(str(profile_dir / f"{name.replace(':', '_')}.prof"))
    after = dir_sizes(lake_root)
    written = sum(max(0, after.get(k, 0) - before.get(k, 0)) for k in after)
    return {
        "status": status,
        "error": error,
        "wall_s": round(wall, 3),
        "jvm_peak_mib": peaks.get("jvm"),
        "py_peak_mib": peaks.get("python"),
        "jvm_cpu_s": peaks.get("jvm_cpu_s"),
        "py_cpu_s": peaks.get("python_cpu_s"),
        "bytes_written": written,
        "result": result if isinstance(result, (int, float, str)) else None,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--landing", required=True)
    parser.add_argument("--lakehouse", required=True)
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat)
    parser.add_argument(
        "--steps", required=True, help="comma-separated daily steps to run, in pipeline order"
    )
    parser.add_argument("--results", required=True, help="JSONL file the rows are appended to")
    parser.add_argument(
        "--meta", default="{}", help="JSON object copied into every row (size, variant, repeat...)"
    )
    parser.add_argument(
        "--warm-up-date",
        type=dt.date.fromisoformat,
        default=None,
        help="run every step on this day first, unmeasured (a warm JVM and earlier state, as in a backfill)",
    )
    parser.add_argument("--gx", action="store_true", help="time each table's Great Expectations validation")
    parser.add_argument("--peer", action="store_true", help="time the Spark side of the peer aggregation")
    parser.add_argument(
        "--profile", action="store_true", help="Spark event log, cProfile per step, explain plans"
    )
    parser.add_argument("--shuffle-partitions", type=int, default=None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for noisy in ("py4j", "alembic", "urllib3", "great_expectations", "mlflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from distillwatch import tables
    from distillwatch.config import load_config, repo_conf_dir
    from distillwatch.context import JobContext
    from distillwatch.jobs import daily

    lake_root = Path(args.lakehouse).resolve()
    run_dir = lake_root.parent
    lake_root.mkdir(parents=True, exist_ok=True)
    cfg = load_config("local")
    # No web UI: it costs a little on every task and its port collides with other sessions.
    extra: dict[str, str] = {"spark.ui.enabled": "false"}
    if args.shuffle_partitions:
        extra["spark.sql.shuffle.partitions"] = str(args.shuffle_partitions)
    if args.profile:
        (run_dir / "eventlog").mkdir(parents=True, exist_ok=True)
        # plain JSON lines (Spark 4 defaults to rolling zstd files, which need a zstd reader)
        extra.update(
            {
                "spark.eventLog.enabled": "true",
                "spark.eventLog.dir": str(run_dir / "eventlog"),
                "spark.eventLog.compress": "false",
                "spark.eventLog.rolling.enabled": "false",
            }
        )
    ctx = JobContext(
        cfg=cfg, landing=str(Path(args.landing).resolve()), lakehouse_root=str(lake_root), spark_extra=extra
    )
    cores = len(os.sched_getaffinity(0))
    meta = json.loads(args.meta)
    rec = Recorder(
        Path(args.results),
        {
            **meta,
            "date": args.date.isoformat(),
            "host": socket.gethostname(),
            "cores": cores,
            "python": platform.python_version(),
            "pid": os.getpid(),
        },
    )
    profile_dir = run_dir / "profile" if args.profile else None

    t0 = time.perf_counter()
    spark = ctx.spark
    _ = ctx.lake
    session_s = time.perf_counter() - t0
    jvm = spark_jvm_pid()
    meter = PeakMeter({"python": os.getpid(), **({"jvm": jvm} if jvm else {})})
    meter.start()
    rec.common.update(
        {
            "spark_version": spark.version,
            "master": spark.sparkContext.master,
            "shuffle_partitions": spark.conf.get("spark.sql.shuffle.partitions"),
        }
    )
    rec.add("session_start", status="ok", wall_s=round(session_s, 3))

    chosen = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(daily.STEP_NAMES))
    if unknown:
        parser.error(f"unknown step(s) {unknown}; steps are {list(daily.STEP_NAMES)}")
    if args.warm_up_date is not None:
        t_warm = time.perf_counter()
        for step in daily.STEPS:
            if step.name in chosen and step.run(ctx, args.warm_up_date) != 0:
                raise RuntimeError(f"warm-up day {args.warm_up_date}: step {step.name} failed")
        rec.add("warm_up_day", kind="setup", status="ok", wall_s=round(time.perf_counter() - t_warm, 3))
    measured: list[tuple[str, dict[str, Any]]] = []
    for step in daily.STEPS:
        if step.name not in chosen:
            continue
        m = _measure(step.name, lambda s=step: s.run(ctx, args.date), meter, lake_root, spark, profile_dir)
        measured.append((step.name, m))
        log.info("bench step %s: %s in %.1fs", step.name, m["status"], m["wall_s"])

    day = args.date.isoformat()
    # The cheapest honest pass over the same day, in the same (now warm) Spark session: the
    # day's landing files read once and their lines counted. The daily steps are reported as
    # a multiple of it (bench.summarise: "x one scan").
    one_scan = _measure("one_scan", lambda: _one_scan(ctx, day), meter, lake_root, spark, None)
    log.info("bench one scan: %s in %.1fs (%s)", one_scan["status"], one_scan["wall_s"], one_scan["result"])

    exchanges = None
    for table in (tables.BRONZE_EXCHANGES, tables.SILVER_EXCHANGES):
        if ctx.lake.exists(table):
            exchanges = ctx.lake.read(table).where(f"event_date = DATE'{day}'").count()
            break
    rec.common["exchanges"] = exchanges

    def rate(wall: float | None) -> float | None:
        if not exchanges or not wall:
            return None
        return round(exchanges / wall / cores, 1)

    for name, m in measured:
        rec.add(name, kind="daily", **m, ex_per_s_per_core=rate(m["wall_s"]))
    rec.add("one_scan", kind="baseline", **one_scan, ex_per_s_per_core=rate(one_scan["wall_s"]))

    if args.profile and ctx.lake.exists(tables.SILVER_EXCHANGES):
        _explain_features(ctx, args.date, run_dir / "plans")

    if args.gx:
        from distillwatch.quality import available_suites, validate_table

        validated: dict[str, Any] = {}  # table -> its GateResult, whose row_count is the day's rows

        for table in available_suites(repo_conf_dir()):
            if not ctx.lake.exists(table):
                continue
            m = _measure(
                f"gx:{table}",
                lambda t=table: _gx(validate_table, ctx, t, day, validated),
                meter,
                lake_root,
                spark,
                profile_dir,
            )
            # the rows the validation counted, by the suite's own date column (campaigns: updated_on)
            rows = validated[table].row_count if m["status"] == "ok" else None
            rec.add(f"gx:{table}", kind="gx", **m, table_rows=rows, ex_per_s_per_core=rate(m["wall_s"]))

    if args.peer and ctx.lake.exists(tables.SILVER_EXCHANGES):
        files = ctx.lake.read(tables.SILVER_EXCHANGES).where(f"event_date = DATE'{day}'").inputFiles()
        (run_dir / "silver_files.txt").write_text("\n".join(f.removeprefix("file:") for f in files) + "\n")
        newest = _newest_model(ctx, args.date)
        out = run_dir / "peer_spark"

        def peer() -> int:
            silver = spark.read.parquet(*files)
            spark_peer_aggregation(silver, newest).write.mode("overwrite").parquet(str(out))
            return 0

        m = _measure("peer_spark", peer, meter, lake_root, spark, profile_dir)
        rec.add(
            "peer_spark",
            kind="peer",
            **m,
            ex_per_s_per_core=rate(m["wall_s"]),
            newest_model=newest,
            parquet_files=len(files),
            parquet_bytes=sum(os.path.getsize(f.removeprefix("file:")) for f in files),
        )
    meter.stop()
    spark.stop()
    failed = [r["step"] for r in rec.rows if r.get("status") == "failed"]
    return 1 if failed else 0


def _one_scan(ctx: Any, day: str) -> str:
    """Lines in the day's landing exchange files, read once (what any reader of the day pays)."""
    from distillwatch.files import list_files
    from distillwatch.jobs.landing import delivery_folder

    folder = delivery_folder(ctx.landing, day)
    files = list_files(ctx.spark, folder, ctx.cfg.ingest.exchange_globs)
    lines = int(ctx.spark.read.text(files).count()) if files else 0
    return f"{lines} lines"  # a string: _measure reads an int as an exit status


def _gx(validate_table: Callable[..., Any], ctx: Any, table: str, day: str, into: dict[str, Any]) -> str:
    """Validate one table (its GateResult into ``into``); a failed suite is still a measured
    validation ("failed" is kept in ``result``)."""
    result = into[table] = validate_table(ctx, table, day)
    return (
        "passed" if result.passed else "failed: " + ", ".join(o.line()[:120] for o in result.failed_critical)
    )


def _newest_model(ctx: Any, day: dt.date) -> str | None:
    """The latest model released before the day's end (model_releases is a small dimension)."""
    from pyspark.sql import functions as F

    from distillwatch import tables

    if not ctx.lake.exists(tables.MODEL_RELEASES):
        return None
    row = (
        ctx.lake.read(tables.MODEL_RELEASES)
        .where(F.col("released_at") < F.to_timestamp(F.lit((day + dt.timedelta(days=1)).isoformat())))
        .orderBy(F.col("released_at").desc(), F.col("model"))
        .select("model")
        .first()
    )
    return None if row is None else str(row[0])


def _explain_features(ctx: Any, day: dt.date, folder: Path) -> None:
    """The formatted physical plan of account_daily_features over the written silver day."""
    from distillwatch import tables
    from distillwatch.pipelines.features import account_daily_features

    folder.mkdir(parents=True, exist_ok=True)
    silver = ctx.lake.read(tables.SILVER_EXCHANGES).where(f"event_date = DATE'{day.isoformat()}'")
    df = account_daily_features(silver, ctx.lake.read(tables.MODEL_RELEASES), day)
    jvm = ctx.spark._jvm  # type: ignore[attr-defined]
    plan = jvm.PythonSQLUtils.explainString(df._jdf.queryExecution(), "formatted")
    (folder / "account_daily_features.txt").write_text(plan)


if __name__ == "__main__":
    sys.exit(main())
