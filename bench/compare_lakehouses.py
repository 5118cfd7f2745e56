"""Are two lakehouses the same? Row-for-row comparison of every catalog table.

    .venv/bin/python -m bench.compare_lakehouses LAKE_A LAKE_B [--ignore col,col]

Used to show that a change of structure leaves the outputs unchanged: build the same
simulated world with two commits (``bench/scheduled_run.py --snapshot REV``), then compare.
Each table is compared as a multiset of rows (``exceptAll`` both ways, in Spark, so nothing is
collected but the counts) over the columns both sides have, minus the columns that differ by
construction between two runs: wall-clock times, run ids, hosts (``--ignore`` adds more).
Doubles are compared rounded to ``--decimals`` (default 12) places: a sum of doubles depends
on the order Spark's shuffles deliver its terms, so two runs of the same code differ in the
last bits (~1e-16) of aggregates such as ``sync_score``.
Exit status 0 when every table matches, 1 otherwise; one line per table either way.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, FloatType

from distillwatch import tables
from distillwatch.config import load_config
from distillwatch.spark import build_spark

# Differ between any two runs of the same data: clocks, ids drawn at random, the machine.
VOLATILE = {
    "ingested_at",
    "run_id",
    "started_at",
    "finished_at",
    "duration_s",
    "validated_at",
    "host",
    "message",
    "details",
}
# ``runs.counts`` holds row counts (stable); ``dq_results`` is compared without the volatile columns.


def _read(spark: SparkSession, root: str, table: str) -> DataFrame | None:
    path = f"{root.rstrip('/')}/{table}"
    try:
        return spark.read.format("delta").load(path)
    except Exception:  # noqa: BLE001 - a table missing on one side is reported, not raised
        return None


def _rounded(df: DataFrame, cols: list[str], decimals: int) -> DataFrame:
    kinds = dict((f.name, f.dataType) for f in df.schema.fields)
    return df.select(
        *[
            F.round(c, decimals).alias(c) if isinstance(kinds[c], (DoubleType, FloatType)) else F.col(c)
            for c in cols
        ]
    )


def differing_columns(a: DataFrame, b: DataFrame) -> list[str]:
    """The columns whose multiset of values differs between ``a`` and ``b``: where to look
    when two tables differ (a column of JSON whose key order changed, say). Empty when every
    column matches on its own and only the pairing of values differs.

    One aggregation per side: per column, the sum of its values' 64-bit hashes (as a
    decimal, so it cannot overflow); equal multisets give equal sums, and two different
    ones collide with negligible chance.
    """

    def sums(df: DataFrame) -> list[object]:
        row = df.agg(*[F.sum(F.xxhash64(c).cast("decimal(38,0)")).alias(c) for c in df.columns]).first()
        return [None if row is None else row[c] for c in df.columns]

    return [c for c, x, y in zip(a.columns, sums(a), sums(b.select(*a.columns)), strict=True) if x != y]


def compare(
    spark: SparkSession,
    a_root: str,
    b_root: str,
    ignore: set[str],
    decimals: int = 12,
    only: Sequence[str] | None = None,
) -> list[tuple[str, str, bool]]:
    """(table, note, same) for every catalog table (or those in ``only``)."""
    out = []
    for table in tables.CATALOG if only is None else only:
        a, b = _read(spark, a_root, table), _read(spark, b_root, table)
        if a is None or b is None:
            same = a is None and b is None
            out.append((table, "absent on both" if same else f"absent in {'A' if a is None else 'B'}", same))
            continue
        cols = [c for c in a.columns if c in b.columns and c not in ignore]
        one_side = sorted(set(a.columns) ^ set(b.columns))
        a_, b_ = _rounded(a, cols, decimals), _rounded(b, cols, decimals)
        n_a, n_b = a_.count(), b_.count()
        missing, extra = a_.exceptAll(b_).count(), b_.exceptAll(a_).count()
        same = missing == 0 and extra == 0 and not one_side
        note = f"{n_a} vs {n_b} rows, {missing} only in A, {extra} only in B"
        if missing or extra:
            cols_off = differing_columns(a_, b_)
            note += f"; columns that differ: {', '.join(cols_off) if cols_off else 'none alone'}"
        if one_side:
            note += f"; columns on one side only: {', '.join(one_side)}"
        out.append((table, note, same))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--ignore", default="", help="further columns to leave out, comma-separated")
    p.add_argument(
        "--decimals", type=int, default=12, help="doubles are compared rounded to this many places"
    )
    args = p.parse_args(argv)
    cfg = load_config("local")
    # the session's own metastore goes to a scratch folder: both lakehouses are only read
    spark = build_spark(cfg, tempfile.mkdtemp(prefix="compare-"))
    ignore = VOLATILE | {c for c in args.ignore.split(",") if c}
    rows = compare(spark, args.a, args.b, ignore, args.decimals)
    for table, note, same in rows:
        sys.stdout.write(f"{'same' if same else 'DIFF':<5} {table:<28} {note}\n")
    differing = [t for t, _, same in rows if not same]
    sys.stdout.write(
        f"{len(rows) - len(differing)}/{len(rows)} tables identical"
        + (f"; differ: {', '.join(differing)}\n" if differing else "\n")
    )
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
