"""The one place a SparkSession is built, for jobs, tests and benchmarks alike."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

from pyspark.sql import DataFrame, Row, SparkSession

from distillwatch.config import Config
from distillwatch.logs import log4j_options
from distillwatch.storage import resolve_layout

log = logging.getLogger(__name__)

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
JOB_DESCRIPTION = "spark.job.description"


@contextmanager
def job_description(spark: SparkSession, text: str) -> Iterator[None]:
    """Label the Spark jobs started inside the block (Spark UI, event log, the benchmark's
    profile) and restore the previous label after. Jobs that adaptive execution starts from
    its own threads inherit it; without a label they show only the step's job group, or a
    call site inside Spark."""
    sc = spark.sparkContext
    before = sc.getLocalProperty(JOB_DESCRIPTION)
    sc.setJobDescription(text)
    try:
        yield
    finally:
        sc.setJobDescription(before)  # type: ignore[arg-type]  # None removes the label


def delta_package() -> str:
    """Maven coordinates of the Delta jars matching the installed ``delta-spark`` and
    ``pyspark`` (``io.delta:delta-spark_<spark major.minor>_2.13:<delta version>``)."""
    import pyspark

    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    return f"io.delta:delta-spark_{spark_minor}_2.13:{version('delta-spark')}"


def _jar_settings(jars_dir: str | None) -> dict[str, str]:
    """Delta's JVM side. ``jars_dir`` None: the platform's own Delta (Databricks). A
    relative folder is looked for under the working directory, then the source checkout
    (``make jars`` fills ``.jars/``). Where neither has jars (an installed wheel), Spark
    fetches the matching Delta jars from Maven Central once (Ivy cache, ``~/.ivy2``)."""
    if not jars_dir:
        return {}
    folder = Path(jars_dir)
    candidates = (
        [folder]
        if folder.is_absolute()
        else [Path.cwd() / folder, Path(__file__).resolve().parent.parent / folder]
    )
    for candidate in candidates:
        jars = sorted(str(p) for p in candidate.glob("*.jar"))
        if jars:
            return {"spark.jars": ",".join(jars)}
    package = delta_package()
    log.info(
        "no Delta jars in %s: Spark fetches %s from Maven Central", " or ".join(map(str, candidates)), package
    )
    return {"spark.jars.packages": package}


def spark_settings(cfg: Config, lakehouse: str) -> dict[str, str]:
    """Every Spark setting of one lakehouse: for this process's session and for the
    Thrift server that ``serve-sql`` starts (both must see the same catalog). The embedded
    metastore lives in the layout's local state folder (``distillwatch.storage``), never on
    an object store."""
    layout = resolve_layout(cfg, lakehouse)
    settings: dict[str, str] = {
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(cfg.spark.shuffle_partitions),
        # Delta rebuilds table state with 50 partitions by default: far too many tasks for
        # the small logs of daily-partitioned tables; follow the shuffle setting instead.
        "spark.databricks.delta.snapshotPartitions": str(cfg.spark.shuffle_partitions),
        "spark.driver.memory": cfg.spark.driver_memory,
        # Small files per day are common in landing folders; let AQE coalesce.
        "spark.sql.adaptive.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        "spark.databricks.delta.retentionDurationCheck.enabled": "true",
        LINEAGE_KEY: cfg.spark.lineage,
    }
    settings.update(_jar_settings(cfg.spark.jars_dir))
    if layout.metastore is not None and layout.warehouse is not None:
        meta = layout.metastore
        settings.update(
            {
                "spark.sql.catalogImplementation": "hive",
                "spark.sql.warehouse.dir": str(layout.warehouse),
                "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={meta / 'metastore_db'};create=true",
                "spark.driver.extraJavaOptions": f"-Dderby.system.home={meta} -Dderby.stream.error.file={meta / 'derby.log'}",
                "spark.hadoop.datanucleus.schema.autoCreateAll": "true",
                "spark.hadoop.hive.metastore.schema.verification": "false",
            }
        )
    settings.update(cfg.spark.extra_conf)
    return settings


LINEAGE_KEY = "spark.distillwatch.lineage"


def one_row(df: DataFrame) -> Row:
    """The row of a global aggregate (``df.agg(...)`` without a group-by has exactly one)."""
    row = df.first()
    if row is None:
        raise RuntimeError("a global aggregate returned no row")
    return row


def materialise(df: DataFrame, why: str) -> DataFrame:
    """Compute ``df`` once and cut its lineage: the one place the pipeline materialises.

    Builders call this where a result feeds several consumers or an iteration (label
    propagation re-reads its edges every round; without a cut the plan grows each round).
    The policy is the session's ``spark.lineage`` setting (``SparkConf.lineage``):
    ``local`` (default) is ``localCheckpoint``, kept in executor storage, enough for a
    batch job that is rerun on failure; ``reliable`` is ``checkpoint`` to
    ``SparkConf.checkpoint_dir`` (default ``<lakehouse>/_checkpoints``), for clusters whose
    executors can be lost (preemptible or autoscaled workers).
    """
    log.debug("checkpoint: %s", why)
    policy = df.sparkSession.conf.get(LINEAGE_KEY, "local")
    # The reason labels the Spark jobs (UI, event log): every checkpoint is called from
    # this line, so the call site alone cannot tell them apart.
    with job_description(df.sparkSession, f"checkpoint: {why}"):
        if policy == "reliable":
            return df.checkpoint(eager=True)
        if policy != "local":
            raise ValueError(f"spark.lineage must be 'local' or 'reliable', not {policy!r}")
        return df.localCheckpoint(eager=True)


SMALL_DAY_KEYS = ("spark.sql.shuffle.partitions", "spark.databricks.delta.snapshotPartitions")
# With one partition per core, adaptive execution's coalescing can only take cores away: below
# its 1 MiB minimum partition size it merges a small day's shuffles into one task, and the
# day's costliest stage (content labels and fingerprints of the distinct texts, after their
# group-by) then ran on one core of two.
COALESCE_KEY = "spark.sql.adaptive.coalescePartitions.enabled"


@contextmanager
def small_day(spark: SparkSession, day_bytes: int | None, max_bytes: int) -> Iterator[bool]:
    """Within: a day whose input is at most ``max_bytes`` (``spark.small_day_max_bytes``)
    runs with at most one shuffle partition per core of the session (and as many Delta
    snapshot partitions), which adaptive execution does not coalesce further, restored on
    exit; yields whether it applied. Partitioning changes how the work is split, never what is
    computed. ``day_bytes`` None (unknown) or a larger day leaves the session as it is."""
    if day_bytes is None or max_bytes <= 0 or day_bytes > max_bytes:
        yield False
        return
    cores = max(1, spark.sparkContext.defaultParallelism)
    before = {k: spark.conf.get(k, None) for k in (*SMALL_DAY_KEYS, COALESCE_KEY)}
    settings = {  # fewer partitions only, never more than the session has
        k: str(min(cores, int(v)) if (v := before[k]) and v.isdigit() else cores) for k in SMALL_DAY_KEYS
    }
    settings[COALESCE_KEY] = "false"
    for k, value in settings.items():
        spark.conf.set(k, value)
    try:
        yield True
    finally:
        for k, v in before.items():
            if v is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, v)


def build_spark(cfg: Config, lakehouse: str, extra: dict[str, str] | None = None) -> SparkSession:
    """Build (or return the running) session for one lakehouse.

    Local default: ``local[*]``, Delta extension and catalog, UTC, and Spark's embedded
    Hive metastore (Derby) under ``<lakehouse>/_metastore`` so every table is registered
    by name in ``cfg.database`` while its data stays at ``<lakehouse>/<table>``.
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    layout = resolve_layout(cfg, lakehouse)
    if layout.metastore is not None:
        layout.metastore.mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.appName(cfg.spark.app_name)
    if cfg.spark.master:
        builder = builder.master(cfg.spark.master)
    settings = spark_settings(cfg, lakehouse)
    settings.update(extra or {})
    to_log_file = log4j_options()  # the CLI without --verbose: JVM log lines to the run's log file
    if to_log_file:
        key = "spark.driver.extraJavaOptions"
        settings[key] = f"{settings.get(key, '')} {to_log_file}".strip()
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    if cfg.spark.lineage == "reliable":
        spark.sparkContext.setCheckpointDir(layout.checkpoints)
    log.info("spark %s session up (master=%s)", spark.version, cfg.spark.master)
    return spark
