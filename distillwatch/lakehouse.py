"""Delta I/O in one small module: where a table lives, how it is read, written and
registered. Transformations in ``pipelines/`` never touch paths; jobs call this.

Every table is an external Delta table stored at ``<lakehouse>/<name>`` and registered
by name in the configured database, so both ``spark.table("distillwatch.x")`` and any
Delta reader pointed at the path (delta-rs, DuckDB) find it. With a catalog configured
(``Config.catalog``, Unity Catalog for one) the name has three levels,
``<catalog>.<database>.<table>``, and the path is the lakehouse's cloud storage location
(an external table; Unity Catalog registers none on ``/Volumes``, see
``distillwatch.storage``).

Jobs publish through :meth:`Lakehouse.publish`, which takes the table's schema, partition
column and write mode from the catalog (:mod:`distillwatch.tables`) and refuses rows whose
columns drift from it. The lower-level writes (``replace_where``, ``append``...) are for the
few writes the catalog cannot express alone (bronze's insert-only dedup) and for tests.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, DataFrameWriter, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from distillwatch import tables
from distillwatch.errors import UserError
from distillwatch.faults import failpoint
from distillwatch.spark import job_description
from distillwatch.storage import is_remote, local_path

log = logging.getLogger(__name__)


class SchemaDrift(UserError):
    """Rows about to be published do not have the catalog's columns."""


