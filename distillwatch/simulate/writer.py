"""Write a synthetic world: ``OUT/landing/`` in the landing contract
(docs/data-contract.md) and ``OUT/truth/`` (beside landing, never inside it)
with the ground truth as Parquet plus ``world.json``.

Reruns overwrite every folder, so the same settings always leave the same records.
``distillwatch simulate`` (``jobs/simulate.py``) is the command line over :func:`simulate`.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from distillwatch.simulate.settings import WorldSettings
from distillwatch.simulate.world import World, build_world

log = logging.getLogger(__name__)

# About this many lines per landing file (a gateway rolls its log files by size).
LINES_PER_FILE = 2_000_000


def _hadoop_fs(spark: SparkSession, path: str) -> tuple[Any, Any, Any]:
    """The JVM, a Hadoop ``Path`` of ``path`` and its file system (py4j objects)."""
    jvm: Any = spark._jvm
    p = jvm.org.apache.hadoop.fs.Path(path)
    return jvm, p, p.getFileSystem(spark._jsc.hadoopConfiguration())


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
    assert counts is not None  # a global aggregate has one row
    noisy.unpersist()
    return {k: int(v or 0) for k, v in counts.asDict().items()}


@dataclass(frozen=True)
class WorldWritten:
    """What :func:`simulate` wrote."""

    out: str
    settings: WorldSettings
    prompts: str
    # exchanges, campaign_exchanges, broken (of the truth, one row per generated exchange)
    counts: dict[str, int]
    seconds: float

    def summary(self) -> str:
        s, c = self.settings, self.counts
        names = s.evasion_plan().names
        evasion = f", evasion {','.join(names)}" if names else ""
        return (
            f"world written to {self.out}: {c['exchanges']} exchanges ({c['campaign_exchanges']} campaign, "
            f"{c['broken']} broken) over {s.days} days from {s.start}, seed {s.seed}, {self.prompts} prompts"
            f"{evasion}, in {self.seconds:.1f}s"
        )


def simulate(
    spark: SparkSession,
    out: str,
    settings: WorldSettings,
    prompts: str = "templates",
    corpus_cache: str | None = None,
) -> WorldWritten:
    """Build the world of ``settings`` and write it under ``out``.

    ``prompts`` is ``templates`` or ``real`` (see :func:`~distillwatch.simulate.world.build_world`;
    ``corpus_cache`` is the folder of the pinned wheels for ``real``).
    """
    if spark.conf.get("spark.sql.session.timeZone") != "UTC":
        # timestamps in account snapshots and labels are written as UTC instants
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    s = settings
    t0 = time.monotonic()
    log.info(
        "simulating %s days from %s at scale %s (seed %s, %s prompts, evasion %s) into %s",
        s.days, s.start, s.scale, s.seed, prompts, ",".join(s.evasion_plan().names) or "none", out,
    )  # fmt: skip
    world = build_world(spark, s.start, s.days, s.scale, s.seed, prompts, corpus_cache, s.evasion_plan())
    counts = write_world(world, out.rstrip("/"))
    return WorldWritten(out, s, prompts, counts, time.monotonic() - t0)
