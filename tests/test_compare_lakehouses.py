"""bench.compare_lakehouses: two lakehouses compared table by table, and where they differ."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pyspark.sql import SparkSession

from bench.compare_lakehouses import compare
from distillwatch import tables

ONLY = (tables.CAMPAIGNS, tables.CAMPAIGN_MEMBERS)


def _campaigns(spark: SparkSession, root: Path, actor: str) -> None:
    rows = [
        ("C-1", dt.date(2026, 2, 1), dt.date(2026, 2, 2), actor, "active", None, None, dt.date(2026, 2, 2)),
        ("C-2", dt.date(2026, 2, 1), dt.date(2026, 2, 1), None, "active", None, None, dt.date(2026, 2, 1)),
    ]
    df = spark.createDataFrame(rows, tables.schema(tables.CAMPAIGNS))
    df.write.format("delta").save(str(root / tables.CAMPAIGNS))


def test_a_differing_table_names_its_columns(spark: SparkSession, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _campaigns(spark, a, "KESTREL")
    _campaigns(spark, b, "HERON")
    got = {t: (note, ok) for t, note, ok in compare(spark, str(a), str(b), set(), only=ONLY)}
    assert got[tables.CAMPAIGN_MEMBERS] == ("absent on both", True)
    note, ok = got[tables.CAMPAIGNS]
    assert not ok and note == "2 vs 2 rows, 1 only in A, 1 only in B; columns that differ: actor", note
