"""Delta I/O in one small module: where a table lives, how it is read, written and
registered. Transformations in ``pipelines/`` never touch paths; jobs call this.

Every table is an external Delta table stored at ``<lakehouse>/<name>`` and registered
by name in the configured database, so both ``spark.table("distillwatch.x")`` and any
Delta reader pointed at the path (delta-rs, DuckDB) find it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, DataFrameWriter, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from distillwatch.spark import job_description

log = logging.getLogger(__name__)


class Lakehouse:
    """One lakehouse: a root folder (local or cloud URI) plus a metastore database."""

    def __init__(self, spark: SparkSession, root: str, database: str) -> None:
        self.spark = spark
        self.root = root.rstrip("/")
        self.database = database
        if "://" not in self.root:
            self.root = str(Path(self.root).resolve())
        self._db_ready = False

    # -- locations ---------------------------------------------------------------
    def path(self, table: str) -> str:
        return f"{self.root}/{table}"

    def qualified(self, table: str) -> str:
        return f"{self.database}.{table}"

    def local_dir(self, *parts: str) -> Path:
        """A folder under the lakehouse for non-table state (MLflow, reports, locks)."""
        folder = Path(self.root, *parts)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def exists(self, table: str) -> bool:
        return bool(DeltaTable.isDeltaTable(self.spark, self.path(table)))

    # -- reads -------------------------------------------------------------------
    def read(self, table: str) -> DataFrame:
        if not self.exists(table):
            raise FileNotFoundError(f"table {self.qualified(table)} does not exist at {self.path(table)}")
        return self.spark.read.format("delta").load(self.path(table))

    def read_version(self, table: str, version: int) -> DataFrame:
        return self.spark.read.format("delta").option("versionAsOf", version).load(self.path(table))

    def version(self, table: str) -> int | None:
        if not self.exists(table):
            return None
        row = DeltaTable.forPath(self.spark, self.path(table)).history(1).select("version").first()
        return int(row[0]) if row else None

    def last_operation_metrics(self, table: str) -> dict[str, str]:
        row = DeltaTable.forPath(self.spark, self.path(table)).history(1).select("operationMetrics").first()
        return dict(row[0] or {}) if row else {}

    # -- registration --------------------------------------------------------------
    def ensure_database(self) -> None:
        if not self._db_ready:
            self.spark.sql(f"CREATE DATABASE IF NOT EXISTS {self.database}")
            self._db_ready = True

    def register(self, table: str) -> None:
        """Register the Delta folder of ``table`` as an external table in the metastore."""
        self.ensure_database()
        self.spark.sql(
            f"CREATE TABLE IF NOT EXISTS {self.qualified(table)} USING DELTA LOCATION '{self.path(table)}'"
        )

    def create_if_missing(self, table: str, schema: StructType, partition_by: Sequence[str] = ()) -> None:
        """Create an empty Delta table with an explicit schema (the first MERGE needs a target)."""
        if self.exists(table):
            return
        empty = self.spark.createDataFrame([], schema)
        writer = empty.write.format("delta").mode("ignore")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        self._save(writer, table, f"create {table}")

    # -- writes ------------------------------------------------------------------
    def _save(self, writer: DataFrameWriter, table: str, label: str) -> None:
        """Save to the table's path with the Spark jobs labelled, then register it."""
        with job_description(self.spark, label):
            writer.save(self.path(table))
        self.register(table)

    def overwrite(self, df: DataFrame, table: str, partition_by: Sequence[str] = ()) -> None:
        """Replace the whole table (small dimensions: model releases, intel)."""
        writer = df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        self._save(writer, table, f"write {table} (overwrite)")

    def replace_where(
        self, df: DataFrame, table: str, predicate: str, partition_by: Sequence[str] = ()
    ) -> None:
        """Atomically replace the rows matching ``predicate`` (one day of a daily table).

        Delta checks every written row matches the predicate, so a bug cannot spill
        into another day. Re-running with the same input gives the same table.
        """
        writer = df.write.format("delta").mode("overwrite").option("replaceWhere", predicate)
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        self._save(writer, table, f"write {table} ({predicate})")

    def replace_day(self, df: DataFrame, table: str, day: str, date_col: str = "event_date") -> None:
        self.replace_where(df, table, f"{date_col} = DATE'{day}'", partition_by=(date_col,))

    def append(self, df: DataFrame, table: str, partition_by: Sequence[str] = ()) -> None:
        writer = df.write.format("delta").mode("append")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        self._save(writer, table, f"write {table} (append)")

    def insert_new(
        self,
        df: DataFrame,
        table: str,
        keys: Sequence[str],
        prune: Column | None = None,
    ) -> int:
        """Insert-only MERGE on ``keys``: rows already present are left alone.

        ``prune`` is an extra condition on the target (``t.``) that lets Delta skip
        partitions which cannot match. Returns the number of rows inserted, read from
        the commit's own metrics (so concurrent writers cannot confuse the count).
        """
        cond = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
        target = DeltaTable.forPath(self.spark, self.path(table)).alias("t")
        builder: Any = target.merge(df.alias("s"), F.expr(cond) if prune is None else F.expr(cond) & prune)
        before = self.version(table)
        with job_description(self.spark, f"write {table} (insert-only merge)"):
            builder.whenNotMatchedInsertAll().execute()
        if self.version(table) == before:  # a MERGE that changes nothing commits nothing
            return 0
        metrics = self.last_operation_metrics(table)
        return int(metrics.get("numTargetRowsInserted", 0))
