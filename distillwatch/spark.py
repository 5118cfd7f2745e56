"""The one place a SparkSession is built, for jobs, tests and benchmarks alike."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyspark.sql import SparkSession

from distillwatch.config import Config

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


def _jars(jars_dir: str | None) -> list[str]:
    if not jars_dir:
        return []
    folder = Path(jars_dir)
    if not folder.is_absolute():
        folder = Path(__file__).resolve().parent.parent / folder
    jars = sorted(str(p) for p in folder.glob("*.jar"))
    if not jars:
        raise RuntimeError(
            f"no Delta jars in {folder}: run `make jars` (the Makefile fetches them once from Maven Central)"
        )
    return jars


def spark_settings(cfg: Config, lakehouse: str) -> dict[str, str]:
    """Every Spark setting of one lakehouse: for this process's session and for the
    Thrift server that ``serve-sql`` starts (both must see the same catalog)."""
    lake = Path(lakehouse).resolve()
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
    }
    jars = _jars(cfg.spark.jars_dir)
    if jars:
        settings["spark.jars"] = ",".join(jars)
    if cfg.spark.local_metastore:
        meta = lake / "_metastore"
        settings.update(
            {
                "spark.sql.catalogImplementation": "hive",
                "spark.sql.warehouse.dir": str(lake / "_warehouse"),
                "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={meta / 'metastore_db'};create=true",
                "spark.driver.extraJavaOptions": f"-Dderby.system.home={meta} -Dderby.stream.error.file={meta / 'derby.log'}",
                "spark.hadoop.datanucleus.schema.autoCreateAll": "true",
                "spark.hadoop.hive.metastore.schema.verification": "false",
            }
        )
    settings.update(cfg.spark.extra_conf)
    return settings


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
    if cfg.spark.local_metastore:
        (Path(lakehouse).resolve() / "_metastore").mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.appName(cfg.spark.app_name)
    if cfg.spark.master:
        builder = builder.master(cfg.spark.master)
    settings = spark_settings(cfg, lakehouse)
    settings.update(extra or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    log.info("spark %s session up (master=%s)", spark.version, cfg.spark.master)
    return spark