class Lakehouse:
    """One lakehouse: a root folder (local or cloud URI) plus a metastore database, in
    ``catalog`` when one is given (None: the session's current catalog)."""

    def __init__(self, spark: SparkSession, root: str, database: str, catalog: str | None = None) -> None:
        self.spark = spark
        self.root = root.rstrip("/")
        self.database = database
        self.catalog = catalog
        if not is_remote(self.root):
            self.root = str(local_path(self.root))
        self._db_ready = False
        # Tables this process has registered in the metastore (registration is idempotent,
        # but each CREATE TABLE IF NOT EXISTS costs a metastore round trip per commit).
        self._registered: set[str] = set()
        # Tables whose columns this process has checked against the catalog (evolve).
        self._evolved: set[str] = set()
        # Rows of each (table, day) this process published through the quality gate: the
        # validated count, so reporting a step's output does not scan the table again.
        self._published_rows: dict[tuple[str, str], int] = {}

    # -- locations ---------------------------------------------------------------
    def path(self, table: str) -> str:
        return f"{self.root}/{table}"

    @property
    def namespace(self) -> str:
        """``<catalog>.<database>``, or ``<database>`` without a catalog."""
        return f"{self.catalog}.{self.database}" if self.catalog else self.database

    def qualified(self, table: str) -> str:
        return f"{self.namespace}.{table}"

    def local_dir(self, *parts: str) -> Path:
        """A local folder under the lakehouse for non-table files; a lakehouse on object
        storage has none (its files go through :mod:`distillwatch.files`)."""
        if is_remote(self.root):
            raise UserError(
                f"the lakehouse {self.root} is not a local folder: no local {'/'.join(parts)} under it"
            )
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

    @contextmanager
    def commit_metadata(self, text: str) -> Iterator[None]:
        """Delta commits made inside the block carry ``text`` as their ``userMetadata`` (in
        the table's history), so a rerun can tell which commits a killed run made."""
        key = "spark.databricks.delta.commitInfo.userMetadata"
        self.spark.conf.set(key, text)
        try:
            yield
        finally:
            self.spark.conf.unset(key)

    def commits_with_metadata(self, table: str, texts: Sequence[str]) -> list[dict[str, str]]:
        """The operation metrics of the commits of ``table`` whose ``userMetadata`` is one of
        ``texts`` (newest first; the last 1,000 commits are searched)."""
        if not texts or not self.exists(table):
            return []
        rows = (
            DeltaTable.forPath(self.spark, self.path(table))
            .history(1000)
            .where(F.col("userMetadata").isin(list(texts)))
            .select("operationMetrics")
            .collect()
        )
        return [dict(r[0] or {}) for r in rows]

    # -- registration --------------------------------------------------------------
    def ensure_database(self) -> None:
        if not self._db_ready:
            self.spark.sql(f"CREATE SCHEMA IF NOT EXISTS {self.namespace}")
            self._db_ready = True

    def register(self, table: str) -> None:
        """Register the Delta folder of ``table`` as an external table in the metastore."""
        if table in self._registered:
            return
        self.ensure_database()
        self.spark.sql(
            f"CREATE TABLE IF NOT EXISTS {self.qualified(table)} USING DELTA LOCATION '{self.path(table)}'"
        )
        self._registered.add(table)

    def evolve(self, table: str) -> None:
        """Add to an existing table the columns the catalog declares and it lacks (a new
        release's additive schema change), once per table and process.

        Only additions: rows already written read the new columns as null (the detector's
        model treats a null feature as missing). A retyped or removed column is not
        evolved here; :meth:`conform` still refuses rows that do not match the catalog, and
        Delta refuses a write whose types differ from the table's.
        """
        if table in self._evolved or table not in tables.CATALOG:
            return
        if self.exists(table):
            have = {f.name for f in self.read(table).schema.fields}
            missing = [f for f in tables.schema(table).fields if f.name not in have]
            if missing:
                cols = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in missing)
                log.info("%s: adding the catalog's new columns %s", table, cols)
                self.spark.sql(f"ALTER TABLE delta.`{self.path(table)}` ADD COLUMNS ({cols})")
        self._evolved.add(table)

    def note_published_rows(self, table: str, day: str, rows: int) -> None:
        """Remember that ``rows`` rows of ``table``'s ``day`` were just published (gate)."""
        self._published_rows[(table, day)] = rows

    def forget_rows(self, table: str) -> None:
        """Drop the remembered day counts of ``table`` (called before any write to it)."""
        for key in [k for k in self._published_rows if k[0] == table]:
            del self._published_rows[key]

    def day_rows(self, table: str, day: str, date_col: str = "event_date") -> int:
        """Rows of ``table``'s ``day``: the count this process published, else a count."""
        if (table, day) in self._published_rows:
            return self._published_rows[(table, day)]
        return int(self.read(table).where(f"{date_col} = DATE'{day}'").count())

    def create_if_missing(
        self, table: str, schema: StructType | None = None, partition_by: Sequence[str] | None = None
    ) -> None:
        """Create an empty Delta table (the first MERGE needs a target); schema and
        partitioning default to the catalog's."""
        if self.exists(table):
            return
        if schema is None or partition_by is None:
            entry = tables.table(table)
            schema = entry.schema if schema is None else schema
            partition_by = entry.partition_by if partition_by is None else partition_by
        empty = self.spark.createDataFrame([], schema)
        writer = empty.write.format("delta").mode("ignore")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        self._save(writer, table, f"create {table}", data=False)

    # -- publication -------------------------------------------------------------
    def conform(self, df: DataFrame, table: str) -> DataFrame:
        """``df`` with the catalog's columns in the catalog's order, or :class:`SchemaDrift`
        naming every missing, unexpected or retyped column."""
        drift = tables.schema_drift(table, df.schema)
        if drift:
            raise SchemaDrift(f"rows for {table} do not match the catalog: {'; '.join(drift)}")
        return df.select(*tables.schema(table).fieldNames())

    def publish(self, df: DataFrame, table: str, day: str | None = None) -> int | None:
        """Write ``df`` to ``table`` the way the catalog declares it (``Table.write``), in
        one Delta commit, after :meth:`conform`: ``day`` replaces that partition (``day``
        required), ``replace`` the whole table, ``merge`` upserts on the key, ``insert``
        adds the rows whose key is new (returns how many), ``append`` adds every row."""
        entry = tables.table(table)
        rows = self.conform(df, table)
        if entry.write == "day":
            if day is None or entry.partition is None:
                raise ValueError(f"{table} is replaced by day ({entry.partition}): publish needs the day")
            self.replace_day(rows, table, day, entry.partition)
        elif entry.write == "replace":
            self.overwrite(rows, table, entry.partition_by)
        elif entry.write == "merge":
            self.upsert(rows, table, entry.key)
        elif entry.write == "insert":
            self.create_if_missing(table)
            return self.insert_new(rows, table, entry.key)
        elif entry.write == "append":
            self.append(rows, table, entry.partition_by)
        else:
            raise ValueError(f"{table}: unknown write {entry.write!r}")
        return None

    def upsert(self, df: DataFrame, table: str, keys: Sequence[str]) -> None:
        """MERGE on ``keys``: matched rows are replaced by the new ones, others inserted."""
        self.create_if_missing(table)
        self.evolve(table)
        cond = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
        target = DeltaTable.forPath(self.spark, self.path(table)).alias("t")
        self.forget_rows(table)
        with job_description(self.spark, f"write {table} (merge)"):
            target.merge(df.alias("s"), cond).whenMatchedUpdateAll().whenNotMatchedInsertAll().execute()
        failpoint(f"after_commit:{table}")
        self.register(table)

    # -- writes ------------------------------------------------------------------
    def _save(self, writer: DataFrameWriter, table: str, label: str, data: bool = True) -> None:
        """Save to the table's path with the Spark jobs labelled, then register it. A commit
        of rows (``data``, not the empty table of :meth:`create_if_missing`) is a fault
        injection point (:mod:`distillwatch.faults`)."""
        self.forget_rows(table)
        if data:
            self.evolve(table)
        with job_description(self.spark, label):
            writer.save(self.path(table))
        if data:
            failpoint(f"after_commit:{table}")
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

    def append(
        self, df: DataFrame, table: str, partition_by: Sequence[str] = (), once_as: str | None = None
    ) -> None:
        """Append ``df`` in one commit. With ``once_as`` the append is idempotent (Delta's
        ``txnAppId``/``txnVersion``): a retried write under the same name commits nothing.
        Cheaper than an insert-only MERGE (no read of the target) when the caller's rows
        are new by construction."""
        writer = df.write.format("delta").mode("append")
        if once_as is not None:
            writer = writer.option("txnAppId", once_as).option("txnVersion", 0)
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
        self.evolve(table)
        cond = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
        target = DeltaTable.forPath(self.spark, self.path(table)).alias("t")
        builder: Any = target.merge(df.alias("s"), F.expr(cond) if prune is None else F.expr(cond) & prune)
        self.forget_rows(table)
        with job_description(self.spark, f"write {table} (insert-only merge)"):
            # The MERGE's own metrics (one local row), so concurrent writers cannot confuse
            # the count and no history is read.
            metrics = builder.whenNotMatchedInsertAll().execute().first()
        failpoint(f"after_commit:{table}")
        return int(metrics["num_inserted_rows"]) if metrics is not None else 0
